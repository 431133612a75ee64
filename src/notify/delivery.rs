//! The real `Notifier`: HTTP posts from this process, recorded, and the outbox worker's wake-up.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use crate::{
    clock::Clock,
    config::Settings,
    crypto::vault::Vault,
    storage::{CallbackAttempt, Storage},
};

/// Delivers results and events over HTTP.
#[derive(Clone)]
pub struct Delivery {
    pub(crate) storage: Storage,
    pub(crate) vault: Vault,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) settings: Arc<Settings>,
    /// No redirects, short timeouts, and (unless allowed) no internal addresses.
    pub(crate) http: reqwest::Client,
    pub(crate) wake: Arc<tokio::sync::Notify>,
    /// Deliveries under way: a graceful shutdown waits for them.
    pub(crate) tasks: tokio_util::task::TaskTracker,
}

impl Delivery {
    pub fn new(
        storage: Storage,
        vault: Vault,
        clock: Arc<dyn Clock>,
        settings: Arc<Settings>,
        http: reqwest::Client,
    ) -> Self {
        Self {
            storage,
            vault,
            clock,
            settings,
            http,
            wake: Arc::new(tokio::sync::Notify::new()),
            tasks: tokio_util::task::TaskTracker::new(),
        }
    }

    /// Waits up to `bound` for the deliveries and callbacks under way; `false` when some were
    /// still running.
    pub async fn drain(&self, bound: Duration) -> bool {
        self.tasks.close();
        tokio::time::timeout(bound, self.tasks.wait()).await.is_ok()
    }

    /// One prompt server-to-server delivery of the result, recorded in `callback_attempts`.
    pub async fn deliver_callback(
        self,
        payment_id: String,
        url: String,
        fields: Vec<(String, String)>,
    ) {
        let started = Instant::now();
        let timeout = Duration::from_secs(self.settings.checkout.callback_timeout_secs);
        let allow = self.settings.notifications.allow_private_targets;
        let (status_code, error) = match super::guard::check_url(&url, allow) {
            Err(refused) => {
                tracing::warn!(%payment_id, error = %refused, "callback target refused");
                (None, Some(refused))
            }
            Ok(()) => match self
                .http
                .post(&url)
                .form(&fields)
                .timeout(timeout)
                .send()
                .await
            {
                Ok(resp) => {
                    let code = resp.status().as_u16();
                    let err = (!resp.status().is_success()).then(|| format!("HTTP {code}"));
                    (Some(i64::from(code)), err)
                }
                Err(e) => (None, Some(crate::outbound::describe(e))),
            },
        };
        match &error {
            Some(err) => tracing::warn!(%payment_id, error = %err, "callback delivery failed"),
            None => tracing::info!(%payment_id, "callback delivered"),
        }
        let attempt = CallbackAttempt {
            payment_id,
            url,
            attempted_at: self.clock.now_ms(),
            status_code,
            error,
            latency_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
        };
        if let Err(e) = self
            .storage
            .payments
            .record_callback_attempt(&attempt)
            .await
        {
            tracing::error!(error = %e, "could not record callback attempt");
        }
    }
}

impl super::Notifier for Delivery {
    fn outbox_written(&self) {
        self.wake.notify_one();
    }

    fn send_callback(&self, payment_id: &str, url: &str, fields: Vec<(String, String)>) {
        self.tasks.spawn(self.clone().deliver_callback(
            payment_id.to_owned(),
            url.to_owned(),
            fields,
        ));
    }
}
