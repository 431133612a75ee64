//! Order data a merchant sends: order id, description, installment, customer.

use std::fmt;

use super::Invalid;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OrderId(String);

impl OrderId {
    /// 1–64 characters of `[A-Za-z0-9_-]`.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        if super::ids::token_shaped(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(Invalid::new(
                "order id",
                "must be 1 to 64 of A-Z, a-z, 0-9, _ and -",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Free text shown to the shopper: at most 255 characters, no control or bidirectional
/// control characters (`super::text::is_plain`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Description(String);

impl Description {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let s = s.trim();
        if super::text::is_plain(s, 255) {
            Ok(Self(s.to_owned()))
        } else {
            Err(Invalid::new(
                "description",
                "at most 255 characters, no control or bidirectional control characters",
            ))
        }
    }

    /// A description as it was stored (it was checked when it was written; the rules for new
    /// ones may have tightened since).
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Installment count: 1 is a single payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Installment(u8);

impl Installment {
    pub const SINGLE: Self = Self(1);

    pub fn parse(s: &str) -> Result<Self, Invalid> {
        if s.is_empty() {
            return Ok(Self::SINGLE);
        }
        let bad = Invalid::new("installment", "a count from 1 to 12");
        if s.len() > 2 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad);
        }
        let n: i64 = s.parse().map_err(|_| bad.clone())?;
        Self::from_count(n)
    }

    pub fn from_count(n: i64) -> Result<Self, Invalid> {
        u8::try_from(n)
            .ok()
            .filter(|n| (1..=12).contains(n))
            .map(Self)
            .ok_or(Invalid::new("installment", "a count from 1 to 12"))
    }

    pub fn count(self) -> u8 {
        self.0
    }
}

/// How many cards a shopper may try on one payment: 1 (no second chance) to 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CardAttempts(u8);

impl CardAttempts {
    pub const ONE: Self = Self(1);
    pub const MAX: u8 = 5;

    pub fn from_count(n: i64) -> Result<Self, Invalid> {
        u8::try_from(n)
            .ok()
            .filter(|n| (1..=Self::MAX).contains(n))
            .map(Self)
            .ok_or(Invalid::new("card_attempts", "a count from 1 to 5"))
    }

    pub fn count(self) -> u8 {
        self.0
    }
}

/// The shopper's contact details as the merchant sent them. Personal data: masked in `Debug`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Customer {
    pub name: String,
    pub email: String,
    pub phone: String,
}

impl Customer {
    /// Each field: at most 128 characters, no control or bidirectional control characters;
    /// e-mail must look like one.
    pub fn parse(name: &str, email: &str, phone: &str) -> Result<Self, &'static str> {
        let clean = |s: &str| -> Option<String> {
            let s = s.trim();
            super::text::is_plain(s, 128).then(|| s.to_owned())
        };
        let name = clean(name).ok_or("customer_name")?;
        let email = clean(email).ok_or("customer_email")?;
        if !email.is_empty() {
            let ok = email
                .split_once('@')
                .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.starts_with('.'))
                && !email.contains(char::is_whitespace);
            if !ok {
                return Err("customer_email");
            }
        }
        let phone = clean(phone).ok_or("customer_phone")?;
        if !phone
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')'))
        {
            return Err("customer_phone");
        }
        Ok(Self { name, email, phone })
    }
}

impl fmt::Debug for Customer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Customer(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_ids() {
        assert!(OrderId::parse("ORD-2026_11").is_ok());
        assert!(OrderId::parse(&"a".repeat(64)).is_ok());
        assert!(OrderId::parse(&"a".repeat(65)).is_err());
        assert!(OrderId::parse("").is_err());
        assert!(OrderId::parse("sipariş").is_err());
        assert!(OrderId::parse("a b").is_err());
    }

    #[test]
    fn installments() {
        assert_eq!(Installment::parse("").map(Installment::count), Ok(1));
        assert_eq!(Installment::parse("3").map(Installment::count), Ok(3));
        assert!(Installment::parse("0").is_err());
        assert!(Installment::parse("13").is_err());
        assert!(Installment::parse("-1").is_err());
        assert!(Installment::parse("1.5").is_err());
    }

    #[test]
    fn customer_is_masked_in_debug() {
        let c = Customer::parse("Ayşe Yılmaz", "ayse@example.com", "+90 532 123 45 67").unwrap();
        assert!(!format!("{c:?}").contains("Ayşe"));
        assert_eq!(
            Customer::parse("", "not-an-email", ""),
            Err("customer_email")
        );
        assert_eq!(Customer::parse("", "", "call me"), Err("customer_phone"));
    }
}
