//! `kapi`: the command line. Thin: parse, load config, call the library.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use kapi::clock::Clock;
use kapi::{
    Application,
    config::{CliOverrides, Settings},
    merchants::{self, NewMerchant},
    startup,
};
use secrecy::{ExposeSecret, SecretString};

#[derive(Parser)]
#[command(
    name = "kapi",
    version,
    about = "Kapı — hosted secure payment page with 3-D Secure"
)]
struct Cli {
    /// TOML configuration file (values may also come from KAPI__SECTION__KEY variables).
    #[arg(long, global = true, env = "KAPI_CONFIG")]
    config: Option<PathBuf>,
    /// PostgreSQL instead of SQLite under the data folder: postgres://USER@HOST:PORT/DB
    /// (database.url, KAPI__DATABASE__URL). Every command that opens the data takes it.
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// How log lines look: text (readable) or json (one object per line); also
    /// server.log_format / KAPI__SERVER__LOG_FORMAT.
    #[arg(long, global = true, value_enum)]
    log_format: Option<kapi::config::LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the payment page server.
    Serve(ServeArgs),
    /// Manage merchants.
    Merchant {
        #[command(subcommand)]
        command: MerchantCommand,
    },
    /// Manage merchants' bank terminals (virtual POS agreements) that payments are routed to.
    Terminal {
        #[command(subcommand)]
        command: TerminalCommand,
    },
    /// Reports (read only).
    Report {
        #[command(subcommand)]
        command: ReportCommand,
    },
    /// Compare a bank's settlement file with Kapı's books for a day and a terminal, and keep
    /// what differs; without --file, list what was kept (JSON).
    Reconcile {
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// The settlement file (CSV: transaction_id,host_ref,auth_code,amount,currency,type).
        #[arg(long, requires = "date")]
        file: Option<PathBuf>,
        /// The file's day, YYYY-MM-DD (Europe/Istanbul).
        #[arg(long)]
        date: Option<String>,
        /// The terminal the file is of; the default terminal when left out.
        #[arg(long)]
        terminal_id: Option<String>,
    },
    /// Manage event deliveries.
    Events {
        #[command(subcommand)]
        command: EventsCommand,
    },
    /// Manage the master keys that encrypt merchant secrets and pending card data.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Print recent security events (card-testing blocks) as JSON, newest first; or list and
    /// lift the card-testing guard's blocks.
    #[command(args_conflicts_with_subcommands = true)]
    SecurityEvents {
        #[command(subcommand)]
        command: Option<SecurityCommand>,
        #[arg(long)]
        data_dir: Option<PathBuf>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Print the inventory of scripts and stylesheets the payment pages load (PCI DSS 6.4.3):
    /// path, Subresource Integrity hash and purpose, as JSON.
    Scripts,
    /// Bring the database schema up to date, or with --check only report what is pending
    /// (exit status 1 when something is).
    Migrate {
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Report pending migrations without applying them (writes nothing).
        #[arg(long)]
        check: bool,
    },
    /// Check the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Load test: start Kapı servers (this binary, simulators on, limits lifted) and walk
    /// complete journeys with N concurrent shoppers; report journeys/s, latencies per step,
    /// errors, server CPU per journey and RSS, against the floor (BENCHMARKS.md).
    Bench(BenchArgs),
    /// Look at payments (every merchant's; read only).
    Payments {
        #[command(subcommand)]
        command: PaymentsCommand,
    },
}

#[derive(Args)]
struct BenchArgs {
    /// Concurrent shoppers.
    #[arg(long, default_value_t = 64)]
    shoppers: usize,
    /// Measured seconds, after the warm-up.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    #[arg(long, default_value_t = 3)]
    warmup: u64,
    /// Seconds of the floor measurement (GET /healthz, same client); 0 skips it.
    #[arg(long, default_value_t = 5)]
    floor_seconds: u64,
    /// Servers on the shared database (needs --database-url for more than one).
    #[arg(long, default_value_t = 1)]
    instances: usize,
    /// Run exactly this many journeys and check them, without timing (a smoke test).
    #[arg(long)]
    journeys: Option<usize>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// A server setting for the run, KAPI__SECTION__KEY=VALUE (repeatable).
    #[arg(long = "server-env", value_parser = parse_env_pair)]
    server_env: Vec<(String, String)>,
}

fn parse_env_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if k.starts_with("KAPI") => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("`{s}` is not KAPI__SECTION__KEY=VALUE")),
    }
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Load the configuration (file, KAPI__… variables, flags), validate it and print it with
    /// every secret masked. Opens no database.
    Check {
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum PaymentsCommand {
    /// Payments, newest first.
    List {
        #[arg(long)]
        data_dir: Option<PathBuf>,
        #[arg(long)]
        merchant_id: Option<String>,
        /// created, challenge, approved, declined, … (docs/PROTOCOL.md §5).
        #[arg(long)]
        status: Option<String>,
        /// Created since: a time (2026-11-30T09:00:00Z), a date (2026-11-30) or an age (90m,
        /// 24h, 7d).
        #[arg(long)]
        since: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// One payment with its history, card attempts, refunds, reversals, events and consents.
    Show {
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// The payment id (`pay_…`).
        payment_id: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum SecurityCommand {
    /// Print the card-testing guard's blocks in force, as JSON.
    Blocks {
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Lift a card-testing block now, by its subject as the security events name it
    /// (`ip:203.0.113.7`, `merchant:ID`, `bin:MERCHANT:BIN`), or every block with --all. Its
    /// decline counts are forgotten too, so the next decline does not block again at once.
    Unblock {
        /// The blocked subject.
        #[arg(required_unless_present = "all")]
        subject: Option<String>,
        /// Lift every block in force.
        #[arg(long, conflicts_with = "subject")]
        all: bool,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Add a new current master key; a running server reloads it and re-encrypts in the
    /// background; older keys keep decrypting until retired.
    Rotate(KeysArgs),
    /// Re-encrypt now everything still sealed with an older key (a server does this itself).
    Reencrypt(KeysArgs),
    /// Show the keys and how many stored items each one seals.
    Status(KeysArgs),
    /// Remove an older key; refused while anything is still sealed with it.
    Retire(RetireArgs),
}

#[derive(Args)]
struct KeysArgs {
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

#[derive(Args)]
struct RetireArgs {
    #[arg(long)]
    data_dir: Option<PathBuf>,
    #[arg(long)]
    key_id: u32,
}

#[derive(Subcommand)]
enum EventsCommand {
    /// Queue events for delivery again (a running server picks them up within a second).
    Resend(ResendArgs),
}

#[derive(Args)]
struct ResendArgs {
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Event ids (`evt_…`).
    #[arg(required = true)]
    event_ids: Vec<String>,
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on, HOST:PORT [default: 127.0.0.1:8080, or server.listen].
    #[arg(long)]
    listen: Option<String>,
    /// Folder for the database and, without a configured master key, the key file
    /// [default: ./data, or server.data_dir].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Base URL browsers and the ACS use to reach Kapı (default https://HOST:PORT, or
    /// http://HOST:PORT with --insecure-http).
    #[arg(long)]
    public_url: Option<String>,
    /// Create the demo merchant and serve the demo shop on the next port.
    #[arg(long)]
    demo: bool,
    /// PEM certificate chain for HTTPS (reloaded on SIGHUP or when the file changes).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// A plain-HTTP port that only redirects to HTTPS, HOST:PORT.
    #[arg(long)]
    http_listen: Option<String>,
    /// Serve Prometheus metrics at /metrics on this HOST:PORT (a listener of its own).
    #[arg(long)]
    metrics_listen: Option<String>,
    /// Serve plain HTTP without TLS (loopback addresses only; never in production).
    #[arg(long)]
    insecure_http: bool,
    /// Serve plain HTTP on any address because a reverse proxy in front terminates TLS: only
    /// with server.trusted_proxies, on a private network (see DEPLOYMENT.md).
    #[arg(long)]
    plain_http_behind_proxy: bool,
}

#[derive(Subcommand)]
enum MerchantCommand {
    /// Register a merchant; prints its id and secret key (shown once).
    Add(Box<AddArgs>),
    /// The merchants, with their return origins (read only; never a key).
    List {
        #[arg(long)]
        data_dir: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Issue a new secret key; the old one keeps working during the overlap.
    RotateKey(RotateArgs),
    /// Set the webhook URL, the API's IP allow-list, framing, installments and branding.
    Configure(Box<ConfigureArgs>),
}

#[derive(Subcommand)]
enum ReportCommand {
    /// A day's report (Europe/Istanbul): per merchant, currency and terminal, as JSON (or CSV).
    Daily {
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// YYYY-MM-DD.
        #[arg(long)]
        date: String,
        /// Only this merchant's rows.
        #[arg(long)]
        merchant_id: Option<String>,
        /// CSV instead of JSON.
        #[arg(long)]
        csv: bool,
    },
}

#[derive(Subcommand)]
enum TerminalCommand {
    /// Add a bank terminal to a merchant; prints its id.
    Add(Box<TerminalAddArgs>),
    /// A merchant's terminals, the default one (the `[acquirer]` settings) included; never a
    /// secret.
    List {
        #[arg(long)]
        data_dir: Option<PathBuf>,
        #[arg(long)]
        merchant_id: String,
        #[arg(long)]
        json: bool,
    },
    /// Change a terminal's credentials, addresses or rates.
    Configure(Box<TerminalConfigureArgs>),
    /// Stop routing payments to a terminal (voids, refunds and queries of its payments still
    /// go to it).
    Disable {
        #[arg(long)]
        data_dir: Option<PathBuf>,
        #[arg(long)]
        terminal_id: String,
    },
    /// Route payments to a terminal again.
    Enable {
        #[arg(long)]
        data_dir: Option<PathBuf>,
        #[arg(long)]
        terminal_id: String,
    },
}

#[derive(Args)]
struct TerminalAddArgs {
    #[arg(long)]
    data_dir: Option<PathBuf>,
    #[arg(long)]
    merchant_id: String,
    /// The bank, as the BIN table names it (on-us routing compares them), e.g. "Akbank".
    #[arg(long)]
    bank: String,
    #[arg(long, value_parser = ["nestpay", "garanti", "payfor", "simulator"])]
    platform: String,
    /// The bank's merchant (client) id.
    #[arg(long)]
    client_id: String,
    /// The API user.
    #[arg(long)]
    user: String,
    /// The API user's password (or KAPI_TERMINAL_PASSWORD).
    #[arg(long, env = "KAPI_TERMINAL_PASSWORD", hide_env_values = true)]
    password: String,
    /// The terminal number, for banks that give one (Garanti BBVA: required, 1–9 digits).
    #[arg(long)]
    terminal_no: Option<String>,
    /// The 3-D Secure store key (or KAPI_TERMINAL_STORE_KEY).
    #[arg(long, env = "KAPI_TERMINAL_STORE_KEY", hide_env_values = true)]
    store_key: String,
    /// Garanti BBVA: the refund user (PROVRFN) for voids and refunds, with --refund-password.
    #[arg(long)]
    refund_user: Option<String>,
    /// Garanti BBVA: the refund user's password (or KAPI_TERMINAL_REFUND_PASSWORD; `-` reads it
    /// from there).
    #[arg(long, env = "KAPI_TERMINAL_REFUND_PASSWORD", hide_env_values = true)]
    refund_password: Option<String>,
    /// PayFor: the member id (MbrId), 1–3 digits: 5 QNB Finansbank (the default), 12 Ziraat
    /// Katılım.
    #[arg(long)]
    mbr_id: Option<String>,
    /// The bank's 3-D Secure gate.
    #[arg(long)]
    gate_url: String,
    /// The bank's API.
    #[arg(long)]
    api_url: String,
    /// The outgoing address the bank expects (its IP allow-list).
    #[arg(long)]
    static_ip: Option<String>,
    /// Commission of a single payment, percent, e.g. 2.50.
    #[arg(long)]
    commission: Option<String>,
    /// Commission of an installment count, COUNT=RATE, e.g. 3=3.10 (repeatable).
    #[arg(long = "installment-commission")]
    installment_commissions: Vec<String>,
    /// Accept half 3-D Secure and attempts (mdStatus 2, 3, 4), not only full authentication.
    #[arg(long)]
    accept_half_3d: bool,
    /// Print only {"terminal_id": "…"}.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct TerminalConfigureArgs {
    #[arg(long)]
    data_dir: Option<PathBuf>,
    #[arg(long)]
    terminal_id: String,
    #[arg(long)]
    bank: Option<String>,
    #[arg(long)]
    client_id: Option<String>,
    #[arg(long)]
    user: Option<String>,
    /// A new password; `-` reads it from KAPI_TERMINAL_PASSWORD (kept out of `ps`).
    #[arg(long)]
    password: Option<String>,
    #[arg(long, conflicts_with = "no_terminal_no")]
    terminal_no: Option<String>,
    #[arg(long)]
    no_terminal_no: bool,
    /// A new store key; `-` reads it from KAPI_TERMINAL_STORE_KEY.
    #[arg(long)]
    store_key: Option<String>,
    /// Garanti BBVA: the refund user (PROVRFN); a terminal without one needs --refund-password
    /// too.
    #[arg(long, conflicts_with = "no_refund_user")]
    refund_user: Option<String>,
    /// Garanti BBVA: a new refund password; `-` reads it from KAPI_TERMINAL_REFUND_PASSWORD.
    #[arg(long, conflicts_with = "no_refund_user")]
    refund_password: Option<String>,
    /// Removes the refund user and its password.
    #[arg(long)]
    no_refund_user: bool,
    /// PayFor: the member id (MbrId), 1–3 digits.
    #[arg(long)]
    mbr_id: Option<String>,
    #[arg(long)]
    gate_url: Option<String>,
    #[arg(long)]
    api_url: Option<String>,
    #[arg(long, conflicts_with = "no_static_ip")]
    static_ip: Option<String>,
    #[arg(long)]
    no_static_ip: bool,
    #[arg(long, conflicts_with = "no_commission")]
    commission: Option<String>,
    #[arg(long)]
    no_commission: bool,
    /// Replaces every installment rate, COUNT=RATE (repeatable).
    #[arg(
        long = "installment-commission",
        conflicts_with = "no_installment_commissions"
    )]
    installment_commissions: Vec<String>,
    #[arg(long)]
    no_installment_commissions: bool,
    #[arg(long, conflicts_with = "no_accept_half_3d")]
    accept_half_3d: bool,
    #[arg(long)]
    no_accept_half_3d: bool,
}

#[derive(Args)]
struct RotateArgs {
    #[arg(long)]
    data_dir: Option<PathBuf>,
    #[arg(long)]
    merchant_id: String,
    /// How long the old key keeps working, in hours.
    #[arg(long, default_value_t = 24)]
    overlap_hours: u64,
    /// Print only {"merchant_id", "secret_key", "previous_key_expires_at"}.
    #[arg(long)]
    json: bool,
    /// Rotate even while the key before is still in its overlap (that key stops at once).
    #[arg(long)]
    force: bool,
}

#[derive(Args)]
struct ConfigureArgs {
    #[arg(long)]
    data_dir: Option<PathBuf>,
    #[arg(long)]
    merchant_id: String,
    /// The seller's legal title in the legal documents.
    #[arg(long)]
    title: Option<String>,
    /// The seller's address (required by law in the pre-information form).
    #[arg(long)]
    address: Option<String>,
    #[arg(long)]
    phone: Option<String>,
    #[arg(long)]
    email: Option<String>,
    /// MERSİS number (required by law in the pre-information form).
    #[arg(long)]
    mersis: Option<String>,
    #[arg(long)]
    website: Option<String>,
    /// How many cards a shopper may try on one payment after a decline another card may fix
    /// (1 to 5; 1, the default, sends the shopper back to you at the first decline).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=5))]
    card_attempts: Option<u8>,
    /// Routing prefers a terminal of the card's own bank (on-us) to the cheapest one.
    #[arg(long, conflicts_with = "no_prefer_on_us")]
    prefer_on_us: bool,
    /// Routing chooses the cheapest terminal (the default).
    #[arg(long)]
    no_prefer_on_us: bool,
    /// Where events go for payments without a callback_url (on a return origin).
    #[arg(long, conflicts_with = "no_webhook_url")]
    webhook_url: Option<String>,
    /// Remove the webhook URL.
    #[arg(long)]
    no_webhook_url: bool,
    /// An address allowed to call the API; repeatable; replaces the list.
    #[arg(long = "allowed-ip", conflicts_with = "any_ip")]
    allowed_ips: Vec<String>,
    /// Allow API calls from any address.
    #[arg(long)]
    any_ip: bool,
    /// An origin that may show the payment pages in a frame; repeatable; replaces the list.
    #[arg(long = "frame-origin", conflicts_with = "no_framing")]
    frame_origins: Vec<String>,
    /// Nobody may frame the payment pages (the default).
    #[arg(long)]
    no_framing: bool,
    /// The installment plan: a JSON file (see docs/PROTOCOL.md, "Installments").
    #[arg(long, conflicts_with = "no_installments")]
    installment_plan: Option<PathBuf>,
    /// Remove the installment plan: single payment only.
    #[arg(long)]
    no_installments: bool,
    /// The accent colour of the payment pages, `#rrggbb`.
    #[arg(long, conflicts_with = "no_accent_colour")]
    accent_colour: Option<String>,
    /// Back to Kapı's own colours.
    #[arg(long)]
    no_accent_colour: bool,
    /// The logo shown on the payment pages: a PNG, JPEG or WebP file of at most 64 KiB.
    #[arg(long, conflicts_with = "no_logo")]
    logo: Option<PathBuf>,
    /// Remove the logo.
    #[arg(long)]
    no_logo: bool,
    /// NestPay-compatible gateway (docs/NESTPAY.md): the client id the merchant's NestPay code
    /// sends (digits, unique). Give the four NestPay credentials together.
    #[arg(long, requires_all = ["nestpay_store_key", "nestpay_api_user", "nestpay_api_password"], conflicts_with = "no_nestpay")]
    nestpay_client_id: Option<String>,
    /// The NestPay store key (signs the gate's requests and results).
    #[arg(long, env = "KAPI_NESTPAY_STORE_KEY", hide_env_values = true)]
    nestpay_store_key: Option<String>,
    /// The NestPay XML API user (`Name`).
    #[arg(long, requires = "nestpay_client_id")]
    nestpay_api_user: Option<String>,
    /// The NestPay XML API password.
    #[arg(long, env = "KAPI_NESTPAY_API_PASSWORD", hide_env_values = true)]
    nestpay_api_password: Option<String>,
    /// The merchant shows the pre-information form and the distance sales contract itself
    /// (`3d_pay` then goes straight to 3-D Secure).
    #[arg(long, conflicts_with_all = ["nestpay_kapi_shows_consents", "no_nestpay"])]
    nestpay_shows_consents: bool,
    /// Kapı shows the legal documents in `3d_pay` (the default).
    #[arg(long, conflicts_with = "no_nestpay")]
    nestpay_kapi_shows_consents: bool,
    /// Remove the NestPay set-up.
    #[arg(long)]
    no_nestpay: bool,
}

#[derive(Args)]
struct AddArgs {
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Shop name shown to shoppers.
    #[arg(long)]
    name: String,
    /// Origin (scheme://host[:port]) that ok/fail/callback URLs may use; repeatable.
    #[arg(long = "return-origin", required = true)]
    return_origins: Vec<String>,
    /// Print only {"merchant_id": …, "secret_key": …}.
    #[arg(long)]
    json: bool,
    /// Legal title for the contracts (default: the name).
    #[arg(long)]
    title: Option<String>,
    #[arg(long)]
    address: Option<String>,
    #[arg(long)]
    phone: Option<String>,
    #[arg(long)]
    email: Option<String>,
    /// MERSİS number.
    #[arg(long)]
    mersis: Option<String>,
    #[arg(long)]
    website: Option<String>,
    /// Where events go for payments without a callback_url (on a return origin).
    #[arg(long)]
    webhook_url: Option<String>,
    /// An address allowed to call the API; repeatable. None: any address.
    #[arg(long = "allowed-ip")]
    allowed_ips: Vec<String>,
}

/// The options every command shares: the configuration file and the database.
struct Global {
    config: Option<PathBuf>,
    database_url: Option<String>,
}

impl Global {
    /// The settings, with `overrides` from the command line on top.
    fn settings(&self, overrides: CliOverrides) -> anyhow::Result<Settings> {
        Ok(Settings::load(
            self.config.as_deref(),
            CliOverrides {
                database_url: self.database_url.clone(),
                ..overrides
            },
        )?)
    }
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Warns (on stderr) when the law's details of the seller are missing from a merchant.
async fn warn_missing_legal_details(
    store: &dyn kapi::storage::MerchantStore,
    merchant_id: &str,
) -> anyhow::Result<()> {
    let Some(m) = store.get_merchant(merchant_id).await? else {
        return Ok(());
    };
    let missing = merchants::missing_legal_details(&m);
    if !missing.is_empty() {
        eprintln!(
            "warning: the pre-information form and the distance sales contract must name the seller's title, MERSİS number, address, phone and e-mail (Mesafeli Sözleşmeler Yönetmeliği art. 5); {merchant_id} has none for {}, so the documents show \"—\" there. Set them with: kapi merchant configure --merchant-id {merchant_id} {}",
            missing.join(", "),
            missing
                .iter()
                .map(|f| format!("{f} …"))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    Ok(())
}

/// The card-testing guard's blocks: listed, or lifted.
async fn security(g: &Global, command: SecurityCommand) -> anyhow::Result<()> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let blocks = |store: &kapi::storage::Storage| {
        let security = store.security.clone();
        async move { security.guard_blocks(now).await }
    };
    match command {
        SecurityCommand::Blocks { data_dir } => {
            let store = open_read_only(g, data_dir).await?;
            let list: Vec<serde_json::Value> = blocks(&store)
                .await?
                .into_iter()
                .map(|(key, until)| {
                    serde_json::json!({
                        "subject": kapi::limits::guard_subject(&key).unwrap_or(key),
                        "until": kapi::clock::rfc3339(until.saturating_mul(1000)),
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&list)?);
        }
        SecurityCommand::Unblock {
            subject,
            all,
            data_dir,
        } => {
            let (_, store) = open(g, data_dir).await?;
            let keys: Vec<String> = if all {
                blocks(&store).await?.into_iter().map(|(k, _)| k).collect()
            } else {
                let subject = subject.unwrap_or_default();
                let key = kapi::limits::guard_key(&subject).with_context(|| {
                    format!("`{subject}` is not a blocked subject: ip:ADDRESS, merchant:ID or bin:MERCHANT:BIN, as `kapi security-events` names it")
                })?;
                vec![key]
            };
            let mut lifted = 0;
            for key in &keys {
                if store.security.guard_lift(key, now).await? {
                    lifted += 1;
                    let subject = kapi::limits::guard_subject(key).unwrap_or_else(|| key.clone());
                    println!("lifted the block of {subject}");
                }
            }
            if lifted == 0 {
                println!("no block to lift");
            }
        }
    }
    Ok(())
}

/// The data for a command that only reads: nothing is created, migrated or written.
async fn open_read_only(
    g: &Global,
    data_dir: Option<PathBuf>,
) -> anyhow::Result<kapi::storage::Storage> {
    let settings = g.settings(CliOverrides {
        data_dir,
        ..Default::default()
    })?;
    Ok(startup::open_data_read_only(&settings).await?.1)
}

/// The NestPay options of `merchant configure`.
struct NestpayArgs {
    client_id: Option<String>,
    store_key: Option<String>,
    api_user: Option<String>,
    api_password: Option<String>,
    shows_consents: bool,
    kapi_shows_consents: bool,
    remove: bool,
}

/// The NestPay changes the options ask for, in order (credentials before the declaration).
fn nestpay_changes(a: NestpayArgs) -> Vec<merchants::NestpayChange> {
    use merchants::{NestpayChange, NestpayCredentials};
    if a.remove {
        return vec![NestpayChange::Remove];
    }
    let mut changes = Vec::new();
    if let (Some(client_id), Some(store_key), Some(api_user), Some(api_password)) =
        (a.client_id, a.store_key, a.api_user, a.api_password)
    {
        changes.push(NestpayChange::Set(NestpayCredentials {
            client_id,
            store_key: SecretString::from(store_key),
            api_user,
            api_password: SecretString::from(api_password),
        }));
    }
    if a.shows_consents {
        changes.push(NestpayChange::ShowsConsents(true));
    }
    if a.kapi_shows_consents {
        changes.push(NestpayChange::ShowsConsents(false));
    }
    changes
}

async fn open(
    g: &Global,
    data_dir: Option<PathBuf>,
) -> anyhow::Result<(kapi::crypto::vault::Vault, kapi::storage::Storage)> {
    let settings = g.settings(CliOverrides {
        data_dir,
        ..Default::default()
    })?;
    startup::open_data(&settings).await
}

#[tokio::main]
async fn main() -> ExitCode {
    kapi::install_crypto_provider();
    let cli = Cli::parse();
    kapi::telemetry::init(log_format(&cli));
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The log format: the flag, else the configuration (file and environment), else text.
fn log_format(cli: &Cli) -> kapi::config::LogFormat {
    cli.log_format.unwrap_or_else(|| {
        Settings::load(cli.config.as_deref(), CliOverrides::default())
            .map(|s| s.server.log_format)
            .unwrap_or_default()
    })
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let g = Global {
        config: cli.config.clone(),
        database_url: cli.database_url.clone(),
    };
    match cli.command {
        Command::Serve(args) => {
            let settings = g.settings(CliOverrides {
                listen: args.listen,
                public_url: args.public_url,
                data_dir: args.data_dir,
                demo: args.demo,
                tls_cert: args.tls_cert,
                tls_key: args.tls_key,
                http_listen: args.http_listen,
                metrics_listen: args.metrics_listen,
                log_format: cli.log_format,
                insecure_http: args.insecure_http,
                plain_http_behind_proxy: args.plain_http_behind_proxy,
                database_url: None,
            })?;
            tracing::info!(version = env!("CARGO_PKG_VERSION"), "Kapı starting");
            let app = Application::build(settings).await?;
            tracing::info!(url = %app.public_url, data_dir = %app.data_dir.display(), "Kapı is listening");
            if let Some(shop) = &app.demo_url {
                tracing::info!(url = %shop, "demo shop is listening: open it in a browser and click \"Satın al\" (Buy)");
            }
            if let Some(key) = &app.demo_api_key {
                // A demo only: never printed for a real merchant.
                tracing::info!(
                    merchant_id = kapi::demo::DEMO_MERCHANT_ID,
                    api_key = key.expose_secret(),
                    "the demo merchant's API key, to query its payments: curl -sk -H \"Authorization: Bearer <api_key>\" \"{}/api/v1/payments?limit=5\" (-k: the demo's certificate is self-signed)",
                    app.public_url
                );
            }
            app.run_until(shutdown_signal()).await
        }
        Command::Merchant {
            command: MerchantCommand::Add(args),
        } => {
            let (vault, store) = open(&g, args.data_dir).await?;
            let (id, secret) = merchants::register(
                &*store.merchants,
                &vault,
                NewMerchant {
                    id: None,
                    name: args.name,
                    legal_title: args.title.unwrap_or_default(),
                    address: args.address.unwrap_or_default(),
                    phone: args.phone.unwrap_or_default(),
                    email: args.email.unwrap_or_default(),
                    mersis: args.mersis.unwrap_or_default(),
                    website: args.website.unwrap_or_default(),
                    return_origins: args.return_origins,
                    webhook_url: args.webhook_url,
                    allowed_ips: args.allowed_ips,
                },
                now_ms(),
            )
            .await?;
            if args.json {
                let out = serde_json::json!({ "merchant_id": id.as_str(), "secret_key": secret.expose_secret() });
                println!("{out}");
            } else {
                println!("merchant_id: {id}");
                println!("secret_key:  {}", secret.expose_secret());
                println!("Keep the secret key safe: it is shown only this once.");
            }
            warn_missing_legal_details(&*store.merchants, id.as_str()).await?;
            Ok(())
        }
        Command::Merchant {
            command: MerchantCommand::RotateKey(args),
        } => {
            let (vault, store) = open(&g, args.data_dir).await?;
            let overlap = std::time::Duration::from_secs(args.overlap_hours.saturating_mul(3600));
            let (secret, until) = merchants::rotate_key(
                &*store.merchants,
                &vault,
                &args.merchant_id,
                overlap,
                args.force,
                now_ms(),
            )
            .await?;
            let until = kapi::clock::rfc3339(until);
            if args.json {
                let out = serde_json::json!({
                    "merchant_id": args.merchant_id,
                    "secret_key": secret.expose_secret(),
                    "previous_key_expires_at": until,
                });
                println!("{out}");
            } else {
                println!("merchant_id: {}", args.merchant_id);
                println!("secret_key:  {}", secret.expose_secret());
                println!("The previous key keeps working until {until}.");
            }
            Ok(())
        }
        Command::Merchant {
            command: MerchantCommand::Configure(args),
        } => {
            let (vault, store) = open(&g, args.data_dir).await?;
            let nestpay = NestpayArgs {
                client_id: args.nestpay_client_id,
                store_key: args.nestpay_store_key,
                api_user: args.nestpay_api_user,
                api_password: args.nestpay_api_password,
                shows_consents: args.nestpay_shows_consents,
                kapi_shows_consents: args.nestpay_kapi_shows_consents,
                remove: args.no_nestpay,
            };
            let list =
                |values: Vec<String>, clear: bool| (clear || !values.is_empty()).then_some(values);
            let card_attempts = args
                .card_attempts
                .map(|n| kapi::domain::CardAttempts::from_count(i64::from(n)))
                .transpose()?;
            let change = merchants::Settings {
                card_attempts,
                prefer_on_us: match (args.prefer_on_us, args.no_prefer_on_us) {
                    (true, _) => Some(true),
                    (_, true) => Some(false),
                    _ => None,
                },
                seller: merchants::SellerChange {
                    legal_title: args.title,
                    address: args.address,
                    phone: args.phone,
                    email: args.email,
                    mersis: args.mersis,
                    website: args.website,
                },
                webhook_url: if args.no_webhook_url {
                    Some(None)
                } else {
                    args.webhook_url.map(Some)
                },
                allowed_ips: list(args.allowed_ips, args.any_ip),
                frame_origins: list(args.frame_origins, args.no_framing),
                installment_plan: match (args.installment_plan, args.no_installments) {
                    (_, true) => Some(None),
                    (Some(path), _) => {
                        let text = std::fs::read_to_string(&path)
                            .with_context(|| format!("cannot read {}", path.display()))?;
                        let plan = kapi::installments::InstallmentPlan::from_json(&text)
                            .with_context(|| format!("{}", path.display()))?;
                        Some(Some(plan))
                    }
                    (None, false) => None,
                },
                accent_colour: match (args.accent_colour, args.no_accent_colour) {
                    (_, true) => Some(None),
                    (Some(c), _) => Some(Some(
                        kapi::domain::AccentColour::parse(&c)
                            .with_context(|| format!("accent colour `{c}` must be #rrggbb"))?,
                    )),
                    (None, false) => None,
                },
                logo: match (args.logo, args.no_logo) {
                    (_, true) => Some(None),
                    (Some(path), _) => {
                        let bytes = std::fs::read(&path)
                            .with_context(|| format!("cannot read {}", path.display()))?;
                        let logo = kapi::domain::Logo::parse(bytes)
                            .with_context(|| format!("{}", path.display()))?;
                        Some(Some(logo))
                    }
                    (None, false) => None,
                },
            };
            // NestPay first: a refused client id leaves nothing half applied.
            for change in nestpay_changes(nestpay) {
                merchants::configure_nestpay(
                    &*store.merchants,
                    &vault,
                    &args.merchant_id,
                    change,
                    kapi::clock::SystemClock.now_ms(),
                )
                .await?;
            }
            merchants::configure(&*store.merchants, &args.merchant_id, change).await?;
            println!("merchant {} updated", args.merchant_id);
            warn_missing_legal_details(&*store.merchants, &args.merchant_id).await?;
            Ok(())
        }
        Command::Keys { command } => keys(&g, command).await,
        Command::Terminal { command } => terminal(&g, command).await,
        Command::Reconcile {
            data_dir,
            file: None,
            ..
        } => {
            let store = open_read_only(&g, data_dir).await?;
            let issues = store.terminals.reconciliation_issues(500).await?;
            println!("{}", serde_json::to_string_pretty(&issues)?);
            Ok(())
        }
        Command::Reconcile {
            data_dir,
            file: Some(file),
            date,
            terminal_id,
        } => reconcile(&g, data_dir, &file, date.as_deref(), terminal_id).await,
        Command::Report {
            command:
                ReportCommand::Daily {
                    data_dir,
                    date,
                    merchant_id,
                    csv,
                },
        } => {
            let day = kapi::reports::parse_date(&date).context("--date must be YYYY-MM-DD")?;
            let store = open_read_only(&g, data_dir).await?;
            let report =
                kapi::reports::daily_of(&*store.payments, merchant_id.as_deref(), day).await?;
            if csv {
                print!("{}", kapi::reports::to_csv(&report));
            } else {
                println!("{}", serde_json::to_string_pretty(&report)?);
            }
            Ok(())
        }
        Command::SecurityEvents {
            command: Some(command),
            ..
        } => security(&g, command).await,
        Command::SecurityEvents {
            command: None,
            data_dir,
            limit,
        } => {
            let store = open_read_only(&g, data_dir).await?;
            let events = store.security.security_events(limit.clamp(1, 1000)).await?;
            let list: Vec<serde_json::Value> = events
                .iter()
                .map(|e| {
                    serde_json::json!({
                        "kind": e.kind, "subject": e.subject, "detail": e.detail,
                        "at": kapi::clock::rfc3339(e.at),
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&list)?);
            Ok(())
        }
        Command::Merchant {
            command: MerchantCommand::List { data_dir, json },
        } => {
            let store = open_read_only(&g, data_dir).await?;
            let list = store.merchants.list_merchants().await?;
            let mut nestpay = Vec::new();
            for m in &list {
                nestpay.extend(store.merchants.nestpay_of(&m.id).await?);
            }
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&kapi::operator::merchants_json(&list, &nestpay))?
                );
            } else {
                print!("{}", kapi::operator::merchants_table(&list));
            }
            Ok(())
        }
        Command::Payments { command } => payments(&g, command).await,
        Command::Bench(args) => {
            let report = kapi::bench::run(kapi::bench::Options {
                shoppers: args.shoppers,
                seconds: args.seconds,
                warmup: args.warmup,
                floor_seconds: args.floor_seconds,
                database_url: g.database_url.clone(),
                instances: args.instances,
                journeys: args.journeys,
                exe: std::env::current_exe().context("cannot find the kapi binary")?,
                env: args.server_env,
            })
            .await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{report}");
            }
            let errors: usize = report.errors.values().sum();
            anyhow::ensure!(
                errors == 0 && report.journeys > 0,
                "{errors} journey(s) failed, {} completed",
                report.journeys
            );
            Ok(())
        }
        Command::Migrate { data_dir, check } => migrate(&g, data_dir, check).await,
        Command::Config {
            command: ConfigCommand::Check { data_dir },
        } => {
            let settings = g.settings(CliOverrides {
                data_dir,
                ..Default::default()
            })?;
            println!("{}", settings.masked_toml()?);
            eprintln!("configuration OK");
            Ok(())
        }
        Command::Scripts => {
            let inventory = kapi::web::assets::inventory();
            println!("{}", serde_json::to_string_pretty(&inventory)?);
            Ok(())
        }
        Command::Events {
            command: EventsCommand::Resend(args),
        } => {
            let (_, store) = open(&g, args.data_dir).await?;
            let mut missing = Vec::new();
            for id in &args.event_ids {
                if store.outbox.resend_event(id, now_ms()).await? {
                    println!("{id}: queued");
                } else {
                    missing.push(id.clone());
                }
            }
            if missing.is_empty() {
                Ok(())
            } else {
                anyhow::bail!("not found or without an endpoint: {}", missing.join(", "))
            }
        }
    }
}

async fn payments(g: &Global, command: PaymentsCommand) -> anyhow::Result<()> {
    use kapi::operator;
    match command {
        PaymentsCommand::List {
            data_dir,
            merchant_id,
            status,
            since,
            limit,
            json,
        } => {
            let status = match status {
                Some(s) => Some(kapi::checkout::Status::parse(&s).with_context(|| {
                    format!("--status `{s}` is not a payment status (created, challenge, approved, declined, failed, cancelled, expired, …)")
                })?),
                None => None,
            };
            let since = match since {
                Some(s) => Some(operator::parse_since(&s, now_ms()).map_err(anyhow::Error::msg)?),
                None => None,
            };
            let store = open_read_only(g, data_dir).await?;
            let query = operator::PaymentQuery {
                merchant_id,
                status,
                since,
                limit,
            };
            let list = operator::payments(&store, &query).await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&operator::payments_json(&list))?
                );
            } else {
                print!("{}", operator::payments_table(&list));
            }
            Ok(())
        }
        PaymentsCommand::Show {
            data_dir,
            payment_id,
            json,
        } => {
            let store = open_read_only(g, data_dir).await?;
            let detail = operator::payment(&store, &payment_id)
                .await?
                .with_context(|| format!("no payment {payment_id}"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&detail.to_json())?);
            } else {
                print!("{}", detail.to_text());
            }
            Ok(())
        }
    }
}

/// `kapi migrate`: what is pending, applied unless `--check`.
async fn migrate(g: &Global, data_dir: Option<PathBuf>, check: bool) -> anyhow::Result<()> {
    let settings = g.settings(CliOverrides {
        data_dir,
        ..Default::default()
    })?;
    if check {
        let (_, store) = startup::open_data_read_only(&settings).await?;
        let pending = store.health.pending_migrations().await?;
        let names: Vec<String> = pending.iter().map(|(v, n)| format!("{v} {n}")).collect();
        println!("{}", serde_json::json!({ "pending": names }));
        if !pending.is_empty() {
            anyhow::bail!("{} migration(s) pending: run kapi migrate", pending.len());
        }
        return Ok(());
    }
    let before = match startup::open_data_read_only(&settings).await {
        Ok((_, store)) => store.health.pending_migrations().await.unwrap_or_default(),
        // A new data folder: everything is pending, and created now.
        Err(_) => Vec::new(),
    };
    let (_, store) = startup::open_data(&settings).await?;
    let left = store.health.pending_migrations().await?;
    let applied: Vec<String> = before
        .iter()
        .filter(|m| !left.contains(m))
        .map(|(v, n)| format!("{v} {n}"))
        .collect();
    println!(
        "{}",
        serde_json::json!({ "applied": applied, "pending": left.len() })
    );
    Ok(())
}

async fn terminal(g: &Global, command: TerminalCommand) -> anyhow::Result<()> {
    use kapi::terminals::{self, NewTerminal, Platform, TerminalChange};
    let known_bank = |bank: &str, settings: &Settings| {
        let table =
            kapi::installments::bins::BinTable::load(settings.installments.bin_table.as_deref())
                .ok();
        let known = table.is_some_and(|t| t.banks().any(|b| terminals::same_bank(b, bank)));
        if !known {
            eprintln!(
                "note: no card of the BIN table is issued by `{bank}`: on-us routing will not match this terminal"
            );
        }
    };
    match command {
        TerminalCommand::Add(a) => {
            let settings = g.settings(CliOverrides {
                data_dir: a.data_dir.clone(),
                ..Default::default()
            })?;
            let (vault, store) = startup::open_data(&settings).await?;
            known_bank(&a.bank, &settings);
            let new = NewTerminal {
                merchant_id: a.merchant_id,
                bank: a.bank,
                platform: Platform::parse(&a.platform)
                    .context("--platform: nestpay, garanti, payfor or simulator")?,
                client_id: a.client_id,
                user: a.user,
                password: SecretString::from(a.password),
                terminal_no: a.terminal_no,
                store_key: SecretString::from(a.store_key),
                gate_url: a.gate_url,
                api_url: a.api_url,
                static_ip: a.static_ip,
                commission: a.commission,
                installment_commissions: a.installment_commissions,
                accept_half_3d: a.accept_half_3d,
                refund_user: a.refund_user,
                refund_password: from_env_if_dash(
                    a.refund_password,
                    "KAPI_TERMINAL_REFUND_PASSWORD",
                )?,
                mbr_id: a.mbr_id,
            };
            let id =
                terminals::add(&*store.terminals, &*store.merchants, &vault, new, now_ms()).await?;
            if a.json {
                println!("{}", serde_json::json!({ "terminal_id": id }));
            } else {
                println!("terminal_id: {id}");
            }
            Ok(())
        }
        TerminalCommand::List {
            data_dir,
            merchant_id,
            json,
        } => {
            let settings = g.settings(CliOverrides {
                data_dir,
                ..Default::default()
            })?;
            let store = startup::open_data_read_only(&settings).await?.1;
            if store.merchants.get_merchant(&merchant_id).await?.is_none() {
                anyhow::bail!("merchant `{merchant_id}` does not exist");
            }
            let mut list = terminals::of_merchant(&*store.terminals, &merchant_id).await?;
            list.push(terminals::default_terminal(&settings.acquirer));
            if json {
                let out: Vec<_> = list.iter().map(|t| t.to_json()).collect();
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                for t in &list {
                    println!(
                        "{}\t{}\t{}\t{}\t{}",
                        t.id,
                        t.bank,
                        t.platform.as_str(),
                        if t.enabled { "enabled" } else { "disabled" },
                        t.commission
                            .map(|r| r.to_decimal_string())
                            .unwrap_or_default(),
                    );
                }
            }
            Ok(())
        }
        TerminalCommand::Configure(a) => {
            let settings = g.settings(CliOverrides {
                data_dir: a.data_dir.clone(),
                ..Default::default()
            })?;
            let (vault, store) = startup::open_data(&settings).await?;
            if let Some(bank) = &a.bank {
                known_bank(bank, &settings);
            }
            let clearable = |value: Option<String>, clear: bool| {
                if clear { Some(None) } else { value.map(Some) }
            };
            let change = TerminalChange {
                bank: a.bank,
                client_id: a.client_id,
                user: a.user,
                password: from_env_if_dash(a.password, "KAPI_TERMINAL_PASSWORD")?,
                terminal_no: clearable(a.terminal_no, a.no_terminal_no),
                store_key: from_env_if_dash(a.store_key, "KAPI_TERMINAL_STORE_KEY")?,
                gate_url: a.gate_url,
                api_url: a.api_url,
                static_ip: clearable(a.static_ip, a.no_static_ip),
                commission: clearable(a.commission, a.no_commission),
                installment_commissions: (a.no_installment_commissions
                    || !a.installment_commissions.is_empty())
                .then_some(a.installment_commissions),
                accept_half_3d: match (a.accept_half_3d, a.no_accept_half_3d) {
                    (true, _) => Some(true),
                    (_, true) => Some(false),
                    _ => None,
                },
                refund_user: clearable(a.refund_user, a.no_refund_user),
                refund_password: from_env_if_dash(
                    a.refund_password,
                    "KAPI_TERMINAL_REFUND_PASSWORD",
                )?,
                mbr_id: a.mbr_id,
            };
            terminals::configure(
                &*store.terminals,
                &vault,
                &a.terminal_id,
                change,
                None,
                now_ms(),
            )
            .await?;
            println!("terminal {} updated", a.terminal_id);
            Ok(())
        }
        TerminalCommand::Disable {
            data_dir,
            terminal_id,
        } => set_terminal_enabled(g, data_dir, &terminal_id, false).await,
        TerminalCommand::Enable {
            data_dir,
            terminal_id,
        } => set_terminal_enabled(g, data_dir, &terminal_id, true).await,
    }
}

/// A secret flag's value: `-` takes it from the environment variable `var` (kept out of
/// `ps` and the shell history); only a flag given changes a secret.
fn from_env_if_dash(value: Option<String>, var: &str) -> anyhow::Result<Option<SecretString>> {
    Ok(match value.as_deref() {
        Some("-") => Some(SecretString::from(
            std::env::var(var).with_context(|| format!("`-` reads {var}, which is not set"))?,
        )),
        Some(v) => Some(SecretString::from(v.to_owned())),
        None => None,
    })
}

async fn set_terminal_enabled(
    g: &Global,
    data_dir: Option<PathBuf>,
    terminal_id: &str,
    enabled: bool,
) -> anyhow::Result<()> {
    let (vault, store) = open(g, data_dir).await?;
    let change = kapi::terminals::TerminalChange::default();
    kapi::terminals::configure(
        &*store.terminals,
        &vault,
        terminal_id,
        change,
        Some(enabled),
        now_ms(),
    )
    .await?;
    let state = if enabled { "enabled" } else { "disabled" };
    println!("terminal {terminal_id} {state}");
    Ok(())
}

/// `kapi reconcile --file`: the day's differences, kept (replacing the day's earlier run for
/// that terminal) and printed.
async fn reconcile(
    g: &Global,
    data_dir: Option<PathBuf>,
    file: &std::path::Path,
    date: Option<&str>,
    terminal_id: Option<String>,
) -> anyhow::Result<()> {
    use kapi::reports;
    let day = date
        .and_then(reports::parse_date)
        .context("--date must be YYYY-MM-DD")?;
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let lines =
        reports::parse_settlement(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let settings = g.settings(CliOverrides {
        data_dir,
        ..Default::default()
    })?;
    let (_, store) = startup::open_data(&settings).await?;
    let terminal = terminal_id.unwrap_or_else(|| settings.acquirer.terminal_id.clone());
    let (from, to) = reports::day_bounds(day);
    let payments = store.payments.payments_of_period(None, from, to).await?;
    let after_sales = store.payments.after_sales_of_period(None, from, to).await?;
    let books = reports::books_of_day(day, &terminal, &payments, &after_sales);
    let (matched, issues) = reports::reconcile(day, &terminal, &lines, &books, now_ms());
    store
        .terminals
        .replace_reconciliation(&day.to_string(), &terminal, &issues)
        .await?;
    let out = serde_json::json!({
        "date": day.to_string(),
        "terminal_id": terminal,
        "matched": matched,
        "issues": issues,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

async fn keys(g: &Global, command: KeysCommand) -> anyhow::Result<()> {
    use kapi::crypto::{keyring, rotation};
    let data_dir = match &command {
        KeysCommand::Rotate(a) | KeysCommand::Reencrypt(a) | KeysCommand::Status(a) => {
            a.data_dir.clone()
        }
        KeysCommand::Retire(a) => a.data_dir.clone(),
    };
    let settings = g.settings(CliOverrides {
        data_dir,
        ..Default::default()
    })?;
    let dir = settings.server.data_dir.clone();
    let from_config = settings.security.master_key.is_some();
    let file_only = |what: &str| {
        anyhow::ensure!(
            !from_config,
            "the master keys come from configuration: to {what}, change security.master_key / \
             security.previous_master_keys (KAPI__SECURITY__…) and restart"
        );
        Ok(())
    };
    let prefix = |id: u32| {
        let mut p = vec![1u8];
        p.extend_from_slice(&id.to_be_bytes());
        p
    };
    match command {
        KeysCommand::Rotate(_) => {
            file_only("rotate")?;
            let (_, store) = startup::open_data(&settings).await?;
            drop(store);
            let id = keyring::rotate(&dir)?;
            println!("{}", serde_json::json!({ "current_key_id": id }));
            Ok(())
        }
        KeysCommand::Reencrypt(_) => {
            let (vault, store) = startup::open_data(&settings).await?;
            let mut total = 0;
            loop {
                let n = rotation::reencrypt_batch(&*store.sealed, &vault, 500).await?;
                if n == 0 {
                    break;
                }
                total += n;
            }
            println!(
                "{}",
                serde_json::json!({ "reencrypted": total, "current_key_id": vault.current_key_id() })
            );
            Ok(())
        }
        KeysCommand::Status(_) => {
            let (vault, store) = startup::open_data_read_only(&settings).await?;
            let ids = if from_config {
                let mut ids = vec![settings.security.master_key_id];
                for k in &settings.security.previous_master_keys {
                    if let Some(id) = k
                        .expose_secret()
                        .split_once(':')
                        .and_then(|(i, _)| i.trim().parse().ok())
                    {
                        ids.push(id);
                    }
                }
                ids
            } else {
                keyring::Keyring::load_or_create(&dir)?.ids()
            };
            let mut keys = Vec::new();
            for id in ids {
                let sealed = store.sealed.blobs_under(&prefix(id)).await?;
                keys.push(serde_json::json!({ "id": id, "current": id == vault.current_key_id(), "sealed_items": sealed }));
            }
            println!(
                "{}",
                serde_json::json!({ "source": if from_config { "config" } else { "keyring" }, "keys": keys })
            );
            Ok(())
        }
        KeysCommand::Retire(args) => {
            file_only("retire a key")?;
            let ring = keyring::Keyring::load_or_create(&dir)?;
            anyhow::ensure!(
                args.key_id != ring.current(),
                "key {} is the current key",
                args.key_id
            );
            let (_, store) = startup::open_data(&settings).await?;
            let sealed = store.sealed.blobs_under(&prefix(args.key_id)).await?;
            anyhow::ensure!(
                sealed == 0,
                "key {} still seals {sealed} item(s); wait for the server's re-encryption or run `kapi keys reencrypt`",
                args.key_id
            );
            keyring::retire(&dir, args.key_id)?;
            println!("{}", serde_json::json!({ "retired_key_id": args.key_id }));
            Ok(())
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
