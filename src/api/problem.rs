//! The API's error: an RFC 9457 problem document with a stable code, served as
//! `application/problem+json`; only server faults are logged as errors.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};

use crate::{checkout::CheckoutError, domain::Locale, error::ErrorCode};

/// An RFC 9457 problem for machine clients.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct Problem {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    /// The offending field, when there is one.
    pub field: Option<String>,
    /// Extra members, e.g. the bank's response code.
    pub extra: Option<Box<serde_json::Map<String, serde_json::Value>>>,
    /// Seconds, for `Retry-After` on 429.
    pub retry_after: Option<u64>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            field: None,
            extra: None,
            retry_after: None,
        }
    }

    pub fn from_code(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self::new(code.status(), code.code(), detail)
    }

    /// The code's own (English) text as the detail.
    pub fn of(code: ErrorCode) -> Self {
        Self::from_code(code, code.message(Locale::En))
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn with_extra(mut self, name: &str, value: serde_json::Value) -> Self {
        self.extra
            .get_or_insert_with(Default::default)
            .insert(name.to_owned(), value);
        self
    }

    pub fn body(&self) -> serde_json::Value {
        let mut body = serde_json::json!({
            "type": "about:blank",
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "code": self.code,
            "detail": self.detail,
        });
        if let (Some(field), Some(obj)) = (&self.field, body.as_object_mut()) {
            obj.insert("field".into(), field.clone().into());
        }
        if let (Some(extra), Some(obj)) = (&self.extra, body.as_object_mut()) {
            obj.extend(extra.as_ref().clone());
        }
        body
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(code = self.code, detail = %self.detail, "problem");
        } else {
            tracing::info!(
                code = self.code,
                status = self.status.as_u16(),
                "request refused"
            );
        }
        let mut resp = (self.status, Json(self.body())).into_response();
        if let Some(secs) = self.retry_after
            && let Ok(v) = axum::http::HeaderValue::from_str(&secs.to_string())
        {
            resp.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, v);
        }
        resp.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/problem+json"),
        );
        resp
    }
}

/// The core's refusals as problems (the English text of their code).
impl From<CheckoutError> for Problem {
    fn from(e: CheckoutError) -> Self {
        if e.code == ErrorCode::Internal {
            let error = e.source.as_ref().map(|e| format!("{e:#}"));
            tracing::error!(error = error.as_deref().unwrap_or(""), "internal error");
        }
        let problem = match e.detail {
            Some(detail) => Self::from_code(e.code, detail),
            None => Self::of(e.code),
        };
        let problem = match e.field {
            Some(f) => problem.with_field(f),
            None => problem,
        };
        Self {
            retry_after: e.retry_after,
            ..problem
        }
    }
}

impl From<crate::storage::StoreError> for Problem {
    fn from(e: crate::storage::StoreError) -> Self {
        tracing::error!(error = %e, "storage");
        Self::from_code(ErrorCode::Internal, "internal error")
    }
}
