//! The built-in simulators of the outside parties — the issuer's ACS, the acquiring bank and
//! the SMS gateway — served under `/sim`. Kapı reaches them only over HTTP, exactly as it
//! would real ones; they know nothing of Kapı's payments. Their state is stored (through the
//! `SimStore` of the storage backend), so a challenge survives a restart and several
//! instances share it; old records are forgotten after a day or two.
//!
//! They depend only on the wire messages (`crate::wire`), their store (`crate::simstore`),
//! value types (`crate::domain`) and neutral helpers (clock, texts, form parsing, limits).

pub mod acs;
pub mod bank;
pub mod garanti;
mod gate;
pub mod payfor;
pub mod sms;

use std::{sync::Arc, time::Duration};

use axum::{
    Json, Router,
    extract::{FromRequest, Request},
    http::{StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use hmac::{KeyInit, Mac};
use secrecy::{ExposeSecret, SecretBox, SecretString};
use serde::{Serialize, de::DeserializeOwned};

use crate::{
    clock::Clock,
    simstore::{SimRecord, SimStore, SimStoreError},
};

/// How long the simulators keep what they record: challenges and SMS a day, the bank's books
/// two (reconciliation and recovery read them).
const KEEP_CHALLENGES_MS: i64 = 24 * 3600 * 1000;
const KEEP_BOOKS_MS: i64 = 2 * 24 * 3600 * 1000;

/// The simulated issuer's OTP rules.
#[derive(Debug, Clone)]
pub struct OtpRules {
    pub otp_ttl_secs: u64,
    pub resend_cooldown_secs: u64,
    pub max_resends: u32,
    pub challenge_timeout_secs: u64,
    /// OTP entries per client address and window (seconds).
    pub entries_per_window: (u32, u64),
}

/// What the simulators are built from.
pub struct SimConfig {
    pub store: Arc<dyn SimStore>,
    pub clock: Arc<dyn Clock>,
    pub otp: OtpRules,
    /// Key of the RReq channel to the 3DS Server.
    pub acs_channel_key: SecretBox<Vec<u8>>,
    /// Browser-facing base of the ACS, e.g. `http://127.0.0.1:8080/sim/acs`.
    pub acs_public_base: String,
    /// Link the challenge page to the simulated SMS outbox (the demo does).
    pub show_outbox_link: bool,
    /// For the RReq: with a timeout and no redirects.
    pub http: reqwest::Client,
    /// The simulated bank's one terminal and its API key.
    pub bank_terminal_id: String,
    pub bank_api_key: SecretString,
    /// Counts OTP entries per client address (shared with Kapı's own limits, so in the shared
    /// database when instances share one).
    pub limiter: Arc<crate::limits::Limiter>,
}

/// The simulators' router, to be mounted at `/sim`, and their periodic clean-up.
pub fn router(config: SimConfig) -> (Router, tokio::task::JoinHandle<()>) {
    let store = config.store.clone();
    let clock = config.clock.clone();
    let sms = sms::Outbox::new(config.store.clone(), config.clock.clone());
    let acs = acs::AcsSim::new(&config, sms.clone());
    let bank = bank::BankSim::new(
        config.store.clone(),
        config.clock.clone(),
        config.bank_terminal_id.clone(),
        config.bank_api_key.clone(),
    );
    let gate = gate::GateSim::new(&config, acs.clone());
    let router = Router::new()
        .nest("/garanti", garanti::router(gate.clone()))
        .nest("/payfor", payfor::router(gate))
        .nest("/acs", acs.router())
        .nest("/bank", bank.router())
        .nest("/sms", sms.router());
    let cleanup = tokio::spawn(async move {
        loop {
            forget_old(&*store, clock.now_ms()).await;
            tokio::time::sleep(Duration::from_secs(600)).await;
        }
    });
    (router, cleanup)
}

async fn forget_old(store: &dyn SimStore, now: i64) {
    for (kind, keep) in [
        (acs::KIND, KEEP_CHALLENGES_MS),
        (sms::KIND, KEEP_CHALLENGES_MS),
        (gate::SESSION, KEEP_CHALLENGES_MS),
        (gate::RREQ, KEEP_CHALLENGES_MS),
        (gate::BOOK, KEEP_BOOKS_MS),
        (bank::AUTH, KEEP_BOOKS_MS),
        (bank::OP, KEEP_BOOKS_MS),
        (bank::BY_TXN, KEEP_BOOKS_MS),
    ] {
        if let Err(e) = store.sim_forget(kind, now.saturating_sub(keep)).await {
            tracing::warn!(error = %e, kind, "simulator clean-up failed");
        }
    }
}

/// One kind of JSON record in the simulators' store.
#[derive(Clone)]
pub(crate) struct Records {
    store: Arc<dyn SimStore>,
    kind: &'static str,
}

impl Records {
    pub(crate) fn new(store: Arc<dyn SimStore>, kind: &'static str) -> Self {
        Self { store, kind }
    }

    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, SimStoreError> {
        Ok(self
            .store
            .sim_get(self.kind, key)
            .await?
            .and_then(|r| serde_json::from_str(&r.value).ok()))
    }

    /// Adds a record; `false` when one with that key exists.
    pub(crate) async fn insert<T: Serialize>(
        &self,
        key: &str,
        tag: Option<&str>,
        value: &T,
        at: i64,
    ) -> Result<bool, SimStoreError> {
        let value = serde_json::to_string(value).map_err(|e| SimStoreError(e.to_string()))?;
        self.store
            .sim_insert(&SimRecord {
                kind: self.kind.to_owned(),
                key: key.to_owned(),
                tag: tag.map(str::to_owned),
                value,
                at,
            })
            .await
    }

    /// Changes a record with `f` as a compare-and-set, again on a fresh copy when another
    /// request changed it first. `None` when there is no such record.
    pub(crate) async fn update<T, R>(
        &self,
        key: &str,
        at: i64,
        mut f: impl FnMut(&mut T) -> R,
    ) -> Result<Option<R>, SimStoreError>
    where
        T: Serialize + DeserializeOwned,
    {
        for _ in 0..20 {
            let Some(record) = self.store.sim_get(self.kind, key).await? else {
                return Ok(None);
            };
            let mut value: T =
                serde_json::from_str(&record.value).map_err(|e| SimStoreError(e.to_string()))?;
            let result = f(&mut value);
            let new = serde_json::to_string(&value).map_err(|e| SimStoreError(e.to_string()))?;
            if new == record.value
                || self
                    .store
                    .sim_replace(self.kind, key, &record.value, &new, at)
                    .await?
            {
                return Ok(Some(result));
            }
        }
        Err(SimStoreError(format!("{} {key} keeps changing", self.kind)))
    }

    /// Newest first, optionally only those with `tag`.
    pub(crate) async fn list<T: DeserializeOwned>(
        &self,
        tag: Option<&str>,
        limit: i64,
    ) -> Result<Vec<T>, SimStoreError> {
        Ok(self
            .store
            .sim_list(self.kind, tag, limit)
            .await?
            .into_iter()
            .filter_map(|r| serde_json::from_str(&r.value).ok())
            .collect())
    }
}

/// An error of a simulator's machine interface, as an RFC 9457 problem.
pub(crate) fn problem(status: StatusCode, code: &str, detail: &str) -> Response {
    let body = serde_json::json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "code": code,
        "detail": detail,
    });
    let mut resp = (status, Json(body)).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/problem+json"),
    );
    resp
}

/// The simulators' storage failed: the outside party is "down".
pub(crate) fn unavailable(e: SimStoreError) -> Response {
    tracing::error!(error = %e, "simulator storage");
    problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "SIM-503",
        "simulator unavailable",
    )
}

/// A page of a simulator, never cached.
pub(crate) fn html(t: &impl askama::Template, status: StatusCode) -> Response {
    match t.render() {
        Ok(body) => (status, [(header::CACHE_CONTROL, "no-store")], Html(body)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "simulator template");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// HMAC-SHA256 in lower-case hex, as the RReq channel signs.
pub(crate) fn hmac_hex(key: &SecretBox<Vec<u8>>, message: &[u8]) -> String {
    let mut mac = match hmac::Hmac::<sha2::Sha256>::new_from_slice(key.expose_secret()) {
        Ok(mac) => mac,
        // HMAC takes keys of any length.
        Err(_) => return String::new(),
    };
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

/// A urlencoded form body, as `(name, value)` pairs; anything else is `None`.
pub(crate) struct SimForm(pub Option<Vec<(String, String)>>);

impl<S: Send + Sync> FromRequest<S> for SimForm {
    type Rejection = std::convert::Infallible;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("application/x-www-form-urlencoded")
            });
        if !is_form {
            return Ok(Self(None));
        }
        let Ok(bytes) = axum::body::to_bytes(req.into_body(), 64 * 1024).await else {
            return Ok(Self(None));
        };
        Ok(Self(crate::form::parse(&bytes, 64).ok()))
    }
}
