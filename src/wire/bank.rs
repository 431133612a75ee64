//! The wire messages of Kapı's bank protocol (JSON over HTTP): what the acquirer client
//! (`crate::acquirer`) sends and what the bank simulator (`crate::sim`) answers.

use serde::{Deserialize, Serialize};

use crate::domain::Sensitive;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthRequest {
    pub terminal_id: String,
    /// Unique per authorisation attempt: the bank books the authorisation under it, and an
    /// inquiry or a reversal finds it by it (a payment may see more than one attempt).
    pub reference: String,
    pub merchant_id: String,
    pub order_id: String,
    pub payment_id: String,
    pub amount_minor: i64,
    /// ISO 4217 numeric.
    pub currency: String,
    pub installment: u8,
    pub pan: Sensitive,
    /// `YYMM`
    pub expiry: Sensitive,
    pub cvv: Sensitive,
    pub eci: String,
    pub cavv: Option<String>,
    pub ds_trans_id: Option<String>,
    pub md_status: String,
    /// A pre-authorisation: the bank holds the amount until it is captured
    /// (`/v1/captures`) or released (`/v1/voids`).
    #[serde(default)]
    pub preauth: bool,
    /// A bank that ran 3-D Secure itself (NestPay's `3d` model): its reference to the
    /// authenticated card (`md`) and its transaction id (`xid`), sent back with the
    /// authorisation instead of the card.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub md: Option<Sensitive>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xid: Option<String>,
    /// The shopper's address, for banks whose provision names it (Garanti's
    /// `Customer/IPAddress`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub client_ip: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthResponse {
    /// ISO 8583 style response code; `00` is approved.
    pub proc_return_code: String,
    #[serde(default)]
    pub auth_code: String,
    #[serde(default)]
    pub host_ref: String,
    #[serde(default)]
    pub transaction_id: String,
}

impl AuthResponse {
    pub fn approved(&self) -> bool {
        self.proc_return_code == "00"
    }
}

/// A void (iptal, same day, full amount; or the release of a hold), a refund (iade, full or
/// partial), or the capture of a pre-authorisation (the full amount or less, once) of an
/// authorisation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AfterSaleRequest {
    pub terminal_id: String,
    pub merchant_id: String,
    pub order_id: String,
    pub payment_id: String,
    /// Unique per request (the refund id, or the payment id for a void), so the bank can
    /// recognise a repeat.
    pub reference: String,
    /// The authorisation's transaction id and host reference.
    pub original_transaction_id: String,
    pub original_host_ref: String,
    /// For a reversal: the reference of the authorisation attempt to undo (its transaction
    /// id is unknown when its answer was lost).
    #[serde(default)]
    pub original_reference: String,
    pub amount_minor: i64,
    /// ISO 4217 numeric.
    pub currency: String,
    /// Asked again: the first request's answer was lost (a bank that does not recognise a
    /// repeated reference is asked what it did before it is asked again).
    #[serde(default)]
    pub repeat: bool,
    /// Refunds of the authorisation the bank confirmed before this request.
    #[serde(default)]
    pub refunded_before_minor: i64,
}

/// What the bank knows of an authorisation attempt, asked by its reference.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InquiryRequest {
    pub terminal_id: String,
    /// The attempt's reference (`AuthRequest::reference`).
    pub reference: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inquiry {
    /// The bank has no authorisation under that reference.
    NotFound,
    /// The bank booked it with this answer; `reversed` when it was undone since.
    Found {
        response: AuthResponse,
        reversed: bool,
    },
}

/// The wire form of an inquiry's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InquiryResponse {
    pub found: bool,
    #[serde(default)]
    pub reversed: bool,
    #[serde(default)]
    pub proc_return_code: String,
    #[serde(default)]
    pub auth_code: String,
    #[serde(default)]
    pub host_ref: String,
    #[serde(default)]
    pub transaction_id: String,
}
