//! Rows as stored. Domain parsing happens in the services that read them.

use crate::{
    checkout::Status,
    domain::{CardBrand, Currency, Installment, Locale, Money},
};

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

    /// The previous key, while its overlap period lasts.
    pub fn previous_key(&self, now_ms: i64) -> Option<&[u8]> {
        match (&self.prev_secret_key_enc, self.prev_key_expires_at) {
            (Some(enc), Some(until)) if now_ms < until => Some(enc.as_slice()),
            _ => None,
        }
    }
}

#[derive(Clone, sqlx::FromRow)]
pub struct PaymentRecord {
    pub id: String,
    pub merchant_id: String,
    pub order_id: String,
    pub amount_minor: i64,
    pub currency: String,
    pub installment: i64,
    pub locale: String,
    pub description: String,
    pub customer_name: String,
    pub customer_email: String,
    pub customer_phone: String,
    pub ok_url: String,
    pub fail_url: String,
    pub callback_url: Option<String>,
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub expires_at: i64,
    pub card_brand: Option<String>,
    pub masked_pan: Option<String>,
    pub card_holder: Option<String>,
    pub threeds_server_trans_id: Option<String>,
    pub acs_trans_id: Option<String>,
    pub ds_trans_id: Option<String>,
    pub acs_url: Option<String>,
    pub trans_status: Option<String>,
    pub trans_status_reason: Option<String>,
    pub challenge_cancel: Option<String>,
    pub eci: Option<String>,
    pub authentication_value: Option<String>,
    pub md_status: Option<String>,
    pub rreq_received_at: Option<i64>,
    pub terminal_id: Option<String>,
    pub proc_return_code: Option<String>,
    pub auth_code: Option<String>,
    pub host_ref: Option<String>,
    pub transaction_id: Option<String>,
    pub error_code: Option<String>,
    pub result_fields: Option<String>,
    /// Refunds that succeeded at the bank.
    pub refunded_minor: i64,
    /// Refunds succeeded or still being asked, and a void in progress.
    pub refund_reserved_minor: i64,
    pub authorised_at: Option<i64>,
    pub source: String,
    pub client_ip: Option<String>,
    /// Interest (vade farkı) the shopper pays on top of `amount_minor` for the installments.
    pub installment_fee_minor: i64,
    /// From the BIN table, when the card's range is in it.
    pub card_bank: Option<String>,
    pub card_program: Option<String>,
    pub card_kind: Option<String>,
    /// The reference of the authorisation attempt at the bank.
    pub attempt_ref: Option<String>,
}

impl std::fmt::Debug for PaymentRecord {
    // Customer details are personal data: keep them out of debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymentRecord")
            .field("id", &self.id)
            .field("merchant_id", &self.merchant_id)
            .field("order_id", &self.order_id)
            .field("status", &self.status)
            .field("masked_pan", &self.masked_pan)
            .finish_non_exhaustive()
    }
}

impl PaymentRecord {
    pub fn status(&self) -> Status {
        Status::parse(&self.status).unwrap_or(Status::Failed)
    }

    pub fn locale(&self) -> Locale {
        Locale::parse_lenient(&self.locale)
    }

    /// The stored amount; rows are only written from a parsed `Money`.
    pub fn money(&self) -> Option<Money> {
        let currency = Currency::parse(&self.currency).ok()?;
        Money::from_minor(self.amount_minor, currency).ok()
    }

    /// What the card is charged: the amount plus the installment interest.
    pub fn charged_minor(&self) -> i64 {
        self.amount_minor.saturating_add(self.installment_fee_minor)
    }

    /// The charged amount as money.
    pub fn charged(&self) -> Option<Money> {
        let currency = Currency::parse(&self.currency).ok()?;
        Money::from_minor(self.charged_minor(), currency).ok()
    }

    pub fn installment(&self) -> Installment {
        Installment::from_count(self.installment).unwrap_or(Installment::SINGLE)
    }

    pub fn brand(&self) -> Option<CardBrand> {
        self.card_brand.as_deref().and_then(CardBrand::parse)
    }

    pub fn result(&self) -> Option<Vec<(String, String)>> {
        self.result_fields
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
    }
}

/// Columns a transition may set; `None` leaves a column as it is.
#[derive(Debug, Clone, Default)]
pub struct PaymentUpdate {
    pub card_brand: Option<String>,
    pub masked_pan: Option<String>,
    pub card_holder: Option<String>,
    pub threeds_server_trans_id: Option<String>,
    pub acs_trans_id: Option<String>,
    pub ds_trans_id: Option<String>,
    pub acs_url: Option<String>,
    pub trans_status: Option<String>,
    pub trans_status_reason: Option<String>,
    pub challenge_cancel: Option<String>,
    pub eci: Option<String>,
    pub authentication_value: Option<String>,
    pub md_status: Option<String>,
    pub rreq_received_at: Option<i64>,
    pub terminal_id: Option<String>,
    pub proc_return_code: Option<String>,
    pub auth_code: Option<String>,
    pub host_ref: Option<String>,
    pub transaction_id: Option<String>,
    pub error_code: Option<String>,
    pub result_fields: Option<String>,
    pub authorised_at: Option<i64>,
    pub client_ip: Option<String>,
    pub installment: Option<i64>,
    pub installment_fee_minor: Option<i64>,
    pub card_bank: Option<String>,
    pub card_program: Option<String>,
    pub card_kind: Option<String>,
    pub attempt_ref: Option<String>,
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
    /// `refund` or `void`.
    pub kind: String,
    pub amount_minor: i64,
    /// `pending`, `succeeded` or `failed`.
    pub status: String,
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
    /// `pending`, `reversed` or `nothing_to_reverse`.
    pub status: String,
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
    /// The bank acknowledged it: `reversed` or `nothing_to_reverse`, with its code.
    Settled {
        status: &'static str,
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
    /// `pending`, `delivered`, `dead` or `no_endpoint`.
    pub status: String,
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
    pub status: Option<String>,
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// Keyset cursor: strictly older than `(created_at, id)`.
    pub before: Option<(i64, String)>,
    pub limit: i64,
}

#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub payment_id: Option<String>,
    pub status: Option<String>,
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
