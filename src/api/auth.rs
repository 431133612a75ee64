//! API authentication: `Authorization: Bearer <secret key>`, the current key or, during a
//! rotation, the previous one until its overlap ends; then the merchant's IP allow-list.

use super::problem::Problem;
use crate::{domain::net::ClientIp, error::ErrorCode, state::AppState, storage::MerchantRecord};
use axum::{
    extract::FromRequestParts,
    http::{header, request::Parts},
};

/// The merchant making an API call.
pub struct ApiMerchant(pub MerchantRecord);

/// The key of `Authorization: Bearer <key>`: the scheme in any letter case (RFC 7235), one
/// space, RFC 6750's token characters; anything else is no key.
fn bearer_key(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = value.split_at_checked(7)?;
    let token_chars = key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b));
    (scheme.eq_ignore_ascii_case("bearer ") && (1..=256).contains(&key.len()) && token_chars)
        .then_some(key)
}

impl FromRequestParts<AppState> for ApiMerchant {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let key =
            bearer_key(&parts.headers).ok_or_else(|| Problem::of(ErrorCode::ApiKeyInvalid))?;
        let ip = parts
            .extensions
            .get::<ClientIp>()
            .map(|c| c.0.to_string())
            .unwrap_or_default();
        let merchant = state.api_merchant(key, &ip).await?;
        tracing::Span::current().record("merchant_id", merchant.id.as_str());
        Ok(Self(merchant))
    }
}
