//! Building and running the application: data folder, keys, storage, the external parts
//! (ACS, bank, SMS), the checkout service and the routers. `Application::builder` takes fakes
//! for the ACS, the bank, the storage and the clock; `build` uses the configured ones.

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
    acquirer::{Acquirer, HttpAcquirer},
    checkout::{
        Checkout,
        service::{Keys, Parts, PublicUrl},
    },
    clock::{Clock, SystemClock},
    config::Settings,
    crypto::vault::Vault,
    demo::{DEMO_MERCHANT_ID, DemoShop},
    merchants::{self, NewMerchant},
    notify::Delivery,
    state::AppState,
    storage::{MerchantStore, Storage},
    threeds::{DirectoryServer, HttpDirectory},
    web,
};

/// The data folder's master keys and storage, shared by `serve` and the CLI commands.
pub async fn open_data(settings: &Settings) -> anyhow::Result<(Vault, Storage)> {
    let (vault, storage, _) = open_data_with_source(settings).await?;
    Ok((vault, storage))
}

/// The data as the read-only commands see it: nothing is created or written (no database,
/// keyring or migration), and a folder that holds no Kapı data is refused, so that a mistyped
/// `--data-dir` is an error rather than a new, empty Kapı.
pub async fn open_data_read_only(settings: &Settings) -> anyhow::Result<(Vault, Storage)> {
    check_shared_key(settings)?;
    let dir = &settings.server.data_dir;
    let db = dir.join(crate::storage::SQLITE_FILE);
    if settings.database.url.is_none() {
        anyhow::ensure!(
            db.is_file(),
            "{} holds no Kapı data (no {}): check --data-dir, or give --database-url",
            dir.display(),
            crate::storage::SQLITE_FILE
        );
    }
    if settings.security.master_key.is_none() {
        anyhow::ensure!(
            crate::crypto::keyring::path(dir).is_file(),
            "{} has no keyring.json and no security.master_key is configured: check --data-dir \
             and KAPI__SECURITY__MASTER_KEY",
            dir.display()
        );
    }
    let (current, older, _) = crate::crypto::keyring::initial_keys(settings)?;
    let storage = Storage::open_with(settings, crate::storage::Access::ReadOnly)
        .await
        .context("cannot open the database")?;
    Ok((Vault::with_keys(current, older), storage))
}

/// As `open_data`, also telling where the master keys came from.
pub async fn open_data_with_source(
    settings: &Settings,
) -> anyhow::Result<(Vault, Storage, crate::crypto::keyring::Source)> {
    let dir = &settings.server.data_dir;
    check_shared_key(settings)?;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create data folder {}", dir.display()))?;
    let (current, older, source) = crate::crypto::keyring::initial_keys(settings)?;
    let vault = Vault::with_keys(current, older);
    let mut storage = Storage::open(settings)
        .await
        .context("cannot open the database")?;
    // A command's merchant changes signal the server on this data folder (`storage::cache`).
    cache_merchants(&mut storage, dir);
    merchants::backfill_key_lookups(&*storage.merchants, &vault)
        .await
        .context("cannot prepare merchant API keys")?;
    Ok((vault, storage, source))
}

/// Merchants read through a cache whose changes signal the server on the data folder `dir`
/// (`storage::cache`): the merchant and sealed-data views both go through it.
fn cache_merchants(storage: &mut Storage, dir: &std::path::Path) {
    let cached = Arc::new(crate::storage::cache::CachedMerchants::new(
        storage.merchants.clone(),
        storage.sealed.clone(),
        crate::storage::cache::MERCHANT_TTL,
        Some(dir.join(crate::storage::cache::SIGNAL_FILE)),
    ));
    storage.merchants = cached.clone();
    storage.sealed = cached;
}

/// A keyring file is one instance's: instances sharing a database would each make their own,
/// and could not read what the others sealed.
fn check_shared_key(settings: &Settings) -> anyhow::Result<()> {
    anyhow::ensure!(
        settings.database.url.is_none() || settings.security.master_key.is_some(),
        "with a shared database (database.url), every instance and command needs the same \
         master key: set security.master_key (KAPI__SECURITY__MASTER_KEY, base64 of 32 bytes); \
         see DEPLOYMENT.md"
    );
    Ok(())
}

/// Takes `DATA_DIR/kapi.lock` for as long as the returned file is open: one server per data
/// folder (two on one SQLite file, or one keyring, would step on each other). The lock is the
/// kernel's, so a killed server leaves none behind.
fn lock_data_dir(dir: &std::path::Path) -> anyhow::Result<std::fs::File> {
    let path = dir.join("kapi.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "another kapi server uses the data folder {}: give each instance its own --data-dir",
            dir.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
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

/// The external parts the application may be given instead of the configured ones (tests).
#[derive(Default)]
pub struct Builder {
    settings: Settings,
    clock: Option<Arc<dyn Clock>>,
    directory: Option<Arc<dyn DirectoryServer>>,
    acquirer: Option<Arc<dyn Acquirer>>,
    storage: Option<Storage>,
}

impl Builder {
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Where AReqs go, instead of `threeds.acs_base_url` or the ACS simulator.
    pub fn directory(mut self, directory: Arc<dyn DirectoryServer>) -> Self {
        self.directory = Some(directory);
        self
    }

    /// The bank, instead of `acquirer.base_url` or the bank simulator.
    pub fn acquirer(mut self, acquirer: Arc<dyn Acquirer>) -> Self {
        self.acquirer = Some(acquirer);
        self
    }

    /// The storage, instead of the data folder's.
    pub fn storage(mut self, storage: Storage) -> Self {
        self.storage = Some(storage);
        self
    }

    pub async fn build(self) -> anyhow::Result<Application> {
        Application::assemble(self).await
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
    delivery: Delivery,
    /// Background work of the simulators (their clean-up), when they are served.
    simulators: Option<tokio::task::JoinHandle<()>>,
    pub public_url: String,
    pub demo_url: Option<String>,
    /// The demo merchant's API key, with `--demo` only: shown at start-up, it is a demo.
    pub demo_api_key: Option<SecretString>,
    pub data_dir: PathBuf,
    /// `DATA_DIR/kapi.lock`, held while this server lives.
    _lock: std::fs::File,
    /// The metrics listener and its routes, when `server.metrics_listen` is set.
    metrics: Option<(TcpListener, Router)>,
}

/// The Prometheus recorder behind the `metrics` facade: installed once per process (the
/// facade has one global recorder), its handle shared by every server in it.
fn prometheus() -> metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
        std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            // Seconds: from a static file's microseconds to a slow bank's half minute.
            let buckets = [
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ];
            // Units per group commit: counts, not seconds.
            let units =
                metrics_exporter_prometheus::Matcher::Full(crate::observe::STORE_BATCH.to_owned());
            // Either fails only for an empty list of buckets.
            let builder = metrics_exporter_prometheus::PrometheusBuilder::new()
                .set_buckets(&buckets)
                .and_then(|b| {
                    b.set_buckets_for_metric(units, &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0])
                })
                .unwrap_or_else(|_| metrics_exporter_prometheus::PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was installed already");
            }
            crate::observe::describe();
            handle
        })
        .clone()
}

/// Where this process reaches itself (the built-in simulators), and the root certificate of a
/// self-signed TLS certificate it made.
struct Reach {
    internal: String,
    extra_root: Option<Vec<u8>>,
}

impl Reach {
    fn client(&self, timeout: Duration) -> reqwest::Result<reqwest::Client> {
        crate::tls::client_builder(self.extra_root.as_deref())
            .timeout(timeout)
            .build()
    }
}

/// Warns about every merchant the law's details of the seller are missing from: its legal
/// documents show "—" there.
async fn warn_missing_legal_details(storage: &Storage) {
    let Ok(list) = storage.merchants.list_merchants().await else {
        return;
    };
    for m in list {
        let missing = merchants::missing_legal_details(&m);
        if !missing.is_empty() {
            tracing::warn!(
                merchant_id = %m.id,
                missing = %missing.join(" "),
                "the seller's details the law requires in the legal documents are missing; they show \"—\": set them with `kapi merchant configure --merchant-id {} …`",
                m.id
            );
        }
    }
}

/// The simulators are served on a loopback address, or where the operator says so by name.
fn check_simulators(settings: &Settings) -> anyhow::Result<()> {
    let sims = &settings.simulators;
    let loopback = settings.listen_addr()?.ip().is_loopback();
    if sims.enabled && !loopback && !sims.serve_on_public_address {
        anyhow::bail!(
            "the built-in simulators would be reachable on {}: anyone could read the OTPs at /sim/sms. Serve them only on a loopback address, or set simulators.serve_on_public_address = true (KAPI__SIMULATORS__SERVE_ON_PUBLIC_ADDRESS) for a test system",
            settings.server.listen
        );
    }
    if !sims.enabled {
        let mut missing = Vec::new();
        if settings.threeds.acs_base_url.is_none() {
            missing.push("threeds.acs_base_url (the 3-D Secure directory or ACS)");
        }
        if settings.acquirer.base_url.is_none() {
            missing.push("acquirer.base_url (the bank)");
        }
        if !missing.is_empty() {
            anyhow::bail!(
                "no real ACS or bank is configured and the built-in simulators are off: set {}, or run with --demo or simulators.enabled = true (KAPI__SIMULATORS__ENABLED=true) to use the simulators",
                missing.join(" and ")
            );
        }
    }
    if sims.enabled && !loopback {
        tracing::warn!(
            "the built-in ACS, bank and SMS simulators are served on a public address: anyone can read the OTPs at /sim/sms"
        );
    }
    Ok(())
}

impl Application {
    pub fn builder(settings: Settings) -> Builder {
        Builder {
            settings,
            ..Builder::default()
        }
    }

    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::builder(settings).build().await
    }

    /// Tests pass a clock they can move.
    pub async fn build_with_clock(
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        Self::builder(settings).clock(clock).build().await
    }

    async fn assemble(b: Builder) -> anyhow::Result<Self> {
        let mut settings = b.settings;
        // The demo runs on the simulators.
        if settings.server.demo {
            settings.simulators.enabled = true;
            // Shoppers try the declined test cards on purpose: the guard is looser for the shop.
            settings.limits.relaxed_merchants.extend([
                crate::demo::DEMO_MERCHANT_ID.to_owned(),
                crate::demo::DEMO_BANK_ID.to_owned(),
            ]);
            // Single payments go to the default terminal, cheaper than the demo bank's.
            if settings.acquirer.commission.is_none() {
                settings.acquirer.commission = Some(DEMO_DEFAULT_COMMISSION.to_owned());
            }
        }
        check_simulators(&settings)?;
        check_shared_key(&settings)?;
        // What can fail without writing anything comes first: a port in use leaves no key
        // file or database behind.
        let listener = TcpListener::bind(settings.listen_addr()?)
            .await
            .with_context(|| format!("cannot listen on {}", settings.server.listen))?;
        let metrics_listener = match &settings.server.metrics_listen {
            Some(addr) => Some(
                TcpListener::bind(crate::config::listen_addr("server.metrics_listen", addr)?)
                    .await
                    .with_context(|| format!("cannot listen on {addr} (metrics)"))?,
            ),
            None => None,
        };
        let clock = b.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let dir = settings.server.data_dir.clone();
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create data folder {}", dir.display()))?;
        let lock = lock_data_dir(&dir)?;
        let (current, older, key_source) = crate::crypto::keyring::initial_keys(&settings)?;
        let vault = Vault::with_keys(current, older);
        let mut storage = match b.storage {
            Some(storage) => storage,
            None => Storage::open(&settings)
                .await
                .context("cannot open the database")?,
        };
        // Every step of a journey reads its merchant: the server reads them through a cache
        // (see `storage::cache` for when a change is seen).
        cache_merchants(&mut storage, &dir);
        merchants::backfill_key_lookups(&*storage.merchants, &vault)
            .await
            .context("cannot prepare merchant API keys")?;
        warn_missing_legal_details(&storage).await;
        let keyring = match key_source {
            crate::crypto::keyring::Source::File(path) => Some(path),
            crate::crypto::keyring::Source::Config => None,
        };
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
        let reach = match &tls_mode {
            crate::tls::Mode::Tls {
                self_signed_pem: Some(pem),
                ..
            } => Reach {
                internal: format!("https://{local}"),
                extra_root: Some(pem.clone()),
            },
            crate::tls::Mode::Tls { .. } => Reach {
                internal: public.clone(),
                extra_root: None,
            },
            crate::tls::Mode::PlainHttp => Reach {
                internal: format!("http://{local}"),
                extra_root: None,
            },
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
        let directory: Arc<dyn DirectoryServer> = match b.directory {
            Some(d) => d,
            None => Arc::new(HttpDirectory::new(
                settings
                    .threeds
                    .acs_base_url
                    .as_deref()
                    .unwrap_or(&format!("{}/sim/acs", reach.internal)),
                reach.client(Duration::from_secs(
                    settings
                        .threeds
                        .timeout_secs
                        .unwrap_or(crate::config::DEFAULT_ACS_TIMEOUT_SECS),
                ))?,
            )),
        };
        let acquirer: Arc<dyn Acquirer> = match b.acquirer {
            Some(a) => a,
            None => Arc::new(HttpAcquirer::new(
                settings
                    .acquirer
                    .base_url
                    .as_deref()
                    .unwrap_or(&format!("{}/sim/bank", reach.internal)),
                settings.acquirer.terminal_id.clone(),
                bank_key.clone(),
                reach.client(Duration::from_secs(settings.acquirer.timeout_secs))?,
            )),
        };
        if settings.server.demo {
            // The demo shop listens on this machine.
            settings.notifications.allow_private_targets = true;
        }
        let settings = Arc::new(settings);
        let delivery = Delivery::new(
            storage.clone(),
            vault.clone(),
            clock.clone(),
            settings.clone(),
            callback_client(&settings)?,
        );
        let bins = crate::installments::BinTable::load(settings.installments.bin_table.as_deref())?;
        tracing::info!(ranges = bins.len(), "BIN table loaded");
        if settings.installments.bin_table.is_none() && !settings.simulators.enabled {
            tracing::warn!(
                "the built-in BIN table holds only the simulators' test ranges: set installments.bin_table to your acquirer's BIN list, or real cards get no installment table"
            );
        }
        // Request limits count in this process on SQLite (one instance), in the shared database
        // on PostgreSQL, so that a balancer spreading requests over instances does not multiply
        // them.
        let counters: Arc<dyn crate::limits::Counters> = if storage.shared {
            Arc::new(crate::storage::guard::StoredCounters::new(
                storage.security.clone(),
                clock.clone(),
            ))
        } else {
            Arc::new(crate::limits::MemoryCounters::new(clock.clone()))
        };
        let limiter = Arc::new(crate::limits::Limiter::new(counters, clock.clone()));
        let checkout = Checkout::new(Parts {
            settings: settings.clone(),
            storage: storage.clone(),
            vault: vault.clone(),
            clock: clock.clone(),
            directory,
            acquirer,
            notifier: Arc::new(delivery.clone()),
            limiter: limiter.clone(),
            guard: Arc::new(crate::limits::Limiter::new(
                Arc::new(crate::storage::guard::StoredCounters::new(
                    storage.security.clone(),
                    clock.clone(),
                )),
                clock.clone(),
            )),
            installments: Arc::new(crate::installments::Installments {
                bins,
                caps: settings.installments.caps(),
                programs: crate::routing::ProgramTable::load(
                    settings.installments.program_table.as_deref(),
                )?,
            }),
            keys: Arc::new(keys),
            public_url: PublicUrl::new(&public),
            bank_http: {
                let extra_root = reach.extra_root.clone();
                let timeout = Duration::from_secs(settings.acquirer.timeout_secs);
                crate::outbound::BankClients::new(move || {
                    crate::tls::client_builder(extra_root.as_deref()).timeout(timeout)
                })?
            },
        });
        let state = AppState { checkout };
        let (sims, simulators) = if settings.simulators.enabled {
            let config = sim_config(&settings, &state, &reach, &vault, &public, bank_key)?;
            let (router, cleanup) = crate::sim::router(config);
            (Some(web::simulators(router, &public)), Some(cleanup))
        } else {
            (None, None)
        };
        let router = web::router(state.clone(), storage.sessions.clone(), sims);
        let (demo, demo_url, demo_api_key) =
            demo_shop(&settings, &state, &vault, local, &public, &reach).await?;
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
        let metrics = metrics_listener.map(|l| {
            (
                l,
                web::ops::metrics_router(state.checkout.clone(), prometheus()),
            )
        });
        Ok(Self {
            listener,
            metrics,
            keyring,
            tls,
            redirect,
            router,
            demo,
            state,
            delivery,
            simulators,
            public_url: public,
            demo_url,
            demo_api_key,
            data_dir: dir,
            _lock: lock,
        })
    }
}

/// For merchant callbacks and events: short timeouts, no redirects, no proxy from the
/// environment, and (unless allowed) no internal addresses, checked after name resolution.
fn callback_client(settings: &Settings) -> reqwest::Result<reqwest::Client> {
    let mut http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(settings.checkout.callback_timeout_secs));
    if !settings.notifications.allow_private_targets {
        http = http.dns_resolver(Arc::new(crate::notify::guard::GuardedResolver));
    }
    http.build()
}

fn sim_config(
    settings: &Settings,
    state: &AppState,
    reach: &Reach,
    vault: &Vault,
    public: &str,
    bank_key: SecretString,
) -> anyhow::Result<crate::sim::SimConfig> {
    let s = &settings.simulators;
    Ok(crate::sim::SimConfig {
        store: state.storage.sim.clone(),
        clock: state.clock.clone(),
        otp: crate::sim::OtpRules {
            otp_ttl_secs: s.otp_ttl_secs,
            resend_cooldown_secs: s.resend_cooldown_secs,
            max_resends: s.max_resends,
            challenge_timeout_secs: s.challenge_timeout_secs,
            entries_per_window: (settings.limits.otp_entry, settings.limits.window_secs),
        },
        acs_channel_key: secret_bytes(&settings.threeds.acs_shared_key, vault, "acs-channel"),
        acs_public_base: format!("{public}/sim/acs"),
        show_outbox_link: settings.server.demo,
        http: reach.client(Duration::from_secs(10))?,
        bank_terminal_id: settings.acquirer.terminal_id.clone(),
        bank_api_key: bank_key,
        limiter: state.limiter.clone(),
    })
}

async fn demo_shop(
    settings: &Settings,
    state: &AppState,
    vault: &Vault,
    local: SocketAddr,
    public: &str,
    reach: &Reach,
) -> anyhow::Result<(
    Option<(TcpListener, Router)>,
    Option<String>,
    Option<SecretString>,
)> {
    if !settings.server.demo {
        return Ok((None, None, None));
    }
    let demo_addr: SocketAddr = match &settings.server.demo_listen {
        Some(a) => crate::config::listen_addr("server.demo_listen", a)?,
        None => {
            // Next to the main port; any free port when the main one was "any" (0), since the
            // one after it may well be taken.
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
    let secret =
        ensure_demo_merchant(&*state.storage.merchants, vault, &shop_url, state.now_ms()).await?;
    let nestpay = ensure_demo_nestpay(&*state.storage.merchants, vault, state.now_ms()).await?;
    if let Err(e) = ensure_demo_bank_terminal(&state.storage, vault, public, state.now_ms()).await {
        tracing::warn!(error = %format!("{e:#}"), "the demo's NestPay bank terminal is not set up");
    }
    if let Err(e) = ensure_demo_sim_terminals(&state.storage, vault, public, state.now_ms()).await {
        tracing::warn!(error = %format!("{e:#}"), "the demo's Garanti and PayFor terminals are not set up");
    }
    let shop = DemoShop::new(
        public.to_owned(),
        shop_url.clone(),
        DEMO_MERCHANT_ID.to_owned(),
        secret.clone(),
        state.clock.clone(),
        reach.client(Duration::from_secs(20))?,
        nestpay,
    );
    Ok((
        Some((demo_listener, shop.router())),
        Some(shop_url),
        Some(secret),
    ))
}

impl Application {
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
            tokio::spawn(sweeper(self.state.checkout.clone())),
            tokio::spawn(crate::notify::worker::run(self.delivery.clone())),
            self.state
                .storage
                .sessions
                .spawn_cleanup(Duration::from_secs(600)),
        ];
        background.extend(self.simulators);
        if let Some(path) = self.keyring.clone() {
            background.push(tokio::spawn(watch_keyring(
                self.state.checkout.clone(),
                path,
            )));
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
        let handle = axum_server::Handle::new();
        let stop = stopped(&tx);
        let h = handle.clone();
        background.push(tokio::spawn(async move {
            stop.await;
            h.graceful_shutdown(Some(Duration::from_secs(10)));
        }));
        match self.tls {
            Some((config, cert, key)) => {
                let every = Duration::from_millis(self.state.settings.server.tls_reload_check_ms);
                background.push(tokio::spawn(crate::tls::watch(
                    config.clone(),
                    cert,
                    key,
                    every,
                )));
                let mut server =
                    axum_server::from_tcp_rustls(self.listener.into_std()?, config)?.handle(handle);
                harden(server.http_builder(), header_timeout);
                servers.push(tokio::spawn(async move { server.serve(app).await }));
            }
            None => {
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
        if let Some((listener, router)) = self.metrics {
            let serve = axum::serve(listener, router).with_graceful_shutdown(stopped(&tx));
            servers.push(tokio::spawn(async move { serve.await }));
        }
        let trigger = tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutting down: no new connections; requests in progress finish");
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
        // The servers are closed. Bank and ACS calls that no request waits for any more finish
        // (bounded by their own timeouts), so that no payment is left in between; whatever
        // the bound cuts, the next start's sweep (on any instance) settles.
        let checkout = self.state.checkout.clone();
        let settings = &checkout.settings;
        let bound = Duration::from_secs(
            settings
                .acquirer
                .timeout_secs
                .saturating_add(settings.threeds.timeout_secs.unwrap_or(30))
                .saturating_add(5)
                .min(120),
        );
        let in_flight = checkout.in_flight();
        if in_flight > 0 {
            tracing::info!(in_flight, "waiting for payments in progress");
        }
        if !checkout.drain(bound).await {
            tracing::warn!(
                still_running = checkout.in_flight(),
                "payments still in progress at shutdown: the sweep settles them"
            );
        }
        // Then the workers: no new claims; deliveries under way finish or their lease runs out.
        for task in background {
            task.abort();
        }
        trigger.abort();
        let delivery_bound = Duration::from_secs(settings.notifications.timeout_secs + 1);
        if !self.delivery.drain(delivery_bound).await {
            tracing::warn!("event deliveries still under way at shutdown: they are retried");
        }
        tracing::info!("Kapı stopped");
        result.context("server error")
    }
}

/// Connection limits for the payment page: a client gets `header_timeout` (10 s by default)
/// to send its headers (slowloris), at most 100 headers in 64 KiB. Bodies are bounded per
/// route and by the request timeout.
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
    store: &dyn MerchantStore,
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
            // The demo shows the second chance after a decline.
            card_attempts: crate::domain::CardAttempts::from_count(3).ok(),
            ..Default::default()
        },
    )
    .await?;
    Ok(secret)
}

/// The demo merchant's NestPay set-up (a store key of its own, made once), so that the demo
/// shop can buy through the NestPay gate: its client id and store key. `None` when another
/// merchant already uses the demo's client id.
async fn ensure_demo_nestpay(
    store: &dyn MerchantStore,
    vault: &Vault,
    now_ms: i64,
) -> anyhow::Result<Option<crate::demo::DemoNestpay>> {
    let record = match store.nestpay_of(DEMO_MERCHANT_ID).await? {
        Some(record) => record,
        None => {
            if store
                .nestpay_by_client_id(crate::demo::DEMO_NESTPAY_CLIENT_ID)
                .await?
                .is_some()
            {
                return Ok(None);
            }
            let credentials = merchants::NestpayCredentials {
                client_id: crate::demo::DEMO_NESTPAY_CLIENT_ID.to_owned(),
                store_key: SecretString::from(crate::domain::ids::random_token(16)),
                api_user: "demoapi".to_owned(),
                api_password: SecretString::from(crate::domain::ids::random_token(16)),
            };
            let change = merchants::NestpayChange::Set(credentials);
            merchants::configure_nestpay(store, vault, DEMO_MERCHANT_ID, change, now_ms).await?;
            match store.nestpay_of(DEMO_MERCHANT_ID).await? {
                Some(record) => record,
                None => return Ok(None),
            }
        }
    };
    let store_key = merchants::nestpay_store_key(vault, &record)?;
    let api_password = merchants::nestpay_api_password(vault, &record)?;
    Ok(Some(crate::demo::DemoNestpay {
        client_id: record.client_id,
        store_key,
        api_user: record.api_user,
        api_password,
    }))
}

/// The demo's NestPay bank terminal (docs/BANKS.md, "The demo's terminals"): a second demo
/// merchant, "the bank", answers on Kapı's own NestPay gate and XML API, and the demo shop
/// holds a terminal there — Akbank's, a member of the Axess program, dearer than the default
/// terminal — so an installment payment on an Axess card goes to the bank's gate and a single
/// payment to the cheaper default terminal. Made once; its addresses follow the public URL.
async fn ensure_demo_bank_terminal(
    storage: &Storage,
    vault: &Vault,
    public: &str,
    now_ms: i64,
) -> anyhow::Result<()> {
    use crate::{demo::DEMO_BANK_ID, terminals};
    let store = &*storage.merchants;
    let origin = crate::domain::Origin::parse(public).context("public URL")?;
    if store.get_merchant(DEMO_BANK_ID).await?.is_none() {
        merchants::register(
            store,
            vault,
            NewMerchant {
                id: Some(DEMO_BANK_ID.to_owned()),
                name: "Demo Akbank (NestPay simülatörü)".into(),
                legal_title: "Kapı Demo Banka A.Ş.".into(),
                address: "Örnek Mah. Banka Cad. No: 2, 34000 Kadıköy / İstanbul".into(),
                phone: "+90 212 000 00 01".into(),
                email: "pos@demo-bank.kapi.example".into(),
                mersis: "0000000000000002".into(),
                website: public.to_owned(),
                return_origins: vec![origin.as_str().to_owned()],
                webhook_url: None,
                allowed_ips: Vec::new(),
            },
            now_ms,
        )
        .await?;
        let plan = crate::installments::InstallmentPlan::from_json(DEMO_INSTALLMENT_PLAN)?;
        let settings = merchants::Settings {
            installment_plan: Some(Some(plan)),
            ..Default::default()
        };
        merchants::configure(store, DEMO_BANK_ID, settings).await?;
    }
    store
        .set_merchant_origins(DEMO_BANK_ID, &[origin.as_str().to_owned()])
        .await?;
    let record = match store.nestpay_of(DEMO_BANK_ID).await? {
        Some(record) => record,
        None => {
            let credentials = merchants::NestpayCredentials {
                client_id: crate::demo::DEMO_BANK_CLIENT_ID.to_owned(),
                store_key: SecretString::from(crate::domain::ids::random_token(16)),
                api_user: "demopos".to_owned(),
                api_password: SecretString::from(crate::domain::ids::random_token(16)),
            };
            for change in [
                merchants::NestpayChange::Set(credentials),
                // The shop (Kapı's card page) showed the consents: the bank's gate goes
                // straight to 3-D Secure.
                merchants::NestpayChange::ShowsConsents(true),
            ] {
                merchants::configure_nestpay(store, vault, DEMO_BANK_ID, change, now_ms).await?;
            }
            store
                .nestpay_of(DEMO_BANK_ID)
                .await?
                .context("the demo bank's NestPay set-up")?
        }
    };
    let store_key = merchants::nestpay_store_key(vault, &record)?;
    let password = merchants::nestpay_api_password(vault, &record)?;
    let gate_url = format!("{}/fim/est3Dgate", public.trim_end_matches('/'));
    let api_url = format!("{}/fim/api", public.trim_end_matches('/'));
    let new = terminals::NewTerminal {
        merchant_id: DEMO_MERCHANT_ID.to_owned(),
        bank: "Akbank".into(),
        platform: terminals::Platform::Nestpay,
        client_id: record.client_id.clone(),
        user: record.api_user.clone(),
        password,
        terminal_no: None,
        store_key,
        gate_url,
        api_url,
        static_ip: None,
        commission: Some(DEMO_BANK_COMMISSION.into()),
        installment_commissions: Vec::new(),
        accept_half_3d: false,
        refund_user: None,
        refund_password: None,
        mbr_id: None,
    };
    upsert_demo_terminal(storage, vault, new, now_ms).await
}

/// Adds a demo shop terminal, or, when it has one of that platform and client id, brings its
/// addresses (they follow the public URL) and secrets up to date.
async fn upsert_demo_terminal(
    storage: &Storage,
    vault: &Vault,
    new: crate::terminals::NewTerminal,
    now_ms: i64,
) -> anyhow::Result<()> {
    use crate::terminals;
    let found = terminals::of_merchant(&*storage.terminals, DEMO_MERCHANT_ID)
        .await?
        .into_iter()
        .find(|t| t.platform == new.platform && t.client_id == new.client_id);
    match found {
        Some(t) => {
            let change = terminals::TerminalChange {
                password: Some(new.password),
                store_key: Some(new.store_key),
                gate_url: Some(new.gate_url),
                api_url: Some(new.api_url),
                ..Default::default()
            };
            terminals::configure(&*storage.terminals, vault, &t.id, change, None, now_ms).await?;
        }
        None => {
            terminals::add(&*storage.terminals, &*storage.merchants, vault, new, now_ms).await?;
        }
    }
    Ok(())
}

/// The demo's Garanti BBVA and QNB PayFor terminals, at those platforms' bank simulators
/// (`/sim/garanti`, `/sim/payfor`, with their published test credentials): Garanti is a
/// member of the Bonus program, so a Bonus card's installments go through Garanti's gate;
/// both are dearer than the default terminal. Made once; their addresses follow the public URL.
async fn ensure_demo_sim_terminals(
    storage: &Storage,
    vault: &Vault,
    public: &str,
    now_ms: i64,
) -> anyhow::Result<()> {
    use crate::{
        sim::{garanti, payfor},
        terminals::{NewTerminal, Platform},
    };
    let base = public.trim_end_matches('/');
    let secret = |s: &str| SecretString::from(s.to_owned());
    let wanted = [
        NewTerminal {
            merchant_id: DEMO_MERCHANT_ID.to_owned(),
            bank: "Garanti BBVA".into(),
            platform: Platform::Garanti,
            client_id: garanti::MERCHANT_ID.into(),
            user: garanti::PROV_USER.into(),
            password: secret(garanti::PASSWORD),
            terminal_no: Some(garanti::TERMINAL_ID.into()),
            store_key: secret(garanti::STORE_KEY),
            gate_url: format!("{base}/sim/garanti/servlet/gt3dengine"),
            api_url: format!("{base}/sim/garanti/VPServlet"),
            static_ip: None,
            commission: Some(DEMO_GARANTI_COMMISSION.into()),
            installment_commissions: Vec::new(),
            accept_half_3d: false,
            refund_user: Some(garanti::REFUND_USER.into()),
            refund_password: Some(secret(garanti::PASSWORD)),
            mbr_id: None,
        },
        NewTerminal {
            merchant_id: DEMO_MERCHANT_ID.to_owned(),
            bank: "QNB".into(),
            platform: Platform::Payfor,
            client_id: payfor::MERCHANT_ID.into(),
            user: payfor::USER_CODE.into(),
            password: secret(payfor::USER_PASS),
            terminal_no: None,
            store_key: secret(payfor::STORE_KEY),
            gate_url: format!("{base}/sim/payfor/Gateway/Default.aspx"),
            api_url: format!("{base}/sim/payfor/Gateway/XMLGate.aspx"),
            static_ip: None,
            commission: Some(DEMO_PAYFOR_COMMISSION.into()),
            installment_commissions: Vec::new(),
            accept_half_3d: false,
            refund_user: None,
            refund_password: None,
            mbr_id: Some(payfor::MBR_ID.into()),
        },
    ];
    for new in wanted {
        upsert_demo_terminal(storage, vault, new, now_ms).await?;
    }
    Ok(())
}

const DEMO_GARANTI_COMMISSION: &str = "2.29";
const DEMO_PAYFOR_COMMISSION: &str = "2.19";

/// The demo bank terminal's commission, and the default terminal's in the demo (when the
/// configuration gives none): the default is the cheaper one for single payments.
const DEMO_BANK_COMMISSION: &str = "2.49";
const DEMO_DEFAULT_COMMISSION: &str = "1.79";

const DEMO_INSTALLMENT_PLAN: &str = include_str!("../docs/examples/installment-plan.json");

/// Reloads the master keys when `kapi keys rotate` or `retire` changed the keyring, then
/// re-encrypts what the new current key does not seal yet.
async fn watch_keyring(cx: Checkout, path: PathBuf) {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let mut seen = modified(&path);
    let every = Duration::from_millis(cx.settings.checkout.sweep_interval_ms.min(2000));
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
                cx.vault.replace_keys(current, older);
                tracing::info!(current_key_id = id, "master keys reloaded");
                reencrypt_all(&cx).await;
            }
            Err(e) => {
                tracing::error!(error = %e, "could not reload the keyring; keeping the keys in use")
            }
        }
    }
}

/// Re-encrypts in batches until nothing is sealed with an older key.
async fn reencrypt_all(cx: &Checkout) {
    loop {
        match crate::crypto::rotation::reencrypt_batch(&*cx.storage.sealed, &cx.vault, 100).await {
            Ok(0) => break,
            Ok(n) => tracing::info!(rows = n, "re-encrypted with the current master key"),
            Err(e) => {
                tracing::warn!(error = %e, "re-encryption failed; will retry");
                break;
            }
        }
    }
}

/// Settles payments, reversals and refunds the bank left unanswered, expires abandoned
/// payments so that their merchants hear about them, re-encrypts what older keys seal, and
/// forgets old nonces and idempotency keys. The first round runs at start-up.
async fn sweeper(cx: Checkout) {
    let mut tick = tokio::time::interval(Duration::from_millis(
        cx.settings.checkout.sweep_interval_ms,
    ));
    // A form may be stamped up to one window in the past or the future: keep nonces for more
    // than twice the window, after which their forms fail the timestamp check anyway.
    let keep_ms = i64::try_from(cx.settings.checkout.signature_window_secs)
        .unwrap_or(i64::MAX / 4000)
        .saturating_mul(3000);
    loop {
        tick.tick().await;
        crate::observe::sweep_run();
        // First what may hold a shopper's money: payments in between, then reversals.
        match crate::checkout::recovery::recover_interrupted(&cx).await {
            Ok(n) => crate::observe::recovered("interrupted", n),
            Err(e) => tracing::warn!(code = e.code.code(), "recovery sweep failed"),
        }
        crate::checkout::recovery::retry_reversals(cx.clone()).await;
        // Refunds and voids the bank did not answer: ask again with the same reference.
        let recheck_ms = i64::try_from(cx.settings.api.refund_recheck_secs.saturating_mul(1000))
            .unwrap_or(i64::MAX);
        match cx.recover_pending_refunds(recheck_ms).await {
            Ok(n) => crate::observe::recovered("refund", n),
            Err(e) => tracing::warn!(error = %e, "pending refund recovery failed"),
        }
        expire_due(&cx).await;
        let now = cx.now_ms();
        let requests = &cx.storage.requests;
        if let Err(e) = requests.forget_nonces(now.saturating_sub(keep_ms)).await {
            tracing::warn!(error = %e, "nonce cleanup failed");
        }
        // Idempotency keys are kept at least 24 hours (48 here).
        let before = now.saturating_sub(48 * 3600 * 1000);
        if let Err(e) = requests.idempotency_forget(before).await {
            tracing::warn!(error = %e, "idempotency key cleanup failed");
        }
        // The guard's counts outlive their window by a day; ended blocks go with them.
        let guard_window = i64::try_from(cx.settings.limits.decline_window_secs).unwrap_or(0);
        let before = (now / 1000).saturating_sub(guard_window.saturating_add(24 * 3600));
        if let Err(e) = cx.storage.security.guard_forget(before).await {
            tracing::warn!(error = %e, "card-testing guard cleanup failed");
        }
        // Anything still sealed with an older master key.
        reencrypt_all(&cx).await;
    }
}

/// Expires the open payments whose deadline has passed.
async fn expire_due(cx: &Checkout) {
    let due = match cx.storage.payments.due_for_expiry(cx.now_ms(), 100).await {
        Ok(ids) => ids,
        Err(e) => {
            tracing::warn!(error = %e, "expiry sweep failed");
            return;
        }
    };
    let mut expired = 0;
    for id in due {
        if let Ok(Some(p)) = cx.storage.payments.get_payment(&id).await {
            match cx.expire_if_due(&p).await {
                Ok(true) => expired += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(payment_id = %id, code = e.code.code(), "could not expire payment")
                }
            }
        }
    }
    crate::observe::recovered("expired", expired);
}
