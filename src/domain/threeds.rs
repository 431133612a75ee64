//! The values 3-D Secure and the banks report about a card payment.

use std::fmt;

use super::Invalid;

/// EMV 3DS `transStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransStatus {
    /// Authenticated.
    Y,
    /// Attempted: the issuer or scheme vouched without authenticating.
    A,
    /// Not authenticated.
    N,
    /// Could not be performed.
    U,
    /// Rejected by the issuer: do not authorise.
    R,
    /// A challenge is required.
    C,
    /// Decoupled authentication.
    D,
    /// Informational only.
    I,
}

impl TransStatus {
    pub const ALL: [Self; 8] = [
        Self::Y,
        Self::A,
        Self::N,
        Self::U,
        Self::R,
        Self::C,
        Self::D,
        Self::I,
    ];

    pub fn parse(s: &str) -> Result<Self, Invalid> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or(Invalid::new("transStatus", "one of Y, A, N, U, R, C, D, I"))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Y => "Y",
            Self::A => "A",
            Self::N => "N",
            Self::U => "U",
            Self::R => "R",
            Self::C => "C",
            Self::D => "D",
            Self::I => "I",
        }
    }

    /// Authentication succeeded or was attempted: the payment may go to the bank.
    pub fn authenticated(self) -> bool {
        matches!(self, Self::Y | Self::A)
    }

    /// The `mdStatus` Turkish banks report for this final outcome.
    pub fn md_status(self) -> MdStatus {
        MdStatus(match self {
            Self::Y => 1,
            Self::A => 4,
            Self::N | Self::R => 0,
            Self::U => 5,
            _ => 7,
        })
    }
}

impl fmt::Display for TransStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Electronic Commerce Indicator: two digits (`05`, `02`, `07`, …).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Eci(String);

impl Eci {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        if s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(Invalid::new("ECI", "two digits"))
        }
    }

    /// One of this crate's own two-digit literals.
    pub(crate) fn known(eci: &'static str) -> Self {
        debug_assert!(Self::parse(eci).is_ok());
        Self(eci.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The one-digit 3-D Secure outcome Turkish banks report (`1` authenticated, `4` attempted,
/// `0`, `5`, `7`, … failures).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MdStatus(u8);

impl MdStatus {
    /// Authentication could not be run (technical error): `7`.
    pub const ERROR: Self = Self(7);
    /// Authentication was not available: `6`.
    pub const UNAVAILABLE: Self = Self(6);

    pub fn parse(s: &str) -> Result<Self, Invalid> {
        match s.as_bytes() {
            [d] if d.is_ascii_digit() => Ok(Self(d - b'0')),
            _ => Err(Invalid::new("mdStatus", "one digit")),
        }
    }

    pub fn digit(self) -> u8 {
        self.0
    }
}

impl fmt::Display for MdStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A bank's response code as the bank wrote it: ISO 8583's two digits (`00` approved, `51`
/// insufficient funds, …) or a platform's own (`V013`). At most eight letters and digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResponseCode(String);

impl ResponseCode {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        if (1..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(Invalid::new("response code", "1 to 8 letters and digits"))
        }
    }

    /// `91`: the bank could not be reached (set by Kapı when the outcome is unknown).
    pub fn unreachable() -> Self {
        Self("91".to_owned())
    }

    pub fn approved(&self) -> bool {
        self.0 == "00"
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a decline means for the shopper, whatever the bank's exact reason: the bank's own
/// text (lost or stolen card, pick up the card, …) is for the merchant, not the shopper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeclineClass {
    /// Not enough limit or balance, or a daily limit reached.
    InsufficientFunds,
    /// The card is closed to this kind of payment (internet shopping, this merchant).
    NotUsableOnline,
    /// This card cannot pay: another card may (invalid, expired, lost, stolen, wrong CVV).
    TryAnotherCard,
    /// The bank is unavailable for the moment: trying again later may work.
    TryLater,
    /// Anything else: only the bank can say why.
    ContactBank,
}

impl DeclineClass {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InsufficientFunds => "insufficient-funds",
            Self::NotUsableOnline => "not-usable-online",
            Self::TryAnotherCard => "try-another-card",
            Self::TryLater => "try-later",
            Self::ContactBank => "contact-bank",
        }
    }
}

impl ResponseCode {
    /// Whether another card may succeed where one with this decline failed: not after a lost,
    /// stolen or fraud-suspect card (the payment ends at once), nor when the transaction itself
    /// was invalid.
    pub fn another_card_may_help(&self) -> bool {
        !matches!(
            self.0.as_str(),
            "04" | "07" | "33" | "34" | "41" | "43" | "59" | "12" | "13" | "30"
        )
    }

    /// The class of a decline with this code (ISO 8583 meanings, as Turkish banks use them).
    pub fn decline_class(&self) -> DeclineClass {
        match self.0.as_str() {
            "51" | "61" | "65" => DeclineClass::InsufficientFunds,
            "57" | "58" | "62" | "93" => DeclineClass::NotUsableOnline,
            "04" | "07" | "14" | "15" | "33" | "34" | "41" | "43" | "54" | "55" | "82" => {
                DeclineClass::TryAnotherCard
            }
            "91" | "96" => DeclineClass::TryLater,
            _ => DeclineClass::ContactBank,
        }
    }
}

impl fmt::Display for ResponseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print() {
        for t in TransStatus::ALL {
            assert_eq!(TransStatus::parse(t.as_str()), Ok(t));
        }
        assert!(TransStatus::parse("y").is_err());
        assert_eq!(TransStatus::Y.md_status().to_string(), "1");
        assert_eq!(TransStatus::A.md_status().to_string(), "4");
        assert_eq!(TransStatus::U.md_status().to_string(), "5");
        assert!(Eci::parse("05").is_ok() && Eci::parse("5").is_err());
        assert_eq!(MdStatus::parse("7").map(|m| m.digit()), Ok(7));
        assert!(MdStatus::parse("17").is_err());
        assert!(ResponseCode::parse("00").unwrap().approved());
        assert!(ResponseCode::parse("V013").is_ok());
        assert!(ResponseCode::parse("").is_err() && ResponseCode::parse("5 1").is_err());
        let class = |c: &str| ResponseCode::parse(c).unwrap().decline_class();
        assert_eq!(class("51"), DeclineClass::InsufficientFunds);
        assert_eq!(class("93"), DeclineClass::NotUsableOnline);
        for stolen in ["04", "41", "43", "34"] {
            assert_eq!(class(stolen), DeclineClass::TryAnotherCard);
        }
        assert_eq!(class("91"), DeclineClass::TryLater);
        assert_eq!(class("05"), DeclineClass::ContactBank);
        assert_eq!(class("V013"), DeclineClass::ContactBank);
        let helps = |c: &str| ResponseCode::parse(c).unwrap().another_card_may_help();
        for c in ["51", "05", "54", "57", "93", "91"] {
            assert!(helps(c), "{c}");
        }
        for c in ["04", "41", "43", "34", "13"] {
            assert!(!helps(c), "{c}");
        }
    }
}
