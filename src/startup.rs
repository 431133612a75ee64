//! Building and running the application: data folder, keys, storage, the external parts
//! (ACS, bank, SMS) and the routers.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use anyhow::Context;
use axum::Router;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use tokio::net::TcpListener;

use crate::{
    acquirer::{HttpAcquirer, bank_sim::BankSim},
    checkout::flow,
    clock::{Clock, SystemClock},
    config::Settings,
    crypto::vault::Vault,
    demo::{DEMO_MERCHANT_ID, DemoShop},
    merchants::{self, NewMerchant},
    state::{AppState, Keys, Urls},
    storage::{Store, sqlite::SqliteStore},
    threeds::{
        HttpDirectory,
        acs_sim::{AcsSim, AcsSimConfig, SimOutbox},
    },
    web,
};

/// The data folder's master key and database, shared by `serve` and the CLI commands.
pub async fn open_data(settings: &Settings) -> anyhow::Result<(Vault, SqliteStore)> {
    let (vault, store, _) = open_data_with_source(settings).await?;
    Ok((vault, store))
}

/// As `open_data`, also telling where the master keys came from.
pub async fn open_data_with_source(
    settings: &Settings,
) -> anyhow::Result<(Vault, SqliteStore, crate::crypto::keyring::Source)> {
    let dir = &settings.server.data_dir;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create data folder {}", dir.display()))?;
    let (current, older, source) = crate::crypto::keyring::initial_keys(settings)?;
    let vault = Vault::with_keys(current, older);
    let store = SqliteStore::open(&dir.join("kapi.db"))
        .await
        .context("cannot open the database")?;
    merchants::backfill_key_lookups(&store, &vault)
        .await
        .context("cannot prepare merchant API keys")?;
    Ok((vault, store, source))
}

#[cfg(unix)]
pub(crate) fn write_private(path: &Path, content: &str) -> anyhow::Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(content.as_bytes())?;
    Ok(())
}

#[cfg(not(unix))]
pub(crate) fn write_private(path: &Path, content: &str) -> anyhow::Result<()> {
    std::fs::write(path, content).with_context(|| format!("cannot create {}", path.display()))
}

fn loopback_if_unspecified(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
    } else {
        addr
    }
}

fn secret_bytes(
    configured: &Option<SecretString>,
    vault: &Vault,
    label: &str,
) -> SecretBox<Vec<u8>> {
    match configured {
        Some(s) => SecretBox::new(Box::new(s.expose_secret().as_bytes().to_vec())),
        None => vault.derive_key(label),
    }
}

pub struct Application {
    listener: TcpListener,
    /// The keyring file, when the master keys come from one (reloaded when it changes).
    keyring: Option<PathBuf>,
    /// The certificate in use and its files, when serving HTTPS.
    tls: Option<(axum_server::tls_rustls::RustlsConfig, PathBuf, PathBuf)>,
    /// The plain-HTTP port that redirects to HTTPS, and where it redirects.
    redirect: Option<(TcpListener, String)>,
    router: Router,
    demo: Option<(TcpListener, Router)>,
    state: AppState,
    pub public_url: String,
    pub demo_url: Option<String>,
    pub data_dir: PathBuf,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// Tests pass a clock they can move.
    pub async fn build_with_clock(
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let (vault, store, key_source) = open_data_with_source(&settings).await?;
        let keyring = match key_source {
            crate::crypto::keyring::Source::File(path) => Some(path),
            crate::crypto::keyring::Source::Config => None,
        };
        let listener = TcpListener::bind(settings.listen_addr()?)
            .await
            .with_context(|| format!("cannot listen on {}", settings.server.listen))?;
        let local = loopback_if_unspecified(listener.local_addr()?);
        let tls_mode = crate::tls::mode(&settings, listener.local_addr()?.ip().is_loopback())?;
        let scheme = match tls_mode {
            crate::tls::Mode::Tls { .. } => "https",
            crate::tls::Mode::PlainHttp => "http",
        };
        let public = settings
            .server
            .public_url
            .clone()
            .unwrap_or_else(|| format!("{scheme}://{local}"))
            .trim_end_matches('/')
            .to_owned();
        // Calls to the built-in simulators: straight to this listener, except behind an
        // operator's certificate, whose name only matches the public URL.
        let (internal, extra_root) = match &tls_mode {
            crate::tls::Mode::Tls {
                self_signed_pem: Some(pem),
                ..
            } => (format!("https://{local}"), Some(pem.clone())),
            crate::tls::Mode::Tls { .. } => (public.clone(), None),
            crate::tls::Mode::PlainHttp => (format!("http://{local}"), None),
        };
        let client = |timeout: Duration| {
            crate::tls::client_builder(extra_root.as_deref())
                .timeout(timeout)
                .build()
        };
        let urls = Urls {
            public: public.clone(),
            internal,
        };
        let keys = Keys {
            threeds_session: vault.derive_key("threeds-session"),
            acs_channel: secret_bytes(&settings.threeds.acs_shared_key, &vault, "acs-channel"),
            session_link: vault.derive_key("checkout-session-link"),
            csrf: vault.derive_key("csrf"),
        };
        let bank_key = match &settings.acquirer.api_key {
            Some(k) => k.clone(),
            None => SecretString::from(hex::encode(
                vault.derive_key("bank-terminal").expose_secret(),
            )),
        };
        let directory = HttpDirectory::new(
            settings
                .threeds
                .acs_base_url
                .as_deref()
                .unwrap_or(&format!("{}/sim/acs", urls.internal)),
            client(Duration::from_secs(
                settings
                    .threeds
                    .timeout_secs
                    .unwrap_or(crate::config::DEFAULT_ACS_TIMEOUT_SECS),
            ))?,
        );
        let acquirer = HttpAcquirer::new(
            settings
                .acquirer
                .base_url
                .as_deref()
                .unwrap_or(&format!("{}/sim/bank", urls.internal)),
            settings.acquirer.terminal_id.clone(),
            bank_key.clone(),
            client(Duration::from_secs(settings.acquirer.timeout_secs))?,
        );
        let mut settings = settings;
        if settings.server.demo {
            // The demo shop listens on this machine.
            settings.notifications.allow_private_targets = true;
        }
        // No proxy from the environment: the resolver's address check must see the target.
        let mut http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(settings.checkout.callback_timeout_secs));
        if !settings.notifications.allow_private_targets {
            http = http.dns_resolver(Arc::new(crate::notify::guard::GuardedResolver));
        }
        let http = http.build()?;

        let sessions = tower_sessions_sqlx_store::SqliteStore::new(store.pool().clone());
        sessions
            .migrate()
            .await
            .context("session table migration")?;
        tokio::spawn(
            tower_sessions::ExpiredDeletion::continuously_delete_expired(
                sessions.clone(),
                Duration::from_secs(600),
            ),
        );

        if settings.simulators.enabled && !settings.listen_addr()?.ip().is_loopback() {
            tracing::warn!(
                "the built-in ACS, bank and SMS simulators are enabled on a non-loopback address: anyone can read the OTPs at /sim/sms; set simulators.enabled = false in production"
            );
        }
        let sims = if settings.simulators.enabled {
            let outbox = Arc::new(SimOutbox::default());
            let acs = AcsSim::new(AcsSimConfig {
                settings: settings.simulators.clone(),
                clock: clock.clone(),
                channel_key: secret_bytes(&settings.threeds.acs_shared_key, &vault, "acs-channel"),
                public_base: format!("{public}/sim/acs"),
                show_outbox_link: settings.server.demo,
                sms: outbox.clone(),
                otp_limit: (settings.limits.otp_entry, settings.limits.window_secs),
                http: client(Duration::from_secs(10))?,
            });
            let bank = BankSim::new(settings.acquirer.terminal_id.clone(), bank_key);
            Some(
                Router::new()
                    .nest("/sim/acs", acs.router())
                    .nest("/sim/bank", bank.router())
                    .nest("/sim/sms", outbox.router()),
            )
        } else {
            None
        };

        let store: Arc<dyn Store> = Arc::new(store);
        let bins = crate::installments::BinTable::load(settings.installments.bin_table.as_deref())?;
        tracing::info!(ranges = bins.len(), "BIN table loaded");
        if settings.installments.bin_table.is_none() && !settings.simulators.enabled {
            tracing::warn!(
                "the built-in BIN table holds only the simulators' test ranges: set installments.bin_table to your acquirer's BIN list, or real cards get no installment table"
            );
        }
        let state = AppState {
            installments: Arc::new(crate::installments::Installments {
                bins,
                caps: settings.installments.caps(),
            }),
            settings: Arc::new(settings.clone()),
            store: store.clone(),
            vault: vault.clone(),
            clock: clock.clone(),
            directory: Arc::new(directory),
            acquirer: Arc::new(acquirer),
            http,
            urls: Arc::new(urls),
            keys: Arc::new(keys),
            events_wake: Arc::new(tokio::sync::Notify::new()),
            limiter: Arc::new(crate::limits::Limiter::in_memory(clock.clone())),
        };
        let router = web::router(state.clone(), sessions, sims);

        let mut demo_url = None;
        let demo = if settings.server.demo {
            let demo_addr: SocketAddr = match &settings.server.demo_listen {
                Some(a) => crate::config::listen_addr("server.demo_listen", a)?,
                None => {
                    // Next to the main port; any free port when the main one was "any" (0),
                    // since the one after it may well be taken.
                    let port = if settings.listen_addr()?.port() == 0 {
                        0
                    } else {
                        local.port().saturating_add(1)
                    };
                    SocketAddr::new(settings.listen_addr()?.ip(), port)
                }
            };
            let demo_listener = TcpListener::bind(demo_addr)
                .await
                .with_context(|| format!("cannot listen on {demo_addr} for the demo shop"))?;
            let shop_url = format!(
                "http://{}",
                loopback_if_unspecified(demo_listener.local_addr()?)
            );
            let secret = ensure_demo_merchant(&*store, &vault, &shop_url, clock.now_ms()).await?;
            let shop = DemoShop::new(
                public.clone(),
                shop_url.clone(),
                DEMO_MERCHANT_ID.to_owned(),
                secret,
                clock.clone(),
                client(Duration::from_secs(20))?,
            );
            demo_url = Some(shop_url);
            Some((demo_listener, shop.router()))
        } else {
            None
        };

        let tls = match tls_mode {
            crate::tls::Mode::Tls { cert, key, .. } => {
                let config = axum_server::tls_rustls::RustlsConfig::from_pem_file(&cert, &key)
                    .await
                    .with_context(|| {
                        format!("cannot load the TLS certificate {}", cert.display())
                    })?;
                Some((config, cert, key))
            }
            crate::tls::Mode::PlainHttp => None,
        };
        let redirect = match (&settings.server.http_listen, &tls) {
            (Some(addr), Some(_)) => {
                let listener = TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr} for HTTP redirects"))?;
                Some((listener, public.clone()))
            }
            (Some(_), None) => anyhow::bail!("server.http_listen needs TLS on the main port"),
            (None, _) => None,
        };
        Ok(Self {
            listener,
            keyring,
            tls,
            redirect,
            router,
            demo,
            state,
            public_url: public,
            demo_url,
            data_dir: settings.server.data_dir.clone(),
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// The port of the plain-HTTP redirect listener, when there is one.
    pub fn redirect_port(&self) -> Option<u16> {
        self.redirect
            .as_ref()
            .and_then(|(l, _)| l.local_addr().ok())
            .map(|a| a.port())
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (tx, _) = tokio::sync::broadcast::channel::<()>(1);
        let mut background = vec![
            tokio::spawn(expiry_sweeper(self.state.clone())),
            tokio::spawn(crate::notify::worker::run(
                self.state.clone(),
                self.state.events_wake.clone(),
            )),
        ];
        if let Some(path) = self.keyring.clone() {
            background.push(tokio::spawn(watch_keyring(self.state.clone(), path)));
        }
        let mut servers: Vec<tokio::task::JoinHandle<std::io::Result<()>>> = Vec::new();
        let stopped = |tx: &tokio::sync::broadcast::Sender<()>| {
            let mut rx = tx.subscribe();
            async move {
                let _ = rx.recv().await;
            }
        };
        let app = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        let header_timeout =
            Duration::from_millis(self.state.settings.server.header_read_timeout_ms.max(100));
        match self.tls {
            Some((config, cert, key)) => {
                let every = Duration::from_millis(self.state.settings.server.tls_reload_check_ms);
                background.push(tokio::spawn(crate::tls::watch(
                    config.clone(),
                    cert,
                    key,
                    every,
                )));
                let handle = axum_server::Handle::new();
                let stop = stopped(&tx);
                let h = handle.clone();
                background.push(tokio::spawn(async move {
                    stop.await;
                    h.graceful_shutdown(Some(Duration::from_secs(10)));
                }));
                let mut server =
                    axum_server::from_tcp_rustls(self.listener.into_std()?, config)?.handle(handle);
                harden(server.http_builder(), header_timeout);
                servers.push(tokio::spawn(async move { server.serve(app).await }));
            }
            None => {
                let handle = axum_server::Handle::new();
                let stop = stopped(&tx);
                let h = handle.clone();
                background.push(tokio::spawn(async move {
                    stop.await;
                    h.graceful_shutdown(Some(Duration::from_secs(10)));
                }));
                let mut server = axum_server::from_tcp(self.listener.into_std()?)?.handle(handle);
                harden(server.http_builder(), header_timeout);
                servers.push(tokio::spawn(async move { server.serve(app).await }));
            }
        }
        if let Some((listener, public)) = self.redirect {
            let router = Router::new().fallback(move |uri: axum::http::Uri| {
                let target = format!(
                    "{public}{}",
                    uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
                );
                async move { axum::response::Redirect::permanent(&target) }
            });
            let serve = axum::serve(listener, router).with_graceful_shutdown(stopped(&tx));
            servers.push(tokio::spawn(async move { serve.await }));
        }
        if let Some((listener, router)) = self.demo {
            let serve = axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(stopped(&tx));
            servers.push(tokio::spawn(async move { serve.await }));
        }
        let trigger = tokio::spawn(async move {
            shutdown.await;
            let _ = tx.send(());
        });
        let mut result = Ok(());
        for server in servers {
            match server.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => result = Err(anyhow::Error::from(e)),
                Err(e) => result = Err(anyhow::anyhow!("server task failed: {e}")),
            }
        }
        for task in background {
            task.abort();
        }
        trigger.abort();
        result.context("server error")
    }
}

/// Connection limits for the payment page: a client gets `header_timeout` (10 s by default)
/// to send its headers (slowloris),
/// at most 100 headers in 64 KiB. Bodies are bounded per route and by the request timeout.
fn harden(
    builder: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    header_timeout: Duration,
) {
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(64 * 1024)
        .max_headers(100);
    builder.http2().max_header_list_size(64 * 1024);
}

/// The demo merchant exists once; its return origin follows the demo shop's address.
async fn ensure_demo_merchant(
    store: &dyn Store,
    vault: &Vault,
    shop_url: &str,
    now_ms: i64,
) -> anyhow::Result<SecretString> {
    let origin = crate::domain::Origin::parse(shop_url).context("demo shop URL")?;
    if let Some(m) = store.get_merchant(DEMO_MERCHANT_ID).await? {
        store
            .set_merchant_origins(DEMO_MERCHANT_ID, &[origin.as_str().to_owned()])
            .await?;
        merchants::configure(
            store,
            DEMO_MERCHANT_ID,
            merchants::Settings {
                webhook_url: Some(Some(format!("{shop_url}/webhook"))),
                ..Default::default()
            },
        )
        .await?;
        return Ok(merchants::secret_key(vault, &m)?);
    }
    let (_, secret) = merchants::register(
        store,
        vault,
        NewMerchant {
            id: Some(DEMO_MERCHANT_ID.to_owned()),
            name: "Kapı Demo Mağaza".into(),
            legal_title: "Kapı Demo Ticaret A.Ş.".into(),
            address: "Örnek Mah. Deneme Cad. No: 1, 34000 Kadıköy / İstanbul".into(),
            phone: "+90 212 000 00 00".into(),
            email: "destek@demo.kapi.example".into(),
            mersis: "0000000000000001".into(),
            website: shop_url.to_owned(),
            return_origins: vec![origin.as_str().to_owned()],
            webhook_url: Some(format!("{shop_url}/webhook")),
            allowed_ips: Vec::new(),
        },
        now_ms,
    )
    .await?;
    // The plan of docs/examples, so the demo shows installment tables.
    let plan = crate::installments::InstallmentPlan::from_json(DEMO_INSTALLMENT_PLAN)?;
    merchants::configure(
        store,
        DEMO_MERCHANT_ID,
        merchants::Settings {
            installment_plan: Some(Some(plan)),
            ..Default::default()
        },
    )
    .await?;
    Ok(secret)
}

const DEMO_INSTALLMENT_PLAN: &str = include_str!("../docs/examples/installment-plan.json");

/// Reloads the master keys when `kapi keys rotate` or `retire` changed the keyring, then
/// re-encrypts what the new current key does not seal yet.
async fn watch_keyring(state: AppState, path: PathBuf) {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let mut seen = modified(&path);
    let every = Duration::from_millis(state.settings.checkout.sweep_interval_ms.min(2000));
    loop {
        tokio::time::sleep(every).await;
        let now = modified(&path);
        if now == seen {
            continue;
        }
        seen = now;
        let dir = path.parent().unwrap_or(Path::new("."));
        match crate::crypto::keyring::Keyring::load_or_create(dir).and_then(|ring| ring.keys()) {
            Ok((current, older)) => {
                let id = current.id;
                state.vault.replace_keys(current, older);
                tracing::info!(current_key_id = id, "master keys reloaded");
                reencrypt_all(&state).await;
            }
            Err(e) => {
                tracing::error!(error = %e, "could not reload the keyring; keeping the keys in use")
            }
        }
    }
}

/// Re-encrypts in batches until nothing is sealed with an older key.
async fn reencrypt_all(state: &AppState) {
    loop {
        match crate::crypto::rotation::reencrypt_batch(&*state.store, &state.vault, 100).await {
            Ok(0) => break,
            Ok(n) => tracing::info!(rows = n, "re-encrypted with the current master key"),
            Err(e) => {
                tracing::warn!(error = %e, "re-encryption failed; will retry");
                break;
            }
        }
    }
}

/// Expires abandoned payments so that their merchants hear about them, settles payments,
/// refunds and reversals the bank left unanswered, and forgets old nonces and idempotency
/// keys.
async fn expiry_sweeper(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_millis(
        state.settings.checkout.sweep_interval_ms,
    ));
    // A form may be stamped up to one window in the past or the future: keep nonces for more
    // than twice the window, after which their forms fail the timestamp check anyway.
    let keep_ms = i64::try_from(state.settings.checkout.signature_window_secs)
        .unwrap_or(i64::MAX / 4000)
        .saturating_mul(3000);
    loop {
        tick.tick().await;
        let now = state.clock.now_ms();
        if let Err(e) = state.store.forget_nonces(now.saturating_sub(keep_ms)).await {
            tracing::warn!(error = %e, "nonce cleanup failed");
        }
        // Anything still sealed with an older master key.
        reencrypt_all(&state).await;
        // Refunds and voids the bank did not answer: ask again with the same reference.
        let recheck_ms = i64::try_from(state.settings.api.refund_recheck_secs.saturating_mul(1000))
            .unwrap_or(i64::MAX);
        if let Err(e) = crate::checkout::after_sale::recover_pending(&state, recheck_ms).await {
            tracing::warn!(error = %e, "pending refund recovery failed");
        }
        // Idempotency keys are kept at least 24 hours (48 here).
        if let Err(e) = state
            .store
            .idempotency_forget(now.saturating_sub(48 * 3600 * 1000))
            .await
        {
            tracing::warn!(error = %e, "idempotency key cleanup failed");
        }
        // Payments a dropped request, a timeout or a crash left in between, and reversals of
        // authorisations whose outcome was lost (the first tick runs at start-up).
        if let Err(e) = crate::checkout::recovery::recover_interrupted(&state).await {
            tracing::warn!(code = e.code.code(), "recovery sweep failed");
        }
        crate::checkout::recovery::retry_reversals(state.clone()).await;
        let due = match state.store.due_for_expiry(state.clock.now_ms(), 100).await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(error = %e, "expiry sweep failed");
                continue;
            }
        };
        for id in due {
            if let Ok(Some(p)) = state.store.get_payment(&id).await
                && let Err(e) = flow::expire_if_due(&state, &p).await
            {
                tracing::warn!(payment_id = %id, code = e.code.code(), "could not expire payment");
            }
        }
    }
}
