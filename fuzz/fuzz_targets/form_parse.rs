//! The strict urlencoded form parser every shopper and merchant form goes through.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(fields) = kapi::form::parse(data, 64) {
        // What parses must also be readable by the rest of the start form's checks.
        let _ = kapi::crypto::signature::canonical_string(&fields);
        let _ = kapi::form::value(&fields, "merchant_id");
    }
});
