//! `kapi bench`: a load generator that walks complete journeys as a browser does, against
//! Kapı servers it starts itself (this same binary, simulators on, rate limits lifted), and
//! reports what a payment page owes its operator: journeys per second, latencies per step,
//! errors by kind, server CPU per journey and memory — and, measured in the same run with the
//! same client, the floor (the server's cheapest answer), so that the ratio holds on a noisy
//! machine. BENCHMARKS.md holds the figures.
//!
//! Every journey is checked as a merchant would: the signed result must verify with the
//! merchant's key and say what the card should give (`approved`, or `declined` for the decline
//! card), after the expected number of requests. A journey that fails a check is an error, not a
//! journey: a broken benchmark cannot report a good number.

mod html;
mod report;

use std::{
    collections::HashMap,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};

pub use report::{Report, StepStats};

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Concurrent shoppers, each walking journeys one after another.
    pub shoppers: usize,
    /// Measured seconds (after `warmup`).
    pub seconds: u64,
    pub warmup: u64,
    /// Seconds of the floor measurement (`GET /healthz` with the same client).
    pub floor_seconds: u64,
    /// PostgreSQL instead of a fresh SQLite file.
    pub database_url: Option<String>,
    /// Servers on the database (PostgreSQL only for more than one); each shopper keeps to one.
    pub instances: usize,
    /// Only this many journeys, then stop (a correctness smoke; no timing).
    pub journeys: Option<usize>,
    /// The `kapi` binary to start (this one).
    pub exe: PathBuf,
    /// Extra `KAPI__…` settings for the servers.
    pub env: Vec<(String, String)>,
}

/// Each shopper walks the mix in its own order (every 7th kind), so that at any moment the
/// kinds are mixed.
const STRIDE: usize = 7;

/// The kinds of journey, in the mix 6 challenge : 3 frictionless : 1 decline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Challenge,
    Frictionless,
    Decline,
}

impl Kind {
    pub fn nth(n: usize) -> Self {
        match n % 10 {
            0..=5 => Self::Challenge,
            6..=8 => Self::Frictionless,
            _ => Self::Decline,
        }
    }

    fn card(self) -> &'static str {
        match self {
            Self::Challenge => "4111111111111111",
            Self::Frictionless => "5555555555554444",
            Self::Decline => "5100000000000057",
        }
    }

    fn expected_name(self) -> &'static str {
        match self {
            Self::Challenge => "challenge",
            Self::Frictionless => "frictionless",
            Self::Decline => "decline",
        }
    }

    /// The status the signed result must carry.
    pub fn expected_status(self) -> &'static str {
        match self {
            Self::Challenge | Self::Frictionless => "approved",
            Self::Decline => "declined",
        }
    }

    /// Requests a journey of this kind makes: pay, card page, card submit, result — and for a
    /// challenge the ACS page, the SMS outbox, the OTP answer and the return to Kapı.
    pub fn requests(self) -> usize {
        match self {
            Self::Challenge => 8,
            Self::Frictionless | Self::Decline => 4,
        }
    }
}

/// Why a journey did not count.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JourneyError {
    #[error("transport: {0}")]
    Transport(String),
    #[error("{step}: HTTP {status}")]
    Status { step: &'static str, status: u16 },
    #[error("{0}: the page lacks what a browser needs")]
    Page(&'static str),
    #[error("the result's signature does not verify")]
    BadSignature,
    #[error("the result says {got}, the card gives {expected}")]
    WrongStatus { got: String, expected: &'static str },
    #[error("{made} requests where a journey makes {expected}")]
    RequestCount { made: usize, expected: usize },
    #[error("overloaded (503)")]
    Overloaded,
}

impl JourneyError {
    /// The error's kind, for the report.
    pub fn kind(&self) -> String {
        match self {
            Self::Transport(_) => "transport".into(),
            Self::Status { step, status } => format!("{step} HTTP {status}"),
            Self::Page(step) => format!("{step} page"),
            Self::BadSignature => "bad signature".into(),
            Self::WrongStatus { .. } => "wrong status".into(),
            Self::RequestCount { .. } => "request count".into(),
            Self::Overloaded => "overloaded".into(),
        }
    }
}

/// The merchant's check of a journey's end: the result form's signature and status, and the
/// number of requests it took.
pub fn check_result(
    fields: &[(String, String)],
    secret: &SecretString,
    kind: Kind,
    requests: usize,
) -> Result<(), JourneyError> {
    let signature = fields
        .iter()
        .find(|(k, _)| k == "signature")
        .map(|(_, v)| v.as_str())
        .ok_or(JourneyError::BadSignature)?;
    if !crate::crypto::signature::verify(fields, secret, signature).unwrap_or(false) {
        return Err(JourneyError::BadSignature);
    }
    let status = fields
        .iter()
        .find(|(k, _)| k == "status")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    if status != kind.expected_status() {
        return Err(JourneyError::WrongStatus {
            got: status.to_owned(),
            expected: kind.expected_status(),
        });
    }
    if requests != kind.requests() {
        return Err(JourneyError::RequestCount {
            made: requests,
            expected: kind.requests(),
        });
    }
    Ok(())
}

/// A data folder of the benchmark's own, removed afterwards.
struct DataDir(PathBuf);

impl DataDir {
    fn new() -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!(
            "kapi-bench-{}",
            crate::domain::ids::random_token(6)
        ));
        std::fs::create_dir_all(&dir)?;
        Ok(Self(dir))
    }

    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A started `kapi serve`.
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU seconds (user + system) process `pid` (or `self`) has used, from `/proc`.
fn process_cpu_secs(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    cpu_of_stat(&stat)
}

impl Server {
    /// CPU seconds (user + system) the process has used.
    fn cpu_secs(&self) -> f64 {
        process_cpu_secs(&self.child.id().to_string())
    }

    /// Resident memory in MiB.
    fn rss_mib(&self) -> f64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|kb| kb.parse::<f64>().ok())
            })
            .map_or(0.0, |kb| kb / 1024.0)
    }
}

/// utime + stime of a `/proc/PID/stat` line, in seconds: the 14th and 15th fields, counted
/// after the command's closing parenthesis, in clock ticks (100 a second on Linux).
fn cpu_of_stat(stat: &str) -> f64 {
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

const RETURN_ORIGIN: &str = "https://shop.bench.example";

/// The servers' settings: simulators on, every limit lifted (the load comes from one address),
/// the card-testing guard out of the way (a tenth of the cards decline on purpose).
fn server_env(opts: &Options, key: &str) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("KAPI__SECURITY__MASTER_KEY", key),
        ("KAPI__SIMULATORS__ENABLED", "true"),
        ("KAPI__LIMITS__PAY_START", "100000000"),
        ("KAPI__LIMITS__CARD_SUBMIT", "100000000"),
        ("KAPI__LIMITS__API_CALLS", "100000000"),
        ("KAPI__LIMITS__OTP_ENTRY", "100000000"),
        ("KAPI__LIMITS__DECLINES_PER_IP", "100000000"),
        ("KAPI__LIMITS__DECLINES_PER_BIN", "100000000"),
        ("KAPI__LIMITS__DECLINES_PER_MERCHANT", "100000000"),
        ("KAPI__LIMITS__MERCHANT_DECLINE_MIN", "100000000"),
        ("KAPI__INSTALLMENTS__LOOKUPS_PER_WINDOW", "100000000"),
        ("KAPI_LOG", "error"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    if let Some(url) = &opts.database_url {
        env.push(("KAPI__DATABASE__URL".into(), url.clone()));
    }
    env.extend(opts.env.iter().cloned());
    env
}

async fn start_server(
    opts: &Options,
    env: &[(String, String)],
    data_dir: &std::path::Path,
) -> anyhow::Result<Server> {
    let port = free_port()?;
    let child = Command::new(&opts.exe)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
            &data_dir.display().to_string(),
            "--insecure-http",
        ])
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot start kapi serve")?;
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let client = reqwest::Client::new();
    for _ in 0..400 {
        if let Ok(r) = client.get(format!("{}/readyz", server.base)).send().await
            && r.status().is_success()
        {
            return Ok(server);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("kapi serve on {} did not get ready", server.base)
}

/// Registers the bench's merchant with `kapi merchant add`; returns its id and key.
fn add_merchant(
    opts: &Options,
    env: &[(String, String)],
    data_dir: &std::path::Path,
) -> anyhow::Result<(String, SecretString)> {
    let out = Command::new(&opts.exe)
        .args([
            "merchant",
            "add",
            "--data-dir",
            &data_dir.display().to_string(),
            "--name",
            "Bench Mağaza",
            "--title",
            "Bench Ticaret A.Ş.",
            "--address",
            "Test Cad. 1, İstanbul",
            "--phone",
            "+90 212 000 00 00",
            "--email",
            "bench@shop.bench.example",
            "--mersis",
            "0000000000000002",
            "--return-origin",
            RETURN_ORIGIN,
            "--json",
        ])
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .context("cannot run kapi merchant add")?;
    anyhow::ensure!(
        out.status.success(),
        "kapi merchant add: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let text = |name: &str| {
        v.get(name)
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let id = text("merchant_id");
    let key = SecretString::from(text("secret_key"));
    Ok((id, key))
}

/// Timings of one journey's steps, in microseconds.
type Timings = Vec<(&'static str, u32)>;

/// A shopper's browser: cookies kept, no redirects followed, and a count of its requests.
struct Browser {
    client: reqwest::Client,
    base: String,
    requests: usize,
    timings: Timings,
}

struct Answer {
    status: u16,
    location: Option<String>,
    body: String,
}

impl Browser {
    fn new(base: &str) -> anyhow::Result<Self> {
        Ok(Self {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(60))
                .build()?,
            base: base.to_owned(),
            requests: 0,
            timings: Vec::new(),
        })
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        }
    }

    async fn send(
        &mut self,
        step: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<Answer, JourneyError> {
        let started = Instant::now();
        self.requests += 1;
        let resp = request
            .send()
            .await
            .map_err(|e| JourneyError::Transport(crate::outbound::describe(e)))?;
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = resp
            .text()
            .await
            .map_err(|e| JourneyError::Transport(crate::outbound::describe(e)))?;
        self.timings.push((
            step,
            u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX),
        ));
        if status == 503 {
            return Err(JourneyError::Overloaded);
        }
        Ok(Answer {
            status,
            location,
            body,
        })
    }

    async fn get(&mut self, step: &'static str, path: &str) -> Result<Answer, JourneyError> {
        let request = self.client.get(self.url(path));
        self.send(step, request).await
    }

    async fn post(
        &mut self,
        step: &'static str,
        path: &str,
        fields: &[(String, String)],
    ) -> Result<Answer, JourneyError> {
        let request = self.client.post(self.url(path)).form(fields);
        self.send(step, request).await
    }
}

fn expect(step: &'static str, a: &Answer, status: u16) -> Result<(), JourneyError> {
    if a.status == status {
        Ok(())
    } else {
        Err(JourneyError::Status {
            step,
            status: a.status,
        })
    }
}

/// One complete journey of `kind` as a browser walks it.
async fn journey(
    browser: &mut Browser,
    merchant_id: &str,
    secret: &SecretString,
    kind: Kind,
) -> Result<(), JourneyError> {
    browser.requests = 0;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let order = format!("B-{}", crate::domain::ids::random_token(8));
    let fields: Vec<(String, String)> = [
        ("merchant_id", merchant_id),
        ("order_id", order.as_str()),
        ("amount", "150.00"),
        ("currency", "TRY"),
        ("ok_url", &format!("{RETURN_ORIGIN}/ok")),
        ("fail_url", &format!("{RETURN_ORIGIN}/fail")),
        ("lang", "tr"),
        ("installment", "1"),
        ("description", "Bench siparişi"),
        ("customer_name", "Ayşe Yılmaz"),
        ("customer_email", "ayse@example.com"),
        ("timestamp", &now.to_string()),
        ("nonce", &crate::domain::ids::random_token(12)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let fields = crate::crypto::signature::signed(fields, secret)
        .map_err(|_| JourneyError::Page("signing"))?;
    let started = browser.post("pay", "/pay", &fields).await?;
    expect("pay", &started, 303)?;
    let card_page = started.location.ok_or(JourneyError::Page("pay"))?;
    let page = browser.get("card_page", &card_page).await?;
    expect("card_page", &page, 200)?;
    let form = html::forms(&page.body)
        .into_iter()
        .find(|f| f.action == card_page)
        .ok_or(JourneyError::Page("card_page"))?;
    let csrf = form
        .field("csrf_token")
        .ok_or(JourneyError::Page("card_page"))?;
    let mut card: Vec<(String, String)> = [
        ("csrf_token", csrf),
        ("card_holder", "AYSE YILMAZ"),
        ("card_number", kind.card()),
        ("exp_month", "12"),
        ("exp_year", "2030"),
        ("cvv", "123"),
        ("consent_preinfo", "yes"),
        ("consent_contract", "yes"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    if page.body.contains("id=\"installments\"") {
        card.push(("installment".into(), "1".into()));
    }
    let submitted = browser.post("card_submit", &card_page, &card).await?;
    let back = if kind == Kind::Challenge {
        expect("card_submit", &submitted, 200)?;
        let to_acs = html::forms(&submitted.body)
            .into_iter()
            .next()
            .ok_or(JourneyError::Page("card_submit"))?;
        let challenge = browser
            .post("acs_challenge", &to_acs.action, &to_acs.fields)
            .await?;
        expect("acs_challenge", &challenge, 200)?;
        let otp_form = html::forms(&challenge.body)
            .into_iter()
            .find(|f| f.action.contains("/sim/acs/challenge/"))
            .ok_or(JourneyError::Page("acs_challenge"))?;
        let acs_trans_id = otp_form
            .action
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let sms = browser
            .get(
                "sms_outbox",
                &format!("/sim/sms?acs_trans_id={acs_trans_id}&limit=1"),
            )
            .await?;
        expect("sms_outbox", &sms, 200)?;
        let code = serde_json::from_str::<serde_json::Value>(&sms.body)
            .ok()
            .and_then(|v| v.get(0)?.get("code")?.as_str().map(str::to_owned))
            .ok_or(JourneyError::Page("sms_outbox"))?;
        let mut answer = otp_form.fields.clone();
        answer.retain(|(k, _)| k != "otp" && k != "action");
        answer.push(("action".into(), "verify".into()));
        answer.push(("otp".into(), code));
        let cres = browser
            .post("acs_verify", &otp_form.action, &answer)
            .await?;
        expect("acs_verify", &cres, 200)?;
        let to_kapi = html::forms(&cres.body)
            .into_iter()
            .next()
            .ok_or(JourneyError::Page("acs_verify"))?;
        let back = browser
            .post("threeds_return", &to_kapi.action, &to_kapi.fields)
            .await?;
        expect("threeds_return", &back, 303)?;
        back
    } else {
        expect("card_submit", &submitted, 303)?;
        submitted
    };
    let result_url = back.location.ok_or(JourneyError::Page("result"))?;
    let result = browser.get("result", &result_url).await?;
    expect("result", &result, 200)?;
    let form = html::forms(&result.body)
        .into_iter()
        .find(|f| f.id.as_deref() == Some("merchant-return"))
        .ok_or(JourneyError::Page("result"))?;
    check_result(&form.fields, secret, kind, browser.requests)
}

/// What the shoppers share while they run.
#[derive(Default)]
struct Tally {
    journeys: usize,
    requests: usize,
    by_kind: HashMap<&'static str, usize>,
    errors: HashMap<String, usize>,
    steps: HashMap<&'static str, Vec<u32>>,
    journey_us: Vec<u32>,
}

/// Runs the benchmark and returns its report.
pub async fn run(mut opts: Options) -> anyhow::Result<Report> {
    let Some(url) = opts.database_url.clone() else {
        return run_on(opts).await;
    };
    // Each run gets a PostgreSQL schema of its own (its merchant is sealed under the run's own
    // master key, so a schema another run left behind could not be opened), dropped after.
    let schema = format!(
        "kapi_bench_{}",
        crate::domain::ids::random_token(8).to_lowercase()
    );
    opts.database_url = Some(
        crate::storage::sql::scratch_schema(&url, &schema)
            .await
            .context("cannot create the bench's schema in --database-url")?,
    );
    let report = run_on(opts).await;
    if let Err(e) = crate::storage::sql::drop_scratch_schema(&url, &schema).await {
        eprintln!("kapi bench: could not drop schema {schema}: {e}");
    }
    report
}

async fn run_on(opts: Options) -> anyhow::Result<Report> {
    anyhow::ensure!(opts.shoppers >= 1, "--shoppers must be at least 1");
    anyhow::ensure!(
        opts.instances >= 1 && (opts.instances == 1 || opts.database_url.is_some()),
        "--instances above 1 needs --database-url (instances share a PostgreSQL database)"
    );
    let key = crate::crypto::vault::MasterKey::generate_base64();
    let env = server_env(&opts, key.expose_secret());
    let dirs: Vec<DataDir> = (0..opts.instances)
        .map(|_| DataDir::new())
        .collect::<Result<_, _>>()?;
    let first_dir = dirs.first().context("no data folder")?.path().to_owned();
    // The schema and the merchant first, then the servers.
    let (merchant_id, secret) = add_merchant(&opts, &env, &first_dir)?;
    let mut servers = Vec::new();
    for dir in &dirs {
        servers.push(start_server(&opts, &env, dir.path()).await?);
    }
    let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();

    let tally = Arc::new(Mutex::new(Tally::default()));
    let measuring = Arc::new(AtomicBool::new(opts.journeys.is_some()));
    let stop = Arc::new(AtomicBool::new(false));
    let remaining = Arc::new(std::sync::atomic::AtomicUsize::new(
        opts.journeys.unwrap_or(usize::MAX),
    ));
    let mut tasks = Vec::new();
    for n in 0..opts.shoppers {
        let base = bases.get(n % bases.len()).cloned().unwrap_or_default();
        let (tally, measuring, stop, remaining) = (
            tally.clone(),
            measuring.clone(),
            stop.clone(),
            remaining.clone(),
        );
        let (merchant_id, secret) = (merchant_id.clone(), secret.clone());
        tasks.push(tokio::spawn(async move {
            let Ok(mut browser) = Browser::new(&base) else {
                return;
            };
            let mut i = n;
            while !stop.load(Ordering::SeqCst) {
                if remaining
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |r| r.checked_sub(1))
                    .is_err()
                {
                    break;
                }
                let kind = Kind::nth(i);
                i += STRIDE;
                browser.timings.clear();
                let started = Instant::now();
                let outcome = journey(&mut browser, &merchant_id, &secret, kind).await;
                if !measuring.load(Ordering::SeqCst) {
                    continue;
                }
                let Ok(mut t) = tally.lock() else { return };
                t.requests += browser.requests;
                for (step, us) in browser.timings.drain(..) {
                    t.steps.entry(step).or_default().push(us);
                }
                match outcome {
                    Ok(()) => {
                        t.journeys += 1;
                        *t.by_kind.entry(kind.expected_name()).or_default() += 1;
                        t.journey_us
                            .push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX));
                    }
                    Err(e) => *t.errors.entry(e.kind()).or_default() += 1,
                }
            }
        }));
    }

    let cpu = |servers: &[Server]| servers.iter().map(Server::cpu_secs).sum::<f64>();
    let mut client_cpu = 0.0;
    let (elapsed, cpu_used) = if opts.journeys.is_some() {
        let started = Instant::now();
        let cpu0 = cpu(&servers);
        for t in tasks {
            let _ = t.await;
        }
        (started.elapsed(), cpu(&servers) - cpu0)
    } else {
        tokio::time::sleep(Duration::from_secs(opts.warmup)).await;
        measuring.store(true, Ordering::SeqCst);
        let cpu0 = cpu(&servers);
        let client0 = process_cpu_secs("self");
        let started = Instant::now();
        tokio::time::sleep(Duration::from_secs(opts.seconds)).await;
        measuring.store(false, Ordering::SeqCst);
        let measured = (started.elapsed(), cpu(&servers) - cpu0);
        client_cpu = process_cpu_secs("self") - client0;
        stop.store(true, Ordering::SeqCst);
        for t in tasks {
            let _ = t.await;
        }
        measured
    };
    let rss = servers.iter().map(Server::rss_mib).sum::<f64>();
    let floor = if opts.journeys.is_some() || opts.floor_seconds == 0 {
        None
    } else {
        Some(floor(&servers, opts.shoppers, opts.floor_seconds).await)
    };
    let t = std::mem::take(
        &mut *tally
            .lock()
            .map_err(|_| anyhow::anyhow!("tally poisoned"))?,
    );
    Ok(report::build(
        &opts,
        t.journeys,
        t.requests,
        t.by_kind,
        t.errors,
        t.steps,
        t.journey_us,
        elapsed,
        cpu_used,
        client_cpu,
        rss,
        floor,
    ))
}

/// The floor: `GET /healthz` from `shoppers` concurrent clients for `seconds`: requests per
/// second and server CPU per request.
async fn floor(servers: &[Server], shoppers: usize, seconds: u64) -> report::Floor {
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let cpu0: f64 = servers.iter().map(Server::cpu_secs).sum();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for n in 0..shoppers {
        let url = format!(
            "{}/healthz",
            servers
                .get(n % servers.len())
                .map_or("", |s| s.base.as_str())
        );
        let (stop, count) = (stop.clone(), count.clone());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            while !stop.load(Ordering::SeqCst) {
                if let Ok(r) = client.get(&url).send().await
                    && r.bytes().await.is_ok()
                {
                    count.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        let _ = t.await;
    }
    let secs = started.elapsed().as_secs_f64();
    let cpu: f64 = servers.iter().map(Server::cpu_secs).sum::<f64>() - cpu0;
    let n = count.load(Ordering::SeqCst);
    report::Floor {
        requests_per_sec: n as f64 / secs,
        cpu_us_per_request: if n == 0 { 0.0 } else { cpu * 1e6 / n as f64 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed_result(status: &str, secret: &SecretString) -> Vec<(String, String)> {
        crate::crypto::signature::signed(
            vec![
                ("payment_id".into(), "pay_x".into()),
                ("status".into(), status.into()),
            ],
            secret,
        )
        .unwrap()
    }

    #[test]
    fn a_journey_counts_only_with_a_valid_signature_the_right_status_and_its_requests() {
        let secret = SecretString::from("sk_test".to_owned());
        let ok = signed_result("approved", &secret);
        assert_eq!(check_result(&ok, &secret, Kind::Challenge, 8), Ok(()));
        assert_eq!(check_result(&ok, &secret, Kind::Frictionless, 4), Ok(()));
        // Signed with another key, or changed after signing.
        let other = SecretString::from("sk_other".to_owned());
        assert_eq!(
            check_result(&ok, &other, Kind::Challenge, 8),
            Err(JourneyError::BadSignature)
        );
        let mut tampered = ok.clone();
        tampered[1].1 = "declined".into();
        assert_eq!(
            check_result(&tampered, &secret, Kind::Decline, 4),
            Err(JourneyError::BadSignature)
        );
        let unsigned: Vec<(String, String)> = ok[..2].to_vec();
        assert_eq!(
            check_result(&unsigned, &secret, Kind::Challenge, 8),
            Err(JourneyError::BadSignature)
        );
        // A decline card that came back approved is wrong, and so is a skipped step.
        assert!(matches!(
            check_result(&ok, &secret, Kind::Decline, 4),
            Err(JourneyError::WrongStatus { .. })
        ));
        assert_eq!(
            check_result(&ok, &secret, Kind::Challenge, 4),
            Err(JourneyError::RequestCount {
                made: 4,
                expected: 8
            })
        );
        let declined = signed_result("declined", &secret);
        assert_eq!(check_result(&declined, &secret, Kind::Decline, 4), Ok(()));
    }

    #[test]
    fn cpu_is_read_after_the_command_name_whatever_it_holds() {
        let stat = "4242 (kapi serve) x) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0";
        assert_eq!(cpu_of_stat(stat), 3.0);
        assert_eq!(cpu_of_stat("garbage"), 0.0);
    }

    #[test]
    fn the_mix_is_six_challenges_three_frictionless_one_decline() {
        let kinds: Vec<Kind> = (0..10).map(Kind::nth).collect();
        let count = |k: Kind| kinds.iter().filter(|x| **x == k).count();
        assert_eq!(count(Kind::Challenge), 6);
        assert_eq!(count(Kind::Frictionless), 3);
        assert_eq!(count(Kind::Decline), 1);
        // A shopper's stride visits every kind.
        let walked: Vec<Kind> = (0..10).map(|i| Kind::nth(i * STRIDE)).collect();
        assert_eq!(walked.iter().filter(|k| **k == Kind::Decline).count(), 1);
    }
}
