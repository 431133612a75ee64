//! Kapı's static files (stylesheet and script), embedded in the binary, with their
//! Subresource Integrity values: the pages of Kapı and of its simulators load them.

use std::sync::LazyLock;

use base64::Engine;
use sha2::{Digest, Sha384};

pub struct Asset {
    /// Path under `/static/`.
    pub name: &'static str,
    pub content_type: &'static str,
    pub purpose: &'static str,
    pub body: &'static str,
}

pub const ASSETS: &[Asset] = &[
    Asset {
        name: "kapi.css",
        content_type: "text/css; charset=utf-8",
        purpose: "Layout and look of every page (card page, 3-D Secure pages, results, demo shop).",
        body: include_str!("../static/kapi.css"),
    },
    Asset {
        name: "kapi.js",
        content_type: "text/javascript; charset=utf-8",
        purpose: "Optional; every page works without it. Submits the auto-posting forms (3-D Secure, result); disables the pay button after the first click; groups the card number as typed and shows its brand badge and CVV hint; asks Kapı (same origin) for the installment table by the card's first 6 or 8 digits and shows the chosen total on the pay button; shows the time left. It reads the card number field only in the page, never sends or stores it.",
        body: include_str!("../static/kapi.js"),
    },
];

/// `sha384-…` of each asset, in the order of `ASSETS`.
static INTEGRITY: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| {
            format!(
                "sha384-{}",
                base64::engine::general_purpose::STANDARD.encode(Sha384::digest(a.body.as_bytes()))
            )
        })
        .collect()
});

/// The Subresource Integrity value of an asset (empty for an unknown name).
pub fn integrity(name: &str) -> &'static str {
    ASSETS
        .iter()
        .position(|a| a.name == name)
        .and_then(|i| INTEGRITY.get(i))
        .map(String::as_str)
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_has_an_integrity_value() {
        for a in ASSETS {
            assert!(integrity(a.name).starts_with("sha384-"), "{}", a.name);
        }
        assert_eq!(integrity("other.js"), "");
    }
}
