//! The web layer's error: a page in the shopper's language, with the stable code, for every
//! refusal; only server faults are logged as errors.

use axum::response::{IntoResponse, Response};

use crate::{checkout::CheckoutError, domain::Locale, error::ErrorCode};

/// An error shown to a shopper as a page.
#[derive(Debug, thiserror::Error)]
#[error("{} ({:?})", code.code(), field)]
pub struct PageError {
    pub code: ErrorCode,
    pub locale: Locale,
    /// The offending field, when there is one.
    pub field: Option<String>,
    /// For the log only: never shown.
    pub source: Option<anyhow::Error>,
    /// Seconds, for `Retry-After` on 429.
    pub retry_after: Option<u64>,
}

impl PageError {
    pub fn new(code: ErrorCode, locale: Locale) -> Self {
        Self {
            code,
            locale,
            field: None,
            source: None,
            retry_after: None,
        }
    }

    pub fn too_many(code: ErrorCode, locale: Locale, retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(code, locale)
        }
    }

    pub fn field(code: ErrorCode, locale: Locale, field: &str) -> Self {
        Self {
            field: Some(field.to_owned()),
            ..Self::new(code, locale)
        }
    }

    pub fn internal(locale: Locale, source: impl Into<anyhow::Error>) -> Self {
        Self {
            source: Some(source.into()),
            ..Self::new(ErrorCode::Internal, locale)
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        if self.code == ErrorCode::Internal {
            let error = self.source.as_ref().map(|e| format!("{e:#}"));
            tracing::error!(
                code = self.code.code(),
                error = error.as_deref().unwrap_or(""),
                "internal error"
            );
        } else {
            let field = self.field.as_deref().unwrap_or("");
            tracing::info!(code = self.code.code(), field, "request refused");
        }
        let mut resp = super::pages::error_page(&self).into_response();
        if let Some(secs) = self.retry_after
            && let Ok(v) = axum::http::HeaderValue::from_str(&secs.to_string())
        {
            resp.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, v);
        }
        resp
    }
}

impl From<crate::storage::StoreError> for PageError {
    fn from(e: crate::storage::StoreError) -> Self {
        Self::internal(Locale::Tr, e)
    }
}

/// The core's refusals become pages in the payment's language (Turkish when none is known).
impl From<CheckoutError> for PageError {
    fn from(e: CheckoutError) -> Self {
        Self {
            code: e.code,
            locale: e.locale.unwrap_or_default(),
            field: e.field,
            source: e.source,
            retry_after: e.retry_after,
        }
    }
}
