//! The merchant server API under `/api/v1`: JSON, bearer-key authentication, RFC 9457
//! problems with stable codes, idempotency keys, and an OpenAPI 3.1 document generated from
//! these handlers.

pub mod auth;
pub mod events;
pub mod idempotency;
pub mod json;
pub mod openapi;

use openapi::CommonResponses;
pub mod payments;
pub mod problem;
pub mod reports;
pub mod sessions;

use axum::{
    Json, Router,
    response::{IntoResponse, Response},
    routing::{MethodRouter, get, post},
};
use serde::{Deserialize, Serialize};
use utoipa::{
    Modify, OpenApi, ToSchema,
    openapi::security::{Http, HttpAuthScheme, SecurityScheme},
};

use crate::{api::problem::Problem, error::ErrorCode, state::AppState};

/// Where the API is mounted.
pub const PREFIX: &str = "/api/v1";

/// Every API route as (method, full path, handler). The router is built from this list
/// alone, and a test checks that each entry is in the OpenAPI document.
pub fn routes() -> Vec<(&'static str, &'static str, MethodRouter<AppState>)> {
    vec![
        ("post", "/api/v1/checkout-sessions", post(sessions::create)),
        (
            "post",
            "/api/v1/checkout-sessions/{id}/expire",
            post(sessions::expire),
        ),
        ("get", "/api/v1/payments", get(payments::list)),
        ("get", "/api/v1/payments/{id}", get(payments::get)),
        ("post", "/api/v1/payments/{id}/void", post(payments::void)),
        (
            "post",
            "/api/v1/payments/{id}/refunds",
            post(payments::refund),
        ),
        (
            "post",
            "/api/v1/payments/{id}/capture",
            post(payments::capture),
        ),
        ("get", "/api/v1/reports/daily", get(reports::daily)),
        ("get", "/api/v1/events", get(events::list)),
        ("get", "/api/v1/events/{id}", get(events::get)),
        ("post", "/api/v1/events/{id}/resend", post(events::resend)),
        ("get", "/api/v1/openapi.json", get(openapi_json)),
    ]
}

/// An RFC 9457 problem, as documented.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProblemDoc {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// Stable machine code, e.g. `KP-6032`.
    pub code: String,
    pub detail: String,
    /// The offending field, when there is one.
    pub field: Option<String>,
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Kapı merchant API",
        version = "1",
        description = "Checkout sessions, payments, voids, refunds and events. Authenticate with `Authorization: Bearer <secret key>`. Errors are RFC 9457 problems with a stable `code`."
    ),
    paths(
        sessions::create,
        sessions::expire,
        payments::list,
        payments::get,
        payments::void,
        payments::refund,
        payments::capture,
        reports::daily,
        events::list,
        events::get,
        events::resend,
        openapi_json,
    ),
    components(schemas(ProblemDoc, crate::notify::views::EventBody)),
    modifiers(&BearerAuth, &CommonResponses)
)]
pub struct ApiDoc;

/// This document
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta", operation_id = "getOpenApiDocument", responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json")))]
pub async fn openapi_json() -> Response {
    Json(openapi::document(&ApiDoc::openapi())).into_response()
}

async fn not_found() -> Problem {
    Problem::of(ErrorCode::ApiNotFound)
}

async fn method_not_allowed() -> Problem {
    Problem::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::ApiNotFound.code(),
        "this endpoint does not take that method",
    )
}

pub fn router(state: AppState) -> Router {
    routes()
        .into_iter()
        .fold(Router::new(), |router, (_, path, handler)| {
            router.route(path.strip_prefix(PREFIX).unwrap_or(path), handler)
        })
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}
