//! `spawn_app()` and the steps of a payment, so tests read like the flow.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, body::Bytes, extract::State, routing::post};
use kapi::{
    Application,
    clock::{Clock, OffsetClock},
    config::Settings,
    crypto::{signature, vault::MasterKey},
    merchants::{self, NewMerchant},
};
use reqwest::{StatusCode, redirect::Policy};
use scraper::{Html, Selector};
use secrecy::{ExposeSecret, SecretString};

pub type Fields = Vec<(String, String)>;

/// The simulated bank terminal's key in tests (its transaction list needs it).
pub const BANK_KEY: &str = "test-bank-terminal-key";

/// What the merchant's endpoints received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub raw: Vec<u8>,
    pub fields: Fields,
    pub signature_ok: bool,
    /// Lower-case header names.
    pub headers: std::collections::HashMap<String, String>,
    /// The HTTP status the receiver answered (0: it hung up without answering).
    pub answered: u16,
    /// When it arrived.
    pub at: std::time::Instant,
}

impl Received {
    pub fn get(&self, name: &str) -> &str {
        field(&self.fields, name)
    }

    /// A JSON event (as opposed to a form-encoded result).
    pub fn is_event(&self) -> bool {
        self.headers.contains_key("kapi-event-id")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.raw).unwrap()
    }
}

/// Checks `Kapi-Signature: t=..,v1=..[,v1=..]` against any of `secrets`.
pub fn event_signature_ok(header: &str, body: &[u8], secrets: &[&str]) -> bool {
    let mut t = None;
    let mut sigs = vec![];
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = Some(v.to_owned()),
            Some(("v1", v)) => sigs.push(v.to_owned()),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    let mut message = format!("{t}.").into_bytes();
    message.extend_from_slice(body);
    secrets.iter().any(|s| {
        let expected = kapi::crypto::hmac_hex(s.as_bytes(), &message);
        sigs.iter().any(|v| v == &expected)
    })
}

#[derive(Clone, Default)]
pub struct Receiver {
    secret: Arc<Mutex<Option<SecretString>>>,
    pub received: Arc<Mutex<Vec<Received>>>,
    /// Answer this many JSON events with 500 before accepting.
    pub fail_events: Arc<std::sync::atomic::AtomicUsize>,
    /// While set, JSON events are recorded and then never answered (a minute's hang).
    pub hang_events: Arc<std::sync::atomic::AtomicBool>,
    /// Scripted answers to form posts (not JSON events), by path: see `script`.
    scripts: Arc<Mutex<Scripts>>,
}

/// Answers (status, body) to give, in turn, by path.
type Scripts = std::collections::HashMap<String, std::collections::VecDeque<(u16, String)>>;

impl Receiver {
    /// The merchant's secret, which the receiver checks signatures with.
    pub fn set_secret(&self, secret: SecretString) {
        *self.secret.lock().unwrap() = Some(secret);
    }

    /// Form posts to `path` are answered with `answers` (status, body) in turn; the last one
    /// then answers every later post. Without a script a post is answered 200 `OK`.
    pub fn script(&self, path: &str, answers: &[(u16, &str)]) {
        let answers = answers
            .iter()
            .map(|(status, body)| (*status, (*body).to_owned()))
            .collect();
        self.scripts
            .lock()
            .unwrap()
            .insert(path.to_owned(), answers);
    }

    pub fn all(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    pub fn at(&self, path: &str) -> Vec<Received> {
        self.all().into_iter().filter(|r| r.path == path).collect()
    }

    /// Waits for the server-to-server callback (it is sent in the background).
    /// The JSON events received, in arrival order.
    pub fn events(&self) -> Vec<Received> {
        self.all().into_iter().filter(Received::is_event).collect()
    }

    /// Waits until an event of `kind` about `payment_id` was accepted (2xx).
    pub async fn wait_event(&self, payment_id: &str, kind: &str) -> Received {
        for _ in 0..200 {
            if let Some(r) = self.events().into_iter().find(|r| {
                let j = r.json();
                r.answered == 200 && j["type"] == kind && j["data"]["payment"]["id"] == payment_id
            }) {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no {kind} event for {payment_id}");
    }

    pub async fn wait_callback(&self, order_id: &str) -> Received {
        for _ in 0..100 {
            if let Some(r) = self
                .at("/callback")
                .into_iter()
                .find(|r| r.get("order_id") == order_id)
            {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no callback for order {order_id}");
    }
}

async fn receive(
    State(rx): State<Receiver>,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> (axum::http::StatusCode, String) {
    use std::sync::atomic::Ordering;
    let headers: std::collections::HashMap<String, String> = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let is_event = headers.contains_key("kapi-event-id");
    let fields: Fields = if is_event {
        vec![]
    } else {
        serde_urlencoded::from_bytes(&body).unwrap_or_default()
    };
    let secret = rx.secret.lock().unwrap().clone().expect("secret set");
    let signature_ok = if is_event {
        event_signature_ok(
            headers
                .get("kapi-signature")
                .map(String::as_str)
                .unwrap_or(""),
            &body,
            &[secret.expose_secret()],
        )
    } else {
        let sig = field(&fields, "signature").to_owned();
        signature::verify(&fields, &secret, &sig).unwrap_or(false)
    };
    let fail = is_event
        && rx
            .fail_events
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
    let hang = is_event && rx.hang_events.load(Ordering::SeqCst);
    let scripted = if is_event {
        None
    } else {
        let mut scripts = rx.scripts.lock().unwrap();
        scripts.get_mut(uri.path()).and_then(|answers| {
            if answers.len() > 1 {
                answers.pop_front()
            } else {
                answers.front().cloned()
            }
        })
    };
    let answered = match (hang, fail, &scripted) {
        (true, _, _) => 0,
        (false, true, _) => 500,
        (false, false, Some((status, _))) => *status,
        (false, false, None) => 200,
    };
    rx.received.lock().unwrap().push(Received {
        path: uri.path().to_owned(),
        raw: body.to_vec(),
        fields,
        signature_ok,
        headers,
        answered,
        at: std::time::Instant::now(),
    });
    if hang {
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
    let body = match scripted {
        Some((_, body)) => body,
        None if fail => "try later".to_owned(),
        None => "OK".to_owned(),
    };
    (axum::http::StatusCode::from_u16(answered).unwrap(), body)
}

pub fn field<'a>(fields: &'a Fields, name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

/// A merchant and a shopper's browser in front of one Kapı address (one instance, or a balancer
/// before several): the steps of a payment over HTTP.
pub struct Shop {
    pub address: String,
    pub client: reqwest::Client,
    pub merchant_id: String,
    pub secret: SecretString,
    pub receiver: Receiver,
    pub receiver_url: String,
    pub clock: Arc<OffsetClock>,
}

/// A Kapı in this test process, with the shop in front of it (`app.client`, `app.pay_with` …
/// come from `Shop`).
pub struct TestApp {
    pub shop: Shop,
    pub data_dir: tempfile::TempDir,
    pub app_state: kapi::state::AppState,
    /// The master key, for running the CLI against the same data folder.
    pub master_key: SecretString,
    /// The demo shop, when the settings ask for it.
    pub demo_url: Option<String>,
    /// The PostgreSQL database of this test (a schema of its own), when the suite runs on
    /// PostgreSQL; `None`: SQLite in the data folder.
    pub database_url: Option<String>,
}

impl std::ops::Deref for TestApp {
    type Target = Shop;

    fn deref(&self) -> &Shop {
        &self.shop
    }
}

/// The PostgreSQL database the suite runs against, when `KAPI_TEST_POSTGRES` names one
/// (`postgres://postgres@127.0.0.1:5432/kapi_test`); unset, every test runs on SQLite.
pub fn test_postgres() -> Option<String> {
    std::env::var("KAPI_TEST_POSTGRES")
        .ok()
        .filter(|s| !s.trim().is_empty())
}

/// A database of its own for one test, on the suite's PostgreSQL: a fresh schema, named in
/// the URL's `search_path`. `None` on SQLite.
pub async fn fresh_database_url() -> Option<String> {
    let base = test_postgres()?;
    let schema = format!("t_{}", kapi::domain::ids::random_token(8));
    let mut conn: sqlx::PgConnection = sqlx::Connection::connect(&base)
        .await
        .expect("the test PostgreSQL (KAPI_TEST_POSTGRES) accepts connections");
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    Some(format!("{base}{sep}options=-c%20search_path%3D{schema}"))
}

/// Raw access to a test's database (SQLite file in `data_dir`, or its PostgreSQL schema),
/// for the checks that look underneath Kapı.
pub async fn raw_db(data_dir: &std::path::Path, database_url: Option<&str>) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    let url = match database_url {
        Some(url) => url.to_owned(),
        None => format!("sqlite://{}", data_dir.join("kapi.db").display()),
    };
    sqlx::any::AnyPoolOptions::new()
        .max_connections(2)
        .connect(&url)
        .await
        .unwrap()
}

/// The merchant's endpoints (`/ok`, `/fail`, `/callback`, `/webhook`) on a port of their own;
/// returns them and their base URL. Signatures are checked once `set_secret` names the key.
pub async fn spawn_receiver() -> (Receiver, String) {
    let receiver = Receiver::default();
    let rx_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let receiver_url = format!("http://{}", rx_listener.local_addr().unwrap());
    let rx_router = Router::new()
        .route("/ok", post(receive))
        .route("/fail", post(receive))
        .route("/callback", post(receive))
        .route("/webhook", post(receive))
        .with_state(receiver.clone());
    tokio::spawn(async move { axum::serve(rx_listener, rx_router).await.unwrap() });
    (receiver, receiver_url)
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Everything the servers in this test process log, at debug level: the card-data scan
/// searches it.
pub fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: std::sync::OnceLock<Arc<Mutex<Vec<u8>>>> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer: Arc<Mutex<Vec<u8>>> = Arc::default();
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "debug,hyper=info,hyper_util=info,reqwest=info,rustls=info,h2=info,html5ever=info,selectors=info",
            ))
            .with_ansi(false)
            .with_writer(move || LogSink(sink.clone()))
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        buffer
    })
    .clone()
}

struct LogSink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    kapi::install_crypto_provider();
    captured_logs();
    let (receiver, receiver_url) = spawn_receiver().await;

    let data_dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::default();
    settings.server.listen = "127.0.0.1:0".into();
    settings.server.data_dir = data_dir.path().to_owned();
    let master_key = MasterKey::generate_base64();
    settings.security.master_key = Some(master_key.clone());
    settings.server.demo = false;
    // The built-in ACS, bank and SMS outbox stand in for the outside parties.
    settings.simulators.enabled = true;
    settings.acquirer.api_key = Some(SecretString::from(BANK_KEY.to_owned()));
    // Plain HTTP on loopback: the TLS tests serve HTTPS themselves.
    settings.server.allow_plain_http = true;
    // The receiver listens on loopback.
    settings.notifications.allow_private_targets = true;
    // Journeys run many payments from one address; the limit tests set their own.
    settings.limits.pay_start = 1000;
    settings.limits.card_submit = 1000;
    settings.limits.declines_per_ip = 1000;
    settings.limits.declines_per_merchant = 1000;
    // Quick retries, so that delivery tests take milliseconds.
    settings.notifications.first_retry_ms = 50;
    settings.notifications.poll_interval_ms = 50;
    if let Some(url) = fresh_database_url().await {
        settings.database.url = Some(SecretString::from(url));
        settings.database.max_connections = 5;
    }
    configure(&mut settings);
    let database_url = settings
        .database
        .url
        .as_ref()
        .map(|u| u.expose_secret().to_owned());
    let clock = Arc::new(OffsetClock::default());
    let app = Application::build_with_clock(settings, clock.clone())
        .await
        .expect("app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let state = app.state().clone();
    let demo_url = app.demo_url.clone();
    tokio::spawn(app.run_until(std::future::pending()));

    let (merchant_id, secret) = merchants::register(
        &*state.storage.merchants,
        &state.vault,
        NewMerchant {
            name: "Örnek Mağaza".into(),
            legal_title: "Örnek Mağazacılık Ltd. Şti.".into(),
            address: "Bağdat Cad. No: 5, Kadıköy / İstanbul".into(),
            phone: "+90 216 000 00 00".into(),
            email: "info@ornek.example".into(),
            mersis: "0123456789012345".into(),
            return_origins: vec![receiver_url.clone()],
            ..Default::default()
        },
        clock.now_ms(),
    )
    .await
    .unwrap();
    receiver.set_secret(secret.clone());

    let client = reqwest::Client::builder()
        .redirect(Policy::none())
        .cookie_store(true)
        .user_agent("kapi-tests/1.0")
        .build()
        .unwrap();
    TestApp {
        shop: Shop {
            address,
            client,
            merchant_id: merchant_id.to_string(),
            secret,
            receiver,
            receiver_url,
            clock,
        },
        data_dir,
        app_state: state,
        master_key,
        demo_url,
        database_url,
    }
}

/// A `<form>` on a page, as a browser would submit it.
#[derive(Debug, Clone)]
pub struct Form {
    pub action: String,
    pub fields: Fields,
}

pub fn forms(html: &str) -> Vec<Form> {
    let doc = Html::parse_document(html);
    let form_sel = Selector::parse("form").unwrap();
    let input_sel = Selector::parse("input").unwrap();
    doc.select(&form_sel)
        .map(|f| Form {
            action: f.value().attr("action").unwrap_or("").to_owned(),
            fields: f
                .select(&input_sel)
                .filter(|i| i.value().attr("type") != Some("checkbox"))
                .filter_map(|i| {
                    Some((
                        i.value().attr("name")?.to_owned(),
                        i.value().attr("value").unwrap_or("").to_owned(),
                    ))
                })
                .collect(),
        })
        .collect()
}

pub fn form_by_id(html: &str, id: &str) -> Option<Form> {
    let doc = Html::parse_document(html);
    let sel = Selector::parse(&format!("form#{id}")).unwrap();
    let el = doc.select(&sel).next()?;
    let input_sel = Selector::parse("input").unwrap();
    Some(Form {
        action: el.value().attr("action").unwrap_or("").to_owned(),
        fields: el
            .select(&input_sel)
            .filter_map(|i| {
                Some((
                    i.value().attr("name")?.to_owned(),
                    i.value().attr("value").unwrap_or("").to_owned(),
                ))
            })
            .collect(),
    })
}

/// The error code shown on an error page.
pub fn error_code(html: &str) -> Option<String> {
    let doc = Html::parse_document(html);
    let sel = Selector::parse("[data-error-code]").unwrap();
    doc.select(&sel)
        .next()
        .and_then(|e| e.value().attr("data-error-code").map(str::to_owned))
}

pub fn text_of(html: &str, selector: &str) -> Vec<String> {
    let doc = Html::parse_document(html);
    let sel = Selector::parse(selector).unwrap();
    doc.select(&sel)
        .map(|e| e.text().collect::<String>().trim().to_owned())
        .collect()
}

pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    pub async fn from(resp: reqwest::Response) -> Self {
        let status = resp.status();
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .map(|v| v.to_str().unwrap().to_owned());
        let headers = resp.headers().clone();
        let body = resp.text().await.unwrap();
        Self {
            status,
            location,
            headers,
            body,
        }
    }

    /// A response header's value.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap_or_default().to_owned())
    }
}

/// Test cards: number, expected brand.
pub const VISA_CHALLENGE: &str = "4111 1111 1111 1111";
pub const MC_FRICTIONLESS: &str = "5555 5555 5555 4444";

pub fn random_id(prefix: &str) -> String {
    format!("{prefix}-{}", kapi::domain::ids::random_token(6))
}

impl Shop {
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{}", self.address, path)
        }
    }

    /// A valid signed start form; `overrides` replace or add fields before signing.
    pub fn start_form(&self, overrides: &[(&str, &str)]) -> Fields {
        let now = self.clock.now_secs().to_string();
        let mut fields: Fields = vec![
            ("merchant_id", self.merchant_id.clone()),
            ("order_id", random_id("ORD")),
            ("amount", "150.00".to_owned()),
            ("currency", "TRY".to_owned()),
            ("ok_url", format!("{}/ok", self.receiver_url)),
            ("fail_url", format!("{}/fail", self.receiver_url)),
            ("callback_url", format!("{}/callback", self.receiver_url)),
            ("lang", "tr".to_owned()),
            ("installment", "1".to_owned()),
            ("description", "Kırmızı kazak — beden M".to_owned()),
            ("customer_name", "Ayşe Yılmaz".to_owned()),
            ("customer_email", "ayse@example.com".to_owned()),
            ("customer_phone", "+905321234567".to_owned()),
            ("timestamp", now),
            ("nonce", kapi::domain::ids::random_token(12)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        for (k, v) in overrides {
            match fields.iter_mut().find(|(n, _)| n == k) {
                Some(f) => f.1 = (*v).to_owned(),
                None => fields.push(((*k).to_owned(), (*v).to_owned())),
            }
        }
        self.sign(fields)
    }

    pub fn sign(&self, fields: Fields) -> Fields {
        signature::signed(fields, &self.secret).unwrap()
    }

    pub async fn post_form(&self, path: &str, fields: &Fields) -> Page {
        Page::from(
            self.client
                .post(self.url(path))
                .form(fields)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn get(&self, path: &str) -> Page {
        Page::from(self.client.get(self.url(path)).send().await.unwrap()).await
    }

    pub async fn pay(&self, fields: &Fields) -> Page {
        self.post_form("/pay", fields).await
    }

    /// Starts a payment and returns its id (the card page is where `/pay` redirects).
    pub async fn start_payment(&self, overrides: &[(&str, &str)]) -> String {
        let page = self.pay(&self.start_form(overrides)).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        let location = page.location.unwrap();
        location
            .strip_prefix("/checkout/")
            .expect("redirect to the card page")
            .to_owned()
    }

    pub async fn card_page(&self, payment_id: &str) -> Page {
        self.get(&format!("/checkout/{payment_id}")).await
    }

    /// The card form as a shopper fills it: `extra` overrides fields (e.g. consents).
    pub async fn card_fields(
        &self,
        payment_id: &str,
        card: &str,
        extra: &[(&str, &str)],
    ) -> Fields {
        let page = self.card_page(payment_id).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let form = forms(&page.body)
            .into_iter()
            .find(|f| f.action == format!("/checkout/{payment_id}"))
            .expect("card form");
        let cvv = if card.replace(' ', "").len() == 15 {
            "1234"
        } else {
            "123"
        };
        let mut fields: Fields = vec![
            ("csrf_token", field(&form.fields, "csrf_token").to_owned()),
            ("card_holder", "AYSE YILMAZ".to_owned()),
            ("card_number", card.to_owned()),
            ("exp_month", "12".to_owned()),
            ("exp_year", "2030".to_owned()),
            ("cvv", cvv.to_owned()),
            ("consent_preinfo", "yes".to_owned()),
            ("consent_contract", "yes".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        // Where the shopper chooses installments, the page's script has shown the table by
        // now and single payment is chosen (a test passes `("installment", "")` to submit
        // as a browser without JavaScript does).
        if page.body.contains("id=\"installments\"") {
            fields.push(("installment".to_owned(), "1".to_owned()));
        }
        for (k, v) in extra {
            fields.retain(|(n, _)| n != k);
            if !v.is_empty() {
                fields.push(((*k).to_owned(), (*v).to_owned()));
            }
        }
        fields
    }

    pub async fn submit_card(&self, payment_id: &str, card: &str) -> Page {
        let fields = self.card_fields(payment_id, card, &[]).await;
        self.post_form(&format!("/checkout/{payment_id}"), &fields)
            .await
    }

    /// Follows an auto-submitting page: posts its (only) form as the browser would.
    pub async fn follow_post(&self, html: &str) -> Page {
        let form = forms(html)
            .into_iter()
            .next()
            .expect("a form to auto-submit");
        self.post_form(&form.action, &form.fields).await
    }

    /// The OTP the simulated SMS gateway "sent" most recently.
    /// The simulated SMS outbox, newest first.
    pub async fn sms_outbox(&self) -> Vec<serde_json::Value> {
        self.client
            .get(self.url("/sim/sms"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn sms_count(&self) -> usize {
        self.sms_outbox().await.len()
    }

    pub async fn latest_otp(&self) -> String {
        let list = self.sms_outbox().await;
        list.first().expect("an SMS was sent")["code"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// On the ACS challenge page: enter `code` (or take another action).
    pub async fn acs_action(&self, challenge_html: &str, action: &str, otp: &str) -> Page {
        let form = forms(challenge_html)
            .into_iter()
            .find(|f| f.action.contains("/sim/acs/challenge/"))
            .expect("ACS challenge form");
        let mut fields = form.fields.clone();
        fields.retain(|(k, _)| k != "otp" && k != "action");
        fields.push(("action".into(), action.into()));
        fields.push(("otp".into(), otp.into()));
        self.post_form(&form.action, &fields).await
    }

    /// From the card submit response to the result page, answering the OTP right when there
    /// is a challenge. Returns the result page.
    pub async fn complete_3ds(&self, submit: Page) -> Page {
        let after_acs = if submit.status == StatusCode::SEE_OTHER {
            submit
        } else {
            assert_eq!(submit.status, StatusCode::OK, "{}", submit.body);
            let challenge = self.follow_post(&submit.body).await;
            assert_eq!(challenge.status, StatusCode::OK, "{}", challenge.body);
            let otp = self.latest_otp().await;
            let cres_page = self.acs_action(&challenge.body, "verify", &otp).await;
            self.follow_post(&cres_page.body).await
        };
        assert_eq!(
            after_acs.status,
            StatusCode::SEE_OTHER,
            "{}",
            after_acs.body
        );
        self.get(&after_acs.location.unwrap()).await
    }

    /// The rest of a journey from `page` (of payment `id`) to its result page, as a browser
    /// goes: a result page that refreshes itself is asked again, and a page that sends the
    /// browser to an ACS (a new 3-D Secure step after a fallback to another terminal) is
    /// followed through its challenge.
    pub async fn through_to_result(&self, id: &str, mut page: Page) -> Page {
        for _ in 0..300 {
            if form_by_id(&page.body, "merchant-return").is_some() {
                return page;
            }
            page = if page.body.contains("http-equiv=\"refresh\"") {
                tokio::time::sleep(Duration::from_millis(50)).await;
                self.get(&format!("/checkout/{id}/result")).await
            } else {
                self.complete_3ds(page).await
            };
        }
        panic!(
            "payment {id} never reached its result: {} {}",
            page.status, page.body
        );
    }

    /// The result page's signed form, posted by the browser to the merchant; returns what the
    /// merchant received.
    pub async fn return_to_merchant(&self, result_page: &Page) -> Received {
        let form = form_by_id(&result_page.body, "merchant-return").expect("merchant return form");
        // Only the browser's form posts: callbacks and events arrive on their own.
        let path = reqwest::Url::parse(&form.action).unwrap().path().to_owned();
        let posts = || -> Vec<Received> {
            self.receiver
                .at(&path)
                .into_iter()
                .filter(|r| !r.is_event())
                .collect()
        };
        let before = posts().len();
        let resp = self
            .client
            .post(&form.action)
            .form(&form.fields)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let after = posts();
        assert_eq!(after.len(), before + 1);
        after.last().unwrap().clone()
    }

    /// A whole payment with `card`, ending with what the browser posted to the merchant.
    pub async fn pay_with(&self, card: &str, overrides: &[(&str, &str)]) -> Received {
        let id = self.start_payment(overrides).await;
        let submit = self.submit_card(&id, card).await;
        let result = self.complete_3ds(submit).await;
        self.return_to_merchant(&result).await
    }

    /// Submits an already filled card form and follows the payment to the merchant.
    pub async fn pay_with_fields(&self, payment_id: &str, fields: &Fields) -> Received {
        let submit = self
            .post_form(&format!("/checkout/{payment_id}"), fields)
            .await;
        let result = self.complete_3ds(submit).await;
        self.return_to_merchant(&result).await
    }

    /// What the bank simulator authorised for an order.
    pub async fn bank_transactions(&self, order_id: &str) -> Vec<serde_json::Value> {
        self.client
            .get(self.url(&format!("/sim/bank/v1/transactions?order_id={order_id}")))
            .bearer_auth(BANK_KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub fn secret_str(&self) -> &str {
        self.secret.expose_secret()
    }
}

impl Shop {
    /// An authenticated API request.
    pub fn api(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(self.secret_str())
    }

    /// `POST /api/v1/checkout-sessions`; returns (status, body).
    pub async fn create_session(&self, body: serde_json::Value) -> (StatusCode, serde_json::Value) {
        let resp = self
            .api(reqwest::Method::POST, "/api/v1/checkout-sessions")
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap())
    }

    pub fn session_body(&self, overrides: serde_json::Value) -> serde_json::Value {
        let mut body = serde_json::json!({
            "order_id": random_id("API"),
            "amount": "150.00",
            "currency": "TRY",
            "ok_url": format!("{}/ok", self.receiver_url),
            "fail_url": format!("{}/fail", self.receiver_url),
            "callback_url": format!("{}/callback", self.receiver_url),
            "lang": "tr",
            "description": "API siparişi",
            "customer": {"name": "Ayşe Yılmaz", "email": "ayse@example.com", "phone": "+905321234567"}
        });
        for (k, v) in overrides.as_object().unwrap() {
            if v.is_null() {
                body.as_object_mut().unwrap().remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        body
    }

    /// Opens a session's `url` in this browser and pays with `card`; returns what the
    /// browser posted to the merchant.
    pub async fn pay_session(&self, url: &str, card: &str) -> Received {
        let opened = self.get(url).await;
        assert_eq!(opened.status, StatusCode::SEE_OTHER, "{}", opened.body);
        let id = opened
            .location
            .unwrap()
            .trim_start_matches("/checkout/")
            .to_owned();
        let result = self.complete_3ds(self.submit_card(&id, card).await).await;
        self.return_to_merchant(&result).await
    }

    /// An approved payment made through the API, and its id.
    pub async fn approved_payment(&self) -> String {
        let (status, session) = self
            .create_session(self.session_body(serde_json::json!({})))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{session}");
        let got = self
            .pay_session(session["url"].as_str().unwrap(), MC_FRICTIONLESS)
            .await;
        assert_eq!(got.get("status"), "approved");
        session["id"].as_str().unwrap().to_owned()
    }

    pub async fn get_json(&self, path: &str) -> (StatusCode, serde_json::Value) {
        let resp = self.api(reqwest::Method::GET, path).send().await.unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap())
    }

    pub async fn post_json(
        &self,
        path: &str,
        body: Option<serde_json::Value>,
        key: Option<&str>,
    ) -> (StatusCode, serde_json::Value) {
        let mut req = self.api(reqwest::Method::POST, path);
        if let Some(b) = body {
            req = req.json(&b);
        }
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap())
    }

    /// Moves the clock to 12:00 Istanbul (09:00 UTC) of the next day, away from the void
    /// cut-off, so tests do not depend on the hour they run at.
    pub fn clock_to_istanbul_noon(&self) {
        let now = self.clock.now_secs();
        let day = 86_400;
        let target = (now / day + 1) * day + 9 * 3600;
        self.clock.advance(target - now);
    }
}

impl TestApp {
    /// Adds a terminal (`kapi terminal add`): its id.
    pub async fn add_terminal(&self, new: kapi::terminals::NewTerminal) -> String {
        let s = &self.app_state;
        let now = self.clock.now_ms();
        kapi::terminals::add(
            &*s.storage.terminals,
            &*s.storage.merchants,
            &s.vault,
            new,
            now,
        )
        .await
        .unwrap()
    }

    /// Changes a terminal (`kapi terminal configure`), enabling or disabling it too.
    pub async fn configure_terminal(
        &self,
        id: &str,
        change: kapi::terminals::TerminalChange,
        enabled: Option<bool>,
    ) {
        let s = &self.app_state;
        let now = self.clock.now_ms();
        kapi::terminals::configure(&*s.storage.terminals, &s.vault, id, change, enabled, now)
            .await
            .unwrap();
    }

    /// Waits until the payment reaches a final status (the sweeper and detached tasks move it
    /// in the background) and returns it.
    pub async fn wait_final(&self, payment_id: &str) -> kapi::checkout::payment::Payment {
        let mut last = String::new();
        for _ in 0..300 {
            let p = self
                .app_state
                .storage
                .payments
                .get_payment(payment_id)
                .await
                .unwrap()
                .expect("payment exists");
            if p.status.is_final() {
                return p;
            }
            last = p.status.as_str().to_owned();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("payment {payment_id} still {last}");
    }

    /// Runs the `kapi` binary against this app's data folder and master key. Asynchronously:
    /// the server runs on this test's runtime, and a blocking wait here would stall it in the
    /// middle of a transaction while the command waits for the database.
    /// `kapi merchant configure --merchant-id <the test merchant> ARGS…`.
    pub async fn configure_merchant(&self, args: &[&str]) -> std::process::Output {
        let mut all = vec!["merchant", "configure", "--merchant-id", &self.merchant_id];
        all.extend_from_slice(args);
        self.kapi(&all).await
    }

    /// Raw access to this test's database.
    pub async fn db(&self) -> sqlx::AnyPool {
        raw_db(self.data_dir.path(), self.database_url.as_deref()).await
    }

    /// Everything stored, as bytes to search: the data folder's files (on SQLite, the
    /// database, its WAL and the keyring) and, on PostgreSQL, every row of every table of the
    /// test's schema, as text.
    pub async fn stored_bytes(&self) -> Vec<(String, Vec<u8>)> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(self.data_dir.path()).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                found.push((path.display().to_string(), std::fs::read(&path).unwrap()));
            }
        }
        if self.database_url.is_some() {
            let db = self.db().await;
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT table_name::text FROM information_schema.tables \
                 WHERE table_schema = current_schema()",
            )
            .fetch_all(&db)
            .await
            .unwrap();
            for table in tables {
                let rows: Vec<String> =
                    sqlx::query_scalar(&format!("SELECT CAST(t AS TEXT) FROM \"{table}\" t"))
                        .fetch_all(&db)
                        .await
                        .unwrap();
                found.push((format!("table {table}"), rows.join("\n").into_bytes()));
            }
        }
        found
    }

    pub async fn kapi(&self, args: &[&str]) -> std::process::Output {
        let mut full: Vec<&str> = args.to_vec();
        let dir = self.data_dir.path().to_str().unwrap().to_owned();
        full.extend(["--data-dir", &dir]);
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_kapi"));
        if let Some(url) = &self.database_url {
            command.env("KAPI__DATABASE__URL", url);
        }
        command
            .args(&full)
            .env(
                "KAPI__SECURITY__MASTER_KEY",
                self.master_key.expose_secret(),
            )
            .output()
            .await
            .unwrap()
    }
}

/// An address nobody listens on: a connection to it is refused.
pub fn refused_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}
