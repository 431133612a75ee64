//! Where Kapı may send server-to-server requests (callbacks, events): never to loopback,
//! private, link-local (cloud metadata) or other internal addresses, unless the operator
//! allows it (`notifications.allow_private_targets`; the demo and the tests do).
//!
//! A name is checked after it resolves, by the client's own resolver, so a DNS answer cannot
//! smuggle an internal address past the check; a URL with an IP literal is checked before
//! anything is sent.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Addresses that belong to this machine or its private networks.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => is_internal_v6(v6),
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254.0.0/16, cloud metadata among them
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || a >= 240
}

fn is_internal_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let first = s[0];
    let v4 = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    // Addresses that carry an IPv4 address inside reach that address: judge it instead.
    let embedded = if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        Some(v4(s[6], s[7])) // NAT64, 64:ff9b::/96
    } else if first == 0x2002 {
        Some(v4(s[1], s[2])) // 6to4, 2002::/16
    } else if s[..6] == [0; 6] && !ip.is_loopback() && !ip.is_unspecified() {
        Some(v4(s[6], s[7])) // IPv4-compatible, ::a.b.c.d (deprecated)
    } else {
        None
    };
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local, fc00::/7 (fd00:ec2::254 metadata too)
        || (first & 0xffc0) == 0xfe80 // link-local
        || embedded.is_some_and(is_internal_v4)
}

/// Refuses an IP-literal host that is internal. Names are left to the resolver.
pub fn check_url(url: &str, allow_internal: bool) -> Result<(), String> {
    if allow_internal {
        return Ok(());
    }
    let parsed = url::Url::parse(url).map_err(|e| format!("invalid URL: {e}"))?;
    let ip = match parsed.host() {
        Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
        Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
        _ => None,
    };
    match ip {
        Some(ip) if is_internal(ip) => Err(format!("refused: {ip} is an internal address")),
        _ => Ok(()),
    }
}

/// A resolver that drops internal addresses from every answer.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver;

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> =
                found.into_iter().filter(|a| !is_internal(a.ip())).collect();
            if allowed.is_empty() {
                return Err(format!("refused: {host} resolves only to internal addresses").into());
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_addresses() {
        for s in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "::1",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "224.0.0.1",
            "64:ff9b::a9fe:a9fe", // NAT64 of 169.254.169.254
            "64:ff9b::7f00:1",
            "2002:a00:1::1", // 6to4 of 10.0.0.1
            "::10.0.0.1",    // IPv4-compatible
        ] {
            assert!(is_internal(ip(s)), "{s}");
        }
        for s in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700::1111",
            "172.32.0.1",
            "64:ff9b::5db8:d822",
            "2002:5db8:d822::1",
        ] {
            assert!(!is_internal(ip(s)), "{s}");
        }
    }

    #[test]
    fn ip_literal_urls_are_checked_before_sending() {
        assert!(check_url("http://169.254.169.254/latest/meta-data", false).is_err());
        assert!(check_url("http://10.0.0.1/cb", false).is_err());
        assert!(check_url("http://[::1]:8080/cb", false).is_err());
        assert!(check_url("http://127.0.0.1:9/cb", false).is_err());
        assert!(check_url("https://shop.example/cb", false).is_ok());
        assert!(check_url("http://127.0.0.1:9/cb", true).is_ok());
    }
}
