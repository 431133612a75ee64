//! Extractors that turn bad input into the project's own errors, never axum's plain text.

use axum::{
    extract::{FromRequest, FromRequestParts, Request},
    http::{header, request::Parts},
};

use crate::{checkout::flow::ClientInfo, domain::Locale, error::ErrorCode, web::error::PageError};

const MAX_FORM_BYTES: usize = 64 * 1024;
const MAX_FIELDS: usize = 64;

/// A urlencoded form as ordered `(name, value)` pairs, duplicates kept (the signature rule
/// must see them to refuse them).
pub struct RawForm(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequest<S> for RawForm {
    type Rejection = PageError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        read_form(req, MAX_FIELDS).await.map(Self)
    }
}

/// A bank-compatible gate's form (NestPay's `est3Dgate`): as `RawForm`, with room for the
/// many fields real shop integrations post.
pub struct GateForm(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequest<S> for GateForm {
    type Rejection = PageError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        read_form(req, 200).await.map(Self)
    }
}

async fn read_form(req: Request, max_fields: usize) -> Result<Vec<(String, String)>, PageError> {
    {
        // No payment is known yet: the refusal speaks the browser's language.
        let locale = preferred(req.headers());
        let bad = || PageError::new(ErrorCode::MalformedRequest, locale);
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("application/x-www-form-urlencoded")
            });
        if !is_form {
            return Err(bad());
        }
        let bytes = axum::body::to_bytes(req.into_body(), MAX_FORM_BYTES)
            .await
            .map_err(|e| {
                if too_large(&e) {
                    PageError::new(ErrorCode::BodyTooLarge, locale)
                } else {
                    bad()
                }
            })?;
        crate::form::parse(&bytes, max_fields).map_err(|_| bad())
    }
}

/// The shopper's address and browser, for consent evidence and the AReq.
pub struct Client(pub ClientInfo);

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let header = |name: header::HeaderName| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        let ip = parts
            .extensions
            .get::<super::abuse::ClientIp>()
            .map(|c| c.0.to_string())
            .unwrap_or_default();
        Ok(Self(ClientInfo {
            ip,
            user_agent: header(header::USER_AGENT),
            accept: header(header::ACCEPT),
        }))
    }
}

/// The shopper's language from `Accept-Language`, for pages that have no payment yet.
pub struct Preferred(pub Locale);

impl<S: Send + Sync> FromRequestParts<S> for Preferred {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(preferred(&parts.headers)))
    }
}

/// The language `Accept-Language` asks for (Turkish when it names neither).
pub fn preferred(headers: &header::HeaderMap) -> Locale {
    let header = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    Locale::from_accept_language(header)
}

/// Whether reading a body failed because it was over its limit (rather than cut off or
/// malformed).
pub fn too_large(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = err.source();
    }
    false
}
