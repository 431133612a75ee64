//! Checkout sessions: a payment created by the merchant's server, waiting for its shopper.

use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    auth::ApiMerchant,
    idempotency,
    json::{JsonBody, parse},
    resources::rfc3339,
};
use crate::{
    checkout::{
        flow,
        start::{self, CreateError, OrderInput},
    },
    crypto,
    error::{ErrorCode, Problem},
    state::AppState,
    storage::PaymentRecord,
};

const MIN_EXPIRES_IN: u64 = 5 * 60;
const MAX_EXPIRES_IN: u64 = 24 * 3600;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerInput {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub phone: String,
}

/// The same order data as the signed form.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSessionRequest {
    /// 1–64 of `[A-Za-z0-9_-]`.
    #[schema(pattern = r"^[A-Za-z0-9_-]{1,64}$")]
    pub order_id: String,
    /// Decimal string with a dot, e.g. `150.00`.
    #[schema(pattern = r"^[0-9]{1,15}(\.[0-9]{1,2})?$")]
    pub amount: String,
    /// `TRY`, `USD`, `EUR` or `949`, `840`, `978`.
    #[schema(value_type = String, pattern = r"^(TRY|USD|EUR|949|840|978)$")]
    pub currency: String,
    /// On one of your registered return origins.
    #[schema(format = "uri")]
    pub ok_url: String,
    #[schema(format = "uri")]
    pub fail_url: String,
    #[serde(default)]
    #[schema(format = "uri")]
    pub callback_url: Option<String>,
    /// `tr` (default) or `en`.
    #[serde(default)]
    #[schema(pattern = r"^(tr|en)$")]
    pub lang: Option<String>,
    /// 1 (default) to 12.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 12)]
    pub installment: Option<u32>,
    /// At most 255 characters; no line breaks or other control characters.
    #[serde(default)]
    #[schema(max_length = 255)]
    pub description: Option<String>,
    #[serde(default)]
    pub customer: Option<CustomerInput>,
    /// Seconds the session stays open: 300 to 86400 (default 1800).
    #[serde(default)]
    #[schema(minimum = 300, maximum = 86400)]
    pub expires_in: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CheckoutSession {
    /// The payment id.
    pub id: String,
    /// Send the shopper's browser here.
    pub url: String,
    pub expires_at: String,
    pub status: String,
    pub order_id: String,
    pub amount: String,
    pub currency: String,
}

/// The link that binds the shopper's browser to the session: the id and a MAC.
pub fn shopper_url(state: &AppState, payment_id: &str) -> String {
    let token = crypto::hmac_hex(
        state.keys.session_link.expose_secret(),
        payment_id.as_bytes(),
    );
    state
        .urls
        .public(&format!("/checkout/{payment_id}?token={token}"))
}

pub fn session_view(state: &AppState, p: &PaymentRecord) -> CheckoutSession {
    CheckoutSession {
        id: p.id.clone(),
        url: shopper_url(state, &p.id),
        expires_at: rfc3339(p.expires_at),
        status: p.status.clone(),
        order_id: p.order_id.clone(),
        amount: p.money().map(|m| m.to_decimal_string()).unwrap_or_default(),
        currency: p.currency.clone(),
    }
}

fn json(v: impl Serialize) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or_default()
}

/// Create a checkout session
#[utoipa::path(
    post, path = "/api/v1/checkout-sessions", tag = "checkout", operation_id = "createCheckoutSession",
    request_body = CreateSessionRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the saved response for the same request (kept at least 24 h)", pattern = r"^[!-~]{1,255}$")),
    responses(
        (status = 201, description = "Created", body = CheckoutSession),
        (status = 400, description = "Invalid request", body = super::ProblemDoc),
        (status = 401, description = "Invalid API key", body = super::ProblemDoc),
        (status = 409, description = "Order already paid, or the same Idempotency-Key is in flight", body = super::ProblemDoc),
        (status = 422, description = "Invalid value or Idempotency-Key reused with another body", body = super::ProblemDoc),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    ApiMerchant(merchant): ApiMerchant,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Response {
    let mut fingerprint = b"POST /api/v1/checkout-sessions\n".to_vec();
    fingerprint.extend_from_slice(&body);
    let task_state = state.clone();
    let task_merchant = merchant.clone();
    idempotency::run(
        &state,
        &merchant.id,
        &headers,
        &fingerprint,
        None,
        move |_| async move {
            let (state, merchant) = (task_state, task_merchant);
            let req: CreateSessionRequest = parse(&body)?;
            let ttl = req
                .expires_in
                .unwrap_or(state.settings.api.session_ttl_secs);
            if !(MIN_EXPIRES_IN..=MAX_EXPIRES_IN).contains(&ttl) {
                return Err(Problem::from_code(
                    ErrorCode::InvalidJsonValue,
                    "expires_in must be 300 to 86400 seconds",
                )
                .with_field("expires_in"));
            }
            let installment = req.installment.map(|n| n.to_string()).unwrap_or_default();
            let customer = req.customer.unwrap_or(CustomerInput {
                name: String::new(),
                email: String::new(),
                phone: String::new(),
            });
            let input = OrderInput {
                order_id: &req.order_id,
                amount: &req.amount,
                currency: &req.currency,
                ok_url: &req.ok_url,
                fail_url: &req.fail_url,
                callback_url: req.callback_url.as_deref().unwrap_or(""),
                lang: req.lang.as_deref().unwrap_or(""),
                installment: &installment,
                description: req.description.as_deref().unwrap_or(""),
                customer_name: &customer.name,
                customer_email: &customer.email,
                customer_phone: &customer.phone,
            };
            let draft = start::parse_order(&input, &merchant).map_err(|(code, field)| {
                let field = match field {
                    "customer_name" => "customer.name",
                    "customer_email" => "customer.email",
                    "customer_phone" => "customer.phone",
                    other => other,
                };
                Problem::from_code(code, code.message(crate::domain::Locale::En)).with_field(field)
            })?;
            let payment = start::create_payment(
                &state,
                &merchant,
                draft,
                std::time::Duration::from_secs(ttl),
                "api",
            )
            .await
            .map_err(|e| match e {
                CreateError::OrderAlreadyPaid => {
                    Problem::of(ErrorCode::OrderAlreadyPaid).with_field("order_id")
                }
                CreateError::Store(e) => Problem::from(e),
            })?;
            Ok((StatusCode::CREATED, json(session_view(&state, &payment))))
        },
    )
    .await
}

pub async fn owned_payment(
    state: &AppState,
    merchant_id: &str,
    id: &str,
) -> Result<PaymentRecord, Problem> {
    state
        .store
        .get_payment(id)
        .await?
        .filter(|p| p.merchant_id == merchant_id)
        .ok_or_else(|| Problem::of(ErrorCode::PaymentNotFound))
}

/// Expire an unpaid checkout session now
#[utoipa::path(
    post, path = "/api/v1/checkout-sessions/{id}/expire", tag = "checkout", operation_id = "expireCheckoutSession",
    params(("id" = String, Path, description = "Checkout session (payment) id")),
    responses(
        (status = 200, description = "Expired", body = CheckoutSession),
        (status = 404, description = "No such session", body = super::ProblemDoc),
        (status = 409, description = "Already paid, in payment or finished", body = super::ProblemDoc),
    ),
    security(("bearer" = []))
)]
pub async fn expire(
    State(state): State<AppState>,
    ApiMerchant(merchant): ApiMerchant,
    Path(id): Path<String>,
) -> Result<axum::Json<CheckoutSession>, Problem> {
    let payment = owned_payment(&state, &merchant.id, &id).await?;
    let moved = flow::expire_now(&state, &payment)
        .await
        .map_err(|e| Problem::from_code(e.code, e.code.message(crate::domain::Locale::En)))?;
    let after = owned_payment(&state, &merchant.id, &id).await?;
    if !moved {
        return Err(Problem::from_code(
            ErrorCode::SessionNotOpen,
            format!("the session is {}", after.status),
        ));
    }
    Ok(axum::Json(session_view(&state, &after)))
}
