//! `Checkout`: the journey's steps as methods, over the parts it needs — storage, the vault,
//! the clock, the 3-D Secure directory, the acquirer, the notifier — each behind a trait, so
//! that tests can run the whole flow with fakes and no HTTP server.

use std::sync::Arc;

use secrecy::SecretBox;

use crate::{
    acquirer::Acquirer,
    clock::Clock,
    config::Settings,
    crypto::vault::Vault,
    error::ErrorCode,
    installments::Installments,
    limits::Limiter,
    notify::Notifier,
    storage::{Cas, Effects, MerchantRecord, Storage},
    threeds::DirectoryServer,
};

use super::{
    CheckoutError,
    payment::{Payment, Transition},
};

/// Keys derived from the master key (or configured) for the MACs of the journey.
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

/// Where browsers (and the ACS) reach Kapı.
#[derive(Debug, Clone)]
pub struct PublicUrl(pub String);

impl PublicUrl {
    /// `base` without a trailing slash.
    pub fn new(base: &str) -> Self {
        Self(base.trim_end_matches('/').to_owned())
    }

    pub fn join(&self, path: &str) -> String {
        format!("{}{}", self.0, path)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What the checkout is built from.
pub struct Parts {
    pub settings: Arc<Settings>,
    pub storage: Storage,
    pub vault: Vault,
    pub clock: Arc<dyn Clock>,
    pub directory: Arc<dyn DirectoryServer>,
    pub acquirer: Arc<dyn Acquirer>,
    pub notifier: Arc<dyn Notifier>,
    /// Request rate limits: in this instance's memory, or in storage when instances share it.
    pub limiter: Arc<Limiter>,
    /// The card-testing guard, counted in storage: shared by every instance.
    pub guard: Arc<Limiter>,
    pub installments: Arc<Installments>,
    pub keys: Arc<Keys>,
    pub public_url: PublicUrl,
    /// The HTTP client of the merchants' own terminals' bank calls (the bank timeout, no
    /// redirects).
    pub bank_http: crate::outbound::BankClients,
}

/// The checkout service. Cheap to clone: everything in it is shared.
#[derive(Clone)]
pub struct Checkout {
    pub(crate) inner: Arc<Parts>,
    /// Journey work that runs on its own (3-D Secure, authorisation, reversals, after-sale
    /// bank calls): a graceful shutdown waits for it.
    pub(crate) tasks: tokio_util::task::TaskTracker,
}

impl std::ops::Deref for Checkout {
    type Target = Parts;

    fn deref(&self) -> &Parts {
        &self.inner
    }
}

impl Checkout {
    /// The checkout over `parts`; its bank and directory server are timed and counted
    /// (`observe`), whichever they are.
    pub fn new(mut parts: Parts) -> Self {
        parts.acquirer = Arc::new(crate::observe::MeteredAcquirer(parts.acquirer));
        parts.directory = Arc::new(crate::observe::MeteredDirectory(parts.directory));
        Self {
            inner: Arc::new(parts),
            tasks: tokio_util::task::TaskTracker::new(),
        }
    }

    /// Journey tasks still running (bank and ACS calls that no request waits for any more).
    pub fn in_flight(&self) -> usize {
        self.tasks.len()
    }

    /// Takes no new journey task and waits up to `bound` for the running ones; `false` when
    /// some were still running at the bound (the sweep of the next start settles them).
    pub async fn drain(&self, bound: std::time::Duration) -> bool {
        self.tasks.close();
        tokio::time::timeout(bound, self.tasks.wait()).await.is_ok()
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The payment with this id.
    pub async fn payment(&self, id: &str) -> Result<Payment, CheckoutError> {
        self.storage
            .payments
            .get_payment(id)
            .await?
            .ok_or_else(|| CheckoutError::new(ErrorCode::PaymentNotFound))
    }

    /// The merchant of a payment.
    pub async fn merchant_of(&self, p: &Payment) -> Result<MerchantRecord, CheckoutError> {
        self.storage
            .merchants
            .get_merchant(p.merchant_id.as_str())
            .await?
            .ok_or_else(|| {
                CheckoutError::internal(anyhow::anyhow!("merchant of payment missing"))
                    .in_locale(p.locale)
            })
    }

    /// A payment as its shopper finds it: expired first when its deadline has passed, and its
    /// merchant.
    pub async fn open(
        &self,
        mut payment: Payment,
    ) -> Result<(Payment, MerchantRecord), CheckoutError> {
        if self.now_ms() >= payment.expires_at {
            // Past the deadline: expire it, or see how the sweeper (which may have won) left it.
            self.expire_now(&payment).await?;
            payment = self.payment(payment.id.as_str()).await?;
        }
        let merchant = self.merchant_of(&payment).await?;
        Ok((payment, merchant))
    }

    /// A move that is not final, written as a compare-and-set. `Lost` when someone else moved
    /// the payment first.
    pub(crate) async fn step(
        &self,
        payment: &Payment,
        t: Transition,
        effects: Effects<'_>,
    ) -> Result<(Cas, Payment), CheckoutError> {
        let after = payment
            .apply(t, self.now_ms())
            .map_err(|e| CheckoutError::internal(e).in_locale(payment.locale))?;
        let cas = self.storage.payments.save(payment, &after, effects).await?;
        Ok((cas, after))
    }

    /// The merchant calling the API with `key` from `client_ip`: the key valid, the address
    /// on its allow-list (when it has one), and its calls within the rate limit.
    pub async fn api_merchant(
        &self,
        key: &str,
        client_ip: &str,
    ) -> Result<MerchantRecord, CheckoutError> {
        let merchant = crate::merchants::by_api_key(&*self.storage.merchants, key, self.now_ms())
            .await?
            .ok_or_else(|| CheckoutError::new(ErrorCode::ApiKeyInvalid))?;
        let allowed = merchant.allowed_ips();
        if !allowed.is_empty() && !allowed.iter().any(|a| a == client_ip) {
            tracing::info!(merchant_id = %merchant.id, ip = %client_ip, "API call from an address not on the allow-list");
            return Err(
                CheckoutError::new(ErrorCode::IpNotAllowed).with_detail(format!(
                    "calls from {client_ip} are not allowed for this merchant"
                )),
            );
        }
        let limits = &self.settings.limits;
        let key = format!("api:{}", merchant.id);
        if let Err(wait) = self
            .limiter
            .hit(&key, limits.api_calls, limits.window_secs)
            .await
        {
            return Err(CheckoutError::too_many(ErrorCode::ApiRateLimited, wait));
        }
        Ok(merchant)
    }

    /// The link a checkout session's shopper follows: the payment id and a MAC of it, which
    /// binds the browser that opens it to the payment.
    pub fn shopper_link(&self, payment_id: &str) -> String {
        let token = crate::crypto::hmac_hex(
            secrecy::ExposeSecret::expose_secret(&self.keys.session_link),
            payment_id.as_bytes(),
        );
        self.public_url
            .join(&format!("/checkout/{payment_id}?token={token}"))
    }

    /// Whether `token` is the MAC of a shopper link for `payment_id` (constant time).
    pub fn shopper_link_valid(&self, payment_id: &str, token: &str) -> bool {
        crate::crypto::verify_hmac_hex(
            secrecy::ExposeSecret::expose_secret(&self.keys.session_link),
            payment_id.as_bytes(),
            token,
        )
    }
}

/// Whether this instance can serve payments: what `/readyz` reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Readiness {
    pub ready: bool,
    /// `ok`, or why the database is not usable.
    pub database: String,
    /// Migrations this build expects that the database lacks.
    pub pending_migrations: Vec<String>,
    /// The id of the master key that seals new data.
    pub current_key_id: u32,
}

/// The in-between payments and the outbox, as the metrics report them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Backlog {
    pub in_between: i64,
    /// In between for longer than the recovery should ever take.
    pub overdue: i64,
    pub pending_events: i64,
    pub oldest_due_event_ms: i64,
}

impl Checkout {
    /// The database answers and has every migration this build knows; the keys are loaded.
    pub async fn readiness(&self) -> Readiness {
        // The probe is public: it says what is wrong, the log says why (the driver's error may
        // name hosts and users).
        let (database, pending) = match self.storage.health.ping().await {
            Err(e) => {
                tracing::warn!(error = %e, "readiness: the database does not answer");
                ("unreachable".to_owned(), Vec::new())
            }
            Ok(()) => match self.storage.health.pending_migrations().await {
                Ok(p) => (
                    "ok".to_owned(),
                    p.into_iter()
                        .map(|(v, name)| format!("{v} {name}"))
                        .collect(),
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "readiness: the schema cannot be read");
                    ("unreadable".to_owned(), Vec::new())
                }
            },
        };
        Readiness {
            ready: database == "ok" && pending.is_empty(),
            database,
            pending_migrations: pending,
            current_key_id: self.vault.current_key_id(),
        }
    }

    /// What is waiting: payments in between and events not yet delivered.
    pub async fn backlog(&self) -> Result<Backlog, crate::storage::StoreError> {
        let now = self.now_ms();
        let overdue_after = self
            .settings
            .recovery_after_ms()
            .saturating_add(i64::try_from(self.settings.checkout.sweep_interval_ms).unwrap_or(0))
            .saturating_add(60_000);
        let in_between = self.storage.payments.count_in_between(now).await?;
        let overdue = self
            .storage
            .payments
            .count_in_between(now.saturating_sub(overdue_after))
            .await?;
        let (pending_events, oldest) = self.storage.outbox.backlog(now).await?;
        Ok(Backlog {
            in_between,
            overdue,
            pending_events,
            oldest_due_event_ms: oldest.map_or(0, |t| now.saturating_sub(t)),
        })
    }
}
