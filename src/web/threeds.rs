//! The 3-D Secure endpoints of the 3DS Server: the browser's return with `cres`, a bank's own
//! gate's result, and the ACS's RReq. None relies on the session cookie.

use axum::{
    Json,
    extract::{RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
};

use super::{
    error::PageError,
    extract::{GateForm, RawForm},
};
use crate::{
    api::problem::Problem, checkout::flow::RreqError, error::ErrorCode, state::AppState,
    threeds::ACS_SIGNATURE_HEADER,
};

/// `notificationURL`: the ACS page auto-posts `cres` and `threeDSSessionData` here.
pub async fn notify(
    State(state): State<AppState>,
    RawForm(fields): RawForm,
) -> Result<Response, PageError> {
    let get = |n: &str| crate::form::value(&fields, n);
    let id = state
        .complete_challenge(get("cres"), get("threeDSSessionData"))
        .await?;
    Ok(Redirect::to(&format!("/checkout/{id}/result")).into_response())
}

/// A bank's own 3-D Secure gate (NestPay's `3d` model) posts its result here, the gate
/// form's `okUrl` and `failUrl`: bound to the payment by the MAC in `?s=`, and read with room
/// for a bank's full post-back (real ones carry 100 fields and more).
pub async fn bank_return(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    GateForm(fields): GateForm,
) -> Result<Response, PageError> {
    let token = query
        .as_deref()
        .and_then(|q| q.strip_prefix("s="))
        .unwrap_or("");
    let id = state.bank_return(token, &fields).await?;
    Ok(Redirect::to(&format!("/checkout/{id}/result")).into_response())
}

/// `threeDSServerURL`: the ACS reports the challenge outcome server to server.
pub async fn rreq(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, Problem> {
    let mac = headers
        .get(ACS_SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let rres = state.record_rreq(&body, mac).await.map_err(rreq_problem)?;
    Ok(Json(rres).into_response())
}

/// The RReq channel's refusals, as the ACS sees them.
fn rreq_problem(e: RreqError) -> Problem {
    let detail = e.to_string();
    match e {
        RreqError::BadSignature => Problem::new(StatusCode::UNAUTHORIZED, "KP-3005", detail),
        RreqError::Malformed(_) => Problem::from_code(ErrorCode::ChallengeInvalid, detail),
        RreqError::Unknown => Problem::from_code(ErrorCode::PaymentNotFound, detail),
        RreqError::NotAwaiting | RreqError::AlreadyReceived => {
            Problem::from_code(ErrorCode::ChallengeReplayed, detail)
        }
        RreqError::Internal(e) => Problem::from(e),
    }
}
