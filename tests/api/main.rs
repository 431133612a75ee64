#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]

//! Integration tests: the real server on a random port with a fresh database, driven over
//! HTTP like a shopper's browser, with a small merchant receiver that checks every signature.

mod architecture;
mod bank;
mod banks;
mod bench;
mod helpers;

mod branding;
mod browser;
mod card_page;
mod cli;
mod cluster;
mod crash;
mod demo;
mod installments;
mod journeys;
mod language;
mod nestpay;
mod notifications;
mod openapi;
mod operator;
mod protocol;
mod proxy;
mod real;
mod recovery;
mod retry;
mod routing;
mod security;
mod server_api;
mod start;
mod threeds;
mod tls;
