//! The core's error: a stable code (what the shopper or merchant is told), the language of the
//! payment it is about, the field at fault, and — for the log only — what went wrong inside.
//! The web layer turns it into a page, the API into a problem, each in one place.

use crate::{domain::Locale, error::ErrorCode, storage::StoreError};

#[derive(Debug, thiserror::Error)]
#[error("{}{}", code.code(), field.as_deref().map(|f| format!(" ({f})")).unwrap_or_default())]
pub struct CheckoutError {
    pub code: ErrorCode,
    /// The payment's language, when the error is about one (or the form's).
    pub locale: Option<Locale>,
    /// The offending field, when there is one.
    pub field: Option<String>,
    /// Seconds, for `Retry-After` on 429.
    pub retry_after: Option<u64>,
    /// A more precise text than the code's, for machine clients (the API).
    pub detail: Option<String>,
    /// For the log only: never shown.
    pub source: Option<anyhow::Error>,
}

impl CheckoutError {
    pub fn new(code: ErrorCode) -> Self {
        Self {
            code,
            locale: None,
            field: None,
            retry_after: None,
            detail: None,
            source: None,
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn field(code: ErrorCode, field: &str) -> Self {
        Self {
            field: Some(field.to_owned()),
            ..Self::new(code)
        }
    }

    pub fn too_many(code: ErrorCode, retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(code)
        }
    }

    pub fn internal(source: impl Into<anyhow::Error>) -> Self {
        Self {
            source: Some(source.into()),
            ..Self::new(ErrorCode::Internal)
        }
    }

    /// The language to speak, when none was set yet.
    pub fn in_locale(mut self, locale: Locale) -> Self {
        self.locale.get_or_insert(locale);
        self
    }
}

impl From<StoreError> for CheckoutError {
    fn from(e: StoreError) -> Self {
        Self::internal(e)
    }
}

impl From<ErrorCode> for CheckoutError {
    fn from(code: ErrorCode) -> Self {
        Self::new(code)
    }
}
