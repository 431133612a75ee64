//! Abuse limits: fixed-window rate limits per client address (payment start, card submit,
//! OTP entry) and per merchant (API), and the card-testing guard, which blocks an address or
//! a merchant for a while after too many declined authorisations.
//!
//! Counters live in memory: each instance limits what it sees. (Several instances behind a
//! load balancer will share them through the database or a cache; see the roadmap.)

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
};

use axum::{
    extract::{ConnectInfo, Request, State},
    middleware::Next,
    response::Response,
};

use crate::{clock::Clock, config::Settings};

/// The client's address: the peer, or, when the peer is a configured trusted proxy, the last
/// address in `X-Forwarded-For` that is not a trusted proxy itself.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

pub fn client_ip(
    peer: Option<IpAddr>,
    forwarded_for: Option<&str>,
    trusted: &[IpAddr],
) -> Option<IpAddr> {
    let peer = peer.map(|p| p.to_canonical())?;
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let hops: Vec<IpAddr> = forwarded_for
        .unwrap_or("")
        .split(',')
        .filter_map(|h| h.trim().parse::<IpAddr>().ok())
        .map(|ip| ip.to_canonical())
        .collect();
    Some(
        hops.into_iter()
            .rev()
            .find(|ip| !trusted.contains(ip))
            .unwrap_or(peer),
    )
}

/// Middleware: works out the client's address once per request.
pub async fn resolve_client_ip(
    State(trusted): State<Arc<Vec<IpAddr>>>,
    mut req: Request,
    next: Next,
) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ci| ci.0.ip());
    let xff = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok());
    if let Some(ip) = client_ip(peer, xff, &trusted) {
        req.extensions_mut().insert(ClientIp(ip));
    }
    next.run(req).await
}

pub fn trusted_proxies(settings: &Settings) -> Vec<IpAddr> {
    settings
        .server
        .trusted_proxies
        .iter()
        .filter_map(|p| p.parse::<IpAddr>().ok())
        .map(|ip| ip.to_canonical())
        .collect()
}

/// Fixed-window counters keyed by strings like `pay:203.0.113.7`.
pub struct Limiter {
    clock: Arc<dyn Clock>,
    windows: Mutex<HashMap<String, (i64, u32)>>,
    blocks: Mutex<HashMap<String, i64>>,
}

impl Limiter {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            windows: Mutex::default(),
            blocks: Mutex::default(),
        }
    }

    /// A shopper's request counted against `max` per window: over it, a 429 page in the
    /// shopper's language with `Retry-After`.
    pub fn shopper_hit(
        &self,
        key: &str,
        max: u32,
        window_secs: u64,
        locale: crate::domain::Locale,
    ) -> Result<(), crate::error::PageError> {
        self.hit(key, max, window_secs).map_err(|wait| {
            crate::error::PageError::too_many(
                crate::error::ErrorCode::TooManyRequests,
                locale,
                wait,
            )
        })
    }

    /// Counts a hit; `Err(seconds until the window ends)` when it is over `max`.
    pub fn hit(&self, key: &str, max: u32, window_secs: u64) -> Result<(), u64> {
        let count = self.count(key, window_secs);
        if count > max {
            Err(self.retry_after(key, window_secs))
        } else {
            Ok(())
        }
    }

    /// Counts a hit and returns how many there were in the current window.
    pub fn count(&self, key: &str, window_secs: u64) -> u32 {
        let now = self.clock.now_secs();
        let window = i64::try_from(window_secs.max(1)).unwrap_or(i64::MAX);
        let start = now - now.rem_euclid(window);
        let Ok(mut map) = self.windows.lock() else {
            return 0;
        };
        if map.len() > 100_000 {
            map.retain(|_, (s, _)| *s >= start);
        }
        let entry = map.entry(key.to_owned()).or_insert((start, 0));
        if entry.0 != start {
            *entry = (start, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        entry.1
    }

    fn retry_after(&self, _key: &str, window_secs: u64) -> u64 {
        let now = self.clock.now_secs();
        let window = i64::try_from(window_secs.max(1)).unwrap_or(i64::MAX);
        u64::try_from(window - now.rem_euclid(window))
            .unwrap_or(1)
            .max(1)
    }

    pub fn block(&self, key: &str, secs: u64) {
        let until = self
            .clock
            .now_secs()
            .saturating_add(i64::try_from(secs).unwrap_or(i64::MAX));
        if let Ok(mut blocks) = self.blocks.lock() {
            blocks.insert(key.to_owned(), until);
        }
    }

    /// Seconds left on a block of `key`, if it is blocked.
    pub fn blocked(&self, key: &str) -> Option<u64> {
        let now = self.clock.now_secs();
        let blocks = self.blocks.lock().ok()?;
        blocks
            .get(key)
            .filter(|until| **until > now)
            .map(|until| u64::try_from(until - now).unwrap_or(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::OffsetClock;

    #[test]
    fn forwarded_for_is_trusted_only_from_a_trusted_proxy() {
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();
        let shopper: IpAddr = "203.0.113.9".parse().unwrap();
        let peer = Some(proxy);
        assert_eq!(
            client_ip(peer, Some("198.51.100.1, 203.0.113.9"), &[proxy]),
            Some(shopper)
        );
        // A spoofed header from an untrusted peer is ignored.
        assert_eq!(
            client_ip(Some(shopper), Some("1.2.3.4"), &[proxy]),
            Some(shopper)
        );
        // Only the proxy itself in the chain: fall back to the peer.
        assert_eq!(client_ip(peer, Some("10.0.0.5"), &[proxy]), Some(proxy));
        let mapped: IpAddr = "::ffff:203.0.113.9".parse().unwrap();
        assert_eq!(client_ip(Some(mapped), None, &[]), Some(shopper));
    }

    #[test]
    fn windows_limit_and_lift() {
        let clock = Arc::new(OffsetClock::default());
        let limiter = Limiter::new(clock.clone());
        assert!(limiter.hit("k", 2, 60).is_ok());
        assert!(limiter.hit("k", 2, 60).is_ok());
        let wait = limiter.hit("k", 2, 60).unwrap_err();
        assert!((1..=60).contains(&wait));
        assert!(limiter.hit("other", 2, 60).is_ok());
        clock.advance(61);
        assert!(limiter.hit("k", 2, 60).is_ok());
        limiter.block("ip", 30);
        assert!(limiter.blocked("ip").is_some());
        clock.advance(31);
        assert!(limiter.blocked("ip").is_none());
    }
}
