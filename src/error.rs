//! Kapı's stable error codes (`KP-xxxx`, docs/PROTOCOL.md §10), with the HTTP status and the
//! shopper's message of each. The layers have their own error types built on them: the core's
//! `checkout::CheckoutError`, the web's `web::PageError` (a page in the shopper's language),
//! the API's `api::Problem` (RFC 9457).

use axum::http::StatusCode;

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
    HashAlgorithmRefused = "KP-1021", BAD_REQUEST;
    UnsupportedStoreType = "KP-1022", BAD_REQUEST;
    ReservedField = "KP-1023", BAD_REQUEST;
    InvalidCard = "KP-1024", BAD_REQUEST;
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
    Overloaded = "KP-5003", SERVICE_UNAVAILABLE;
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
    CaptureNotAllowed = "KP-6035", CONFLICT;
    CaptureExceeds = "KP-6036", UNPROCESSABLE_ENTITY;
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
