//! NestPay's ways in (docs/NESTPAY.md): the 3-D Secure gate `POST /fim/est3Dgate`, which a
//! shop's NestPay code auto-posts the shopper to, and the XML API `POST /fim/api`.

use axum::{
    body::Body,
    extract::{Request, State},
    http::header,
    response::{IntoResponse, Redirect, Response},
};
use tower_sessions::Session;

use super::{
    error::PageError,
    extract::{Client, GateForm, Preferred},
    pages, session,
};
use crate::{
    checkout::nestpay::{GateOutcome, GateRefusal},
    domain::Locale,
    state::AppState,
    wire::cc5::MAX_REQUEST_BYTES,
};

pub async fn gate(
    State(state): State<AppState>,
    session: Session,
    Client(client): Client,
    Preferred(preferred): Preferred,
    GateForm(fields): GateForm,
) -> Result<Response, PageError> {
    let locale = match crate::form::value(&fields, "lang") {
        "" => preferred,
        lang => Locale::parse_lenient(lang),
    };
    let limit = (
        state.settings.limits.pay_start,
        state.settings.limits.window_secs,
    );
    super::abuse::shopper_hit(&state.limiter, "pay", &client.ip, limit, locale).await?;
    let outcome = state.nestpay_gate(fields, preferred, &client).await;
    answer_gate(&state, &session, locale, outcome).await
}

/// The browser's next page after a gate post: the card (or consent) page, the ACS, or the
/// merchant's `failUrl` with NestPay's error result.
async fn answer_gate(
    state: &AppState,
    session: &Session,
    locale: Locale,
    outcome: Result<GateOutcome, GateRefusal>,
) -> Result<Response, PageError> {
    let (payment, next) = match outcome {
        Ok(GateOutcome::Waiting(payment)) => (payment, None),
        Ok(GateOutcome::Started(payment, next)) => (payment, Some(next)),
        Err(GateRefusal::ToMerchant {
            action,
            fields,
            error,
        }) => {
            tracing::info!(
                code = error.code.code(),
                field = error.field.as_deref().unwrap_or(""),
                "NestPay gate post refused"
            );
            return Ok(pages::to_merchant(locale, action, fields).into_response());
        }
        Err(GateRefusal::Page(error)) => return Err(error.into()),
    };
    // Bound to this browser under a fresh session id (no fixation), as `POST /pay` does.
    let now = state.now_ms();
    session::bind_payment(session, payment.id.as_str(), payment.expires_at, now).await?;
    match next {
        None => Ok(Redirect::to(&format!("/checkout/{}", payment.id)).into_response()),
        Some(next) => {
            let (payment, merchant) = state.open(payment).await?;
            super::checkout::next_step(session, &payment, &merchant, next).await
        }
    }
}

/// The XML API: every answer, errors included, is a `CC5Response` in the request's encoding.
pub async fn api(
    State(state): State<AppState>,
    Client(client): Client,
    req: Request<Body>,
) -> Response {
    // Larger than any real request: answered as malformed (an empty body is).
    let body = axum::body::to_bytes(req.into_body(), MAX_REQUEST_BYTES)
        .await
        .unwrap_or_default();
    let answer = state.nestpay_api(&body, &client.ip).await;
    let content_type = format!("text/xml; charset={}", answer.encoding.name());
    ([(header::CONTENT_TYPE, content_type)], answer.body).into_response()
}
