//! Kapı: a hosted secure payment page server with 3-D Secure.
//!
//! The flow, by module: `checkout` (signed start form, card form, consents, status machine),
//! `threeds` (3DS Server and the built-in ACS simulator), `acquirer` (authorisation and the
//! built-in bank simulator), `notify` (signed results to the merchant), `storage`, `web`.

pub mod acquirer;
pub mod api;
pub mod assets;
pub mod checkout;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod demo;
pub mod domain;
pub mod error;
pub mod files;
pub mod form;
pub mod i18n;
pub mod installments;
pub mod limits;
pub mod merchants;
pub mod notify;
pub mod outbound;
pub mod sim;
pub mod simstore;
pub mod startup;
pub mod state;
pub mod storage;
pub mod telemetry;
pub mod threeds;
pub mod tls;
pub mod web;
pub mod wire;

pub use startup::Application;

/// rustls needs exactly one crypto provider; several crates compile more than one in.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
