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
pub mod url;

pub use brand::{AccentColour, Logo};
pub use card::{CardBrand, CardHolder, Cvv, Expiry, Pan};
pub use ids::{MerchantId, PaymentId};
pub use locale::Locale;
pub use money::{Currency, Money};
pub use order::{Customer, Description, Installment, OrderId};
pub use sensitive::Sensitive;
pub use url::{Origin, ReturnUrl};
