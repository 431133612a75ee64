//! Kapı: a hosted secure payment page server with 3-D Secure.
//!
//! The core (`domain`, `checkout`, `threeds`, `acquirer`, `notify`, `storage`, `crypto`,
//! `installments`, `merchants`, `config`) knows nothing of HTTP serving; `web` (the shopper's
//! pages), `api` (the merchant's JSON API), `sim` (the built-in ACS, bank and SMS simulators)
//! and `demo` sit on top of it, and `startup` assembles them. `docs/ARCHITECTURE.md` is the map.

#![cfg_attr(test, allow(clippy::string_slice))]

pub mod acquirer;
pub mod api;
pub mod assets;
pub mod bench;
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
pub mod observe;
pub mod operator;
pub mod outbound;
pub mod reports;
pub mod routing;
pub mod sim;
pub mod simstore;
pub mod startup;
pub mod state;
pub mod storage;
pub mod telemetry;
pub mod terminals;
pub mod threeds;
pub mod tls;
pub mod web;
pub mod wire;

pub use startup::Application;

/// rustls needs exactly one crypto provider; several crates compile more than one in.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
