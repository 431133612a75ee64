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
    crypto::vault::{MasterKey, Vault},
    demo::{DEMO_MERCHANT_ID, DemoShop},
    merchants::{self, NewMerchant},
    state::{AppState, Keys, Urls},
    storage::{Store, sqlite::SqliteStore},
    threeds::{
        HttpDirectory,
        acs_sim::{AcsSim, SimOutbox},
    },
    web,
};

/// The data folder's master key and database, shared by `serve` and the CLI commands.
pub async fn open_data(settings: &Settings) -> anyhow::Result<(Vault, SqliteStore)> {
    let dir = &settings.server.data_dir;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create data folder {}", dir.display()))?;
    let key_b64 = match &settings.security.master_key {
        Some(k) => k.clone(),
        None => load_or_create_key_file(&dir.join("master.key"))?,
    };
    let master = MasterKey::from_base64(settings.security.master_key_id, &key_b64)
        .context("security.master_key is not valid")?;
    let vault = Vault::new(master);
    let store = SqliteStore::open(&dir.join("kapi.db"))
        .await
        .context("cannot open the database")?;
    merchants::backfill_key_lookups(&store, &vault)
        .await
        .context("cannot prepare merchant API keys")?;
    Ok((vault, store))
}

/// Without a configured key, one is kept next to the data (fine for the demo; production
/// passes `KAPI__SECURITY__MASTER_KEY`).
fn load_or_create_key_file(path: &Path) -> anyhow::Result<SecretString> {
    if path.exists() {
        let s = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        return Ok(SecretString::from(s.trim().to_owned()));
    }
    let key = MasterKey::generate_base64();
    write_private(path, key.expose_secret())?;
    tracing::warn!(path = %path.display(), "created a master key file; set KAPI__SECURITY__MASTER_KEY in production");
    Ok(key)
}

#[cfg(unix)]
fn write_private(path: &Path, content: &str) -> anyhow::Result<()> {
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
fn write_private(path: &Path, content: &str) -> anyhow::Result<()> {
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
        let (vault, store) = open_data(&settings).await?;
        let listener = TcpListener::bind(settings.listen_addr()?)
            .await
            .with_context(|| format!("cannot listen on {}", settings.server.listen))?;
        let local = loopback_if_unspecified(listener.local_addr()?);
        let public = settings
            .server
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{local}"))
            .trim_end_matches('/')
            .to_owned();
        let urls = Urls {
            public: public.clone(),
            internal: format!("http://{local}"),
        };
        let keys = Keys {
            threeds_session: vault.derive_key("threeds-session"),
            acs_channel: secret_bytes(&settings.threeds.acs_shared_key, &vault, "acs-channel"),
            session_link: vault.derive_key("checkout-session-link"),
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
            Duration::from_secs(settings.threeds.timeout_secs.unwrap_or(20)),
        )?;
        let acquirer = HttpAcquirer::new(
            settings
                .acquirer
                .base_url
                .as_deref()
                .unwrap_or(&format!("{}/sim/bank", urls.internal)),
            settings.acquirer.terminal_id.clone(),
            bank_key.clone(),
            Duration::from_secs(settings.acquirer.timeout_secs),
        )?;
        let mut settings = settings;
        if settings.server.demo {
            // The demo shop listens on this machine.
            settings.notifications.allow_private_targets = true;
        }
        let mut http = reqwest::Client::builder()
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

        let sims = if settings.simulators.enabled {
            let outbox = Arc::new(SimOutbox::default());
            let acs = AcsSim::new(
                settings.simulators.clone(),
                clock.clone(),
                secret_bytes(&settings.threeds.acs_shared_key, &vault, "acs-channel"),
                format!("{public}/sim/acs"),
                settings.server.demo,
                outbox.clone(),
                (settings.limits.otp_entry, settings.limits.window_secs),
            )?;
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
        let state = AppState {
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
            limiter: Arc::new(crate::web::abuse::Limiter::new(clock.clone())),
        };
        let router = web::router(state.clone(), sessions, sims);

        let mut demo_url = None;
        let demo = if settings.server.demo {
            let demo_addr: SocketAddr = match &settings.server.demo_listen {
                Some(a) => a.parse().context("server.demo_listen is not HOST:PORT")?,
                None => {
                    let port = if local.port() == 0 {
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
            );
            demo_url = Some(shop_url);
            Some((demo_listener, shop.router()))
        } else {
            None
        };

        Ok(Self {
            listener,
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

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (tx, _) = tokio::sync::broadcast::channel::<()>(1);
        let sweeper = tokio::spawn(expiry_sweeper(self.state.clone()));
        let worker = tokio::spawn(crate::notify::worker::run(
            self.state.clone(),
            self.state.events_wake.clone(),
        ));
        let mut rx_main = tx.subscribe();
        let main = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = rx_main.recv().await;
        });
        let demo = self.demo.map(|(listener, router)| {
            let mut rx = tx.subscribe();
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async move {
                let _ = rx.recv().await;
            })
        });
        let trigger = tokio::spawn(async move {
            shutdown.await;
            let _ = tx.send(());
        });
        let result = match demo {
            Some(demo) => tokio::try_join!(main, demo).map(|_| ()),
            None => main.await,
        };
        sweeper.abort();
        worker.abort();
        trigger.abort();
        result.context("server error")
    }
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
    Ok(secret)
}

/// Expires abandoned payments so that their merchants hear about them, settles refunds the
/// bank left unanswered, and forgets old nonces and idempotency keys.
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
