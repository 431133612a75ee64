//! One error type for the web layer, with stable codes.
//!
//! Shoppers get a page in their language; machine clients (the ACS RReq channel, simulators)
//! get an RFC 9457 problem document. Only server faults are logged as errors.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};

use crate::{domain::Locale, i18n::Tr};

macro_rules! error_codes {
    ($($variant:ident = $code:literal, $status:ident;)*) => {
        /// Stable error codes, documented in docs/PROTOCOL.md.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorCode { $($variant,)* }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            pub fn code(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code,)* }
            }

            pub fn status(self) -> StatusCode {
                match self { $(ErrorCode::$variant => StatusCode::$status,)* }
            }
        }
    };
}

error_codes! {
    MalformedRequest = "KP-1001", BAD_REQUEST;
    UnknownField = "KP-1002", BAD_REQUEST;
    MissingField = "KP-1003", BAD_REQUEST;
    InvalidField = "KP-1004", BAD_REQUEST;
    DuplicateField = "KP-1005", BAD_REQUEST;
    LineBreak = "KP-1006", BAD_REQUEST;
    BodyTooLarge = "KP-1007", PAYLOAD_TOO_LARGE;
    UnknownMerchant = "KP-1010", BAD_REQUEST;
    BadSignature = "KP-1011", FORBIDDEN;
    StaleTimestamp = "KP-1012", BAD_REQUEST;
    NonceReused = "KP-1013", CONFLICT;
    UnregisteredUrl = "KP-1014", BAD_REQUEST;
    InvalidAmount = "KP-1015", BAD_REQUEST;
    UnsupportedCurrency = "KP-1016", BAD_REQUEST;
    InvalidOrderId = "KP-1017", BAD_REQUEST;
    OrderAlreadyPaid = "KP-1018", CONFLICT;
    InvalidInstallment = "KP-1019", BAD_REQUEST;
    TooManyRequests = "KP-1020", TOO_MANY_REQUESTS;
    PaymentNotFound = "KP-2001", NOT_FOUND;
    PaymentExpired = "KP-2002", GONE;
    SessionMismatch = "KP-2004", FORBIDDEN;
    FormExpired = "KP-2005", FORBIDDEN;
    CancelledByShopper = "KP-2007", OK;
    CardTestingBlocked = "KP-2008", TOO_MANY_REQUESTS;
    AuthenticationFailed = "KP-3001", OK;
    AuthenticationRejected = "KP-3002", OK;
    AuthenticationUnavailable = "KP-3003", OK;
    ChallengeReplayed = "KP-3004", CONFLICT;
    ChallengeInvalid = "KP-3005", BAD_REQUEST;
    ChallengeCancelled = "KP-3006", OK;
    AcsUnreachable = "KP-3007", BAD_GATEWAY;
    Declined = "KP-4001", OK;
    BankUnreachable = "KP-4091", BAD_GATEWAY;
    Internal = "KP-5000", INTERNAL_SERVER_ERROR;
    Interrupted = "KP-5001", OK;
    ApiKeyInvalid = "KP-6001", UNAUTHORIZED;
    IpNotAllowed = "KP-6002", FORBIDDEN;
    MalformedJson = "KP-6003", BAD_REQUEST;
    UnknownJsonField = "KP-6004", BAD_REQUEST;
    InvalidJsonValue = "KP-6005", UNPROCESSABLE_ENTITY;
    UnsupportedMediaType = "KP-6006", UNSUPPORTED_MEDIA_TYPE;
    ApiBodyTooLarge = "KP-6007", PAYLOAD_TOO_LARGE;
    IdempotencyKeyInvalid = "KP-6010", BAD_REQUEST;
    IdempotencyKeyReused = "KP-6011", UNPROCESSABLE_ENTITY;
    IdempotencyInFlight = "KP-6012", CONFLICT;
    SessionNotOpen = "KP-6020", CONFLICT;
    VoidNotAllowed = "KP-6030", CONFLICT;
    VoidCutoffPassed = "KP-6031", CONFLICT;
    RefundExceeds = "KP-6032", UNPROCESSABLE_ENTITY;
    RefundNotAllowed = "KP-6033", CONFLICT;
    BankRefused = "KP-6034", UNPROCESSABLE_ENTITY;
    EventNotFound = "KP-6040", NOT_FOUND;
    InvalidQuery = "KP-6041", BAD_REQUEST;
    EventNoEndpoint = "KP-6042", CONFLICT;
    ApiNotFound = "KP-6044", NOT_FOUND;
    ApiRateLimited = "KP-6050", TOO_MANY_REQUESTS;
}

impl ErrorCode {
    /// The Fluent key of the message, e.g. `err-KP-1011`.
    pub fn message_key(self) -> String {
        format!("err-{}", self.code())
    }

    pub fn message(self, locale: Locale) -> String {
        Tr::new(locale).t(&self.message_key())
    }
}

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
            tracing::error!(code = self.code.code(), error = ?self.source, "internal error");
        } else {
            tracing::info!(code = self.code.code(), field = ?self.field, "request refused");
        }
        let mut resp = crate::web::pages::error_page(&self).into_response();
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

impl From<crate::storage::StoreError> for Problem {
    fn from(e: crate::storage::StoreError) -> Self {
        tracing::error!(error = %e, "storage");
        Self::from_code(ErrorCode::Internal, "internal error")
    }
}
