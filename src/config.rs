//! Typed configuration: defaults, then a TOML file, then `KAPI__SECTION__KEY` environment
//! variables, then command-line flags. Validated once at start-up.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub security: SecuritySettings,
    pub checkout: CheckoutSettings,
    pub threeds: ThreeDsSettings,
    pub acquirer: AcquirerSettings,
    pub simulators: SimulatorSettings,
    pub notifications: NotificationSettings,
    pub api: ApiSettings,
    pub limits: LimitSettings,
    pub installments: InstallmentSettings,
}

/// Installments (taksit): the BIN table and the regulator's caps. Merchants' own plans are
/// stored with the merchant (`kapi merchant configure --installment-plan`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct InstallmentSettings {
    /// The BIN table (CSV, as `src/installments/bins.csv`); the copy built into Kapı when unset.
    pub bin_table: Option<PathBuf>,
    /// The card program table (CSV, as `src/routing/programs.csv`: each program's member
    /// banks, for routing installments); the copy built into Kapı when unset.
    pub program_table: Option<PathBuf>,
    /// The longest term of any card purchase, and of categories not listed (BDDK: 12).
    pub general_limit: u8,
    /// The longest term for commercial (company) cards, to which the category limits do not
    /// apply.
    pub commercial_limit: u8,
    /// Product category → the longest term; 1 means single payment only. BDDK changes these
    /// often: see docs/PROTOCOL.md for the defaults and where they come from.
    pub category_limits: std::collections::BTreeMap<String, u8>,
    /// Installment-table lookups (`POST /checkout/{id}/installments`) per address and window.
    pub lookups_per_window: u32,
}

impl Default for InstallmentSettings {
    fn default() -> Self {
        // Our reading of the Regulation on Bank Cards and Credit Cards (art. 26) and BDDK's
        // decisions as of late 2026; the operator must keep them current.
        let categories = [
            ("electronics", 4),
            ("computers", 6),
            ("appliances", 9),
            ("furniture", 12),
            ("education", 12),
            ("health", 9),
            ("travel_domestic", 9),
            ("travel_abroad", 6),
            ("transport", 6),
            ("clubs", 6),
            ("taxes", 9),
            ("jewellery", 1),
            ("telecom", 1),
            ("food", 1),
            ("restaurants", 1),
            ("fuel", 1),
            ("alcohol", 1),
            ("cosmetics", 1),
            ("office_supplies", 1),
            ("gift_cards", 1),
            ("direct_marketing", 1),
        ];
        Self {
            bin_table: None,
            program_table: None,
            general_limit: 12,
            commercial_limit: 12,
            category_limits: categories
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
            lookups_per_window: 60,
        }
    }
}

impl InstallmentSettings {
    pub fn caps(&self) -> crate::installments::plan::Caps {
        crate::installments::plan::Caps {
            general: self.general_limit,
            commercial: self.commercial_limit,
            categories: self.category_limits.clone(),
        }
    }
}

/// How log lines look.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Readable lines, coloured on a terminal.
    #[default]
    Text,
    /// One JSON object per line, with the request's fields.
    Json,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    pub listen: String,
    /// Base URL browsers and the ACS use to reach Kapı; defaults to `http://LISTEN`.
    pub public_url: Option<String>,
    pub data_dir: PathBuf,
    /// Create the demo merchant and serve the demo shop.
    pub demo: bool,
    /// Where the demo shop listens; defaults to the next port after `listen`.
    pub demo_listen: Option<String>,
    /// Proxies whose `X-Forwarded-For` is believed (addresses or CIDR networks); from anyone
    /// else it is ignored.
    pub trusted_proxies: Vec<String>,
    /// PEM certificate chain and private key: Kapı serves HTTPS with them.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// A plain-HTTP port that only redirects to HTTPS.
    pub http_listen: Option<String>,
    /// Where Prometheus scrapes `/metrics` (`--metrics-listen`): a listener of its own, off
    /// unless set. Keep it on an address only the monitoring system reaches.
    pub metrics_listen: Option<String>,
    /// `text` (readable, the default) or `json` (one object per line), `--log-format`.
    pub log_format: LogFormat,
    /// Requests served at once; one more is answered at once with 503 and `Retry-After`
    /// instead of waiting in a queue without bound (`/healthz` is never refused).
    pub max_in_flight: usize,
    /// Serve plain HTTP without TLS: only on a loopback address (local testing).
    pub allow_plain_http: bool,
    /// Serve plain HTTP on any address, because a reverse proxy in front terminates TLS
    /// (`--plain-http-behind-proxy`): allowed only with `trusted_proxies`, and only where the
    /// network between the proxy and Kapı is private.
    pub plain_http_behind_proxy: bool,
    /// How often the certificate files are checked for changes (they reload on SIGHUP too).
    pub tls_reload_check_ms: u64,
    /// A client must send its request headers within this time (slow-client defence).
    pub header_read_timeout_ms: u64,
}

/// Where the data lives: SQLite under `server.data_dir` by default, or a PostgreSQL database
/// that several instances share.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// `postgres://USER[:PASSWORD]@HOST:PORT/DB` (`KAPI__DATABASE__URL`, `--database-url`).
    /// Unset: SQLite in `DATA_DIR/kapi.db`.
    #[serde(skip_serializing)]
    pub url: Option<SecretString>,
    /// Connections each instance keeps to PostgreSQL at most.
    pub max_connections: u32,
    /// SQLite's `synchronous` in WAL mode: `full` (the default: every commit is on disk before
    /// Kapı answers, and survives a power cut) or `normal` (faster; a power cut may lose the
    /// last commits). PostgreSQL keeps its own `synchronous_commit` (leave it on).
    pub sqlite_synchronous: SqliteSync,
    /// Connections to the SQLite file (one writer at a time in any case; more connections let
    /// reads run beside it, at the price of writers waiting for the lock).
    pub sqlite_connections: u32,
}

/// SQLite's `synchronous` setting in WAL mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSync {
    #[default]
    Full,
    Normal,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: None,
            max_connections: 16,
            sqlite_synchronous: SqliteSync::Full,
            sqlite_connections: 8,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SecuritySettings {
    /// Base64 of 32 random bytes. Without it, a key is created in `DATA_DIR/master.key`.
    #[serde(skip_serializing)]
    pub master_key: Option<SecretString>,
    pub master_key_id: u32,
    /// During a rotation by configuration: the older keys as `ID:BASE64`; they decrypt until
    /// everything is re-encrypted, then can be removed.
    #[serde(skip_serializing)]
    pub previous_master_keys: Vec<SecretString>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckoutSettings {
    /// How long a started payment waits for the shopper.
    pub payment_ttl_secs: u64,
    /// Allowed clock difference for signed forms.
    pub signature_window_secs: u64,
    pub callback_timeout_secs: u64,
    /// How often expired payments, interrupted payments, pending refunds and reversals, and
    /// old nonces/keys are looked after.
    pub sweep_interval_ms: u64,
    /// How long a card submit or a 3-D Secure return waits for the authorisation before it
    /// shows the processing page (which keeps waiting); the authorisation itself carries on.
    /// Under the 30 s request limit.
    pub outcome_wait_ms: u64,
    /// A payment that made no move for this long past the ACS or bank timeout is recovered
    /// (docs/PROTOCOL.md §5.4); also how long a lost authorisation may still reach the bank.
    pub recovery_margin_secs: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ThreeDsSettings {
    /// Where AReq messages go; required unless the simulators are on (then `/sim/acs`).
    pub acs_base_url: Option<String>,
    /// Key of the RReq channel (stands in for the Directory Server's mutual TLS).
    #[serde(skip_serializing)]
    pub acs_shared_key: Option<SecretString>,
    /// URL the ACS sends RReq to; defaults to `PUBLIC_URL/3ds/rreq`.
    pub rreq_url: Option<String>,
    pub timeout_secs: Option<u64>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AcquirerSettings {
    /// Bank API base; required unless the simulators are on (then `/sim/bank`).
    pub base_url: Option<String>,
    pub terminal_id: String,
    #[serde(skip_serializing)]
    pub api_key: Option<SecretString>,
    pub timeout_secs: u64,
    /// The default terminal's bank, as the BIN table names banks (on-us routing); empty: none.
    pub bank: String,
    /// The default terminal's commission, percent (`"2.50"`), compared by routing with the
    /// merchant's terminals; unset: it is chosen only when no terminal of the merchant can be.
    pub commission: Option<String>,
}

/// Rate limits and the card-testing guard. Windows are fixed, per client address (or per
/// merchant for the API).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitSettings {
    pub window_secs: u64,
    /// `POST /pay` per address and window.
    pub pay_start: u32,
    /// Card form submits per address and window.
    pub card_submit: u32,
    /// OTP entries (at the ACS simulator) per address and window.
    pub otp_entry: u32,
    /// API calls per merchant and window.
    pub api_calls: u32,
    /// Declined cards within `decline_window_secs` that block an address (an IPv6 /64).
    pub declines_per_ip: u32,
    /// The most declines a merchant may have in the window, whatever its traffic (a ceiling;
    /// the relative rule below normally acts long before).
    pub declines_per_merchant: u32,
    /// A merchant is blocked once it has at least this many declines in the window…
    pub merchant_decline_min: u32,
    /// …making up at least this share (percent) of its card payments in the window. The same
    /// share applies to one BIN range at one merchant.
    pub decline_percent: u32,
    /// Declines of one BIN range (first six digits) at one merchant that block that range
    /// there (card testing through many addresses with generated numbers).
    pub declines_per_bin: u32,
    pub decline_window_secs: u64,
    /// How long such a block lasts.
    pub block_secs: u64,
    /// Merchants whose shoppers try declined cards on purpose (a test shop): the card-testing
    /// guard takes ten times as many declines before it blocks them. `--demo` adds the demo shop.
    pub relaxed_merchants: Vec<String>,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            window_secs: 60,
            pay_start: 30,
            card_submit: 20,
            otp_entry: 20,
            api_calls: 600,
            declines_per_ip: 5,
            declines_per_merchant: 5000,
            merchant_decline_min: 25,
            decline_percent: 50,
            declines_per_bin: 10,
            decline_window_secs: 600,
            block_secs: 1800,
            relaxed_merchants: Vec::new(),
        }
    }
}

/// Delivery of events to merchants (see the retry schedule in docs/PROTOCOL.md).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotificationSettings {
    /// Delay before the first retry; each next retry waits twice as long.
    pub first_retry_ms: u64,
    /// Longest wait between two attempts.
    pub max_retry_interval_secs: u64,
    /// After this long since the event, a failing delivery is given up (`dead`).
    pub max_age_secs: u64,
    /// A delivery must answer 2xx within this time.
    pub timeout_secs: u64,
    /// How long a worker holds an event it took; after a crash the event is taken again.
    pub lease_secs: u64,
    /// How often the worker looks for due events when nothing woke it.
    pub poll_interval_ms: u64,
    /// Allow callbacks and events to loopback, private and link-local addresses. Off in
    /// production; `--demo` turns it on (the demo shop runs on this machine).
    pub allow_private_targets: bool,
}

impl Default for NotificationSettings {
    fn default() -> Self {
        Self {
            first_retry_ms: 10_000,
            max_retry_interval_secs: 6 * 3600,
            max_age_secs: 3 * 24 * 3600,
            timeout_secs: 10,
            lease_secs: 60,
            poll_interval_ms: 1000,
            allow_private_targets: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiSettings {
    /// Voids (iptal) are accepted until this time of day, Europe/Istanbul, on the day of the
    /// authorisation (the bank's end-of-day batch); after it only refunds (iade).
    pub void_cutoff: String,
    /// Default lifetime of a checkout session created by the API.
    pub session_ttl_secs: u64,
    /// A refund or void the bank did not answer is asked about again after this long.
    pub refund_recheck_secs: u64,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            void_cutoff: "23:00".into(),
            session_ttl_secs: 30 * 60,
            refund_recheck_secs: 60,
        }
    }
}

impl ApiSettings {
    /// The cut-off as minutes after midnight.
    pub fn void_cutoff_minutes(&self) -> Option<u32> {
        let (h, m) = self.void_cutoff.split_once(':')?;
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60).then_some(h * 60 + m)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimulatorSettings {
    /// Serve the built-in ACS, bank and SMS outbox under `/sim`, and use them when no real
    /// ACS or bank is configured. Off unless `--demo` (or set).
    pub enabled: bool,
    /// Serve them even when `server.listen` is not a loopback address (a test system): anyone
    /// who reaches Kapı can then read the OTPs at `/sim/sms`.
    pub serve_on_public_address: bool,
    pub otp_ttl_secs: u64,
    pub resend_cooldown_secs: u64,
    pub max_resends: u32,
    pub challenge_timeout_secs: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            server: ServerSettings::default(),
            database: DatabaseSettings::default(),
            security: SecuritySettings {
                master_key: None,
                master_key_id: 1,
                previous_master_keys: Vec::new(),
            },
            checkout: CheckoutSettings::default(),
            threeds: ThreeDsSettings::default(),
            acquirer: AcquirerSettings::default(),
            simulators: SimulatorSettings::default(),
            notifications: NotificationSettings::default(),
            api: ApiSettings::default(),
            limits: LimitSettings::default(),
            installments: InstallmentSettings::default(),
        }
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            public_url: None,
            data_dir: PathBuf::from("./data"),
            demo: false,
            demo_listen: None,
            trusted_proxies: Vec::new(),
            tls_cert: None,
            tls_key: None,
            http_listen: None,
            metrics_listen: None,
            log_format: LogFormat::Text,
            max_in_flight: 1024,
            allow_plain_http: false,
            plain_http_behind_proxy: false,
            tls_reload_check_ms: 5000,
            header_read_timeout_ms: 10_000,
        }
    }
}

impl Default for CheckoutSettings {
    fn default() -> Self {
        Self {
            payment_ttl_secs: 15 * 60,
            signature_window_secs: 10 * 60,
            callback_timeout_secs: 10,
            sweep_interval_ms: 30_000,
            outcome_wait_ms: 20_000,
            recovery_margin_secs: 15,
        }
    }
}

impl Default for AcquirerSettings {
    fn default() -> Self {
        Self {
            base_url: None,
            terminal_id: "KAPI-SIM-0001".into(),
            api_key: None,
            timeout_secs: 30,
            bank: String::new(),
            commission: None,
        }
    }
}

impl Default for SimulatorSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            serve_on_public_address: false,
            otp_ttl_secs: 180,
            resend_cooldown_secs: 30,
            max_resends: 3,
            challenge_timeout_secs: 600,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("configuration: {0}")]
    Invalid(String),
}

/// Values given on the command line; they win over file and environment.
#[derive(Debug, Default, Serialize)]
pub struct CliOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub demo: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
    #[serde(
        rename = "allow_plain_http",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub insecure_http: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub plain_http_behind_proxy: bool,
    /// `database.url`, from `--database-url`.
    #[serde(skip)]
    pub database_url: Option<String>,
}

impl Settings {
    pub fn load(file: Option<&std::path::Path>, cli: CliOverrides) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError::Invalid(format!(
                    "config file {} not found",
                    file.display()
                )));
            }
            figment = figment.merge(Toml::file(file));
        }
        figment = figment
            .merge(Env::prefixed("KAPI__").split("__"))
            .merge(Serialized::defaults(serde_json::json!({ "server": cli })));
        if let Some(url) = &cli.database_url {
            figment = figment.merge(Serialized::defaults(
                serde_json::json!({ "database": { "url": url } }),
            ));
        }
        let settings: Settings = figment.extract().map_err(Box::new)?;
        settings.validate()?;
        Ok(settings)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        if self.server.tls_cert.is_some() != self.server.tls_key.is_some() {
            return Err(ConfigError::Invalid(
                "server.tls_cert and server.tls_key go together".into(),
            ));
        }
        if let Some(h) = &self.server.http_listen {
            listen_addr("server.http_listen", h)?;
        }
        if let Some(h) = &self.server.metrics_listen {
            listen_addr("server.metrics_listen", h)?;
        }
        if let Some(h) = &self.server.demo_listen {
            listen_addr("server.demo_listen", h)?;
        }
        if let Some(u) = &self.server.public_url {
            check_base_url("server.public_url", u)?;
        }
        for (name, u) in [
            ("threeds.acs_base_url", &self.threeds.acs_base_url),
            ("threeds.rreq_url", &self.threeds.rreq_url),
            ("acquirer.base_url", &self.acquirer.base_url),
        ] {
            if let Some(u) = u {
                check_base_url(name, u)?;
            }
        }
        if self.checkout.payment_ttl_secs < 60 {
            return Err(ConfigError::Invalid(
                "checkout.payment_ttl_secs must be at least 60".into(),
            ));
        }
        if self.api.void_cutoff_minutes().is_none() {
            return Err(ConfigError::Invalid("api.void_cutoff must be HH:MM".into()));
        }
        let n = &self.notifications;
        if n.poll_interval_ms == 0 || n.first_retry_ms == 0 || n.max_retry_interval_secs == 0 {
            return Err(ConfigError::Invalid(
                "notifications.poll_interval_ms, first_retry_ms and max_retry_interval_secs must be positive".into(),
            ));
        }
        // A lease shorter than a delivery may take would let a second worker send it again.
        if n.lease_secs <= n.timeout_secs {
            return Err(ConfigError::Invalid(
                "notifications.lease_secs must be longer than notifications.timeout_secs".into(),
            ));
        }
        for ip in &self.server.trusted_proxies {
            if crate::domain::net::ProxyNet::parse(ip).is_err() {
                return Err(ConfigError::Invalid(format!(
                    "server.trusted_proxies: `{ip}` is not an IP address or CIDR network"
                )));
            }
        }
        if !(1..REQUEST_TIMEOUT_MS).contains(&self.checkout.outcome_wait_ms) {
            return Err(ConfigError::Invalid(format!(
                "checkout.outcome_wait_ms must be between 1 and {} (the request limit)",
                REQUEST_TIMEOUT_MS - 1
            )));
        }
        if self.checkout.sweep_interval_ms == 0 {
            return Err(ConfigError::Invalid(
                "checkout.sweep_interval_ms must be positive".into(),
            ));
        }
        let i = &self.installments;
        let term = |n: u8| (1..=12).contains(&n);
        if !term(i.general_limit) || !term(i.commercial_limit) {
            return Err(ConfigError::Invalid(
                "installments.general_limit and commercial_limit must be 1 to 12".into(),
            ));
        }
        for (category, limit) in &i.category_limits {
            if !crate::installments::plan::valid_category(category) || !term(*limit) {
                return Err(ConfigError::Invalid(format!(
                    "installments.category_limits: `{category} = {limit}` needs a lowercase name and a limit of 1 to 12"
                )));
            }
        }
        if !(1..=100).contains(&self.limits.decline_percent) {
            return Err(ConfigError::Invalid(
                "limits.decline_percent must be 1 to 100".into(),
            ));
        }
        if self.acquirer.terminal_id.is_empty()
            || self
                .acquirer
                .terminal_id
                .starts_with(crate::terminals::ID_PREFIX)
        {
            return Err(ConfigError::Invalid(format!(
                "acquirer.terminal_id must not be empty nor begin with `{}` (merchants' terminals' ids do)",
                crate::terminals::ID_PREFIX
            )));
        }
        if let Some(c) = &self.acquirer.commission
            && crate::installments::plan::Rate::parse(c).is_none()
        {
            return Err(ConfigError::Invalid(format!(
                "acquirer.commission `{c}` must be a percent with at most two decimals, e.g. 2.50"
            )));
        }
        Ok(())
    }

    /// The settings as TOML, every secret replaced by `"********"` (or left out when unset)
    /// and the database URL's password masked: what `kapi config check` prints.
    pub fn masked_toml(&self) -> Result<String, ConfigError> {
        let mut value = toml::Value::try_from(self)
            .map_err(|e| ConfigError::Invalid(format!("cannot show the settings: {e}")))?;
        let masked = || toml::Value::String("********".into());
        let mut set = |section: &str, key: &str, v: Option<toml::Value>| {
            if let (Some(v), Some(table)) = (
                v,
                value.get_mut(section).and_then(toml::Value::as_table_mut),
            ) {
                table.insert(key.to_owned(), v);
            }
        };
        set(
            "database",
            "url",
            self.database
                .url
                .as_ref()
                .map(|u| toml::Value::String(mask_url_password(u.expose_secret()))),
        );
        set(
            "security",
            "master_key",
            self.security.master_key.as_ref().map(|_| masked()),
        );
        set(
            "security",
            "previous_master_keys",
            (!self.security.previous_master_keys.is_empty()).then(|| {
                toml::Value::Array(
                    self.security
                        .previous_master_keys
                        .iter()
                        .map(|_| masked())
                        .collect(),
                )
            }),
        );
        set(
            "threeds",
            "acs_shared_key",
            self.threeds.acs_shared_key.as_ref().map(|_| masked()),
        );
        set(
            "acquirer",
            "api_key",
            self.acquirer.api_key.as_ref().map(|_| masked()),
        );
        toml::to_string_pretty(&value)
            .map_err(|e| ConfigError::Invalid(format!("cannot show the settings: {e}")))
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        listen_addr("server.listen", &self.server.listen)
    }

    pub fn payment_ttl(&self) -> Duration {
        Duration::from_secs(self.checkout.payment_ttl_secs)
    }

    /// How long after its last move an in-between payment is taken as interrupted: the longer
    /// of the ACS and bank timeouts, plus the recovery margin.
    pub fn recovery_after_ms(&self) -> i64 {
        let acs = self
            .threeds
            .timeout_secs
            .unwrap_or(DEFAULT_ACS_TIMEOUT_SECS);
        let secs = acs
            .max(self.acquirer.timeout_secs)
            .saturating_add(self.checkout.recovery_margin_secs);
        i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
    }
}

/// A request, its body included, must be answered within this time.
pub const REQUEST_TIMEOUT_MS: u64 = 30_000;

/// The ACS (AReq) timeout when `threeds.timeout_secs` is not set.
pub const DEFAULT_ACS_TIMEOUT_SECS: u64 = 20;

impl CheckoutSettings {
    pub fn outcome_wait(&self) -> Duration {
        Duration::from_millis(self.outcome_wait_ms)
    }
}

/// `HOST:PORT` where HOST is an IP address or a name (`localhost:8080`); a name is resolved
/// once, at start-up, preferring IPv4.
/// `postgres://user:secret@host/db` → `postgres://user:********@host/db`; a URL without a
/// password as it is (a URL that does not parse is masked whole).
pub fn mask_url_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("********"));
            }
            u.to_string()
        }
        Err(_) => "********".into(),
    }
}

pub fn listen_addr(name: &str, value: &str) -> Result<SocketAddr, ConfigError> {
    if let Ok(addr) = value.parse() {
        return Ok(addr);
    }
    let invalid = || ConfigError::Invalid(format!("{name} `{value}` is not HOST:PORT"));
    let addrs: Vec<SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(value)
        .map_err(|_| invalid())?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(invalid)
}

fn check_base_url(name: &str, value: &str) -> Result<(), ConfigError> {
    match url::Url::parse(value) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        _ => Err(ConfigError::Invalid(format!(
            "{name} `{value}` is not an http(s) URL"
        ))),
    }
}

#[cfg(test)]
// figment::Jail's closure type is fixed by figment.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn file_then_environment_then_flags() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "kapi.toml",
                r#"
                [server]
                listen = "127.0.0.1:9000"
                data_dir = "/srv/kapi"
                [checkout]
                payment_ttl_secs = 600
                "#,
            )?;
            let file = Some(std::path::Path::new("kapi.toml"));
            let s = Settings::load(file, CliOverrides::default()).unwrap();
            assert_eq!(s.server.listen, "127.0.0.1:9000");
            assert_eq!(s.server.data_dir, PathBuf::from("/srv/kapi"));
            assert_eq!(s.checkout.payment_ttl_secs, 600);

            jail.set_env("KAPI__SERVER__LISTEN", "127.0.0.1:9100");
            jail.set_env("KAPI__CHECKOUT__PAYMENT_TTL_SECS", "300");
            let s = Settings::load(file, CliOverrides::default()).unwrap();
            assert_eq!(s.server.listen, "127.0.0.1:9100");
            assert_eq!(s.checkout.payment_ttl_secs, 300);

            let cli = CliOverrides {
                listen: Some("127.0.0.1:9200".into()),
                demo: true,
                ..Default::default()
            };
            let s = Settings::load(file, cli).unwrap();
            assert_eq!(s.server.listen, "127.0.0.1:9200");
            assert!(s.server.demo);
            assert_eq!(s.server.data_dir, PathBuf::from("/srv/kapi"));
            Ok(())
        });
    }

    #[test]
    fn mistakes_fail_fast() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("typo.toml", "[server]\nlisen = \"127.0.0.1:1\"\n")?;
            assert!(
                Settings::load(
                    Some(std::path::Path::new("typo.toml")),
                    CliOverrides::default()
                )
                .is_err()
            );
            assert!(
                Settings::load(
                    Some(std::path::Path::new("missing.toml")),
                    CliOverrides::default()
                )
                .is_err()
            );
            let bad_listen = CliOverrides {
                listen: Some("nowhere".into()),
                ..Default::default()
            };
            assert!(Settings::load(None, bad_listen).is_err());
            jail.set_env("KAPI__ACQUIRER__BASE_URL", "ftp://bank");
            assert!(Settings::load(None, CliOverrides::default()).is_err());
            jail.set_env("KAPI__ACQUIRER__BASE_URL", "http://bank.example");
            jail.set_env("KAPI__NOTIFICATIONS__LEASE_SECS", "5");
            assert!(
                Settings::load(None, CliOverrides::default()).is_err(),
                "lease shorter than the timeout"
            );
            jail.set_env("KAPI__NOTIFICATIONS__LEASE_SECS", "60");
            jail.set_env("KAPI__NOTIFICATIONS__FIRST_RETRY_MS", "0");
            assert!(
                Settings::load(None, CliOverrides::default()).is_err(),
                "zero retry delay"
            );
            Ok(())
        });
    }

    #[test]
    fn listen_takes_an_address_or_a_name() {
        assert_eq!(
            listen_addr("l", "127.0.0.1:8080").unwrap(),
            "127.0.0.1:8080".parse::<SocketAddr>().unwrap()
        );
        let named = listen_addr("l", "localhost:8080").unwrap();
        assert!(named.ip().is_loopback() && named.port() == 8080, "{named}");
        assert!(listen_addr("l", "localhost").is_err());
        assert!(listen_addr("l", "127.0.0.1:99999").is_err());
    }

    #[test]
    fn secrets_do_not_print() {
        let mut s = Settings::default();
        s.security.master_key = Some(SecretString::from("c2VjcmV0LWtleS12YWx1ZQ==".to_owned()));
        assert!(!format!("{s:?}").contains("c2VjcmV0"));
    }
}
