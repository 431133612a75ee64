//! Free text from merchants that shoppers read (order descriptions, the seller's details in
//! the legal documents, the customer's details).

/// Unicode's `Bidi_Control` characters: they reorder how the text around them is shown, so a
/// description could make the contract read otherwise than it says (U+061C, U+200E, U+200F,
/// U+202A–U+202E, U+2066–U+2069).
pub fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// Text that shows as what it says: no control characters (line breaks included) and no
/// bidirectional controls, at most `max_chars` characters.
pub fn is_plain(s: &str, max_chars: usize) -> bool {
    s.chars().count() <= max_chars && !s.chars().any(|c| c.is_control() || is_bidi_control(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidi_and_control_characters_are_not_plain() {
        assert!(is_plain("Kırmızı kazak — beden M", 255));
        for bad in [
            "a\u{202E}b",
            "a\u{202A}b",
            "a\u{2066}b",
            "a\u{2069}b",
            "a\u{200F}b",
            "a\nb",
            "a\u{0}b",
        ] {
            assert!(!is_plain(bad, 255), "{bad:?}");
        }
        assert!(!is_plain(&"x".repeat(256), 255));
        // Arabic or Hebrew letters themselves are fine; only the controls are refused.
        assert!(is_plain("שלום مرحبا", 255));
    }
}
