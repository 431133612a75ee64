//! The 3-D Secure endpoints of the 3DS Server: the browser's return with `cres`, and the
//! ACS's RReq. Neither relies on the session cookie.

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
};
use secrecy::ExposeSecret;

use super::extract::RawForm;
use crate::{
    checkout::{Status, flow},
    crypto,
    error::{ErrorCode, PageError, Problem},
    state::AppState,
    storage::{Cas, PaymentUpdate},
    threeds::{ACS_SIGNATURE_HEADER, RReq, RRes, md_status, messages::MESSAGE_VERSION},
};

/// `notificationURL`: the ACS page auto-posts `cres` and `threeDSSessionData` here.
pub async fn notify(
    State(state): State<AppState>,
    RawForm(fields): RawForm,
) -> Result<Response, PageError> {
    let get = |n: &str| crate::form::value(&fields, n);
    let id = flow::complete_challenge(&state, get("cres"), get("threeDSSessionData")).await?;
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
    if !crypto::verify_hmac_hex(state.keys.acs_channel.expose_secret(), &body, mac) {
        return Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            "KP-3005",
            "RReq signature invalid",
        ));
    }
    let rreq: RReq = serde_json::from_slice(&body)
        .map_err(|_| Problem::from_code(ErrorCode::ChallengeInvalid, "malformed RReq"))?;
    if rreq.message_type != "RReq" {
        return Err(Problem::from_code(
            ErrorCode::ChallengeInvalid,
            "messageType must be RReq",
        ));
    }
    let payment = state
        .store
        .find_payment_by_threeds_id(&rreq.three_ds_server_trans_id)
        .await?
        .filter(|p| p.acs_trans_id.as_deref() == Some(rreq.acs_trans_id.as_str()))
        .ok_or_else(|| Problem::from_code(ErrorCode::PaymentNotFound, "unknown 3DS transaction"))?;
    if payment.status() != Status::Challenge {
        return Err(Problem::from_code(
            ErrorCode::ChallengeReplayed,
            "transaction is not awaiting a result",
        ));
    }
    let brand = payment.brand().unwrap_or(crate::domain::CardBrand::Visa);
    let update = PaymentUpdate {
        trans_status: Some(rreq.trans_status.clone()),
        trans_status_reason: rreq.trans_status_reason.clone(),
        challenge_cancel: rreq.challenge_cancel.clone(),
        eci: Some(
            rreq.eci
                .clone()
                .unwrap_or_else(|| crate::threeds::default_eci(brand, &rreq.trans_status).into()),
        ),
        authentication_value: rreq.authentication_value.clone(),
        md_status: Some(md_status(&rreq.trans_status).into()),
        rreq_received_at: Some(state.clock.now_ms()),
        ds_trans_id: Some(rreq.ds_trans_id.clone()),
        ..Default::default()
    };
    match state
        .store
        .record_rreq(&payment.id, &update, state.clock.now_ms())
        .await?
    {
        Cas::Done => {}
        _ => {
            return Err(Problem::from_code(
                ErrorCode::ChallengeReplayed,
                "result already received",
            ));
        }
    }
    Ok(Json(RRes {
        three_ds_server_trans_id: rreq.three_ds_server_trans_id,
        acs_trans_id: rreq.acs_trans_id,
        ds_trans_id: rreq.ds_trans_id,
        message_type: "RRes".into(),
        message_version: MESSAGE_VERSION.into(),
        results_status: "01".into(),
    })
    .into_response())
}
