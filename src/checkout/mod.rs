//! The checkout: the payment aggregate and its status machine, and the journey's steps as
//! methods of the `Checkout` service — starting a payment from a signed form or the API, the
//! card form and its consents, 3-D Secure, the authorisation, the result, after-sale voids
//! and refunds, and the recovery of whatever was interrupted.

pub mod after_sale;
pub mod bank_gate;
pub mod card;
pub mod card_form;
pub mod documents;
mod error;
pub mod flow;
pub mod gates;
pub mod gateway;
pub mod nestpay;
pub mod nestpay_api;
pub mod payment;
pub mod recovery;
pub mod service;
pub mod start;
pub mod status;
pub mod terminal;

pub use error::CheckoutError;
pub use service::{Backlog, Checkout, Readiness};
pub use status::Status;
