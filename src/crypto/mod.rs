//! Signatures, MACs and encryption at rest.

pub mod keyring;
pub mod rotation;
pub mod signature;
pub mod vault;

use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = hmac::Hmac<Sha256>;

/// Lowercase hex HMAC-SHA256.
pub fn hmac_hex(key: &[u8], message: &[u8]) -> String {
    hex::encode(hmac_bytes(key, message))
}

pub fn hmac_bytes(key: &[u8], message: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail; were it to, an empty MAC
    // matches nothing (fail closed).
    let Ok(mut mac) = <HmacSha256 as KeyInit>::new_from_slice(key) else {
        return Vec::new();
    };
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// Constant-time check of a hex MAC: the comparison is done by `hmac::Mac::verify_slice`.
/// Only the form Kapı writes is accepted: 64 lower-case hex digits, nothing around them.
pub fn verify_hmac_hex(key: &[u8], message: &[u8], provided_hex: &str) -> bool {
    let canonical = provided_hex.len() == 64
        && provided_hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !canonical {
        return false;
    }
    let Ok(provided) = hex::decode(provided_hex) else {
        return false;
    };
    let Ok(mut mac) = <HmacSha256 as KeyInit>::new_from_slice(key) else {
        return false;
    };
    mac.update(message);
    mac.verify_slice(&provided).is_ok()
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}
