//! The JSON shapes of the API, shared by responses and event payloads.

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

use crate::{
    checkout::Status,
    domain::{Currency, Money},
    notify,
    storage::{HistoryRecord, PaymentRecord, RefundRecord},
};

/// RFC 3339 UTC time of a unix-milliseconds timestamp.
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

fn decimal(minor: i64, currency: &str) -> String {
    Currency::parse(currency)
        .ok()
        .and_then(|c| Money::from_minor(minor, c).ok())
        .map(|m| m.to_decimal_string())
        .unwrap_or_else(|| "0.00".to_owned())
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CardView {
    /// `visa`, `mastercard`, `amex` or `troy`.
    pub brand: Option<String>,
    /// First 6 and last 4 digits.
    pub masked_pan: Option<String>,
    /// From Kapı's BIN table, when the card's range is in it: the issuer…
    pub bank: Option<String>,
    /// …its installment program (`bonus`, `world`, …)…
    pub program: Option<String>,
    /// …and `credit`, `debit`, `prepaid` or `commercial`.
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ThreeDsView {
    /// EMV 3DS final `transStatus` (Y, A, N, U, R; C while the challenge runs).
    pub trans_status: Option<String>,
    pub trans_status_reason: Option<String>,
    pub md_status: Option<String>,
    pub eci: Option<String>,
    pub challenge_cancel: Option<String>,
    pub threeds_server_trans_id: Option<String>,
    pub acs_trans_id: Option<String>,
    pub ds_trans_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuthorisationView {
    /// The acquirer terminal that authorised the payment.
    pub terminal_id: Option<String>,
    pub proc_return_code: Option<String>,
    pub auth_code: Option<String>,
    pub host_ref: Option<String>,
    pub transaction_id: Option<String>,
    pub authorised_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorView {
    pub code: String,
    /// In the payment's language.
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RefundView {
    pub id: String,
    pub payment_id: String,
    /// `refund` (iade) or `void` (iptal).
    pub kind: String,
    /// Decimal string, e.g. `50.00`.
    pub amount: String,
    pub currency: String,
    /// `pending`, `succeeded` or `failed`.
    pub status: String,
    pub proc_return_code: Option<String>,
    pub host_ref: Option<String>,
    pub transaction_id: Option<String>,
    pub created_at: String,
}

impl RefundView {
    pub fn new(r: &RefundRecord, currency: &str) -> Self {
        Self {
            id: r.id.clone(),
            payment_id: r.payment_id.clone(),
            kind: r.kind.clone(),
            amount: decimal(r.amount_minor, currency),
            currency: currency.to_owned(),
            status: r.status.clone(),
            proc_return_code: r.proc_return_code.clone(),
            host_ref: r.host_ref.clone(),
            transaction_id: r.transaction_id.clone(),
            created_at: rfc3339(r.created_at),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HistoryView {
    pub from: Option<String>,
    pub to: String,
    pub at: String,
}

/// A payment (a checkout session is a payment waiting for its shopper).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PaymentView {
    pub id: String,
    pub merchant_id: String,
    pub order_id: String,
    /// `created`, `card_submitted`, `challenge`, `authenticated`, `authorising`, `approved`,
    /// `declined`, `failed`, `cancelled`, `expired`, `voided`, `refunded`.
    pub status: String,
    /// Decimal string with the currency's minor digits, e.g. `150.00`.
    pub amount: String,
    pub currency: String,
    /// The interest (vade farkı) of the chosen installments, paid by the shopper; `0.00` for
    /// a single payment or when the merchant bears it.
    pub installment_fee: String,
    /// What the card is charged: `amount` plus `installment_fee`.
    pub charged_amount: String,
    /// What the bank authorised (the charged amount, once approved).
    pub authorised_amount: String,
    /// Refunds the bank confirmed.
    pub refunded_amount: String,
    /// Refunds (or a void) sent to the bank and not answered yet.
    pub pending_refund_amount: String,
    /// What can still be refunded.
    pub refundable_amount: String,
    pub installment: i64,
    pub lang: String,
    pub description: String,
    /// `form` (signed POST /pay) or `api` (checkout session).
    pub source: String,
    pub created_at: String,
    pub updated_at: String,
    pub expires_at: String,
    pub card: Option<CardView>,
    pub three_d_secure: Option<ThreeDsView>,
    pub authorisation: Option<AuthorisationView>,
    pub error: Option<ErrorView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refunds: Option<Vec<RefundView>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<HistoryView>>,
}

impl PaymentView {
    /// The summary used in lists and events; `with_details` adds refunds and history.
    pub fn new(p: &PaymentRecord) -> Self {
        let status = p.status();
        let authorised = status.was_authorised();
        let authorised_minor = if authorised { p.charged_minor() } else { 0 };
        let refundable = if status == Status::Approved {
            p.charged_minor() - p.refund_reserved_minor
        } else {
            0
        };
        let pending = if status == Status::Approved {
            p.refund_reserved_minor - p.refunded_minor
        } else {
            0
        };
        let card = p.masked_pan.as_ref().map(|_| CardView {
            brand: p.card_brand.clone(),
            masked_pan: p.masked_pan.clone(),
            bank: p.card_bank.clone(),
            program: p.card_program.clone(),
            kind: p.card_kind.clone(),
        });
        let three_d_secure = p.threeds_server_trans_id.as_ref().map(|_| ThreeDsView {
            trans_status: p.trans_status.clone(),
            trans_status_reason: p.trans_status_reason.clone(),
            md_status: p.md_status.clone(),
            eci: p.eci.clone(),
            challenge_cancel: p.challenge_cancel.clone(),
            threeds_server_trans_id: p.threeds_server_trans_id.clone(),
            acs_trans_id: p.acs_trans_id.clone(),
            ds_trans_id: p.ds_trans_id.clone(),
        });
        let authorisation = p.terminal_id.as_ref().map(|_| AuthorisationView {
            terminal_id: p.terminal_id.clone(),
            proc_return_code: p.proc_return_code.clone(),
            auth_code: p.auth_code.clone().filter(|c| !c.is_empty()),
            host_ref: p.host_ref.clone(),
            transaction_id: p.transaction_id.clone(),
            authorised_at: p.authorised_at.map(rfc3339),
        });
        let error = p.error_code.as_ref().map(|code| ErrorView {
            code: code.clone(),
            message: notify::error_message(p.locale(), Some(code), p.proc_return_code.as_deref()),
        });
        Self {
            id: p.id.clone(),
            merchant_id: p.merchant_id.clone(),
            order_id: p.order_id.clone(),
            status: p.status.clone(),
            amount: decimal(p.amount_minor, &p.currency),
            currency: p.currency.clone(),
            installment_fee: decimal(p.installment_fee_minor, &p.currency),
            charged_amount: decimal(p.charged_minor(), &p.currency),
            authorised_amount: decimal(authorised_minor, &p.currency),
            refunded_amount: decimal(p.refunded_minor, &p.currency),
            pending_refund_amount: decimal(pending, &p.currency),
            refundable_amount: decimal(refundable, &p.currency),
            installment: p.installment,
            lang: p.locale.clone(),
            description: p.description.clone(),
            source: p.source.clone(),
            created_at: rfc3339(p.created_at),
            updated_at: rfc3339(p.updated_at),
            expires_at: rfc3339(p.expires_at),
            card,
            three_d_secure,
            authorisation,
            error,
            refunds: None,
            history: None,
        }
    }

    pub fn with_details(mut self, refunds: &[RefundRecord], history: &[HistoryRecord]) -> Self {
        self.refunds = Some(
            refunds
                .iter()
                .map(|r| RefundView::new(r, &self.currency))
                .collect(),
        );
        self.history = Some(
            history
                .iter()
                .map(|h| HistoryView {
                    from: h.from_status.clone(),
                    to: h.to_status.clone(),
                    at: rfc3339(h.at),
                })
                .collect(),
        );
        self
    }
}

/// The body of every event delivered to the merchant.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EventBody {
    /// Unique; receivers deduplicate on it.
    pub id: String,
    /// `payment.approved`, `payment.declined`, `payment.failed`, `payment.cancelled`,
    /// `payment.expired`, `payment.voided`, `payment.refunded`.
    #[serde(rename = "type")]
    pub kind: String,
    pub created_at: String,
    pub merchant_id: String,
    pub data: EventData,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EventData {
    pub payment: PaymentView,
    /// The refund this event reports (`payment.refunded`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund: Option<RefundView>,
}
