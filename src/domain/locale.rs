//! The shopper-facing language of a payment.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Locale {
    #[default]
    Tr,
    En,
}

impl Locale {
    /// Empty means the default (Turkish); anything else unknown is an error.
    pub fn parse(s: &str) -> Result<Self, super::Invalid> {
        match s {
            "" | "tr" | "TR" | "tr-TR" => Ok(Self::Tr),
            "en" | "EN" | "en-US" | "en-GB" => Ok(Self::En),
            _ => Err(super::Invalid::new("language", "tr or en")),
        }
    }

    /// Best effort, for pages shown before a language was validated.
    pub fn parse_lenient(s: &str) -> Self {
        Self::parse(s.trim()).unwrap_or_default()
    }

    /// The first of our languages in an `Accept-Language` header (by preference), else Turkish.
    pub fn from_accept_language(header: &str) -> Self {
        let mut tags: Vec<(f32, &str)> = header
            .split(',')
            .map(|part| {
                let mut pieces = part.split(';');
                let tag = pieces.next().unwrap_or("").trim();
                let q = pieces
                    .find_map(|p| {
                        p.trim()
                            .strip_prefix("q=")
                            .and_then(|q| q.parse::<f32>().ok())
                    })
                    .unwrap_or(1.0);
                (q, tag)
            })
            .collect();
        tags.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
        tags.iter()
            .find_map(|(_, tag)| {
                let primary = tag.split('-').next().unwrap_or("").to_ascii_lowercase();
                match primary.as_str() {
                    "tr" => Some(Self::Tr),
                    "en" => Some(Self::En),
                    _ => None,
                }
            })
            .unwrap_or_default()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tr => "tr",
            Self::En => "en",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_our_best_match() {
        assert_eq!(
            Locale::from_accept_language("en-US,en;q=0.9,tr;q=0.8"),
            Locale::En
        );
        assert_eq!(
            Locale::from_accept_language("de-DE, tr;q=0.5, en;q=0.4"),
            Locale::Tr
        );
        assert_eq!(
            Locale::from_accept_language("fr;q=0.9, en;q=0.95"),
            Locale::En
        );
        assert_eq!(Locale::from_accept_language("de"), Locale::Tr);
        assert_eq!(Locale::from_accept_language(""), Locale::Tr);
    }
}
