//! `Idempotency-Key`: the same key with the same request returns the saved response; with
//! another request it is refused; while the first is still running, a 409. Keys are kept at
//! least 24 hours.

use std::future::Future;

use axum::{
    Json,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

use crate::{
    crypto::sha256_hex,
    error::{ErrorCode, Problem},
    state::AppState,
    storage::IdempotencyState,
};

pub const HEADER: &str = "idempotency-key";
/// An in-flight entry older than this belongs to a request that died.
const STALE_MS: i64 = 5 * 60 * 1000;

/// What a handler produces: a status and a JSON body, or a problem.
pub type ApiResult = Result<(StatusCode, serde_json::Value), Problem>;

fn render(result: ApiResult) -> Response {
    match result {
        Ok((status, body)) => (status, Json(body)).into_response(),
        Err(p) => p.into_response(),
    }
}

/// What a server error under a key means for a retry with the same key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnServerError {
    /// Nothing irreversible can have happened: the key is freed and a retry runs again.
    Retry,
    /// Money may have moved (a refund or void): the error is kept and replayed, so a retry
    /// can never repeat it; the payment shows what became of it.
    Keep,
}

/// Runs `handler` once per (merchant, key); `fingerprint` identifies the request (method,
/// path and body).
pub async fn run<F, Fut>(
    state: &AppState,
    merchant_id: &str,
    headers: &HeaderMap,
    fingerprint: &[u8],
    on_server_error: OnServerError,
    handler: F,
) -> Response
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ApiResult>,
{
    let Some(raw) = headers.get(HEADER) else {
        return render(handler().await);
    };
    let key = match raw.to_str() {
        Ok(k) if (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()) => k,
        _ => return Problem::of(ErrorCode::IdempotencyKeyInvalid).into_response(),
    };
    let hash = sha256_hex(fingerprint);
    let now = state.clock.now_ms();
    let owner = crate::domain::ids::random_token(8);
    let begun = state
        .store
        .idempotency_begin(merchant_id, key, &hash, &owner, now, now - STALE_MS)
        .await;
    match begun {
        Err(e) => Problem::from(e).into_response(),
        Ok(IdempotencyState::Mismatch) => {
            Problem::of(ErrorCode::IdempotencyKeyReused).into_response()
        }
        Ok(IdempotencyState::InFlight) => {
            Problem::of(ErrorCode::IdempotencyInFlight).into_response()
        }
        Ok(IdempotencyState::Done { status, body }) => {
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
        Ok(IdempotencyState::Started) => {
            let result = handler().await;
            let (status, body) = match &result {
                Ok((s, b)) => (*s, b.clone()),
                Err(p) => (p.status, p.body()),
            };
            let stored = if status.is_server_error() && on_server_error == OnServerError::Retry {
                state
                    .store
                    .idempotency_abandon(merchant_id, key, &owner)
                    .await
            } else {
                state
                    .store
                    .idempotency_finish(
                        merchant_id,
                        key,
                        &owner,
                        status.as_u16(),
                        &body.to_string(),
                    )
                    .await
            };
            if let Err(e) = stored {
                tracing::error!(error = %e, "could not store the idempotent response");
            }
            render(result)
        }
    }
}
