//! Static files, embedded in the binary: the page loads nothing Kapı does not serve itself.

use axum::{
    extract::Path,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};

const CSS: &str = include_str!("../../static/kapi.css");
const JS: &str = include_str!("../../static/kapi.js");

pub async fn serve(Path(file): Path<String>) -> Response {
    let (body, content_type) = match file.as_str() {
        "kapi.css" => (CSS, "text/css; charset=utf-8"),
        "kapi.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}
