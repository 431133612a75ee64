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

/// Whether a signature, hash or password a message carries is the one expected: compared in
/// constant time, and an empty one never matches.
pub fn same_secret(given: &str, expected: &str) -> bool {
    !given.is_empty()
        && bool::from(subtle::ConstantTimeEq::ct_eq(
            given.as_bytes(),
            expected.as_bytes(),
        ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_match_only_whole_and_never_empty() {
        assert!(super::same_secret("AB12", "AB12"));
        assert!(!super::same_secret("AB1", "AB12"));
        assert!(!super::same_secret("", ""));
    }
}
