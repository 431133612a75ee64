//! The JSON shapes merchants receive: a payment, its refunds and history, and the body of
//! every event. They are the merchant contract (docs/PROTOCOL.md §8, §9): the events carry
//! them, and the API answers with the same shapes.

use serde::{Deserialize, Serialize};
use utoipa::{
    PartialSchema, ToSchema,
    openapi::{
        RefOr,
        schema::{ObjectBuilder, Schema, Type},
    },
};

use crate::{
    checkout::{
        Status,
        payment::{Attempt, Intent, Payment},
    },
    clock::rfc3339,
    domain::Currency,
    storage::{HistoryRecord, RefundRecord},
};

fn string_enum<'a>(values: impl IntoIterator<Item = &'a str>) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values))
        .into()
}

/// A payment status, as `status` in payments and the `status` filter.
pub struct PaymentStatusSchema;

impl PartialSchema for PaymentStatusSchema {
    fn schema() -> RefOr<Schema> {
        string_enum(Status::ALL.iter().map(|s| s.as_str()))
    }
}

impl ToSchema for PaymentStatusSchema {}

/// What an authorisation is for: `sale` or `preauth`.
pub struct IntentSchema;

impl PartialSchema for IntentSchema {
    fn schema() -> RefOr<Schema> {
        string_enum(
            [Intent::Sale, Intent::PreAuth]
                .into_iter()
                .map(Intent::as_str),
        )
    }
}

impl ToSchema for IntentSchema {}

/// An event's delivery status.
pub struct EventStatusSchema;

impl PartialSchema for EventStatusSchema {
    fn schema() -> RefOr<Schema> {
        string_enum(crate::storage::EventStatus::ALL.iter().map(|s| s.as_str()))
    }
}

impl ToSchema for EventStatusSchema {}

/// An event type, e.g. `payment.approved`.
pub struct EventTypeSchema;

impl PartialSchema for EventTypeSchema {
    fn schema() -> RefOr<Schema> {
        string_enum(super::events::KINDS)
    }
}

impl ToSchema for EventTypeSchema {}

fn decimal(minor: i64, currency: Currency) -> String {
    crate::domain::money::decimal_minor(minor.max(0), currency)
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

/// The terminal a card attempt went to.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TerminalView {
    /// Kapı's terminal id: `trm_…` for a merchant's own, the `[acquirer]` terminal id for the
    /// default one.
    pub id: String,
    /// Its bank, as the BIN table names banks; `null` when unknown (payments from before
    /// terminals).
    pub bank: Option<String>,
    /// `nestpay`, `garanti`, `payfor` or `simulator`; `null` when unknown.
    pub platform: Option<String>,
}

/// Why routing chose the terminal.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RoutingView {
    /// `program`, `on_us`, `lowest_commission` or `fallback`.
    pub rule: String,
    /// What it was decided from: `card_bank`, `card_program`, `installment`, `amount_minor`,
    /// `prefer_on_us`, `candidates` (terminal ids), `excluded`, `commission`; after a fallback
    /// also `refusal` (what the first terminal said) and `refused_attempt` (its reference there).
    #[schema(value_type = Object)]
    pub inputs: serde_json::Value,
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
    /// `refund` (iade), `void` (iptal, or the release of a pre-authorisation's hold) or
    /// `capture` (of a pre-authorisation).
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
    pub fn new(r: &RefundRecord, currency: Currency) -> Self {
        Self {
            id: r.id.clone(),
            payment_id: r.payment_id.clone(),
            kind: r.kind.as_str().to_owned(),
            amount: decimal(r.amount_minor, currency),
            currency: currency.code().to_owned(),
            status: r.status.as_str().to_owned(),
            proc_return_code: r.proc_return_code.clone(),
            host_ref: r.host_ref.clone(),
            transaction_id: r.transaction_id.clone(),
            created_at: rfc3339(r.created_at),
        }
    }
}

/// One card tried on the payment, and how its attempt ended.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CardAttemptView {
    /// 1 for the first card.
    pub attempt: i64,
    pub card: Option<CardView>,
    /// The status the attempt left the payment in: `awaiting_retry` for a decline that let
    /// the shopper try another card, else the payment's final status.
    #[schema(value_type = PaymentStatusSchema)]
    pub status: String,
    pub error: Option<ErrorView>,
    pub proc_return_code: Option<String>,
    pub md_status: Option<String>,
    pub eci: Option<String>,
    pub at: String,
}

impl CardAttemptView {
    pub fn new(a: &Attempt, locale: crate::domain::Locale) -> Self {
        Self {
            attempt: i64::from(a.number),
            card: a.card.as_ref().map(|c| CardView {
                brand: Some(c.brand.as_str().to_owned()),
                masked_pan: Some(c.masked_pan.clone()),
                bank: c.bank.clone(),
                program: None,
                kind: None,
            }),
            status: a.status.as_str().to_owned(),
            error: a.error_code.map(|code| ErrorView {
                code: code.code().to_owned(),
                message: super::error_message(locale, Some(code), a.proc_return_code.as_ref()),
            }),
            proc_return_code: a.proc_return_code.as_ref().map(|c| c.as_str().to_owned()),
            md_status: a.md_status.map(|m| m.to_string()),
            eci: a.eci.as_ref().map(|e| e.as_str().to_owned()),
            at: rfc3339(a.at),
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
    /// `created`, `card_submitted`, `challenge`, `authenticated`, `authorising`,
    /// `awaiting_retry`, `awaiting_authorisation`, `approved`, `authorised` (a
    /// pre-authorisation held), `captured`, `declined`, `failed`, `cancelled`, `expired`,
    /// `voided`, `refunded`.
    #[schema(value_type = PaymentStatusSchema)]
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
    /// `sale` (charged at once) or `preauth` (held until captured).
    #[schema(value_type = IntentSchema)]
    pub intent: String,
    /// What the card was charged for good: a sale's charged amount once approved; what was
    /// captured of a pre-authorisation (`0.00` while it is only held).
    pub captured_amount: String,
    /// What a capture may still take: the held amount of an `authorised` pre-authorisation.
    pub capturable_amount: String,
    pub installment: i64,
    pub lang: String,
    pub description: String,
    /// `form` (signed POST /pay) or `api` (checkout session).
    pub source: String,
    pub created_at: String,
    pub updated_at: String,
    pub expires_at: String,
    /// How many cards the shopper may try on this payment (1: no second chance).
    pub card_attempts: i64,
    /// The card attempt under way or last made (1 for the first card). `card`,
    /// `three_d_secure`, `authorisation` and `error` are this attempt's.
    pub attempt: i64,
    pub card: Option<CardView>,
    pub three_d_secure: Option<ThreeDsView>,
    pub authorisation: Option<AuthorisationView>,
    /// The terminal the card attempt went to; `null` before a card was submitted.
    pub terminal: Option<TerminalView>,
    /// Why routing chose that terminal; `null` before a card was submitted (and for payments
    /// from before routing).
    pub routing: Option<RoutingView>,
    pub error: Option<ErrorView>,
    /// Every card attempt that ended, first first (with `refunds` and `history`, and in events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<Vec<CardAttemptView>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refunds: Option<Vec<RefundView>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<HistoryView>>,
}

/// The routed terminal, or for a payment from before routing the one that authorised it.
fn terminal_view(p: &Payment) -> Option<TerminalView> {
    if let Some(r) = &p.routing {
        return Some(TerminalView {
            id: r.terminal_id.clone(),
            bank: Some(r.bank.clone()).filter(|b| !b.is_empty()),
            platform: Some(r.platform.clone()),
        });
    }
    p.authorisation
        .as_ref()
        .filter(|a| !a.terminal_id.is_empty())
        .map(|a| TerminalView {
            id: a.terminal_id.clone(),
            bank: None,
            platform: None,
        })
}

impl PaymentView {
    /// The summary used in lists and events; `with_details` adds refunds and history.
    pub fn new(p: &Payment) -> Self {
        let currency = p.currency();
        let authorised_minor = if p.status.was_authorised() {
            p.charged_minor()
        } else {
            0
        };
        let pending = if p.status.charged() {
            p.refund_reserved_minor - p.refunded_minor
        } else {
            0
        };
        let card = p.card.as_ref().map(|c| CardView {
            brand: Some(c.brand.as_str().to_owned()),
            masked_pan: Some(c.masked_pan.clone()),
            bank: c.bank.clone(),
            program: c.program.clone(),
            kind: c.kind.clone(),
        });
        let three_d_secure = p.threeds.as_ref().map(|t| ThreeDsView {
            trans_status: t.trans_status.map(|s| s.as_str().to_owned()),
            trans_status_reason: t.trans_status_reason.clone(),
            md_status: t.md_status.map(|m| m.to_string()),
            eci: t.eci.as_ref().map(|e| e.as_str().to_owned()),
            challenge_cancel: t.challenge_cancel.clone(),
            threeds_server_trans_id: Some(t.server_trans_id.clone()),
            // A bank that ran 3-D Secure itself keeps its `md` (its reference to the card)
            // here: it is the bank's, not the merchant's.
            acs_trans_id: t
                .acs_trans_id
                .clone()
                .filter(|_| !crate::checkout::bank_gate::bank_runs_3ds(p)),
            ds_trans_id: t.ds_trans_id.clone(),
        });
        let authorisation = p
            .authorisation
            .as_ref()
            .filter(|a| !a.terminal_id.is_empty())
            .map(|a| AuthorisationView {
                terminal_id: Some(a.terminal_id.clone()),
                proc_return_code: a.proc_return_code.as_ref().map(|c| c.as_str().to_owned()),
                auth_code: a.auth_code.clone().filter(|c| !c.is_empty()),
                host_ref: a.host_ref.clone(),
                transaction_id: a.transaction_id.clone(),
                authorised_at: a.authorised_at.map(rfc3339),
            });
        let error = p.error_code.map(|code| ErrorView {
            code: code.code().to_owned(),
            message: super::error_message(p.locale, Some(code), p.proc_return_code()),
        });
        Self {
            id: p.id.to_string(),
            merchant_id: p.merchant_id.to_string(),
            order_id: p.order_id.to_string(),
            status: p.status.as_str().to_owned(),
            amount: decimal(p.amount.minor(), currency),
            currency: currency.code().to_owned(),
            installment_fee: decimal(p.installment_fee_minor, currency),
            charged_amount: decimal(p.charged_minor(), currency),
            authorised_amount: decimal(authorised_minor, currency),
            refunded_amount: decimal(p.refunded_minor, currency),
            pending_refund_amount: decimal(pending, currency),
            refundable_amount: decimal(p.refundable_minor(), currency),
            intent: p.intent.as_str().to_owned(),
            captured_amount: decimal(p.settled_minor(), currency),
            capturable_amount: decimal(p.capturable_minor(), currency),
            installment: i64::from(p.installment.count()),
            lang: p.locale.as_str().to_owned(),
            description: p.description.as_str().to_owned(),
            source: p.source.as_str().to_owned(),
            created_at: rfc3339(p.created_at),
            updated_at: rfc3339(p.updated_at),
            expires_at: rfc3339(p.expires_at),
            card_attempts: i64::from(p.card_attempts.count()),
            attempt: i64::from(p.attempt),
            card,
            three_d_secure,
            terminal: terminal_view(p),
            routing: p.routing.as_ref().map(|r| RoutingView {
                rule: r.rule.clone(),
                inputs: r.inputs.clone(),
            }),
            authorisation,
            error,
            attempts: None,
            refunds: None,
            history: None,
        }
    }

    /// Adds the card attempts that ended.
    pub fn with_attempts(mut self, attempts: &[Attempt], locale: crate::domain::Locale) -> Self {
        self.attempts = Some(
            attempts
                .iter()
                .map(|a| CardAttemptView::new(a, locale))
                .collect(),
        );
        self
    }

    pub fn with_details(mut self, refunds: &[RefundRecord], history: &[HistoryRecord]) -> Self {
        let currency = Currency::parse(&self.currency).unwrap_or(Currency::Try);
        self.refunds = Some(
            refunds
                .iter()
                .map(|r| RefundView::new(r, currency))
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
    /// `payment.approved`, `payment.authorised`, `payment.declined`, `payment.failed`,
    /// `payment.cancelled`, `payment.expired`, `payment.captured`, `payment.voided`,
    /// `payment.refunded`.
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
