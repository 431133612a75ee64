//! The checkout flow: starting a payment from a signed form, the card form, consents, and
//! the status machine that carries a payment to its result.

pub mod after_sale;
pub mod card;
pub mod documents;
pub mod flow;
pub mod recovery;
pub mod start;
pub mod status;

pub use status::Status;
