//! A merchant's branding on its payment pages: an accent colour and a logo. Both are parsed
//! strictly, so nothing the merchant supplies ever reaches a page as HTML or CSS of its own:
//! the colour becomes two custom properties Kapı writes, the logo an image Kapı serves.

use sha2::{Digest, Sha256};

/// An accent colour, `#rrggbb`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccentColour([u8; 3]);

impl AccentColour {
    /// `#1A73E8` or `#1a73e8`; nothing else (no names, no short form, no alpha).
    pub fn parse(s: &str) -> Result<Self, super::Invalid> {
        const BAD: super::Invalid = super::Invalid::new("colour", "not #rrggbb");
        let hex = s.strip_prefix('#').ok_or(BAD)?;
        if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(BAD);
        }
        let byte = |i: usize| {
            hex.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or(BAD)
        };
        Ok(Self([byte(0)?, byte(2)?, byte(4)?]))
    }

    /// `#rrggbb`, lowercase.
    pub fn as_str(&self) -> String {
        let [r, g, b] = self.0;
        format!("#{r:02x}{g:02x}{b:02x}")
    }

    fn channel_luminance(c: u8) -> f64 {
        let c = f64::from(c) / 255.0;
        if c <= 0.040_45 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    }

    /// WCAG relative luminance.
    fn luminance(self) -> f64 {
        let [r, g, b] = self.0.map(Self::channel_luminance);
        0.2126 * r + 0.7152 * g + 0.0722 * b
    }

    /// WCAG contrast ratio against white.
    pub fn contrast_on_white(self) -> f64 {
        1.05 / (self.luminance() + 0.05)
    }

    fn scaled(self, percent: u16) -> Self {
        Self(self.0.map(|c| (u16::from(c) * percent / 100) as u8))
    }

    fn mixed_with_white(self, percent_colour: u16) -> Self {
        Self(
            self.0.map(|c| {
                ((u16::from(c) * percent_colour + 255 * (100 - percent_colour)) / 100) as u8
            }),
        )
    }

    /// The colour as Kapı uses it: darkened until text in it on white, and white text on it,
    /// reach 4.5:1 (WCAG AA), so a pale brand colour cannot make the page unreadable.
    pub fn readable(self) -> Self {
        let mut c = self;
        let mut percent = 100;
        while c.contrast_on_white() < 4.5 && percent > 0 {
            percent -= 5;
            c = self.scaled(percent);
        }
        c
    }

    /// The stylesheet for the merchant's pages: custom properties only, from checked values.
    pub fn theme_css(self) -> String {
        let accent = self.readable();
        format!(
            ":root {{\n  --accent: {};\n  --accent-hover: {};\n  --accent-soft: {};\n  --on-accent: #ffffff;\n}}\n",
            accent.as_str(),
            accent.scaled(80).as_str(),
            accent.mixed_with_white(10).as_str(),
        )
    }
}

/// Image types a logo may have; SVG is refused (it can carry script).
const LOGO_TYPES: &[(&[u8], &str)] = &[
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
];

pub const MAX_LOGO_BYTES: usize = 64 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LogoError {
    #[error("the logo must be a PNG, JPEG or WebP image")]
    Type,
    #[error("the logo must be at most 64 KiB")]
    TooLarge,
}

/// A logo image, checked by its content (not its name).
#[derive(Clone, PartialEq, Eq)]
pub struct Logo {
    bytes: Vec<u8>,
    content_type: &'static str,
}

impl std::fmt::Debug for Logo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Logo({}, {} bytes)", self.content_type, self.bytes.len())
    }
}

impl Logo {
    pub fn parse(bytes: Vec<u8>) -> Result<Self, LogoError> {
        if bytes.len() > MAX_LOGO_BYTES {
            return Err(LogoError::TooLarge);
        }
        let webp = bytes.len() > 12
            && bytes.get(..4) == Some(&b"RIFF"[..])
            && bytes.get(8..12) == Some(&b"WEBP"[..]);
        let content_type = if webp {
            "image/webp"
        } else {
            LOGO_TYPES
                .iter()
                .find(|(magic, _)| bytes.starts_with(magic))
                .map(|(_, t)| *t)
                .ok_or(LogoError::Type)?
        };
        Ok(Self {
            bytes,
            content_type,
        })
    }

    pub fn content_type(&self) -> &'static str {
        self.content_type
    }

    pub fn sha256(&self) -> String {
        hex::encode(Sha256::digest(&self.bytes))
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_strict_hex() {
        assert_eq!(
            AccentColour::parse("#1A73E8").ok().map(|c| c.as_str()),
            Some("#1a73e8".into())
        );
        for bad in [
            "1a73e8",
            "#1a73e",
            "#1a73e8ff",
            "red",
            "#fff",
            "#12345g",
            "#1a73e8;}",
            "",
        ] {
            assert!(AccentColour::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pale_colours_are_darkened_until_readable() {
        for s in [
            "#ffff00", "#ffffff", "#7fdbff", "#0b5563", "#000000", "#e30a17",
        ] {
            let c = AccentColour::parse(s).unwrap().readable();
            assert!(c.contrast_on_white() >= 4.5, "{s} → {}", c.as_str());
        }
        // A colour that is already readable is kept.
        let teal = AccentColour::parse("#0b5563").unwrap();
        assert_eq!(teal.readable(), teal);
    }

    #[test]
    fn the_theme_holds_only_custom_properties() {
        let css = AccentColour::parse("#e30a17").unwrap().theme_css();
        assert!(css.starts_with(":root {"));
        for line in css.lines().skip(1).filter(|l| *l != "}") {
            assert!(line.trim_start().starts_with("--"), "{line}");
        }
    }

    proptest::proptest! {
        #[test]
        fn colours_and_logos_never_panic(s in "\\PC{0,12}", bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            if let Ok(c) = AccentColour::parse(&s) {
                proptest::prop_assert!(c.readable().contrast_on_white() >= 4.5);
                proptest::prop_assert!(AccentColour::parse(&c.as_str()) == Ok(c));
            }
            let _ = Logo::parse(bytes);
        }
    }

    #[test]
    fn logos_are_checked_by_content() {
        let png = b"\x89PNG\r\n\x1a\nrest".to_vec();
        assert_eq!(Logo::parse(png).unwrap().content_type(), "image/png");
        assert_eq!(
            Logo::parse(b"\xff\xd8\xff\xe0jpeg".to_vec())
                .unwrap()
                .content_type(),
            "image/jpeg"
        );
        assert_eq!(
            Logo::parse(b"RIFF\0\0\0\0WEBPVP8 ".to_vec())
                .unwrap()
                .content_type(),
            "image/webp"
        );
        assert_eq!(
            Logo::parse(b"<svg onload=alert(1)>".to_vec()),
            Err(LogoError::Type)
        );
        let mut big = b"\x89PNG\r\n\x1a\n".to_vec();
        big.resize(MAX_LOGO_BYTES + 1, 0);
        assert_eq!(Logo::parse(big), Err(LogoError::TooLarge));
    }
}
