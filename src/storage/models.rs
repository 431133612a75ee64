//! Records as stored, besides payments (`rows.rs`): merchants, refunds, events, …

use std::fmt;

/// A stored enum's text: `as_str` to write it, `TryFrom<String>` to read it (an unknown
/// value is corrupt data).
macro_rules! stored_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }

            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;

            fn try_from(s: String) -> Result<Self, String> {
                Self::parse(&s).ok_or_else(|| format!("`{s}` is not a {}", stringify!($name)))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

stored_enum!(
    /// What is asked of the bank after the authorisation: refund (iade), void (iptal, or the
    /// release of a hold), or the capture of a pre-authorisation.
    RefundKind { Refund = "refund", Void = "void", Capture = "capture" }
);

stored_enum!(
    /// Where a refund or void is: asked, or answered.
    RefundStatus { Pending = "pending", Succeeded = "succeeded", Failed = "failed" }
);

stored_enum!(
    /// An event's delivery.
    EventStatus {
        Pending = "pending",
        Delivered = "delivered",
        Dead = "dead",
        NoEndpoint = "no_endpoint",
    }
);

stored_enum!(
    /// Where an Idempotency-Key's request is: running; ended without an answer after it
    /// started a refund or void (retries answer with that refund); answered.
    KeyState { InFlight = "in_flight", Refund = "refund", Done = "done" }
);

stored_enum!(
    /// Where a reversal is: retried, or acknowledged by the bank.
    ReversalStatus {
        Pending = "pending",
        Reversed = "reversed",
        NothingToReverse = "nothing_to_reverse",
    }
);

/// A difference between a bank's settlement file and Kapı's books.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct ReconciliationIssue {
    pub id: String,
    /// `YYYY-MM-DD`, Europe/Istanbul.
    pub day: String,
    pub terminal_id: String,
    /// `missing_in_kapi`, `missing_at_bank` or `amount_differs`.
    pub kind: String,
    pub transaction_id: String,
    pub bank_amount_minor: Option<i64>,
    pub kapi_amount_minor: Option<i64>,
    /// ISO 4217 alphabetic.
    pub currency: String,
    pub created_at: i64,
}

/// A merchant's bank terminal as stored: the password, the store key and the refund password
/// sealed under the master key (`crate::terminals` reads them), the rates as the operator wrote
/// them.
#[derive(Clone, sqlx::FromRow)]
pub struct TerminalRecord {
    pub id: String,
    pub merchant_id: String,
    pub bank: String,
    /// `nestpay`, `garanti`, `payfor` or `simulator`.
    pub platform: String,
    pub client_id: String,
    pub user_name: String,
    pub password_enc: Vec<u8>,
    pub terminal_no: Option<String>,
    pub store_key_enc: Vec<u8>,
    pub gate_url: String,
    pub api_url: String,
    pub static_ip: Option<String>,
    /// Percent, e.g. `2.50`.
    pub commission: Option<String>,
    /// JSON object: installment count → percent, e.g. `{"3":"3.10"}`.
    pub installment_commissions: String,
    pub accept_half_3d: i64,
    pub enabled: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// Garanti BBVA's refund user (`PROVRFN`), for voids and refunds.
    pub refund_user: Option<String>,
    /// Its password, sealed; set exactly when `refund_user` is.
    pub refund_password_enc: Option<Vec<u8>>,
    /// PayFor's member id (`MbrId`); `None` on a PayFor terminal means QNB Finansbank's `5`.
    pub mbr_id: Option<String>,
}

impl fmt::Debug for TerminalRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TerminalRecord")
            .field("id", &self.id)
            .field("merchant_id", &self.merchant_id)
            .field("bank", &self.bank)
            .field("platform", &self.platform)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

/// A merchant's NestPay set-up (the NestPay-compatible gateway): its client id, the store key
/// that signs the gate's requests and results, and the XML API's user. The store key and the
/// API password are sealed under the master key like the merchant's secret.
#[derive(Clone, sqlx::FromRow)]
pub struct NestpayRecord {
    pub merchant_id: String,
    /// Digits, unique across merchants.
    pub client_id: String,
    pub store_key_enc: Vec<u8>,
    pub api_user: String,
    pub api_password_enc: Vec<u8>,
    /// 1: the merchant shows the pre-information form and the distance sales contract itself
    /// (`3d_pay` then goes straight to 3-D Secure).
    pub shows_consents: i64,
    pub updated_at: i64,
}

impl NestpayRecord {
    pub fn shows_consents(&self) -> bool {
        self.shows_consents != 0
    }
}

impl fmt::Debug for NestpayRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NestpayRecord")
            .field("merchant_id", &self.merchant_id)
            .field("client_id", &self.client_id)
            .field("api_user", &self.api_user)
            .field("shows_consents", &self.shows_consents())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MerchantRecord {
    pub id: String,
    pub name: String,
    pub legal_title: String,
    pub address: String,
    pub phone: String,
    pub email: String,
    pub mersis: String,
    pub website: String,
    pub secret_key_enc: Vec<u8>,
    /// JSON array of origins.
    pub return_origins: String,
    pub created_at: i64,
    /// Keyed hash of the current secret, to find a merchant by its API key.
    pub key_lookup: Option<String>,
    /// The previous secret during a key rotation, valid until `prev_key_expires_at`.
    pub prev_secret_key_enc: Option<Vec<u8>>,
    pub prev_key_lookup: Option<String>,
    pub prev_key_expires_at: Option<i64>,
    pub webhook_url: Option<String>,
    /// JSON array of IP addresses allowed to call the API; empty means any.
    pub allowed_ips: String,
    /// JSON array of origins that may frame the merchant's payment pages.
    pub frame_origins: String,
    /// The installment plan (canonical JSON); `None`: single payment only.
    pub installment_plan: Option<String>,
    /// `#rrggbb`, checked when it was set.
    pub accent_colour: Option<String>,
    /// SHA-256 (hex) of the logo, when there is one: it versions the logo's URL.
    pub logo_sha256: Option<String>,
    /// How many cards a shopper may try on one payment (1: no second chance).
    pub card_attempts: i64,
    /// 1: routing prefers a terminal of the card's own bank (on-us).
    pub prefer_on_us: i64,
}

impl MerchantRecord {
    pub fn origins(&self) -> Vec<String> {
        serde_json::from_str(&self.return_origins).unwrap_or_default()
    }

    pub fn allowed_ips(&self) -> Vec<String> {
        serde_json::from_str(&self.allowed_ips).unwrap_or_default()
    }

    pub fn frame_origins(&self) -> Vec<String> {
        serde_json::from_str(&self.frame_origins).unwrap_or_default()
    }

    /// The merchant's installment plan; a stored plan was checked when it was set.
    pub fn installment_plan(&self) -> Option<crate::installments::InstallmentPlan> {
        let json = self.installment_plan.as_deref()?;
        crate::installments::InstallmentPlan::from_json(json)
            .inspect_err(|e| tracing::warn!(merchant_id = %self.id, error = %e, "stored installment plan unreadable"))
            .ok()
    }

    /// How many cards its shoppers may try on one payment, unless a payment says otherwise.
    pub fn card_attempts(&self) -> crate::domain::CardAttempts {
        crate::domain::CardAttempts::from_count(self.card_attempts)
            .unwrap_or(crate::domain::CardAttempts::ONE)
    }

    /// The previous key, while its overlap period lasts.
    pub fn previous_key(&self, now_ms: i64) -> Option<&[u8]> {
        match (&self.prev_secret_key_enc, self.prev_key_expires_at) {
            (Some(enc), Some(until)) if now_ms < until => Some(enc.as_slice()),
            _ => None,
        }
    }
}

/// A merchant's logo, as served on its payment pages.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MerchantLogo {
    pub content_type: String,
    pub body: Vec<u8>,
    pub sha256: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConsentRecord {
    pub payment_id: String,
    pub document_kind: String,
    pub template_version: String,
    pub text_sha256: String,
    pub accepted_at: i64,
    pub client_ip: String,
    pub user_agent: String,
    pub locale: String,
    /// What the document was rendered from (`checkout::documents::Snapshot`, JSON); `None`
    /// for consents older than that record.
    pub document_data: Option<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HistoryRecord {
    pub from_status: Option<String>,
    pub to_status: String,
    pub at: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CallbackAttempt {
    pub payment_id: String,
    pub url: String,
    pub attempted_at: i64,
    pub status_code: Option<i64>,
    pub error: Option<String>,
    pub latency_ms: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RefundRecord {
    pub id: String,
    pub payment_id: String,
    #[sqlx(try_from = "String")]
    pub kind: RefundKind,
    pub amount_minor: i64,
    #[sqlx(try_from = "String")]
    pub status: RefundStatus,
    pub proc_return_code: Option<String>,
    pub host_ref: Option<String>,
    pub transaction_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A reversal of an authorisation whose outcome Kapı could not learn, retried until the bank
/// acknowledges it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReversalRecord {
    /// The reversal's own reference at the bank.
    pub id: String,
    pub payment_id: String,
    /// The authorisation attempt to undo.
    pub attempt_ref: String,
    pub terminal_id: String,
    pub amount_minor: i64,
    /// ISO 4217 numeric.
    pub currency: String,
    #[sqlx(try_from = "String")]
    pub status: ReversalStatus,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub lease_until: Option<i64>,
    /// "No such authorisation" is believed only from then on.
    pub not_found_final_at: i64,
    pub proc_return_code: Option<String>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What became of one try of a reversal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReversalOutcome {
    /// The bank acknowledged it, with its code.
    Settled {
        status: ReversalStatus,
        proc_return_code: String,
    },
    /// Try again then.
    RetryAt { at: i64, error: String },
}

/// An outbox event: a change the merchant must hear about.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRecord {
    pub id: String,
    pub merchant_id: String,
    pub payment_id: String,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub payload: String,
    pub url: Option<String>,
    #[sqlx(try_from = "String")]
    pub status: EventStatus,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub lease_until: Option<i64>,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventAttempt {
    pub event_id: String,
    pub attempted_at: i64,
    pub status_code: Option<i64>,
    pub latency_ms: i64,
    pub error: Option<String>,
}

/// What to do with an event after a delivery attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Delivered,
    RetryAt(i64),
    Dead,
}

/// The Idempotency-Key a refund or void was started under, linked to it when its amount is
/// reserved.
#[derive(Debug, Clone)]
pub struct IdempotencyLink {
    pub merchant_id: String,
    pub key: String,
    pub owner: String,
}

/// Filters for listing payments; results are newest first.
#[derive(Debug, Clone, Default)]
pub struct PaymentFilter {
    pub order_id: Option<String>,
    pub status: Option<crate::checkout::Status>,
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// Keyset cursor: strictly older than `(created_at, id)`.
    pub before: Option<(i64, String)>,
    pub limit: i64,
}

#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub payment_id: Option<String>,
    pub status: Option<EventStatus>,
    pub kind: Option<String>,
    pub before: Option<(i64, String)>,
    pub limit: i64,
}

/// The state of an Idempotency-Key when a request arrives with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyState {
    /// First use: the caller runs the request and then stores the response.
    Started,
    /// Same key, same request, still running.
    InFlight,
    /// Same key, same request, whose request ended without storing its answer after it had
    /// started this refund or void: answer with what became of it.
    Refund { refund_id: String },
    /// Same key, same request, finished: replay this response.
    Done { status: u16, body: String },
    /// Same key, another request.
    Mismatch,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SecurityEvent {
    pub kind: String,
    pub subject: String,
    pub detail: String,
    pub at: i64,
}
