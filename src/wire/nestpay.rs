//! NestPay's (EST, Payten) hash `ver3`: the one rule both sides of its 3-D Secure gate sign
//! with — a shop posting to the gate, the gate posting the result back, and a bank connector
//! checking a bank's answer. Shared by Kapı's NestPay-compatible gateway and, later, its NestPay
//! bank connector and simulator (`bank-protocols.md` §1.4, §1.6).
//!
//! Every posted field except the excluded names (compared without letter case) is taken,
//! sorted by name with a case-insensitive *natural* sort (`Field1`, `field2`, `Field10`), each
//! value escaped (`\` → `\\`, then `|` → `\|`), joined with `|`, then `|` and the escaped store
//! key are appended; the hash is base64 of SHA-512 over those UTF-8 bytes.

use std::cmp::Ordering;

use base64::Engine as _;
use sha2::{Digest, Sha512};

/// Names left out of the hash of a request to the gate.
pub const REQUEST_EXCLUDED: &[&str] = &["hash", "encoding"];

/// Names left out of the hash of a result the gate posts back (`HASH` is `hash` in any case).
pub const RESULT_EXCLUDED: &[&str] = &["hash", "encoding", "nationalidno"];

/// `\` → `\\`, then `|` → `\|` (in that order: the other way escapes twice).
pub fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('|', "\\|")
}

/// PHP's `strnatcasecmp` as NestPay's samples sort: letters folded to upper case (so `_` sorts
/// after letters), runs of digits compared as numbers.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.chars().peekable(), b.chars().peekable());
    loop {
        match (a.peek().copied(), b.peek().copied()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let (m, n) = (digits(&mut a), digits(&mut b));
                let (m, n) = (m.trim_start_matches('0'), n.trim_start_matches('0'));
                let by_value = m.len().cmp(&n.len()).then_with(|| m.cmp(n));
                if by_value != Ordering::Equal {
                    return by_value;
                }
            }
            (Some(x), Some(y)) => {
                let by_char = x.to_uppercase().cmp(y.to_uppercase());
                if by_char != Ordering::Equal {
                    return by_char;
                }
                a.next();
                b.next();
            }
        }
    }
}

fn digits(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> String {
    let mut run = String::new();
    while let Some(c) = chars.next_if(char::is_ascii_digit) {
        run.push(c);
    }
    run
}

/// The string the hash is taken over: the fields (name, value) not excluded, in natural name
/// order, escaped and joined, then the escaped store key.
pub fn plaintext<'a>(
    fields: impl IntoIterator<Item = (&'a str, &'a str)>,
    excluded: &[&str],
    store_key: &str,
) -> String {
    let mut kept: Vec<(&str, &str)> = fields
        .into_iter()
        .filter(|(name, _)| !excluded.iter().any(|x| x.eq_ignore_ascii_case(name)))
        .collect();
    // Stable: two fields whose names differ only in case keep their posted order.
    kept.sort_by(|(x, _), (y, _)| natural_cmp(x, y));
    let mut out = String::new();
    for (_, value) in kept {
        out.push_str(&escape(value));
        out.push('|');
    }
    out.push_str(&escape(store_key));
    out
}

/// The ver3 hash of `fields` (base64 of SHA-512), leaving out `excluded`.
pub fn ver3<'a>(
    fields: impl IntoIterator<Item = (&'a str, &'a str)>,
    excluded: &[&str],
    store_key: &str,
) -> String {
    let digest = Sha512::digest(plaintext(fields, excluded, store_key).as_bytes());
    base64::engine::general_purpose::STANDARD.encode(digest)
}

/// Which hash a post declares (`hashAlgorithm`): only `ver3` is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashAlgorithm {
    Ver3,
    /// `ver1` (no `hashAlgorithm`: SHA-1 over a fixed concatenation) or `ver2`; refused, with
    /// the name to put in the error.
    Legacy(&'static str),
    /// Something else, as posted.
    Unknown(String),
}

impl HashAlgorithm {
    pub fn of(posted: Option<&str>) -> Self {
        match posted.map(str::trim) {
            None | Some("") => Self::Legacy("ver1"),
            Some(v) if v.eq_ignore_ascii_case("ver3") => Self::Ver3,
            Some(v) if v.eq_ignore_ascii_case("ver2") => Self::Legacy("ver2"),
            Some(v) if v.eq_ignore_ascii_case("ver1") => Self::Legacy("ver1"),
            Some(v) => Self::Unknown(v.chars().take(32).collect()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first_vector() -> Vec<(&'static str, &'static str)> {
        vec![
            ("clientid", "190100000"),
            ("storetype", "3d_pay"),
            ("amount", "100.25"),
            ("oid", "order222"),
            ("okUrl", "https://domain.com/success"),
            ("failUrl", "https://domain.com/fail_url"),
            ("rnd", "rand"),
            ("lang", "tr"),
            ("currency", "949"),
            ("taksit", ""),
            ("islemtipi", "Auth"),
            ("firmaadi", "siparis veren"),
            ("Email", "test@test.com"),
            ("hashAlgorithm", "ver3"),
        ]
    }

    #[test]
    fn the_published_ver3_vectors_are_reproduced_byte_for_byte() {
        let fields = first_vector();
        assert_eq!(
            plaintext(fields.iter().copied(), REQUEST_EXCLUDED, "123456"),
            "100.25|190100000|949|test@test.com|https://domain.com/fail_url|siparis veren|ver3|\
             Auth|tr|order222|https://domain.com/success|rand|3d_pay||123456"
        );
        assert_eq!(
            ver3(fields.iter().copied(), REQUEST_EXCLUDED, "123456"),
            "/uPxhEKWCEGi3NsDOOQ4u8Hu5g71v5GWspOid70WehTWEz97PqxG3IN1Jv5jsbOXOw3Z3Rr/0UtywzEgbqFfdA=="
        );
        // The second: storetype 3d, rnd 12345, without firmaadi and Email.
        let second: Vec<(&str, &str)> = fields
            .into_iter()
            .filter(|(k, _)| !matches!(*k, "firmaadi" | "Email"))
            .map(|(k, v)| match k {
                "storetype" => (k, "3d"),
                "rnd" => (k, "12345"),
                _ => (k, v),
            })
            .collect();
        assert_eq!(
            ver3(second, REQUEST_EXCLUDED, "123456"),
            "4aUsG5hqlIFLc9s8PKc5rWb2OLhmxDDewNgKa2XrwoYCIxlyVq8Fjl4IVaZzoqL983CfTseicmnTA0PjZr74xg=="
        );
    }

    #[test]
    fn the_hash_and_encoding_fields_are_left_out_in_any_letter_case() {
        let mut fields = first_vector();
        let expected = ver3(fields.iter().copied(), REQUEST_EXCLUDED, "123456");
        fields.push(("HASH", "whatever"));
        fields.push(("Encoding", "utf-8"));
        assert_eq!(
            ver3(fields.iter().copied(), REQUEST_EXCLUDED, "123456"),
            expected
        );
        // A result also leaves out nationalidno; a request does not.
        fields.push(("NATIONALIDNO", "12345678901"));
        assert_eq!(
            ver3(fields.iter().copied(), RESULT_EXCLUDED, "123456"),
            expected
        );
        assert_ne!(
            ver3(fields.iter().copied(), REQUEST_EXCLUDED, "123456"),
            expected
        );
    }

    #[test]
    fn names_sort_naturally_without_letter_case() {
        let mut names = vec![
            "Field10",
            "field2",
            "Field1",
            "amount",
            "BillTo_x",
            "BillToName",
        ];
        names.sort_by(|a, b| natural_cmp(a, b));
        // Folded to upper case, `_` (0x5F) sorts after the letters.
        assert_eq!(
            names,
            [
                "amount",
                "BillToName",
                "BillTo_x",
                "Field1",
                "field2",
                "Field10"
            ]
        );
        assert_eq!(natural_cmp("a007", "a7"), Ordering::Equal);
        assert_eq!(
            natural_cmp("x99999999999999999999999", "x100000000000000000000000"),
            Ordering::Less,
            "digit runs longer than any integer still compare by value"
        );
    }

    #[test]
    fn backslashes_are_escaped_before_bars() {
        assert_eq!(escape(r"a|b\c"), r"a\|b\\c");
        assert_eq!(escape(r"\|"), r"\\\|");
        // The store key is escaped too.
        assert_eq!(plaintext([("a", "x|y")], &[], r"k\|"), r"x\|y|k\\\|");
    }

    #[test]
    fn only_ver3_is_accepted() {
        assert_eq!(HashAlgorithm::of(Some("ver3")), HashAlgorithm::Ver3);
        assert_eq!(HashAlgorithm::of(Some("VER3")), HashAlgorithm::Ver3);
        assert_eq!(HashAlgorithm::of(None), HashAlgorithm::Legacy("ver1"));
        assert_eq!(
            HashAlgorithm::of(Some("ver2")),
            HashAlgorithm::Legacy("ver2")
        );
        assert_eq!(
            HashAlgorithm::of(Some("sha1")),
            HashAlgorithm::Unknown("sha1".into())
        );
    }
}
