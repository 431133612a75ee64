//! A merchant's branding on its pages: the logo and a stylesheet of two custom properties,
//! both served by Kapı from values checked when the merchant registered them (see
//! `domain::brand`). Nothing the merchant sent is ever written into a page as markup.

use axum::{
    extract::{Path, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::Engine;
use sha2::{Digest, Sha384};

use crate::{domain::AccentColour, state::AppState, storage::MerchantRecord};

/// What a page needs to show a merchant's branding.
#[derive(Debug, Clone, Default)]
pub struct Brand {
    /// `/brand/{id}/logo?v=…`, when the merchant has a logo.
    pub logo_url: Option<String>,
    /// `/brand/{id}/theme.css?v=…`, when the merchant has an accent colour.
    pub theme_url: Option<String>,
    /// Subresource Integrity of the theme.
    pub theme_integrity: String,
}

fn colour(merchant: &MerchantRecord) -> Option<AccentColour> {
    merchant
        .accent_colour
        .as_deref()
        .and_then(|c| AccentColour::parse(c).ok())
}

fn integrity(body: &str) -> String {
    format!(
        "sha384-{}",
        base64::engine::general_purpose::STANDARD.encode(Sha384::digest(body.as_bytes()))
    )
}

impl Brand {
    pub fn of(merchant: &MerchantRecord) -> Self {
        let theme = colour(merchant);
        Self {
            logo_url: merchant.logo_sha256.as_deref().map(|sha| {
                format!(
                    "/brand/{}/logo?v={}",
                    merchant.id,
                    sha.get(..16).unwrap_or(sha)
                )
            }),
            // Versioned by the body, so a cached theme always matches its integrity.
            theme_url: theme.map(|c| {
                let digest = hex::encode(Sha384::digest(c.theme_css().as_bytes()));
                format!(
                    "/brand/{}/theme.css?v={}",
                    merchant.id,
                    digest.get(..16).unwrap_or(&digest)
                )
            }),
            theme_integrity: theme.map(|c| integrity(&c.theme_css())).unwrap_or_default(),
        }
    }
}

/// Versioned URLs: a change of logo or colour changes the URL, so browsers may keep these.
const CACHE: &str = "public, max-age=86400";

pub async fn logo(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match state.storage.merchants.merchant_logo(&id).await {
        Ok(Some(logo)) => (
            [
                (header::CONTENT_TYPE, logo.content_type),
                (header::CACHE_CONTROL, CACHE.to_owned()),
            ],
            logo.body,
        )
            .into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "logo could not be read");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

pub async fn theme(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let merchant = match state.storage.merchants.get_merchant(&id).await {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(error = %e, "merchant could not be read");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    match merchant.as_ref().and_then(colour) {
        Some(c) => (
            [
                (header::CONTENT_TYPE, "text/css; charset=utf-8"),
                (header::CACHE_CONTROL, CACHE),
            ],
            c.theme_css(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The inventory entries of the generated resources (see `assets::inventory`).
pub fn inventory() -> Vec<serde_json::Value> {
    vec![
        serde_json::json!({
            "path": "/brand/{merchant_id}/theme.css",
            "content_type": "text/css; charset=utf-8",
            "integrity": "sha384 of the body, computed per merchant and set on the page's link",
            "purpose": "The merchant's accent colour: only the custom properties --accent, --accent-hover, --accent-soft and --on-accent, written by Kapı from a checked #rrggbb value (darkened to 4.5:1 contrast).",
        }),
        serde_json::json!({
            "path": "/brand/{merchant_id}/logo",
            "content_type": "image/png, image/jpeg or image/webp",
            "integrity": "not applicable (an image, not a script or stylesheet)",
            "purpose": "The merchant's logo, shown above the order; checked by its content (no SVG) and size (64 KiB) when it was registered.",
        }),
    ]
}
