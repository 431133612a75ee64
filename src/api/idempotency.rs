//! `Idempotency-Key`: the same key with the same request returns the saved response; with
//! another request it is refused; while the first is still running, a 409. Keys are kept at
//! least 24 hours.
//!
//! The request's work runs in a task of its own, so that a client that hangs up (or the
//! request limit) cannot leave it half done: the task stores the answer whatever becomes of
//! the request. A refund or void is linked to its key in the transaction that reserves its
//! amount; from then on the key can never be taken over, and once the original request has
//! ended a retry answers with what became of that refund.

use std::{future::Future, pin::Pin};

use axum::{
    Json,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

use super::problem::Problem;
use crate::{
    crypto::sha256_hex,
    error::ErrorCode,
    state::AppState,
    storage::{IdempotencyLink, IdempotencyState},
};

pub const HEADER: &str = "idempotency-key";

/// An in-flight entry older than this belongs to a request that died (Kapı stopped): a
/// request's work ends within the request limit or the bank's timeout, whichever is longer,
/// and a margin.
fn stale_ms(state: &AppState) -> i64 {
    let bank_ms = state.settings.acquirer.timeout_secs.saturating_mul(1000);
    let ms = bank_ms
        .max(crate::config::REQUEST_TIMEOUT_MS)
        .saturating_add(10_000);
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// What a handler produces: a status and a JSON body, or a problem.
pub type ApiResult = Result<(StatusCode, serde_json::Value), Problem>;

/// The answer to a retry whose original request started a refund or void and ended before
/// it could store its answer: what the original request would answer now.
pub type RefundAnswer =
    fn(AppState, String) -> Pin<Box<dyn Future<Output = Result<Answer, Problem>> + Send>>;

/// A refund's answer for a retry, and whether it is final (so the key can store it).
pub struct Answer {
    pub result: ApiResult,
    pub settled: bool,
}

fn render(result: ApiResult) -> Response {
    match result {
        Ok((status, body)) => (status, Json(body)).into_response(),
        Err(p) => p.into_response(),
    }
}

/// `Idempotency-Key`: 1 to 255 visible ASCII characters.
pub fn valid_key(k: &str) -> bool {
    (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic())
}

/// Runs `handler` once per (merchant, key); `fingerprint` identifies the request (method,
/// path and body). The handler gets the key's link to pass to a refund or void it starts.
pub async fn run<F, Fut>(
    state: &AppState,
    merchant_id: &str,
    headers: &HeaderMap,
    fingerprint: &[u8],
    refund_answer: Option<RefundAnswer>,
    handler: F,
) -> Response
where
    F: FnOnce(Option<IdempotencyLink>) -> Fut + Send + 'static,
    Fut: Future<Output = ApiResult> + Send + 'static,
{
    let Some(raw) = headers.get(HEADER) else {
        return render(handler(None).await);
    };
    let Some(key) = raw.to_str().ok().filter(|k| valid_key(k)) else {
        return Problem::of(ErrorCode::IdempotencyKeyInvalid).into_response();
    };
    let (link, begun) = begin(state, merchant_id, key, fingerprint).await;
    match begun {
        Err(e) => Problem::from(e).into_response(),
        Ok(IdempotencyState::Mismatch) => {
            Problem::of(ErrorCode::IdempotencyKeyReused).into_response()
        }
        Ok(IdempotencyState::InFlight) => {
            Problem::of(ErrorCode::IdempotencyInFlight).into_response()
        }
        Ok(IdempotencyState::Done { status, body }) => replay(status, body),
        Ok(IdempotencyState::Refund { refund_id }) => match refund_answer {
            Some(answer) => answer_with_refund(state, &link, refund_id, answer).await,
            None => Problem::of(ErrorCode::IdempotencyInFlight).into_response(),
        },
        Ok(IdempotencyState::Started) => start(state, link, handler).await,
    }
}

/// Takes the key for this request, or learns what an earlier request with it left.
async fn begin(
    state: &AppState,
    merchant_id: &str,
    key: &str,
    fingerprint: &[u8],
) -> (
    IdempotencyLink,
    Result<IdempotencyState, crate::storage::StoreError>,
) {
    let now = state.now_ms();
    let link = IdempotencyLink {
        merchant_id: merchant_id.to_owned(),
        key: key.to_owned(),
        owner: crate::domain::ids::random_token(8),
    };
    let begun = state
        .storage
        .requests
        .idempotency_begin(
            merchant_id,
            key,
            &sha256_hex(fingerprint),
            &link.owner,
            now,
            now - stale_ms(state),
        )
        .await;
    (link, begun)
}

/// A retry of a refund or void whose request ended without its answer: the refund as it is
/// now, stored as the key's answer once it is final.
async fn answer_with_refund(
    state: &AppState,
    link: &IdempotencyLink,
    refund_id: String,
    answer: RefundAnswer,
) -> Response {
    let Answer { result, settled } = match answer(state.clone(), refund_id.clone()).await {
        Ok(answer) => answer,
        Err(p) => return p.into_response(),
    };
    if settled {
        let (status, body) = stored(&result);
        let saved = state
            .storage
            .requests
            .idempotency_settle_refund(
                &link.merchant_id,
                &link.key,
                &refund_id,
                status.as_u16(),
                &body.to_string(),
            )
            .await;
        if let Err(e) = saved {
            tracing::error!(error = %e, "could not store the idempotent response");
        }
    }
    let mut resp = render(result);
    resp.headers_mut()
        .insert("idempotency-replayed", HeaderValue::from_static("true"));
    resp
}

/// The first request under a key: runs in a task of its own, which stores the answer
/// whatever becomes of the request.
async fn start<F, Fut>(state: &AppState, link: IdempotencyLink, handler: F) -> Response
where
    F: FnOnce(Option<IdempotencyLink>) -> Fut + Send + 'static,
    Fut: Future<Output = ApiResult> + Send + 'static,
{
    let task_state = state.clone();
    let task = tokio::spawn(async move {
        let result = handler(Some(link.clone())).await;
        let (status, body) = stored(&result);
        let requests = &task_state.storage.requests;
        let (m, k, o) = (&link.merchant_id, &link.key, &link.owner);
        let saved = if status.is_server_error() {
            // Forgotten when nothing was started under it; a refund or void started under it
            // answers later retries instead.
            requests.idempotency_abandon(m, k, o).await
        } else {
            let body = body.to_string();
            requests
                .idempotency_finish(m, k, o, status.as_u16(), &body)
                .await
        };
        if let Err(e) = saved {
            tracing::error!(error = %e, "could not store the idempotent response");
        }
        result
    });
    match task.await {
        Ok(result) => render(result),
        Err(e) => {
            tracing::error!(error = %e, "idempotent request task failed");
            Problem::of(ErrorCode::Internal).into_response()
        }
    }
}

fn stored(result: &ApiResult) -> (StatusCode, serde_json::Value) {
    match result {
        Ok((s, b)) => (*s, b.clone()),
        Err(p) => (p.status, p.body()),
    }
}

fn replay(status: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let content_type = if status.is_success() {
        "application/json"
    } else {
        "application/problem+json"
    };
    let mut resp = (status, [(header::CONTENT_TYPE, content_type)], body).into_response();
    resp.headers_mut()
        .insert("idempotency-replayed", HeaderValue::from_static("true"));
    resp
}
