//! A payment as a row of the `payments` table, the same for every backend: the column list
//! exists here once. A row becomes a `Payment` only if every value parses; otherwise it is
//! `StoreError::Corrupt`, never a silent default.

use crate::{
    checkout::{
        Status,
        payment::{Attempt, Authorisation, CardSummary, Intent, Payment, Source, ThreeDs},
    },
    domain::{
        CardAttempts, CardBrand, Currency, Customer, Description, Installment, Invalid, Locale,
        MerchantId, Money, OrderId, PaymentId,
        threeds::{Eci, MdStatus, ResponseCode, TransStatus},
    },
    error::ErrorCode,
};

use super::StoreError;

/// A column's value, as every backend binds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    Text(Option<&'a str>),
    Int(Option<i64>),
}

impl<'a> From<&'a String> for Value<'a> {
    fn from(v: &'a String) -> Self {
        Self::Text(Some(v))
    }
}

impl<'a> From<&'a Option<String>> for Value<'a> {
    fn from(v: &'a Option<String>) -> Self {
        Self::Text(v.as_deref())
    }
}

impl From<&i64> for Value<'_> {
    fn from(v: &i64) -> Self {
        Self::Int(Some(*v))
    }
}

impl From<&Option<i64>> for Value<'_> {
    fn from(v: &Option<i64>) -> Self {
        Self::Int(*v)
    }
}

/// Declares `PaymentRow` from its two sets of columns, so that the list exists once: the
/// struct's fields, `FIXED` and `MOVING` (their names, in order), and `fixed()` and `moving()`
/// (their values, in the same order).
macro_rules! payment_row {
    (
        fixed { $($f:ident: $ft:ty,)* }
        moving { $($m:ident: $mt:ty,)* }
    ) => {
        /// Every column of `payments`.
        #[derive(Debug, Clone, sqlx::FromRow)]
        pub struct PaymentRow {
            $(pub $f: $ft,)*
            $(pub $m: $mt,)*
        }

        impl PaymentRow {
            /// The columns set when the payment is created and never changed, `id` first.
            pub const FIXED: &'static [&'static str] = &[$(stringify!($f)),*];
            /// The columns a move may change, `version` last.
            pub const MOVING: &'static [&'static str] = &[$(stringify!($m)),*];

            /// The values of `FIXED`, in its order.
            pub fn fixed(&self) -> Vec<Value<'_>> {
                vec![$(Value::from(&self.$f)),*]
            }

            /// The values of `MOVING`, in its order.
            pub fn moving(&self) -> Vec<Value<'_>> {
                vec![$(Value::from(&self.$m)),*]
            }
        }
    };
}

payment_row! {
    fixed {
        id: String,
        merchant_id: String,
        order_id: String,
        amount_minor: i64,
        currency: String,
        description: String,
        customer_name: String,
        customer_email: String,
        customer_phone: String,
        ok_url: String,
        fail_url: String,
        callback_url: Option<String>,
        source: String,
        created_at: i64,
        expires_at: i64,
        card_attempts: i64,
        gateway: Option<String>,
    }
    moving {
        installment: i64,
        locale: String,
        status: String,
        updated_at: i64,
        card_brand: Option<String>,
        masked_pan: Option<String>,
        card_holder: Option<String>,
        threeds_server_trans_id: Option<String>,
        acs_trans_id: Option<String>,
        ds_trans_id: Option<String>,
        acs_url: Option<String>,
        trans_status: Option<String>,
        trans_status_reason: Option<String>,
        challenge_cancel: Option<String>,
        eci: Option<String>,
        authentication_value: Option<String>,
        md_status: Option<String>,
        rreq_received_at: Option<i64>,
        terminal_id: Option<String>,
        attempt_ref: Option<String>,
        proc_return_code: Option<String>,
        auth_code: Option<String>,
        host_ref: Option<String>,
        transaction_id: Option<String>,
        authorised_at: Option<i64>,
        error_code: Option<String>,
        result_fields: Option<String>,
        refunded_minor: i64,
        refund_reserved_minor: i64,
        client_ip: Option<String>,
        installment_fee_minor: i64,
        card_bank: Option<String>,
        card_program: Option<String>,
        card_kind: Option<String>,
        attempt: i64,
        intent: String,
        captured_minor: i64,
        routing: Option<String>,
        version: i64,
    }
}

fn opt<T>(
    v: &Option<String>,
    parse: impl Fn(&str) -> Result<T, Invalid>,
) -> Result<Option<T>, Invalid> {
    v.as_deref().map(parse).transpose()
}

fn error_code(s: &str) -> Result<ErrorCode, Invalid> {
    ErrorCode::ALL
        .iter()
        .copied()
        .find(|c| c.code() == s)
        .ok_or(Invalid::new("error code", "not one of Kapı's codes"))
}

fn status(s: &str) -> Result<Status, Invalid> {
    Status::parse(s).ok_or(Invalid::new("status", "not a payment status"))
}

fn brand(s: &str) -> Result<CardBrand, Invalid> {
    CardBrand::parse(s)
}

impl PaymentRow {
    fn parse(self) -> Result<Payment, Invalid> {
        let currency =
            Currency::parse(&self.currency).map_err(|_| Invalid::new("currency", "unknown"))?;
        let amount = Money::from_minor(self.amount_minor, currency)
            .map_err(|_| Invalid::new("amount", "not a positive amount"))?;
        // Free text as stored: it was checked when it was written.
        let customer = Customer {
            name: self.customer_name,
            email: self.customer_email,
            phone: self.customer_phone,
        };
        let card = match (&self.card_brand, &self.masked_pan) {
            (Some(b), Some(masked_pan)) => Some(CardSummary {
                brand: brand(b)?,
                masked_pan: masked_pan.clone(),
                holder: self.card_holder.clone().unwrap_or_default(),
                bank: self.card_bank.clone(),
                program: self.card_program.clone(),
                kind: self.card_kind.clone(),
            }),
            _ => None,
        };
        let threeds = match &self.threeds_server_trans_id {
            Some(id) => Some(ThreeDs {
                server_trans_id: id.clone(),
                acs_trans_id: self.acs_trans_id.clone(),
                ds_trans_id: self.ds_trans_id.clone(),
                acs_url: self.acs_url.clone(),
                trans_status: opt(&self.trans_status, TransStatus::parse)?,
                trans_status_reason: self.trans_status_reason.clone(),
                challenge_cancel: self.challenge_cancel.clone(),
                eci: opt(&self.eci, Eci::parse)?,
                authentication_value: self.authentication_value.clone(),
                md_status: opt(&self.md_status, MdStatus::parse)?,
                rreq_received_at: self.rreq_received_at,
            }),
            None => None,
        };
        let authorisation = match (&self.terminal_id, &self.proc_return_code) {
            (None, None) => None,
            _ => Some(Authorisation {
                terminal_id: self.terminal_id.clone().unwrap_or_default(),
                attempt_ref: self.attempt_ref.clone(),
                proc_return_code: opt(&self.proc_return_code, ResponseCode::parse)?,
                auth_code: self.auth_code.clone(),
                host_ref: self.host_ref.clone(),
                transaction_id: self.transaction_id.clone(),
                authorised_at: self.authorised_at,
            }),
        };
        let result = match &self.result_fields {
            Some(json) => Some(
                serde_json::from_str(json)
                    .map_err(|_| Invalid::new("result", "not a list of fields"))?,
            ),
            None => None,
        };
        Ok(Payment {
            id: PaymentId::parse(&self.id)?,
            merchant_id: MerchantId::parse(&self.merchant_id)?,
            order_id: OrderId::parse(&self.order_id)?,
            amount,
            installment: Installment::from_count(self.installment)?,
            installment_fee_minor: self.installment_fee_minor,
            locale: Locale::parse(&self.locale)?,
            description: Description::from_stored(self.description),
            customer,
            ok_url: self.ok_url,
            fail_url: self.fail_url,
            callback_url: self.callback_url,
            source: Source::parse(&self.source)?,
            status: status(&self.status)?,
            created_at: self.created_at,
            updated_at: self.updated_at,
            expires_at: self.expires_at,
            version: self.version,
            client_ip: self.client_ip,
            card,
            threeds,
            authorisation,
            error_code: opt(&self.error_code, error_code)?,
            result,
            intent: Intent::parse(&self.intent)?,
            routing: self
                .routing
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(|_| Invalid::new("routing", "a routing record"))?,
            captured_minor: self.captured_minor,
            refunded_minor: self.refunded_minor,
            refund_reserved_minor: self.refund_reserved_minor,
            attempt: u8::try_from(self.attempt)
                .ok()
                .filter(|n| *n >= 1)
                .ok_or(Invalid::new("attempt", "a count from 1"))?,
            card_attempts: CardAttempts::from_count(self.card_attempts)?,
            gateway: match &self.gateway {
                Some(json) => Some(
                    serde_json::from_str(json)
                        .map_err(|_| Invalid::new("gateway", "not a gateway record"))?,
                ),
                None => None,
            },
        })
    }
}

impl TryFrom<PaymentRow> for Payment {
    type Error = StoreError;

    fn try_from(row: PaymentRow) -> Result<Self, StoreError> {
        let id = row.id.clone();
        row.parse()
            .map_err(|e| StoreError::Corrupt(format!("payment {id}: {e}")))
    }
}

impl From<&Payment> for PaymentRow {
    fn from(p: &Payment) -> Self {
        let card = p.card.as_ref();
        let t = p.threeds.as_ref();
        let a = p.authorisation.as_ref();
        Self {
            id: p.id.to_string(),
            merchant_id: p.merchant_id.to_string(),
            order_id: p.order_id.to_string(),
            amount_minor: p.amount.minor(),
            currency: p.amount.currency().code().to_owned(),
            installment: i64::from(p.installment.count()),
            locale: p.locale.as_str().to_owned(),
            description: p.description.as_str().to_owned(),
            customer_name: p.customer.name.clone(),
            customer_email: p.customer.email.clone(),
            customer_phone: p.customer.phone.clone(),
            ok_url: p.ok_url.clone(),
            fail_url: p.fail_url.clone(),
            callback_url: p.callback_url.clone(),
            status: p.status.as_str().to_owned(),
            created_at: p.created_at,
            updated_at: p.updated_at,
            expires_at: p.expires_at,
            version: p.version,
            card_brand: card.map(|c| c.brand.as_str().to_owned()),
            masked_pan: card.map(|c| c.masked_pan.clone()),
            card_holder: card.map(|c| c.holder.clone()),
            threeds_server_trans_id: t.map(|t| t.server_trans_id.clone()),
            acs_trans_id: t.and_then(|t| t.acs_trans_id.clone()),
            ds_trans_id: t.and_then(|t| t.ds_trans_id.clone()),
            acs_url: t.and_then(|t| t.acs_url.clone()),
            trans_status: t
                .and_then(|t| t.trans_status)
                .map(|s| s.as_str().to_owned()),
            trans_status_reason: t.and_then(|t| t.trans_status_reason.clone()),
            challenge_cancel: t.and_then(|t| t.challenge_cancel.clone()),
            eci: t
                .and_then(|t| t.eci.as_ref())
                .map(|e| e.as_str().to_owned()),
            authentication_value: t.and_then(|t| t.authentication_value.clone()),
            md_status: t.and_then(|t| t.md_status).map(|m| m.to_string()),
            rreq_received_at: t.and_then(|t| t.rreq_received_at),
            terminal_id: a.map(|a| a.terminal_id.clone()).filter(|t| !t.is_empty()),
            attempt_ref: a.and_then(|a| a.attempt_ref.clone()),
            proc_return_code: a
                .and_then(|a| a.proc_return_code.as_ref())
                .map(|c| c.as_str().to_owned()),
            auth_code: a.and_then(|a| a.auth_code.clone()),
            host_ref: a.and_then(|a| a.host_ref.clone()),
            transaction_id: a.and_then(|a| a.transaction_id.clone()),
            authorised_at: a.and_then(|a| a.authorised_at),
            error_code: p.error_code.map(|c| c.code().to_owned()),
            result_fields: p
                .result
                .as_ref()
                .and_then(|r| serde_json::to_string(r).ok()),
            intent: p.intent.as_str().to_owned(),
            routing: p
                .routing
                .as_ref()
                .and_then(|r| serde_json::to_string(r).ok()),
            captured_minor: p.captured_minor,
            refunded_minor: p.refunded_minor,
            refund_reserved_minor: p.refund_reserved_minor,
            source: p.source.as_str().to_owned(),
            client_ip: p.client_ip.clone(),
            installment_fee_minor: p.installment_fee_minor,
            card_bank: card.and_then(|c| c.bank.clone()),
            card_program: card.and_then(|c| c.program.clone()),
            card_kind: card.and_then(|c| c.kind.clone()),
            attempt: i64::from(p.attempt),
            card_attempts: i64::from(p.card_attempts.count()),
            gateway: p
                .gateway
                .as_ref()
                .and_then(|g| serde_json::to_string(g).ok()),
        }
    }
}

/// A card attempt as a row of `payment_attempts`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttemptRow {
    pub payment_id: String,
    pub number: i64,
    pub card_brand: Option<String>,
    pub masked_pan: Option<String>,
    pub card_bank: Option<String>,
    pub status: String,
    pub error_code: Option<String>,
    pub proc_return_code: Option<String>,
    pub md_status: Option<String>,
    pub eci: Option<String>,
    pub at: i64,
}

impl From<&Attempt> for AttemptRow {
    fn from(a: &Attempt) -> Self {
        let card = a.card.as_ref();
        Self {
            payment_id: a.payment_id.to_string(),
            number: i64::from(a.number),
            card_brand: card.map(|c| c.brand.as_str().to_owned()),
            masked_pan: card.map(|c| c.masked_pan.clone()),
            card_bank: card.and_then(|c| c.bank.clone()),
            status: a.status.as_str().to_owned(),
            error_code: a.error_code.map(|c| c.code().to_owned()),
            proc_return_code: a.proc_return_code.as_ref().map(|c| c.as_str().to_owned()),
            md_status: a.md_status.map(|m| m.to_string()),
            eci: a.eci.as_ref().map(|e| e.as_str().to_owned()),
            at: a.at,
        }
    }
}

impl TryFrom<AttemptRow> for Attempt {
    type Error = StoreError;

    fn try_from(r: AttemptRow) -> Result<Self, StoreError> {
        let corrupt = |e: Invalid| StoreError::Corrupt(format!("attempt of {}: {e}", r.payment_id));
        let card = match (&r.card_brand, &r.masked_pan) {
            (Some(b), Some(masked_pan)) => Some(CardSummary {
                brand: brand(b).map_err(corrupt)?,
                masked_pan: masked_pan.clone(),
                holder: String::new(),
                bank: r.card_bank.clone(),
                program: None,
                kind: None,
            }),
            _ => None,
        };
        Ok(Attempt {
            payment_id: PaymentId::parse(&r.payment_id).map_err(corrupt)?,
            number: u8::try_from(r.number)
                .map_err(|_| corrupt(Invalid::new("attempt", "a count from 1")))?,
            card,
            status: status(&r.status).map_err(corrupt)?,
            error_code: opt(&r.error_code, error_code).map_err(corrupt)?,
            proc_return_code: opt(&r.proc_return_code, ResponseCode::parse).map_err(corrupt)?,
            md_status: opt(&r.md_status, MdStatus::parse).map_err(corrupt)?,
            eci: opt(&r.eci, Eci::parse).map_err(corrupt)?,
            at: r.at,
        })
    }
}
