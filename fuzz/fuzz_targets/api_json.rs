//! The JSON API's body parser: problems, never panics.
#![no_main]
use kapi::api::{json::parse, payments::RefundRequest, sessions::CreateSessionRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse::<CreateSessionRequest>(data);
    let _ = parse::<RefundRequest>(data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = kapi::api::payments::decode_cursor(s);
    }
});
