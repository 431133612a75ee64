//! Shared application state: configuration and the external parts as trait objects, so tests
//! and later real connectors can swap them.

use std::sync::Arc;

use secrecy::SecretBox;

use crate::{
    acquirer::Acquirer, clock::Clock, config::Settings, crypto::vault::Vault, storage::Store,
    threeds::DirectoryServer,
};

#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: Arc<dyn Store>,
    pub vault: Vault,
    pub clock: Arc<dyn Clock>,
    pub directory: Arc<dyn DirectoryServer>,
    pub acquirer: Arc<dyn Acquirer>,
    /// For merchant callbacks: short timeouts, no redirects.
    pub http: reqwest::Client,
    pub urls: Arc<Urls>,
    pub keys: Arc<Keys>,
    /// Wakes the event delivery worker when an event was written.
    pub events_wake: Arc<tokio::sync::Notify>,
    /// Rate limits and card-testing blocks.
    pub limiter: Arc<crate::limits::Limiter>,
    /// The BIN table and the regulator's installment caps.
    pub installments: Arc<crate::installments::Installments>,
}

/// Where things are reachable.
#[derive(Debug, Clone)]
pub struct Urls {
    /// Base URL browsers (and the ACS) use, without trailing slash.
    pub public: String,
    /// Base URL for calls from this process to itself (the built-in simulators).
    pub internal: String,
}

impl Urls {
    pub fn public(&self, path: &str) -> String {
        format!("{}{}", self.public, path)
    }
}

pub struct Keys {
    /// MACs `threeDSSessionData`, binding the cross-site 3DS return to its payment.
    pub threeds_session: SecretBox<Vec<u8>>,
    /// Authenticates RReq messages from the ACS (stands in for the DS's mutual TLS).
    pub acs_channel: SecretBox<Vec<u8>>,
    /// MACs the link a checkout session's shopper follows.
    pub session_link: SecretBox<Vec<u8>>,
    /// MACs the CSRF token of a payment's forms.
    pub csrf: SecretBox<Vec<u8>>,
}
