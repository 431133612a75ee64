//! Money as integer minor units with an ISO 4217 currency. No floats.

use std::fmt;

use super::Locale;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Currency {
    Try,
    Usd,
    Eur,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("unsupported currency")]
    UnsupportedCurrency,
    #[error("amount must be a decimal number with a dot, e.g. 150.00")]
    Malformed,
    #[error("amount has more decimal places than the currency allows")]
    TooPrecise,
    #[error("amount must be greater than zero")]
    Zero,
    #[error("amount is too large")]
    TooLarge,
}

impl Currency {
    /// Accepts the alphabetic (`TRY`) or numeric (`949`) ISO 4217 code.
    pub fn parse(s: &str) -> Result<Self, MoneyError> {
        match s {
            "TRY" | "949" => Ok(Self::Try),
            "USD" | "840" => Ok(Self::Usd),
            "EUR" | "978" => Ok(Self::Eur),
            _ => Err(MoneyError::UnsupportedCurrency),
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::Try => "TRY",
            Self::Usd => "USD",
            Self::Eur => "EUR",
        }
    }

    pub fn numeric(self) -> &'static str {
        match self {
            Self::Try => "949",
            Self::Usd => "840",
            Self::Eur => "978",
        }
    }

    /// Number of minor-unit digits.
    pub fn exponent(self) -> u32 {
        2
    }
}

/// `minor` units of `currency` as a decimal string with the currency's minor digits (`0.00`,
/// `130.00`), `-` before a negative amount: for totals and nets, which unlike `Money` may be
/// zero or negative.
pub fn decimal_minor(minor: i64, currency: Currency) -> String {
    let exponent = currency.exponent();
    let unit = 10_u64.pow(exponent);
    let abs = minor.unsigned_abs();
    let sign = if minor < 0 { "-" } else { "" };
    if exponent == 0 {
        return format!("{sign}{abs}");
    }
    format!(
        "{sign}{}.{:0width$}",
        abs / unit,
        abs % unit,
        width = exponent as usize
    )
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The largest amount accepted, in major units digits (a sanity bound well inside i64).
const MAX_INTEGER_DIGITS: usize = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Money {
    minor: i64,
    currency: Currency,
}

impl Money {
    pub fn from_minor(minor: i64, currency: Currency) -> Result<Self, MoneyError> {
        if minor <= 0 {
            return Err(MoneyError::Zero);
        }
        if minor >= 10_i64.pow(MAX_INTEGER_DIGITS as u32 + currency.exponent()) {
            return Err(MoneyError::TooLarge);
        }
        Ok(Self { minor, currency })
    }

    /// Parses a strict decimal string: digits, optionally a dot and at most the currency's
    /// minor digits. Rejects signs, exponents, spaces, commas and zero.
    pub fn parse(amount: &str, currency: Currency) -> Result<Self, MoneyError> {
        let (int_part, frac_part) = match amount.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (amount, None),
        };
        if int_part.is_empty() || !int_part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(MoneyError::Malformed);
        }
        let exp = currency.exponent() as usize;
        let frac = match frac_part {
            None => "",
            Some(f) if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) => {
                return Err(MoneyError::Malformed);
            }
            Some(f) if f.len() > exp => return Err(MoneyError::TooPrecise),
            Some(f) => f,
        };
        let int_trimmed = int_part.trim_start_matches('0');
        if int_trimmed.len() > MAX_INTEGER_DIGITS {
            return Err(MoneyError::TooLarge);
        }
        let mut minor: i64 = 0;
        for b in int_trimmed.bytes().chain(frac.bytes()) {
            minor = minor * 10 + i64::from(b - b'0');
        }
        for _ in frac.len()..exp {
            minor *= 10;
        }
        Self::from_minor(minor, currency)
    }

    pub fn minor(&self) -> i64 {
        self.minor
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    fn split(&self) -> (i64, i64) {
        let factor = 10_i64.pow(self.currency.exponent());
        (self.minor / factor, self.minor % factor)
    }

    /// The wire format: `150.00`.
    pub fn to_decimal_string(&self) -> String {
        let (major, minor) = self.split();
        format!(
            "{major}.{minor:0width$}",
            width = self.currency.exponent() as usize
        )
    }

    /// Human format in the locale's style: `1.234,56 TL` or `TRY 1,234.56`.
    pub fn display(&self, locale: Locale) -> String {
        let (major, minor) = self.split();
        let width = self.currency.exponent() as usize;
        match locale {
            Locale::Tr => {
                let unit = match self.currency {
                    Currency::Try => "TL",
                    other => other.code(),
                };
                format!("{},{minor:0width$} {unit}", group_thousands(major, '.'))
            }
            Locale::En => format!(
                "{} {}.{minor:0width$}",
                self.currency.code(),
                group_thousands(major, ',')
            ),
        }
    }
}

fn group_thousands(value: i64, sep: char) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(sep);
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tl(s: &str) -> Result<i64, MoneyError> {
        Money::parse(s, Currency::Try).map(|m| m.minor())
    }

    #[test]
    fn parses_strict_decimals() {
        assert_eq!(tl("150.00"), Ok(15000));
        assert_eq!(tl("150"), Ok(15000));
        assert_eq!(tl("150.5"), Ok(15050));
        assert_eq!(tl("0.01"), Ok(1));
        assert_eq!(tl("1234.56"), Ok(123456));
        assert_eq!(tl("999999999999.99"), Ok(99_999_999_999_999));
    }

    #[test]
    fn rejects_bad_amounts() {
        for bad in [
            "", ".50", "1.", "-1.00", "+1.00", "1e3", "1,00", " 1.00", "1.00 ", "abc", "1..0",
        ] {
            assert_eq!(tl(bad), Err(MoneyError::Malformed), "{bad:?}");
        }
        assert_eq!(tl("100.255"), Err(MoneyError::TooPrecise));
        assert_eq!(tl("0.00"), Err(MoneyError::Zero));
        assert_eq!(tl("0"), Err(MoneyError::Zero));
        assert_eq!(tl("1000000000000.00"), Err(MoneyError::TooLarge));
        assert_eq!(tl("99999999999999999999999"), Err(MoneyError::TooLarge));
    }

    #[test]
    fn currencies_by_alpha_and_numeric_code() {
        assert_eq!(Currency::parse("TRY"), Ok(Currency::Try));
        assert_eq!(Currency::parse("949"), Ok(Currency::Try));
        assert_eq!(Currency::parse("840"), Ok(Currency::Usd));
        assert_eq!(Currency::parse("978"), Ok(Currency::Eur));
        assert_eq!(Currency::parse("try"), Err(MoneyError::UnsupportedCurrency));
        assert_eq!(Currency::parse("GBP"), Err(MoneyError::UnsupportedCurrency));
    }

    #[test]
    fn formats_for_wire_and_people() {
        let m = Money::parse("1234.56", Currency::Try).unwrap();
        assert_eq!(m.to_decimal_string(), "1234.56");
        assert_eq!(m.display(Locale::Tr), "1.234,56 TL");
        assert_eq!(m.display(Locale::En), "TRY 1,234.56");
        let m = Money::parse("1234567.5", Currency::Usd).unwrap();
        assert_eq!(m.display(Locale::Tr), "1.234.567,50 USD");
        assert_eq!(m.display(Locale::En), "USD 1,234,567.50");
        let m = Money::parse("0.05", Currency::Eur).unwrap();
        assert_eq!(m.to_decimal_string(), "0.05");
        assert_eq!(m.display(Locale::Tr), "0,05 EUR");
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,30}") {
            let _ = Money::parse(&s, Currency::Try);
        }

        #[test]
        fn round_trips(minor in 1i64..99_999_999_999_999) {
            let m = Money::from_minor(minor, Currency::Try).unwrap();
            let again = Money::parse(&m.to_decimal_string(), Currency::Try).unwrap();
            proptest::prop_assert_eq!(again.minor(), minor);
        }
    }
}
