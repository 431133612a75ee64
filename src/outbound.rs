//! Calls Kapı makes (to the ACS, the bank, merchants): how to report what went wrong.

/// What went wrong with an outgoing request, with its causes (a refused address, a timeout,
/// a TLS failure) but never its URL, which may carry a merchant's query string.
pub fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The HTTP clients of bank calls: one shared, and one per address of this host that a
/// terminal names as its static IP (`kapi terminal add --static-ip`), bound to it so that
/// its bank sees the calls come from the address it expects. A static IP that is not this
/// host's (a NAT's or an egress proxy's) is only recorded, for the operator: those calls go out
/// as the host routes them.
#[derive(Clone)]
pub struct BankClients {
    shared: reqwest::Client,
    /// A new client's settings (TLS roots, redirects, timeout), before its local address.
    builder: std::sync::Arc<dyn Fn() -> reqwest::ClientBuilder + Send + Sync>,
    /// Per static IP: its bound client, or `None` when it is not this host's (asked once).
    bound: std::sync::Arc<
        std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, Option<reqwest::Client>>>,
    >,
}

impl BankClients {
    /// Clients built by `builder`, which should set a timeout and follow no redirects.
    pub fn new(
        builder: impl Fn() -> reqwest::ClientBuilder + Send + Sync + 'static,
    ) -> reqwest::Result<Self> {
        Ok(Self {
            shared: builder().build()?,
            builder: std::sync::Arc::new(builder),
            bound: std::sync::Arc::default(),
        })
    }

    /// Shared clients around `client` (tests).
    pub fn with(client: reqwest::Client) -> Self {
        Self {
            shared: client,
            builder: std::sync::Arc::new(reqwest::Client::builder),
            bound: std::sync::Arc::default(),
        }
    }

    /// The client for a terminal whose bank expects its calls from `static_ip`.
    pub fn for_terminal(&self, static_ip: Option<std::net::IpAddr>) -> reqwest::Client {
        let Some(ip) = static_ip else {
            return self.shared.clone();
        };
        let Ok(mut bound) = self.bound.lock() else {
            return self.shared.clone();
        };
        let client = bound
            .entry(ip)
            .or_insert_with(|| {
                if !is_this_hosts(ip) {
                    return None;
                }
                (self.builder)()
                    .local_address(ip)
                    .build()
                    .inspect_err(|e| {
                        tracing::warn!(%ip, error = %e, "cannot bind bank calls to the terminal's static IP");
                    })
                    .ok()
            })
            .clone();
        client.unwrap_or_else(|| self.shared.clone())
    }
}

/// Whether `ip` is an address of this host: a socket can be bound to it.
fn is_this_hosts(ip: std::net::IpAddr) -> bool {
    std::net::UdpSocket::bind((ip, 0)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_hosts_addresses_bind_bank_calls() {
        assert!(is_this_hosts("127.0.0.1".parse().unwrap()));
        // TEST-NET-3 (RFC 5737) is nobody's address.
        assert!(!is_this_hosts("203.0.113.7".parse().unwrap()));
        let clients = BankClients::with(reqwest::Client::new());
        let local: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        clients.for_terminal(Some(local));
        clients.for_terminal(Some("203.0.113.7".parse().unwrap()));
        clients.for_terminal(None);
        let bound = clients.bound.lock().unwrap();
        let bound_ips: Vec<_> = bound
            .iter()
            .filter(|(_, c)| c.is_some())
            .map(|(ip, _)| ip)
            .collect();
        assert_eq!(bound_ips, vec![&local]);
    }
}
