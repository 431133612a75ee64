//! The HTTP layer: thin handlers that parse, call the checkout flow and render.

pub mod abuse;
pub mod assets;
pub mod brand;
pub mod checkout;
pub mod error;
pub mod extract;
pub mod nestpay;
pub mod ops;
pub mod pages;
pub mod pay;
pub mod security;
pub mod session;
pub mod threeds;

use axum::{
    Router,
    routing::{get, post},
};
use tower_http::{catch_panic::CatchPanicLayer, limit::RequestBodyLimitLayer, trace::TraceLayer};
use tower_sessions::{Expiry, SessionManagerLayer, cookie::SameSite};

use crate::storage::SessionStore;

use crate::state::AppState;

/// The body limit's own 413 is plain text: give shoppers a page in their language and API
/// clients a problem instead.
async fn too_large(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let api = req.uri().path().starts_with(crate::api::PREFIX);
    let locale = extract::preferred(req.headers());
    let resp = next.run(req).await;
    let ours = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html") || v.starts_with("application/problem+json"));
    if resp.status() != axum::http::StatusCode::PAYLOAD_TOO_LARGE || ours {
        return resp;
    }
    if api {
        crate::api::problem::Problem::of(crate::error::ErrorCode::ApiBodyTooLarge).into_response()
    } else {
        crate::web::error::PageError::new(crate::error::ErrorCode::BodyTooLarge, locale)
            .into_response()
    }
}

/// Middleware: at most `limit` requests at once. One more is refused at once — 503 with
/// `Retry-After: 1`, a page in the shopper's language or the API's problem — rather than queued
/// without bound; `/healthz` always answers (the process is alive, only busy).
async fn shed_load(
    axum::extract::State(slots): axum::extract::State<std::sync::Arc<tokio::sync::Semaphore>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if req.uri().path() == "/healthz" {
        return next.run(req).await;
    }
    let Ok(_permit) = slots.try_acquire() else {
        let api = req.uri().path().starts_with(crate::api::PREFIX);
        let mut resp = if api {
            crate::api::problem::Problem::of(crate::error::ErrorCode::Overloaded).into_response()
        } else {
            crate::web::error::PageError::new(
                crate::error::ErrorCode::Overloaded,
                extract::preferred(req.headers()),
            )
            .into_response()
        };
        resp.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("1"),
        );
        return resp;
    };
    next.run(req).await
}

/// The simulators' router, as Kapı serves it: their pages post back to Kapı (the 3-D Secure
/// return), which their page policy allows.
pub fn simulators(router: Router, public_url: &str) -> Router {
    let target: Vec<String> = security::origin_of(public_url).into_iter().collect();
    router.layer(axum::middleware::map_response(
        move |mut resp: axum::response::Response| {
            let target = target.clone();
            async move {
                security::allow(&mut resp, &target, &[]);
                resp
            }
        },
    ))
}

/// The routes of Kapı, plus the simulators when they are enabled (they need no session).
pub fn router(state: AppState, sessions: SessionStore, simulators: Option<Router>) -> Router {
    let secure_cookie = state.public_url.as_str().starts_with("https://");
    let trusted = abuse::trusted_proxies(&state.settings);
    let max_in_flight = state.settings.server.max_in_flight.max(1);
    // Lax: the shopper arrives by a cross-site POST and lands on a GET that must see the
    // cookie; the cross-site 3DS return is bound by its MAC instead.
    let session_layer = SessionManagerLayer::new(sessions)
        .with_name("kapi_session")
        .with_same_site(SameSite::Lax)
        .with_secure(secure_cookie)
        .with_http_only(true)
        .with_expiry(Expiry::OnInactivity(time::Duration::minutes(30)));

    let router = Router::new()
        .route("/", get(pages::home))
        .route("/pay", post(pay::start))
        .route("/fim/est3Dgate", post(nestpay::gate))
        // Some banks' documents write the path in lower case.
        .route("/fim/est3dgate", post(nestpay::gate))
        .route("/checkout/{id}", get(checkout::show).post(checkout::submit))
        .route("/checkout/{id}/cancel", post(checkout::cancel))
        .route("/checkout/{id}/installments", post(checkout::installments))
        .route("/checkout/{id}/result", get(checkout::result))
        .route("/checkout/{id}/challenge", post(checkout::resume))
        .route("/checkout/{id}/documents/{kind}", get(checkout::document))
        .route(
            "/checkout/{id}/documents/{kind}/copy",
            get(checkout::document_copy),
        )
        .fallback(pages::not_found)
        .method_not_allowed_fallback(pages::method_not_allowed)
        .layer(session_layer)
        // No session where none is needed: the 3-D Secure return (bound by its MAC, and a
        // cross-site POST that carries no cookie anyway), the ACS's RReq, static files,
        // branding and the operator's probes.
        .route("/3ds/notify", post(threeds::notify))
        .route("/bank/return", post(threeds::bank_return))
        .route("/3ds/rreq", post(threeds::rreq))
        .route("/fim/api", post(nestpay::api))
        .route("/static/{file}", get(assets::serve))
        .route("/brand/{id}/logo", get(brand::logo))
        .route("/brand/{id}/theme.css", get(brand::theme))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .with_state(state.clone())
        .nest(crate::api::PREFIX, crate::api::router(state));
    let router = match simulators {
        Some(sims) => router.nest("/sim", sims),
        None => router,
    };
    let router = router
        .layer(axum::middleware::from_fn(ops::measure))
        .layer(axum::middleware::from_fn(abuse::request_span))
        .layer(axum::middleware::from_fn_with_state(
            std::sync::Arc::new(trusted),
            abuse::resolve_client_ip,
        ))
        .layer(RequestBodyLimitLayer::new(64 * 1024))
        .layer(axum::middleware::from_fn(too_large))
        // A request (its body included) must be done within 30 s.
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            std::time::Duration::from_millis(crate::config::REQUEST_TIMEOUT_MS),
        ))
        .layer(TraceLayer::new_for_http())
        .layer(axum::middleware::from_fn_with_state(
            std::sync::Arc::new(tokio::sync::Semaphore::new(max_in_flight)),
            shed_load,
        ))
        .layer(CatchPanicLayer::new())
        // Outermost: the headers go on every answer, 413, 408 and 500 included.
        .layer(axum::middleware::from_fn(security::headers));
    if secure_cookie {
        // Served over HTTPS: browsers must never come back over plain HTTP for a year.
        router.layer(tower_http::set_header::SetResponseHeaderLayer::overriding(
            axum::http::header::STRICT_TRANSPORT_SECURITY,
            axum::http::HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        ))
    } else {
        router
    }
}
