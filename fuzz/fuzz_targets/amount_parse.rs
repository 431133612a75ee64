//! Amounts as merchants send them, in every currency.
#![no_main]
use kapi::domain::{Currency, Locale, Money};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    for currency in [Currency::Try, Currency::Usd, Currency::Eur] {
        if let Ok(m) = Money::parse(s, currency) {
            // Whatever parses formats and parses back to the same minor units.
            let again = Money::parse(&m.to_decimal_string(), currency).expect("round trip");
            assert_eq!(again.minor(), m.minor());
            let _ = m.display(Locale::Tr);
            let _ = m.display(Locale::En);
        }
    }
    let _ = Currency::parse(s);
});
