//! API authentication: `Authorization: Bearer <secret key>`, the current key or, during a
//! rotation, the previous one until its overlap ends; then the merchant's IP allow-list.

use axum::{
    extract::FromRequestParts,
    http::{header, request::Parts},
};
use secrecy::SecretString;
use subtle::ConstantTimeEq;

use super::problem::Problem;
use crate::{
    domain::net::ClientIp, error::ErrorCode, merchants, state::AppState, storage::MerchantRecord,
};

/// The key of `Bearer <key>` (the scheme in any letter case, RFC 7235; one space).
fn bearer(header: &str) -> Option<&str> {
    let (scheme, key) = header.split_at_checked(7)?;
    scheme.eq_ignore_ascii_case("bearer ").then_some(key)
}

/// The merchant making an API call.
pub struct ApiMerchant(pub MerchantRecord);

fn ct_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

impl FromRequestParts<AppState> for ApiMerchant {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // `Bearer`, one space, the key: nothing else (RFC 6750's token characters only).
        let key = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer)
            .filter(|k| {
                (1..=256).contains(&k.len())
                    && k.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b))
            })
            .ok_or_else(|| Problem::of(ErrorCode::ApiKeyInvalid))?;
        let lookup = merchants::key_lookup(&SecretString::from(key.to_owned()));
        let merchant = state
            .storage
            .merchants
            .find_merchant_by_key(&lookup)
            .await?
            .ok_or_else(|| Problem::of(ErrorCode::ApiKeyInvalid))?;
        let current = merchant
            .key_lookup
            .as_deref()
            .is_some_and(|l| ct_eq(l, &lookup));
        let previous = merchant
            .prev_key_lookup
            .as_deref()
            .is_some_and(|l| ct_eq(l, &lookup))
            && merchant.previous_key(state.clock.now_ms()).is_some();
        if !current && !previous {
            return Err(Problem::of(ErrorCode::ApiKeyInvalid));
        }
        let allowed = merchant.allowed_ips();
        if !allowed.is_empty() {
            let ip = parts
                .extensions
                .get::<ClientIp>()
                .map(|c| c.0.to_string())
                .unwrap_or_default();
            if !allowed.iter().any(|a| a == &ip) {
                tracing::info!(merchant_id = %merchant.id, %ip, "API call from an address not on the allow-list");
                return Err(Problem::from_code(
                    ErrorCode::IpNotAllowed,
                    format!("calls from {ip} are not allowed for this merchant"),
                ));
            }
        }
        let limits = &state.settings.limits;
        if let Err(wait) = state
            .limiter
            .hit(
                &format!("api:{}", merchant.id),
                limits.api_calls,
                limits.window_secs,
            )
            .await
        {
            return Err(Problem {
                retry_after: Some(wait),
                ..Problem::of(ErrorCode::ApiRateLimited)
            });
        }
        Ok(Self(merchant))
    }
}
