//! Parsed domain types: a value that made it into one of these types is valid.

pub mod brand;
pub mod card;
pub mod ids;
pub mod locale;
pub mod money;
pub mod net;
pub mod order;
pub mod sensitive;
pub mod text;
pub mod threeds;
pub mod url;

/// Why a value is not one of the domain's types: what it should have been, and why not.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {reason}")]
pub struct Invalid {
    pub what: &'static str,
    pub reason: &'static str,
}

impl Invalid {
    pub const fn new(what: &'static str, reason: &'static str) -> Self {
        Self { what, reason }
    }
}

pub use brand::{AccentColour, Logo};
pub use card::{CardBrand, CardHolder, Cvv, Expiry, Pan};
pub use ids::{MerchantId, PaymentId};
pub use locale::Locale;
pub use money::{Currency, Money};
pub use order::{CardAttempts, Customer, Description, Installment, OrderId};
pub use sensitive::Sensitive;
pub use url::{Origin, ReturnUrl};
