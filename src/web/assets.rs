//! Static files, embedded in the binary, and their inventory (PCI DSS 6.4.3): every script
//! and stylesheet a page loads is served by Kapı, listed here with its purpose, and carries
//! Subresource Integrity. `kapi scripts` prints this inventory.

use axum::{
    extract::Path,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};

pub use crate::assets::{ASSETS, Asset, integrity};

/// The inventory as JSON: name, URL path, integrity, purpose.
pub fn inventory() -> serde_json::Value {
    serde_json::Value::Array(
        ASSETS
            .iter()
            .map(|a| {
                serde_json::json!({
                    "path": format!("/static/{}", a.name),
                    "content_type": a.content_type,
                    "integrity": integrity(a.name),
                    "purpose": a.purpose,
                })
            })
            .chain(super::brand::inventory())
            .collect(),
    )
}

pub async fn serve(Path(file): Path<String>) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == file) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    (
        [
            (header::CONTENT_TYPE, asset.content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        asset.body,
    )
        .into_response()
}
