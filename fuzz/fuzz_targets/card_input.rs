//! What a shopper types into the card form.
#![no_main]
use kapi::domain::{CardHolder, Cvv, Expiry, Pan};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (String, String, String, String, String)| {
    let (pan, cvv, month, year, holder) = input;
    if let Ok(p) = Pan::parse(&pan) {
        let masked = p.masked();
        assert_eq!(masked.len(), p.expose().len());
        assert!(!format!("{p:?}").contains(p.expose()));
        let _ = Cvv::parse(&cvv, p.brand());
    }
    let today = time::macros::date!(2026 - 11 - 22);
    let _ = Expiry::parse(&month, &year, today);
    let _ = CardHolder::parse(&holder);
});
