//! The shopper-facing language of a payment.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Locale {
    #[default]
    Tr,
    En,
}

impl Locale {
    /// Empty means the default (Turkish); anything else unknown is an error.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "" | "tr" | "TR" | "tr-TR" => Some(Self::Tr),
            "en" | "EN" | "en-US" | "en-GB" => Some(Self::En),
            _ => None,
        }
    }

    /// Best effort, for pages shown before a language was validated.
    pub fn parse_lenient(s: &str) -> Self {
        Self::parse(s.trim()).unwrap_or_default()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tr => "tr",
            Self::En => "en",
        }
    }
}
