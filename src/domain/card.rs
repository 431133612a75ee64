//! Card data. `Pan` and `Cvv` zeroize on drop and never print themselves.

use std::fmt;

use zeroize::Zeroizing;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardBrand {
    Visa,
    Mastercard,
    Amex,
    Troy,
}

impl CardBrand {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Visa => "visa",
            Self::Mastercard => "mastercard",
            Self::Amex => "amex",
            Self::Troy => "troy",
        }
    }

    pub fn parse(s: &str) -> Result<Self, super::Invalid> {
        match s {
            "visa" => Ok(Self::Visa),
            "mastercard" => Ok(Self::Mastercard),
            "amex" => Ok(Self::Amex),
            "troy" => Ok(Self::Troy),
            _ => Err(super::Invalid::new(
                "card brand",
                "not visa, mastercard, amex or troy",
            )),
        }
    }

    pub fn display_name(self) -> &'static str {
        match self {
            Self::Visa => "Visa",
            Self::Mastercard => "Mastercard",
            Self::Amex => "American Express",
            Self::Troy => "Troy",
        }
    }

    pub fn cvv_len(self) -> usize {
        match self {
            Self::Amex => 4,
            _ => 3,
        }
    }

    fn pan_len_ok(self, len: usize) -> bool {
        match self {
            Self::Visa => matches!(len, 13 | 16 | 19),
            Self::Mastercard | Self::Troy => len == 16,
            Self::Amex => len == 15,
        }
    }

    /// Brand by prefix. Troy is checked first: its 9792 range is not shared.
    pub fn detect(digits: &str) -> Option<Self> {
        let prefix = |n: usize| digits.get(..n).and_then(|p| p.parse::<u32>().ok());
        if prefix(4) == Some(9792) {
            return Some(Self::Troy);
        }
        if digits.starts_with('4') {
            return Some(Self::Visa);
        }
        if matches!(prefix(2), Some(34 | 37)) {
            return Some(Self::Amex);
        }
        if matches!(prefix(2), Some(51..=55)) || matches!(prefix(4), Some(2221..=2720)) {
            return Some(Self::Mastercard);
        }
        None
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    #[error("card number is required")]
    PanMissing,
    #[error("card number must contain only digits")]
    PanNotDigits,
    #[error("card number fails the check digit")]
    PanLuhn,
    #[error("card brand is not supported")]
    BrandUnsupported,
    #[error("card number has the wrong length for its brand")]
    PanLength,
    #[error("expiry is invalid")]
    ExpiryInvalid,
    #[error("card has expired")]
    Expired,
    #[error("security code has the wrong length")]
    CvvLength,
    #[error("card holder name is required")]
    HolderMissing,
    #[error("card holder name is invalid")]
    HolderInvalid,
}

pub fn luhn_valid(digits: &str) -> bool {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// A primary account number that passed Luhn and brand checks.
#[derive(Clone)]
pub struct Pan {
    digits: Zeroizing<String>,
    brand: CardBrand,
}

impl Pan {
    /// Accepts digits with optional spaces or dashes between groups.
    pub fn parse(input: &str) -> Result<Self, CardError> {
        let digits: Zeroizing<String> =
            Zeroizing::new(input.chars().filter(|c| !matches!(c, ' ' | '-')).collect());
        if digits.is_empty() {
            return Err(CardError::PanMissing);
        }
        if !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 19 {
            return Err(CardError::PanNotDigits);
        }
        let brand = CardBrand::detect(&digits).ok_or(CardError::BrandUnsupported)?;
        if !brand.pan_len_ok(digits.len()) {
            return Err(CardError::PanLength);
        }
        if !luhn_valid(&digits) {
            return Err(CardError::PanLuhn);
        }
        Ok(Self { digits, brand })
    }

    pub fn brand(&self) -> CardBrand {
        self.brand
    }

    /// First 6 and last 4, the rest as `*`: `411111******1111`.
    pub fn masked(&self) -> String {
        // A Pan holds 12 to 19 ASCII digits (checked when parsed).
        let d = self.digits.as_str();
        let n = d.len();
        let first = d.get(..6).unwrap_or_default();
        let last = d.get(n.saturating_sub(4)..).unwrap_or_default();
        format!("{first}{}{last}", "*".repeat(n.saturating_sub(10)))
    }

    /// The digits, for the encrypted vault and the outgoing 3DS/bank messages only.
    pub fn expose(&self) -> &str {
        &self.digits
    }
}

impl fmt::Debug for Pan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pan({})", self.masked())
    }
}

impl fmt::Display for Pan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

#[derive(Clone)]
pub struct Cvv(Zeroizing<String>);

impl Cvv {
    pub fn parse(input: &str, brand: CardBrand) -> Result<Self, CardError> {
        let s = input.trim();
        if s.len() != brand.cvv_len() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CardError::CvvLength);
        }
        Ok(Self(Zeroizing::new(s.to_owned())))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Cvv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cvv(***)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiry {
    pub month: u8,
    pub year: u16,
}

impl Expiry {
    /// Month `1`–`12` (or `01`), year as `2028` or `28`; valid through the end of its month.
    pub fn parse(month: &str, year: &str, today: time::Date) -> Result<Self, CardError> {
        let month: u8 = month
            .trim()
            .parse()
            .ok()
            .filter(|m| (1..=12).contains(m))
            .ok_or(CardError::ExpiryInvalid)?;
        let year = year.trim();
        let year: u16 = match year.len() {
            2 => year.parse::<u16>().map(|y| 2000 + y).ok(),
            4 => year.parse().ok(),
            _ => None,
        }
        .ok_or(CardError::ExpiryInvalid)?;
        let (ty, tm) = (today.year(), u8::from(today.month()));
        if i32::from(year) > ty + 20 {
            return Err(CardError::ExpiryInvalid);
        }
        if (i32::from(year), month) < (ty, tm) {
            return Err(CardError::Expired);
        }
        Ok(Self { month, year })
    }

    /// `YYMM`, as EMV 3DS `cardExpiryDate` wants it.
    pub fn yymm(&self) -> String {
        format!("{:02}{:02}", self.year % 100, self.month)
    }
}

/// The name on the card: letters (any script), spaces and `.'-`, 2–64 characters.
#[derive(Clone, PartialEq, Eq)]
pub struct CardHolder(String);

impl CardHolder {
    pub fn parse(input: &str) -> Result<Self, CardError> {
        let s = input.split_whitespace().collect::<Vec<_>>().join(" ");
        if s.is_empty() {
            return Err(CardError::HolderMissing);
        }
        let n = s.chars().count();
        if !(2..=64).contains(&n)
            || !s
                .chars()
                .all(|c| c.is_alphabetic() || matches!(c, ' ' | '.' | '\'' | '-'))
        {
            return Err(CardError::HolderInvalid);
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for CardHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CardHolder(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    const TEST_CARDS: &[(&str, CardBrand)] = &[
        ("4111 1111 1111 1111", CardBrand::Visa),
        ("5555 5555 5555 4444", CardBrand::Mastercard),
        ("9792 0000 0000 0003", CardBrand::Troy),
        ("3782 822463 10005", CardBrand::Amex),
        ("4000 0000 0000 9995", CardBrand::Visa),
        ("5100 0000 0000 0057", CardBrand::Mastercard),
        ("4000 0000 0000 0002", CardBrand::Visa),
        ("4000 0000 0000 0416", CardBrand::Visa),
        ("4000 0000 0000 0432", CardBrand::Visa),
        ("4000 0000 0000 3006", CardBrand::Visa),
        ("4000 0000 0000 3014", CardBrand::Visa),
        ("4000 0000 0000 0911", CardBrand::Visa),
        ("2223 0031 2200 3222", CardBrand::Mastercard),
    ];

    #[test]
    fn every_test_card_parses_with_its_brand() {
        for (number, brand) in TEST_CARDS {
            let pan = Pan::parse(number).unwrap_or_else(|e| panic!("{number}: {e}"));
            assert_eq!(pan.brand(), *brand, "{number}");
        }
    }

    #[test]
    fn luhn() {
        assert!(luhn_valid("4111111111111111"));
        assert!(luhn_valid("378282246310005"));
        assert!(!luhn_valid("4111111111111112"));
        assert!(!luhn_valid(""));
        assert!(!luhn_valid("41111x1111111111"));
        assert_eq!(
            Pan::parse("4111 1111 1111 1112").unwrap_err(),
            CardError::PanLuhn
        );
    }

    #[test]
    fn brands_and_lengths() {
        assert_eq!(
            CardBrand::detect("2720990000000000"),
            Some(CardBrand::Mastercard)
        );
        assert_eq!(CardBrand::detect("2721000000000000"), None);
        assert_eq!(CardBrand::detect("6011000000000004"), None);
        assert_eq!(
            Pan::parse("6011 0000 0000 0004").unwrap_err(),
            CardError::BrandUnsupported
        );
        assert_eq!(
            Pan::parse("5555 5555 5555 444").unwrap_err(),
            CardError::PanLength
        );
        assert_eq!(Pan::parse("").unwrap_err(), CardError::PanMissing);
        assert_eq!(
            Pan::parse("4111-abcd").unwrap_err(),
            CardError::PanNotDigits
        );
    }

    #[test]
    fn pan_masks_itself() {
        let pan = Pan::parse("4111111111111111").unwrap();
        assert_eq!(pan.masked(), "411111******1111");
        assert_eq!(format!("{pan:?}"), "Pan(411111******1111)");
        assert_eq!(format!("{pan}"), "411111******1111");
        let amex = Pan::parse("378282246310005").unwrap();
        assert_eq!(amex.masked(), "378282*****0005");
        let cvv = Cvv::parse("123", CardBrand::Visa).unwrap();
        assert!(!format!("{cvv:?}").contains("123"));
    }

    #[test]
    fn cvv_length_by_brand() {
        assert!(Cvv::parse("1234", CardBrand::Amex).is_ok());
        assert!(Cvv::parse("123", CardBrand::Amex).is_err());
        assert!(Cvv::parse("123", CardBrand::Troy).is_ok());
        assert!(Cvv::parse("1234", CardBrand::Visa).is_err());
        assert!(Cvv::parse("12a", CardBrand::Visa).is_err());
    }

    #[test]
    fn expiry_is_valid_through_its_month() {
        let today = date!(2026 - 11 - 22);
        assert!(Expiry::parse("11", "2026", today).is_ok());
        assert!(Expiry::parse("11", "26", today).is_ok());
        assert_eq!(Expiry::parse("10", "2026", today), Err(CardError::Expired));
        assert_eq!(
            Expiry::parse("13", "2027", today),
            Err(CardError::ExpiryInvalid)
        );
        assert_eq!(
            Expiry::parse("1", "2060", today),
            Err(CardError::ExpiryInvalid)
        );
        assert_eq!(Expiry::parse("01", "2028", today).unwrap().yymm(), "2801");
    }

    #[test]
    fn holder_names() {
        assert_eq!(
            CardHolder::parse("  Ayşe   Yılmaz ").unwrap().as_str(),
            "Ayşe Yılmaz"
        );
        assert_eq!(CardHolder::parse(""), Err(CardError::HolderMissing));
        assert_eq!(CardHolder::parse("<script>"), Err(CardError::HolderInvalid));
    }

    proptest::proptest! {
        #[test]
        fn pan_parse_never_panics(s in "\\PC{0,40}") {
            let _ = Pan::parse(&s);
        }
    }
}
