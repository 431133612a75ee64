//! The ways into a payment besides Kapı's own protocol: what a payment that came in through a
//! bank-compatible gate (today NestPay's `est3Dgate`) must remember to answer in that gate's
//! language — the fields to echo, where its callback goes, and what the merchant declared.

use serde::{Deserialize, Serialize};

/// A payment's bank-compatible way in, kept with the payment from its start.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Gateway {
    Nestpay(NestpayOrder),
}

impl std::fmt::Debug for Gateway {
    // The echoed fields may hold the shopper's name, e-mail and address.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Nestpay(o) => f
                .debug_struct("Nestpay")
                .field("client_id", &o.client_id)
                .field("store_type", &o.store_type)
                .finish_non_exhaustive(),
        }
    }
}

/// NestPay's models Kapı serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoreType {
    /// `3d_pay_hosting`: the bank's (Kapı's) card page.
    #[serde(rename = "3d_pay_hosting")]
    PayHosting,
    /// `3d_pay`: the shop's own card form posts the card to the gate.
    #[serde(rename = "3d_pay")]
    Pay,
    /// `3d`: as `3d_pay`, but the gate only authenticates; the shop's server authorises
    /// through the XML API with the 3-D Secure values the result carried.
    #[serde(rename = "3d")]
    ThreeD,
}

impl StoreType {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "3d_pay_hosting" => Some(Self::PayHosting),
            "3d_pay" => Some(Self::Pay),
            "3d" => Some(Self::ThreeD),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PayHosting => "3d_pay_hosting",
            Self::Pay => "3d_pay",
            Self::ThreeD => "3d",
        }
    }

    /// The card comes in the post (the shop's own card form).
    pub fn card_posted(self) -> bool {
        matches!(self, Self::Pay | Self::ThreeD)
    }
}

/// A payment started through the NestPay gate.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NestpayOrder {
    pub client_id: String,
    pub store_type: StoreType,
    /// Every posted field the result echoes, in the order posted (without the hash, the
    /// encoding and the card fields).
    pub fields: Vec<(String, String)>,
    /// Where the result is also posted server to server, until the merchant says `Approved`.
    pub callback_url: Option<String>,
    /// The merchant declared that it shows the legal documents itself (recorded as it was
    /// when the payment started).
    pub shows_consents: bool,
    /// `3d_pay`: the card the post carried (the card itself is sealed in the vault).
    pub card: Option<HeldCard>,
}

/// What the consent page shows of a card the merchant's own form took.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldCard {
    /// First six and last four digits.
    pub masked_pan: String,
    pub holder: String,
}

impl Gateway {
    /// The merchant's server authorises after 3-D Secure (NestPay's `3d` model).
    pub fn merchant_authorises(&self) -> bool {
        match self {
            Self::Nestpay(o) => o.store_type == StoreType::ThreeD,
        }
    }

    /// The card a `3d_pay` post gave, while it waits for the consents.
    pub fn held_card(&self) -> Option<&HeldCard> {
        match self {
            Self::Nestpay(o) => o.card.as_ref(),
        }
    }
}
