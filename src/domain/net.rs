//! Network addresses: trusted proxies and the client's address behind them.

use std::net::IpAddr;

/// The client's address, as the web layer worked it out (through trusted proxies): put in each
/// request's extensions.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

/// A trusted proxy: one address, or a network in CIDR notation (`10.0.0.0/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyNet {
    addr: IpAddr,
    prefix: u8,
}

impl ProxyNet {
    pub fn parse(s: &str) -> Result<Self, super::Invalid> {
        let bad = |reason| super::Invalid::new("trusted proxy", reason);
        let ip = |a: &str| a.parse::<IpAddr>().map_err(|_| bad("not an IP address"));
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (
                ip(a)?,
                Some(p.parse::<u8>().map_err(|_| bad("bad prefix"))?),
            ),
            None => (ip(s)?, None),
        };
        let addr = addr.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(bad("prefix longer than the address"));
        }
        Ok(Self { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        let bits = |a: IpAddr| -> u128 {
            match a {
                IpAddr::V4(v4) => u128::from(u32::from(v4)),
                IpAddr::V6(v6) => u128::from(v6),
            }
        };
        if ip.is_ipv4() != self.addr.is_ipv4() {
            return false;
        }
        let width = if ip.is_ipv4() { 32 } else { 128 };
        let shift = width - u32::from(self.prefix);
        if shift >= 128 {
            return true;
        }
        (bits(ip) >> shift) == (bits(self.addr) >> shift)
    }
}

/// One `X-Forwarded-For` entry: an address, with or without a port (`203.0.113.7:51234`,
/// `[2001:db8::1]:443`). Anything else (`unknown`, an obfuscated name) is `None`.
fn parse_hop(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Some(rest) = entry.strip_prefix('[') {
        let (addr, port) = rest.split_once(']')?;
        let port = port.strip_prefix(':')?;
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        return addr
            .parse::<std::net::Ipv6Addr>()
            .ok()
            .map(|v6| IpAddr::V6(v6).to_canonical());
    }
    let (addr, port) = entry.rsplit_once(':')?;
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    addr.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

/// The client's address. From an untrusted peer: the peer. From a trusted proxy: the
/// `X-Forwarded-For` chain (every header line, in order, comma-separated entries) is walked
/// from the right, past trusted proxies; the first entry that is not a trusted proxy is the
/// client. An entry that is no address stops the walk, and the client is then the nearest
/// trusted hop: what a proxy we trust did not vouch for cannot be believed.
pub fn client_ip(
    peer: Option<IpAddr>,
    forwarded_for: &[&str],
    trusted: &[ProxyNet],
) -> Option<IpAddr> {
    let peer = peer?.to_canonical();
    let is_trusted = |ip: IpAddr| trusted.iter().any(|t| t.contains(ip));
    if !is_trusted(peer) {
        return Some(peer);
    }
    let mut nearest = peer;
    for entry in forwarded_for
        .iter()
        .flat_map(|line| line.split(','))
        .rev()
        .filter(|e| !e.trim().is_empty())
    {
        match parse_hop(entry) {
            Some(ip) if is_trusted(ip) => nearest = ip,
            Some(ip) => return Some(ip),
            None => return Some(nearest),
        }
    }
    Some(nearest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<ProxyNet> {
        list.iter().map(|s| ProxyNet::parse(s).unwrap()).collect()
    }

    #[test]
    fn forwarded_for_is_trusted_only_from_a_trusted_proxy() {
        let proxy = nets(&["10.0.0.5"]);
        let peer = Some(ip("10.0.0.5"));
        assert_eq!(
            client_ip(peer, &["198.51.100.1, 203.0.113.9"], &proxy),
            Some(ip("203.0.113.9"))
        );
        // A spoofed header from an untrusted peer is ignored.
        assert_eq!(
            client_ip(Some(ip("203.0.113.9")), &["1.2.3.4"], &proxy),
            Some(ip("203.0.113.9"))
        );
        // Only the proxy itself in the chain: fall back to the peer.
        assert_eq!(client_ip(peer, &["10.0.0.5"], &proxy), Some(ip("10.0.0.5")));
        let mapped = ip("::ffff:203.0.113.9");
        assert_eq!(client_ip(Some(mapped), &[], &[]), Some(ip("203.0.113.9")));
    }

    #[test]
    fn every_line_counts_and_the_walk_starts_on_the_right() {
        let proxies = nets(&["10.0.0.0/8"]);
        let peer = Some(ip("10.0.0.5"));
        // The client put its own guess in a first line; the proxy appended a second.
        assert_eq!(
            client_ip(peer, &["6.6.6.6", "203.0.113.9"], &proxies),
            Some(ip("203.0.113.9"))
        );
        // Several trusted hops are skipped.
        assert_eq!(
            client_ip(
                peer,
                &["6.6.6.6, 203.0.113.9, 10.1.2.3, 10.9.9.9"],
                &proxies
            ),
            Some(ip("203.0.113.9"))
        );
    }

    #[test]
    fn ports_are_stripped_and_garbage_stops_the_walk() {
        let proxies = nets(&["10.0.0.5", "2001:db8::5"]);
        let peer = Some(ip("10.0.0.5"));
        assert_eq!(
            client_ip(peer, &["6.6.6.6, 203.0.113.9:51234"], &proxies),
            Some(ip("203.0.113.9"))
        );
        assert_eq!(
            client_ip(peer, &["6.6.6.6, [2001:db8::9]:443"], &proxies),
            Some(ip("2001:db8::9"))
        );
        // An entry that is no address: the client is the nearest trusted hop, never an
        // address further left that the client may have written itself.
        assert_eq!(
            client_ip(peer, &["6.6.6.6, unknown"], &proxies),
            Some(ip("10.0.0.5"))
        );
        assert_eq!(
            client_ip(peer, &["6.6.6.6, [2001:db8::9]"], &proxies),
            Some(ip("10.0.0.5"))
        );
        assert_eq!(
            client_ip(peer, &["6.6.6.6, 203.0.113.9:"], &proxies),
            Some(ip("10.0.0.5"))
        );
    }

    #[test]
    fn proxy_networks() {
        let net = ProxyNet::parse("10.0.0.0/8").unwrap();
        assert!(net.contains(ip("10.200.1.1")));
        assert!(!net.contains(ip("11.0.0.1")));
        assert!(!net.contains(ip("::1")));
        let v6 = ProxyNet::parse("2001:db8::/32").unwrap();
        assert!(v6.contains(ip("2001:db8:ffff::1")));
        assert!(!v6.contains(ip("2001:db9::1")));
        assert!(
            ProxyNet::parse("0.0.0.0/0")
                .unwrap()
                .contains(ip("8.8.8.8"))
        );
        assert!(ProxyNet::parse("10.0.0.0/33").is_err());
        assert!(ProxyNet::parse("nonsense").is_err());
    }
}
