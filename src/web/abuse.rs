//! The web side of the abuse limits (`crate::limits`): who the client is (its address,
//! through trusted proxies), and the shoppers' rate limits as pages.

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, Request, State},
    middleware::Next,
    response::Response,
};

use crate::{
    config::Settings,
    domain::net::{ProxyNet, client_ip},
    limits::Limiter,
};

pub use crate::domain::net::ClientIp;

/// Middleware: works out the client's address once per request.
pub async fn resolve_client_ip(
    State(trusted): State<std::sync::Arc<Vec<ProxyNet>>>,
    mut req: Request,
    next: Next,
) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ci| ci.0.ip());
    let lines: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| v.to_str().unwrap_or("unreadable"))
        .collect();
    let ip = client_ip(peer, &lines, &trusted);
    if let Some(ip) = ip {
        req.extensions_mut().insert(ClientIp(ip));
    }
    next.run(req).await
}

/// Middleware, inside `resolve_client_ip`: every log line of a request carries its id, method,
/// path (never the query, which may hold a link's token) and client address, and the answer
/// carries the id (`X-Request-Id`) for support to find those lines.
pub async fn request_span(req: Request, next: Next) -> Response {
    use tracing::Instrument;
    let id = crate::domain::ids::random_token(8);
    let ip = req
        .extensions()
        .get::<ClientIp>()
        .map(|c| c.0.to_string())
        .unwrap_or_default();
    let span = tracing::info_span!(
        "request",
        id = %id,
        method = %req.method(),
        path = %req.uri().path(),
        ip = %ip,
    );
    let mut resp = next.run(req).instrument(span).await;
    if let Ok(v) = axum::http::HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

pub fn trusted_proxies(settings: &Settings) -> Vec<ProxyNet> {
    settings
        .server
        .trusted_proxies
        .iter()
        .filter_map(|p| ProxyNet::parse(p).ok())
        .collect()
}

/// A shopper's request counted against `max` per window, by address (an IPv6 /64): over it,
/// a 429 page in the shopper's language with `Retry-After`.
pub async fn shopper_hit(
    limiter: &Limiter,
    kind: &str,
    client_ip: &str,
    (max, window_secs): (u32, u64),
    locale: crate::domain::Locale,
) -> Result<(), super::error::PageError> {
    let key = format!("{kind}:{}", crate::limits::address_key_str(client_ip));
    limiter.hit(&key, max, window_secs).await.map_err(|wait| {
        super::error::PageError::too_many(crate::error::ErrorCode::TooManyRequests, locale, wait)
    })
}
