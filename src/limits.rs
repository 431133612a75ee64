//! Abuse limits: request counters in fixed windows, timed blocks, and the card-testing guard
//! built on them.
//!
//! The counters sit behind the `Counters` trait. `MemoryCounters` keeps them in this process
//! (one instance on SQLite); `storage::guard::StoredCounters` keeps them in the database, which
//! the card-testing guard always uses and request limits use when instances share PostgreSQL.
//! Memory stays bounded: a window's counters are dropped whole when the
//! window ends, and blocks are pruned in the order they end.

use std::{
    collections::{BTreeSet, HashMap},
    net::IpAddr,
    sync::{Arc, Mutex},
};

use async_trait::async_trait;

use crate::{clock::Clock, config::LimitSettings};

/// Counters and blocks, by key (e.g. `pay:203.0.113.7`).
#[async_trait]
pub trait Counters: Send + Sync + 'static {
    /// Adds `n` hits to `key` in the current fixed window of `window_secs` and returns the
    /// window's count so far (`n = 0` reads it).
    async fn add(&self, key: &str, n: u32, window_secs: u64) -> u32;
    /// `add` for several keys at once (in storage: one transaction, one commit); the counts
    /// in the same order.
    async fn add_many(&self, items: &[(String, u32)], window_secs: u64) -> Vec<u32> {
        let mut counts = Vec::with_capacity(items.len());
        for (key, n) in items {
            counts.push(self.add(key, *n, window_secs).await);
        }
        counts
    }
    /// Blocks `key` for `secs` from now.
    async fn block(&self, key: &str, secs: u64);
    /// Seconds left on a block of `key`, if it is blocked.
    async fn blocked(&self, key: &str) -> Option<u64>;
}

/// At most this many keys are counted per window; further keys share one counter (an attack
/// with ever new addresses cannot grow memory without bound).
const MAX_KEYS_PER_WINDOW: usize = 200_000;
const OVERFLOW_KEY: &str = "\u{0}overflow";

struct Window {
    start: i64,
    counts: HashMap<String, u32>,
}

#[derive(Default)]
struct Blocks {
    until: HashMap<String, i64>,
    /// The same blocks ordered by their end, for pruning.
    by_end: BTreeSet<(i64, String)>,
}

/// Counters in this process's memory.
pub struct MemoryCounters {
    clock: Arc<dyn Clock>,
    /// One window per window length in use (a handful).
    windows: Mutex<HashMap<u64, Window>>,
    blocks: Mutex<Blocks>,
}

impl MemoryCounters {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            windows: Mutex::default(),
            blocks: Mutex::default(),
        }
    }
}

/// The start of the fixed window of `window_secs` that `now` (unix seconds) falls in.
pub fn window_start(now: i64, window_secs: u64) -> i64 {
    let window = i64::try_from(window_secs.max(1)).unwrap_or(i64::MAX);
    now - now.rem_euclid(window)
}

#[async_trait]
impl Counters for MemoryCounters {
    async fn add(&self, key: &str, n: u32, window_secs: u64) -> u32 {
        let start = window_start(self.clock.now_secs(), window_secs);
        let Ok(mut windows) = self.windows.lock() else {
            return 0;
        };
        let window = windows.entry(window_secs).or_insert_with(|| Window {
            start,
            counts: HashMap::new(),
        });
        if window.start != start {
            // A new window: everything counted in the last one goes at once.
            *window = Window {
                start,
                counts: HashMap::new(),
            };
        }
        let key = if window.counts.len() >= MAX_KEYS_PER_WINDOW && !window.counts.contains_key(key)
        {
            OVERFLOW_KEY
        } else {
            key
        };
        if n == 0 {
            return window.counts.get(key).copied().unwrap_or(0);
        }
        let count = window.counts.entry(key.to_owned()).or_insert(0);
        *count = count.saturating_add(n);
        *count
    }

    async fn block(&self, key: &str, secs: u64) {
        let now = self.clock.now_secs();
        let until = now.saturating_add(i64::try_from(secs).unwrap_or(i64::MAX));
        let Ok(mut blocks) = self.blocks.lock() else {
            return;
        };
        // Ended blocks go first, oldest end first: never a scan of the live ones.
        while let Some((end, k)) = blocks.by_end.first().cloned() {
            if end > now {
                break;
            }
            blocks.by_end.pop_first();
            if blocks.until.get(&k) == Some(&end) {
                blocks.until.remove(&k);
            }
        }
        if let Some(old) = blocks.until.insert(key.to_owned(), until) {
            blocks.by_end.remove(&(old, key.to_owned()));
        }
        blocks.by_end.insert((until, key.to_owned()));
    }

    async fn blocked(&self, key: &str) -> Option<u64> {
        let now = self.clock.now_secs();
        let blocks = self.blocks.lock().ok()?;
        blocks
            .until
            .get(key)
            .filter(|until| **until > now)
            .map(|until| u64::try_from(until - now).unwrap_or(1))
    }
}

/// Rate limits and blocks over some `Counters`.
pub struct Limiter {
    counters: Arc<dyn Counters>,
    clock: Arc<dyn Clock>,
}

impl Limiter {
    pub fn new(counters: Arc<dyn Counters>, clock: Arc<dyn Clock>) -> Self {
        Self { counters, clock }
    }

    /// In this process's memory.
    pub fn in_memory(clock: Arc<dyn Clock>) -> Self {
        Self::new(Arc::new(MemoryCounters::new(clock.clone())), clock)
    }

    /// Counts a hit; `Err(seconds until the window ends)` when it is over `max`.
    pub async fn hit(&self, key: &str, max: u32, window_secs: u64) -> Result<(), u64> {
        let count = self.counters.add(key, 1, window_secs).await;
        if count > max {
            let now = self.clock.now_secs();
            let window = i64::try_from(window_secs.max(1)).unwrap_or(i64::MAX);
            Err(u64::try_from(window - now.rem_euclid(window))
                .unwrap_or(1)
                .max(1))
        } else {
            Ok(())
        }
    }

    /// Counts a hit and returns how many there were in the current window.
    pub async fn count(&self, key: &str, window_secs: u64) -> u32 {
        self.counters.add(key, 1, window_secs).await
    }

    /// The current window's count, without a hit.
    pub async fn peek(&self, key: &str, window_secs: u64) -> u32 {
        self.counters.add(key, 0, window_secs).await
    }

    pub async fn block(&self, key: &str, secs: u64) {
        self.counters.block(key, secs).await;
    }

    pub async fn blocked(&self, key: &str) -> Option<u64> {
        self.counters.blocked(key).await
    }
}

/// The part of an address that limits count by: an IPv4 address whole, an IPv6 address by its
/// /64 (one subscriber usually holds a whole /64, so single IPv6 addresses are free to vary).
pub fn address_key(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

/// `address_key` of a stored address; the text itself when it does not parse.
pub fn address_key_str(ip: &str) -> String {
    ip.parse::<IpAddr>()
        .map(address_key)
        .unwrap_or_else(|_| ip.to_owned())
}

/// What the card-testing guard watches: who submitted a card, and what became of it.
#[derive(Debug, Clone)]
pub struct CardOutcome<'a> {
    pub merchant_id: &'a str,
    pub client_ip: Option<&'a str>,
    /// The card's first six digits.
    pub bin: Option<&'a str>,
    /// Declined by the bank, or refused by the issuer's authentication.
    pub declined: bool,
}

/// A block the guard started, for the operator's security events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    /// `ip:…`, `merchant:…` or `bin:MERCHANT:BIN`.
    pub subject: String,
    pub detail: String,
}

fn ip_key(ip: &str) -> String {
    format!("declines-ip:{}", address_key_str(ip))
}

fn merchant_key(merchant_id: &str) -> String {
    format!("declines-merchant:{merchant_id}")
}

fn bin_key(merchant_id: &str, bin: &str) -> String {
    format!("declines-bin:{merchant_id}:{bin}")
}

/// The card-testing guard: counts card outcomes and blocks card submits
/// - from an address after `declines_per_ip` declines in the window;
/// - of one BIN range at one merchant after `declines_per_bin` declines that are at least
///   `decline_percent` of that range's outcomes there;
/// - of a whole merchant after `merchant_decline_min` declines that are at least
///   `decline_percent` of all its outcomes, or after `declines_per_merchant` declines
///   whatever its traffic (the ceiling).
///
/// A healthy shop (declines well under half of its payments) is never stopped.
pub async fn record_card_outcome(
    limiter: &Limiter,
    limits: &LimitSettings,
    outcome: &CardOutcome<'_>,
) -> Vec<Blocked> {
    let limits = &guard_limits(limits, outcome.merchant_id);
    let window = limits.decline_window_secs;
    let declined = u32::from(outcome.declined);
    let ratio_reached = |declines: u32, total: u32| {
        u64::from(declines) * 100 >= u64::from(total) * u64::from(limits.decline_percent)
    };
    // Every count this outcome touches, in one go (one commit when they are stored).
    let merchant = merchant_key(outcome.merchant_id);
    let bin = outcome.bin.map(|b| (b, bin_key(outcome.merchant_id, b)));
    let ip = outcome
        .client_ip
        .filter(|ip| !ip.is_empty())
        .map(|ip| (ip, ip_key(ip)));
    let mut items = vec![
        (format!("{merchant}:all"), 1),
        (format!("{merchant}:count"), declined),
    ];
    if let Some((_, key)) = &bin {
        items.push((format!("{key}:all"), 1));
        items.push((format!("{key}:count"), declined));
    }
    if let Some((_, key)) = &ip {
        items.push((format!("{key}:count"), declined));
    }
    let counts = limiter.counters.add_many(&items, window).await;
    let count = |i: usize| counts.get(i).copied().unwrap_or(0);
    let mut blocked = Vec::new();
    if !outcome.declined {
        // An approval only counts towards the totals: nothing to block.
        return blocked;
    }
    // Per merchant.
    let (total, declines) = (count(0), count(1));
    if ((declines >= limits.merchant_decline_min && ratio_reached(declines, total))
        || declines >= limits.declines_per_merchant)
        && limiter.blocked(&merchant).await.is_none()
    {
        limiter.block(&merchant, limits.block_secs).await;
        blocked.push(Blocked {
            subject: format!("merchant:{}", outcome.merchant_id),
            detail: format!(
                "{declines} of {total} card payments declined within {window} s; card submits blocked for {} s",
                limits.block_secs
            ),
        });
    }
    // Per BIN range at this merchant.
    let mut next = 2;
    if let Some((bin, key)) = &bin {
        let (total, declines) = (count(next), count(next + 1));
        next += 2;
        if declines >= limits.declines_per_bin
            && ratio_reached(declines, total)
            && limiter.blocked(key).await.is_none()
        {
            limiter.block(key, limits.block_secs).await;
            blocked.push(Blocked {
                subject: format!("bin:{}:{bin}", outcome.merchant_id),
                detail: format!(
                    "{declines} of {total} cards of BIN {bin} declined within {window} s; that range is blocked at this merchant for {} s",
                    limits.block_secs
                ),
            });
        }
    }
    // Per address.
    if let Some((ip, key)) = &ip {
        let declines = count(next);
        if declines >= limits.declines_per_ip && limiter.blocked(key).await.is_none() {
            limiter.block(key, limits.block_secs).await;
            blocked.push(Blocked {
                subject: format!("ip:{}", address_key_str(ip)),
                detail: format!(
                    "{declines} declined cards within {window} s; card submits blocked for {} s",
                    limits.block_secs
                ),
            });
        }
    }
    blocked
}

/// Seconds to wait when a card submit from `client_ip` at `merchant_id` (with a card of `bin`,
/// once known) is blocked by the guard.
pub async fn card_submit_blocked(
    limiter: &Limiter,
    merchant_id: &str,
    client_ip: &str,
    bin: Option<&str>,
) -> Option<u64> {
    let mut keys = vec![ip_key(client_ip), merchant_key(merchant_id)];
    if let Some(bin) = bin {
        keys.push(bin_key(merchant_id, bin));
    }
    for key in keys {
        if let Some(wait) = limiter.blocked(&key).await {
            return Some(wait);
        }
    }
    None
}

/// The guard's key of a subject as `record_card_outcome` names it (`ip:…`, `merchant:…`,
/// `bin:MERCHANT:BIN`), for the operator who lifts its block.
pub fn guard_key(subject: &str) -> Option<String> {
    if let Some(ip) = subject.strip_prefix("ip:") {
        Some(ip_key(ip))
    } else if let Some(m) = subject.strip_prefix("merchant:") {
        Some(merchant_key(m))
    } else {
        let (m, bin) = subject.strip_prefix("bin:")?.rsplit_once(':')?;
        Some(bin_key(m, bin))
    }
}

/// The subject of a guard's key: `guard_key` backwards.
pub fn guard_subject(key: &str) -> Option<String> {
    let (kind, rest) = key.strip_prefix("declines-")?.split_once(':')?;
    match kind {
        "ip" | "merchant" | "bin" => Some(format!("{kind}:{rest}")),
        _ => None,
    }
}

/// The guard's limits for a merchant: ten times looser for the merchants the operator named
/// (`limits.relaxed_merchants`: the demo shop, a test shop), whose shoppers try declined test
/// cards on purpose.
pub fn guard_limits(limits: &LimitSettings, merchant_id: &str) -> LimitSettings {
    let mut l = limits.clone();
    if limits.relaxed_merchants.iter().any(|m| m == merchant_id) {
        l.declines_per_ip = l.declines_per_ip.saturating_mul(10);
        l.declines_per_bin = l.declines_per_bin.saturating_mul(10);
        l.merchant_decline_min = l.merchant_decline_min.saturating_mul(10);
        l.declines_per_merchant = l.declines_per_merchant.saturating_mul(10);
    }
    l
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::OffsetClock;

    fn limiter() -> (Arc<OffsetClock>, Limiter) {
        let clock = Arc::new(OffsetClock::default());
        (clock.clone(), Limiter::in_memory(clock))
    }

    #[tokio::test]
    async fn windows_limit_and_lift() {
        let (clock, limiter) = limiter();
        assert!(limiter.hit("k", 2, 60).await.is_ok());
        assert!(limiter.hit("k", 2, 60).await.is_ok());
        let wait = limiter.hit("k", 2, 60).await.unwrap_err();
        assert!((1..=60).contains(&wait));
        assert!(limiter.hit("other", 2, 60).await.is_ok());
        clock.advance(61);
        assert!(limiter.hit("k", 2, 60).await.is_ok());
        limiter.block("ip", 30).await;
        assert!(limiter.blocked("ip").await.is_some());
        clock.advance(31);
        assert!(limiter.blocked("ip").await.is_none());
    }

    #[tokio::test]
    async fn a_new_window_drops_the_old_counters_and_memory_stays_bounded() {
        let (clock, limiter) = limiter();
        // At the start of a window, so that filling it (slow on a busy machine) never
        // crosses into the next one.
        clock.advance(60 - clock.now_secs().rem_euclid(60));
        let counters = MemoryCounters::new(clock.clone());
        for i in 0..(MAX_KEYS_PER_WINDOW + 10) {
            counters.add(&format!("k{i}"), 1, 60).await;
        }
        let len = |c: &MemoryCounters| c.windows.lock().unwrap()[&60].counts.len();
        assert_eq!(
            len(&counters),
            MAX_KEYS_PER_WINDOW + 1,
            "the rest share one counter"
        );
        assert_eq!(counters.add(OVERFLOW_KEY, 0, 60).await, 10);
        clock.advance(60);
        counters.add("fresh", 1, 60).await;
        assert_eq!(len(&counters), 1, "the old window went at once");
        drop(limiter);
    }

    #[tokio::test]
    async fn ended_blocks_are_pruned_oldest_first() {
        let (clock, _) = limiter();
        let counters = MemoryCounters::new(clock.clone());
        for i in 0..1000 {
            counters.block(&format!("b{i}"), 10).await;
        }
        counters.block("long", 3600).await;
        clock.advance(11);
        counters.block("new", 10).await;
        let blocks = counters.blocks.lock().unwrap();
        assert_eq!(blocks.until.len(), 2);
        assert_eq!(blocks.by_end.len(), 2);
    }

    #[test]
    fn ipv6_counts_by_its_64_and_ipv4_by_the_address() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:1:2:3".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
        assert_eq!(address_key("203.0.113.7".parse().unwrap()), "203.0.113.7");
        assert_eq!(
            address_key("::ffff:203.0.113.7".parse().unwrap()),
            "203.0.113.7"
        );
    }

    fn outcome(declined: bool, bin: &'static str, ip: &'static str) -> CardOutcome<'static> {
        CardOutcome {
            merchant_id: "mrc_1",
            client_ip: Some(ip),
            bin: Some(bin),
            declined,
        }
    }

    #[tokio::test]
    async fn a_busy_healthy_shop_is_never_blocked() {
        let (_, limiter) = limiter();
        let limits = LimitSettings::default();
        // 5,000 payments from 5,000 shoppers, one in ten declined, over many BIN ranges.
        for i in 0..5000u32 {
            let ip: &'static str =
                Box::leak(format!("198.51.{}.{}", i / 250, i % 250).into_boxed_str());
            let bin: &'static str = Box::leak(format!("4{:05}", i % 293).into_boxed_str());
            let blocks =
                record_card_outcome(&limiter, &limits, &outcome(i % 10 == 0, bin, ip)).await;
            assert!(blocks.is_empty(), "payment {i} blocked {blocks:?}");
        }
        assert!(
            card_submit_blocked(&limiter, "mrc_1", "198.51.0.1", Some("400001"))
                .await
                .is_none()
        );
    }

    #[tokio::test]
    async fn card_testing_through_many_addresses_blocks_the_range_then_the_merchant() {
        let (_, limiter) = limiter();
        let limits = LimitSettings::default();
        let mut blocked = vec![];
        for i in 0..40u32 {
            let ip: &'static str = Box::leak(format!("203.0.113.{i}").into_boxed_str());
            blocked
                .extend(record_card_outcome(&limiter, &limits, &outcome(true, "400000", ip)).await);
        }
        let subjects: Vec<&str> = blocked.iter().map(|b| b.subject.as_str()).collect();
        assert_eq!(subjects, ["bin:mrc_1:400000", "merchant:mrc_1"]);
        assert!(
            card_submit_blocked(&limiter, "mrc_1", "192.0.2.1", None)
                .await
                .is_some()
        );
        let key = guard_key("merchant:mrc_1").unwrap();
        assert_eq!(guard_subject(&key).as_deref(), Some("merchant:mrc_1"));
        limiter.block(&key, 0).await;
        assert!(
            card_submit_blocked(&limiter, "mrc_1", "192.0.2.1", None)
                .await
                .is_none()
        );
        assert!(
            card_submit_blocked(&limiter, "mrc_1", "192.0.2.1", Some("400000"))
                .await
                .is_some(),
            "the range stays blocked"
        );
    }

    #[tokio::test]
    async fn relaxed_merchants_take_ten_times_the_declines() {
        let (_, limiter) = limiter();
        let limits = LimitSettings {
            relaxed_merchants: vec!["mrc_1".into()],
            ..LimitSettings::default()
        };
        for _ in 0..(limits.declines_per_ip * 10 - 1) {
            let blocks =
                record_card_outcome(&limiter, &limits, &outcome(true, "400000", "203.0.113.9"))
                    .await;
            assert!(
                blocks.iter().all(|b| !b.subject.starts_with("ip:")),
                "{blocks:?}"
            );
        }
        let blocks =
            record_card_outcome(&limiter, &limits, &outcome(true, "400000", "203.0.113.9")).await;
        assert!(
            blocks.iter().any(|b| b.subject == "ip:203.0.113.9"),
            "{blocks:?}"
        );
        for bad in ["", "ip", "bin:400000", "card:1"] {
            assert!(guard_key(bad).is_none(), "{bad}");
        }
    }

    #[tokio::test]
    async fn the_ceiling_blocks_whatever_the_traffic() {
        let (_, limiter) = limiter();
        let limits = LimitSettings {
            declines_per_merchant: 30,
            ..LimitSettings::default()
        };
        let mut blocked = vec![];
        for i in 0..300u32 {
            let ip: &'static str = Box::leak(format!("198.51.100.{}", i % 250).into_boxed_str());
            let bin: &'static str = Box::leak(format!("5{:05}", i).into_boxed_str());
            blocked.extend(
                record_card_outcome(&limiter, &limits, &outcome(i % 10 == 0, bin, ip)).await,
            );
        }
        assert_eq!(
            blocked
                .iter()
                .map(|b| b.subject.as_str())
                .collect::<Vec<_>>(),
            ["merchant:mrc_1"]
        );
    }

    #[tokio::test]
    async fn one_address_is_blocked_after_its_own_declines() {
        let (_, limiter) = limiter();
        let limits = LimitSettings::default();
        let mut blocked = vec![];
        for i in 0..5u32 {
            let bin: &'static str = Box::leak(format!("4{:05}", i).into_boxed_str());
            // Different addresses inside one IPv6 /64 count as one.
            let ip: &'static str = Box::leak(format!("2001:db8::{i}").into_boxed_str());
            blocked.extend(record_card_outcome(&limiter, &limits, &outcome(true, bin, ip)).await);
        }
        assert_eq!(blocked.len(), 1, "{blocked:?}");
        assert_eq!(blocked[0].subject, "ip:2001:db8:0:0::/64");
        assert!(
            card_submit_blocked(&limiter, "mrc_1", "2001:db8::ffff", None)
                .await
                .is_some()
        );
    }
}
