#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

//! Tests of the core without HTTP: the checkout flow with fakes for the ACS, the bank and the
//! notifier, and the backend contract every storage backend must pass.

mod contract;
mod fixtures;
mod flow;
mod world;
