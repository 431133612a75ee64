//! Message types that cross an HTTP boundary between Kapı's core and an outside party — the
//! issuer's ACS, the acquiring bank — and so are shared by the core's clients and the built-in
//! simulators, which know nothing else of each other.

pub mod bank;
pub mod cc5;
pub mod garanti;
pub mod nestpay;
pub mod payfor;
pub mod settlement;
pub mod threeds;
pub mod xml;
