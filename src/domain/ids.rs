//! Identifiers. Payment ids are unguessable: they appear in URLs the shopper's browser holds.

use std::fmt;

use rand::RngCore;

use super::Invalid;

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

/// `pay_` followed by 128 random bits in hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PaymentId(String);

impl PaymentId {
    pub fn generate() -> Self {
        Self(format!("pay_{}", random_hex(16)))
    }

    /// Accepts only the shape we generate, so junk never reaches the database.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let hex = s
            .strip_prefix("pay_")
            .ok_or(Invalid::new("payment id", "must start with pay_"))?;
        let ok = hex.len() == 32
            && hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(Invalid::new(
                "payment id",
                "must be pay_ and 32 lower-case hex digits",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PaymentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Merchant ids: `[A-Za-z0-9_-]{1,64}`; generated ones look like `mrc_…`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MerchantId(String);

impl MerchantId {
    pub fn generate() -> Self {
        Self(format!("mrc_{}", random_hex(8)))
    }

    pub fn parse(s: &str) -> Result<Self, Invalid> {
        if token_shaped(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(Invalid::new(
                "merchant id",
                "must be 1 to 64 of A-Z, a-z, 0-9, _ and -",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MerchantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// 1–64 characters of `[A-Za-z0-9_-]` (merchant and order ids).
pub(crate) fn token_shaped(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A random token for nonces, CSRF tokens and the like.
pub fn random_token(bytes: usize) -> String {
    random_hex(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payment_ids_round_trip_and_reject_junk() {
        let id = PaymentId::generate();
        assert_eq!(PaymentId::parse(id.as_str()), Ok(id));
        assert!(PaymentId::parse("pay_123").is_err());
        assert!(PaymentId::parse("../etc/passwd").is_err());
        assert!(PaymentId::parse("pay_0123456789ABCDEF0123456789abcdef").is_err());
    }
}
