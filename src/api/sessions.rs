//! Checkout sessions: a payment created by the merchant's server, waiting for its shopper.

use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    auth::ApiMerchant,
    idempotency,
    json::{JsonBody, parse},
    problem::Problem,
};
use crate::{
    checkout::{
        payment::{Payment, Source},
        start::{CreateError, OrderDraft, OrderInput, parse_order},
    },
    clock::rfc3339,
    error::ErrorCode,
    state::AppState,
    storage::MerchantRecord,
};

const MIN_EXPIRES_IN: u64 = 5 * 60;
const MAX_EXPIRES_IN: u64 = 24 * 3600;

#[derive(Debug, Default, Deserialize, ToSchema)]
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
    #[schema(pattern = r"^0*[0-9]{1,12}(\.[0-9]{1,2})?$")]
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
    /// How many cards the shopper may try when a card is declined for a reason another card
    /// may fix: 1 (no second chance) to 5. Default: the merchant's setting
    /// (`kapi merchant configure --card-attempts`), itself 1 unless set.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 5)]
    pub card_attempts: Option<u32>,
    /// `sale` (default): the card is charged at once. `preauth`: the amount is only held
    /// (status `authorised`) until `POST /api/v1/payments/{id}/capture` takes it (the full
    /// amount or less, once) or `/void` releases it.
    #[serde(default)]
    #[schema(value_type = Option<crate::notify::views::IntentSchema>)]
    pub intent: Option<String>,
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

pub fn session_view(state: &AppState, p: &Payment) -> CheckoutSession {
    CheckoutSession {
        id: p.id.to_string(),
        url: state.shopper_link(p.id.as_str()),
        expires_at: rfc3339(p.expires_at),
        status: p.status.as_str().to_owned(),
        order_id: p.order_id.to_string(),
        amount: p.amount.to_decimal_string(),
        currency: p.currency().code().to_owned(),
    }
}

fn json(v: impl Serialize) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or_default()
}

/// The API's names of the order's fields.
fn api_field(field: &str) -> &str {
    match field {
        "customer_name" => "customer.name",
        "customer_email" => "customer.email",
        "customer_phone" => "customer.phone",
        other => other,
    }
}

impl CreateSessionRequest {
    /// The order it describes, checked against the merchant's registered origins.
    fn draft(&self, merchant: &MerchantRecord) -> Result<OrderDraft, Problem> {
        let installment = self.installment.map(|n| n.to_string()).unwrap_or_default();
        let none = CustomerInput::default();
        let customer = self.customer.as_ref().unwrap_or(&none);
        let input = OrderInput {
            order_id: &self.order_id,
            amount: &self.amount,
            currency: &self.currency,
            ok_url: &self.ok_url,
            fail_url: &self.fail_url,
            callback_url: self.callback_url.as_deref().unwrap_or(""),
            lang: self.lang.as_deref().unwrap_or(""),
            installment: &installment,
            description: self.description.as_deref().unwrap_or(""),
            customer_name: &customer.name,
            customer_email: &customer.email,
            customer_phone: &customer.phone,
            card_attempts: self.card_attempts.map(i64::from),
            // An empty string is not a value here (the signed form's empty field is).
            intent: match self.intent.as_deref() {
                Some("") => "-",
                other => other.unwrap_or(""),
            },
        };
        parse_order(&input, merchant)
            .map_err(|(code, field)| Problem::of(code).with_field(api_field(field)))
    }
}

/// Makes the session a request asks for.
async fn open_session(
    state: &AppState,
    merchant: &MerchantRecord,
    req: CreateSessionRequest,
) -> Result<Payment, Problem> {
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
    let draft = req.draft(merchant)?;
    let ttl = std::time::Duration::from_secs(ttl);
    state
        .create_payment(merchant, draft, ttl, Source::Api)
        .await
        .map_err(|e| match e {
            CreateError::OrderAlreadyPaid => {
                Problem::of(ErrorCode::OrderAlreadyPaid).with_field("order_id")
            }
            CreateError::Store(e) => Problem::from(e),
            seal @ CreateError::Seal(_) => {
                Problem::from(crate::checkout::CheckoutError::from(seal))
            }
        })
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
    let (task_state, task_merchant) = (state.clone(), merchant.clone());
    let handler = move |_| async move {
        let req: CreateSessionRequest = parse(&body)?;
        let payment = open_session(&task_state, &task_merchant, req).await?;
        Ok((
            StatusCode::CREATED,
            json(session_view(&task_state, &payment)),
        ))
    };
    idempotency::run(&state, &merchant.id, &headers, &fingerprint, None, handler).await
}

/// A payment of this merchant.
pub async fn owned_payment(
    state: &AppState,
    merchant_id: &str,
    id: &str,
) -> Result<Payment, Problem> {
    state
        .storage
        .payments
        .get_payment(id)
        .await?
        .filter(|p| p.merchant_id.as_str() == merchant_id)
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
    let moved = state.expire_now(&payment).await?;
    let after = owned_payment(&state, &merchant.id, &id).await?;
    if !moved {
        return Err(Problem::from_code(
            ErrorCode::SessionNotOpen,
            format!("the session is {}", after.status.as_str()),
        ));
    }
    Ok(axum::Json(session_view(&state, &after)))
}
