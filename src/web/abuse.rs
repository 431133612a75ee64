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
    if peer.is_some_and(|p| trusted.iter().any(|net| net.contains(p))) {
        req.extensions_mut().insert(ViaTrustedProxy);
    }
    next.run(req).await
}

/// The request came from one of `server.trusted_proxies`: its `X-Request-Id` is believed.
#[derive(Debug, Clone, Copy)]
pub struct ViaTrustedProxy;

/// A request id as a proxy may send it: 1 to 64 letters, digits, `-`, `_`, `.` or `:`.
fn proxy_request_id(req: &Request) -> Option<String> {
    req.extensions().get::<ViaTrustedProxy>()?;
    let id = req.headers().get("x-request-id")?.to_str().ok()?;
    let fine = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    fine.then(|| id.to_owned())
}

/// The payment a shopper's page or a merchant's API call is about, from the path.
fn payment_in_path(path: &str) -> Option<&str> {
    path.split('/').find(|part| {
        part.starts_with("pay_")
            && part.len() <= 64
            && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// Middleware, inside `resolve_client_ip`: every log line of a request carries its id, method,
/// path (never the query, which may hold a link's token), client address, the payment it is
/// about and (once the API knows it) the merchant, and the answer carries the id
/// (`X-Request-Id`) for support to find those lines. A trusted proxy's `X-Request-Id` is kept,
/// so the proxy's log and Kapı's share it.
pub async fn request_span(req: Request, next: Next) -> Response {
    use tracing::Instrument;
    let id = proxy_request_id(&req).unwrap_or_else(|| crate::domain::ids::random_token(8));
    let ip = req
        .extensions()
        .get::<ClientIp>()
        .map(|c| c.0.to_string())
        .unwrap_or_default();
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.uri().path(),
        ip = %ip,
        payment_id = payment_in_path(req.uri().path()),
        merchant_id = tracing::field::Empty,
    );
    let quiet = matches!(req.uri().path(), "/healthz" | "/readyz")
        || req.uri().path().starts_with("/static/");
    let started = std::time::Instant::now();
    let mut resp = async {
        let resp = next.run(req).await;
        // The access log: one line per answer, in the request's span.
        let status = resp.status().as_u16();
        let ms = started.elapsed().as_millis();
        if quiet {
            tracing::debug!(status, ms, "answered");
        } else {
            tracing::info!(status, ms, "answered");
        }
        resp
    }
    .instrument(span)
    .await;
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
