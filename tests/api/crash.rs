//! Delivery survives a crash: the real `kapi` binary is killed with SIGKILL while its
//! deliveries hang, started again, and every event still arrives.

use std::{
    collections::HashSet,
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use axum::{Router, body::Bytes, extract::State, http::HeaderMap, routing::post};
use kapi::crypto::vault::MasterKey;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

#[derive(Clone, Default)]
struct Endpoint {
    /// While true, every delivery hangs (the server is killed in the middle of them).
    hang: Arc<AtomicBool>,
    accepted: Arc<Mutex<HashSet<String>>>,
    seen: Arc<Mutex<usize>>,
}

async fn receive(State(ep): State<Endpoint>, headers: HeaderMap, _body: Bytes) -> &'static str {
    *ep.seen.lock().unwrap() += 1;
    if ep.hang.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
    if let Some(id) = headers.get("kapi-event-id").and_then(|v| v.to_str().ok()) {
        ep.accepted.lock().unwrap().insert(id.to_owned());
    }
    "OK"
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `kapi` with the test's database: PostgreSQL when the suite runs on it.
fn kapi_command(db: Option<&str>) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kapi"));
    if let Some(url) = db {
        command.env("KAPI__DATABASE__URL", url);
    }
    command
}

/// `kapi serve` on `port` and `data_dir` with the simulators and quick, retrying deliveries;
/// the caller adds settings and spawns it.
fn serve_command(data_dir: &str, db: Option<&str>, port: u16, key: &str) -> Command {
    let mut command = kapi_command(db);
    command
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
            data_dir,
            "--insecure-http",
        ])
        .env("KAPI__SECURITY__MASTER_KEY", key)
        .env("KAPI__SIMULATORS__ENABLED", "true")
        .env("KAPI__NOTIFICATIONS__LEASE_SECS", "2")
        .env("KAPI__NOTIFICATIONS__ALLOW_PRIVATE_TARGETS", "true")
        .env("KAPI__NOTIFICATIONS__FIRST_RETRY_MS", "200")
        .env("KAPI__NOTIFICATIONS__TIMEOUT_SECS", "1")
        .env("KAPI__NOTIFICATIONS__POLL_INTERVAL_MS", "100")
        .env("KAPI_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

fn start(data_dir: &str, db: Option<&str>, port: u16, key: &str) -> Child {
    serve_command(data_dir, db, port, key)
        .spawn()
        .expect("kapi starts")
}

async fn wait_ready(client: &reqwest::Client, base: &str) {
    for _ in 0..200 {
        let ready = client
            .get(format!("{base}/api/v1/openapi.json"))
            .send()
            .await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("kapi did not start");
}

#[tokio::test]
async fn every_event_is_delivered_after_a_sigkill_mid_delivery() {
    let endpoint = Endpoint::default();
    endpoint.hang.store(true, Ordering::SeqCst);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let receiver = format!("http://{}", listener.local_addr().unwrap());
    let router = Router::new()
        .route("/callback", post(receive))
        .with_state(endpoint.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap().to_owned();
    let db = crate::helpers::fresh_database_url().await;
    let key = MasterKey::generate_base64();
    let secret = add_merchant(&data_dir, db.as_deref(), key.expose_secret(), &receiver);

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut server = start(&data_dir, db.as_deref(), port, key.expose_secret());
    wait_ready(&client, &base).await;

    // Twenty sessions, each expired by the merchant: twenty events.
    let mut payments = vec![];
    for i in 0..20 {
        let body = json!({
            "order_id": format!("CRASH-{i}"), "amount": "10.00", "currency": "TRY",
            "ok_url": format!("{receiver}/ok"), "fail_url": format!("{receiver}/fail"),
            "callback_url": format!("{receiver}/callback"),
        });
        let s: Value = client
            .post(format!("{base}/api/v1/checkout-sessions"))
            .bearer_auth(&secret)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = s["id"].as_str().unwrap().to_owned();
        let r = client
            .post(format!("{base}/api/v1/checkout-sessions/{id}/expire"))
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), reqwest::StatusCode::OK);
        payments.push(id);
    }
    // Deliveries are under way (and hanging) when the server dies.
    for _ in 0..100 {
        if *endpoint.seen.lock().unwrap() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(*endpoint.seen.lock().unwrap() > 0, "no delivery started");
    server.kill().unwrap(); // SIGKILL
    server.wait().unwrap();
    assert!(endpoint.accepted.lock().unwrap().is_empty());

    // Start again with the endpoint healthy: every event arrives.
    endpoint.hang.store(false, Ordering::SeqCst);
    let mut server = start(&data_dir, db.as_deref(), port, key.expose_secret());
    wait_ready(&client, &base).await;
    let mut delivered = 0;
    for _ in 0..300 {
        delivered = endpoint.accepted.lock().unwrap().len();
        if delivered >= 20 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The server records each delivery just after the endpoint answers it.
    let mut events = Value::Null;
    for _ in 0..50 {
        events = client
            .get(format!("{base}/api/v1/events?limit=100"))
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let done = events["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["status"] == "delivered")
            .count();
        if done == 20 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.kill().unwrap();
    server.wait().unwrap();
    assert_eq!(delivered, 20, "delivered {delivered} of 20");
    let listed: HashSet<String> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, *endpoint.accepted.lock().unwrap());
    assert_eq!(
        events["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["status"] == "delivered")
            .count(),
        20
    );
}

/// A `kapi serve` process with short timeouts, in front of the test's own bank, restartable on
/// the same data folder.
struct Node {
    data_dir: String,
    database_url: Option<String>,
    port: u16,
    key: String,
    bank_url: String,
    child: Option<Child>,
}

impl Node {
    fn new(data_dir: &str, db: Option<&str>, key: &str, bank_url: &str) -> Self {
        Self {
            data_dir: data_dir.to_owned(),
            database_url: db.map(str::to_owned),
            port: free_port(),
            key: key.to_owned(),
            bank_url: bank_url.to_owned(),
            child: None,
        }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn start(&mut self, client: &reqwest::Client) {
        let child = serve_command(
            &self.data_dir,
            self.database_url.as_deref(),
            self.port,
            &self.key,
        )
        .env("KAPI__ACQUIRER__BASE_URL", &self.bank_url)
        .env("KAPI__ACQUIRER__API_KEY", crate::helpers::BANK_KEY)
        .env("KAPI__ACQUIRER__TIMEOUT_SECS", "1")
        .env("KAPI__THREEDS__TIMEOUT_SECS", "1")
        .env("KAPI__CHECKOUT__RECOVERY_MARGIN_SECS", "1")
        .env("KAPI__CHECKOUT__SWEEP_INTERVAL_MS", "100")
        // Every shopper here comes from one address, and a third of the cards decline: the
        // card-testing guard (stored, so it outlives the kills) would stop them all.
        .env("KAPI__LIMITS__DECLINES_PER_IP", "1000000")
        .env("KAPI__LIMITS__DECLINES_PER_BIN", "1000000")
        .env("KAPI__LIMITS__MERCHANT_DECLINE_MIN", "1000000")
        .env("KAPI__LIMITS__DECLINES_PER_MERCHANT", "1000000")
        .env("KAPI__LIMITS__PAY_START", "100000")
        .env("KAPI__LIMITS__CARD_SUBMIT", "100000")
        .env("KAPI__LIMITS__API_CALLS", "100000")
        .spawn()
        .expect("kapi starts");
        self.child = Some(child);
        wait_ready(client, &self.base()).await;
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

fn add_merchant(data_dir: &str, db: Option<&str>, key: &str, origin: &str) -> String {
    let out = kapi_command(db)
        .args([
            "merchant",
            "add",
            "--data-dir",
            data_dir,
            "--name",
            "Crash Shop",
            "--return-origin",
            origin,
            "--json",
        ])
        .env("KAPI__SECURITY__MASTER_KEY", key)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let merchant: Value = serde_json::from_slice(&out.stdout).unwrap();
    merchant["secret_key"].as_str().unwrap().to_owned()
}

/// Events received, by payment.
#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<(String, String, String)>>>);

async fn collect(State(events): State<Events>, headers: HeaderMap, body: Bytes) -> &'static str {
    if let (Some(id), Ok(json)) = (
        headers.get("kapi-event-id").and_then(|v| v.to_str().ok()),
        serde_json::from_slice::<Value>(&body),
    ) {
        events.0.lock().unwrap().push((
            id.to_owned(),
            json["data"]["payment"]["id"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
            json["type"].as_str().unwrap_or("").to_owned(),
        ));
    }
    "OK"
}

async fn event_receiver() -> (String, Events) {
    let events = Events::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let router = Router::new()
        .route("/callback", post(collect))
        .route("/ok", post(|| async { "OK" }))
        .route("/fail", post(|| async { "OK" }))
        .with_state(events.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (url, events)
}

/// A shopper who keeps at it: opens the checkout session's link, pays with `card`, and when
/// Kapı is down or the answer never comes, tries again (reloading, as a person would) until
/// the merchant's API says the payment is final. Returns the payment id.
async fn persistent_shopper(base: &str, secret: &str, receiver: &str, card: &str) -> String {
    let api = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let body = json!({
        "order_id": format!("CR-{}", kapi::domain::ids::random_token(8)),
        "amount": "25.00", "currency": "TRY",
        "ok_url": format!("{receiver}/ok"), "fail_url": format!("{receiver}/fail"),
        "callback_url": format!("{receiver}/callback"),
    });
    let key = kapi::domain::ids::random_token(12);
    let session: Value = loop {
        let sent = api
            .post(format!("{base}/api/v1/checkout-sessions"))
            .bearer_auth(secret)
            .header("Idempotency-Key", &key)
            .json(&body)
            .send()
            .await;
        if let Ok(resp) = sent
            && resp.status() == reqwest::StatusCode::CREATED
            && let Ok(v) = resp.json().await
        {
            break v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let id = session["id"].as_str().unwrap().to_owned();
    let link = session["url"].as_str().unwrap().to_owned();
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let _ = browser.get(&link).send().await;
    loop {
        let status = api
            .get(format!("{base}/api/v1/payments/{id}"))
            .bearer_auth(secret)
            .send()
            .await;
        if let Ok(resp) = status
            && let Ok(p) = resp.json::<Value>().await
        {
            let s = p["status"].as_str().unwrap_or("");
            if ["approved", "declined", "failed", "cancelled", "expired"].contains(&s) {
                return id;
            }
            if s == "created" {
                pay_once(&browser, base, &link, &id, card).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// One try at the card page: (re)binds the browser if needed, then submits the card.
async fn pay_once(browser: &reqwest::Client, base: &str, link: &str, id: &str, card: &str) {
    let Ok(page) = browser.get(format!("{base}/checkout/{id}")).send().await else {
        return;
    };
    if page.status() == reqwest::StatusCode::FORBIDDEN {
        // Kapı restarted before the session was saved: follow the link again.
        let _ = browser.get(link).send().await;
        return;
    }
    let Ok(html) = page.text().await else { return };
    let Some(token) = html
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
    else {
        return;
    };
    let fields = [
        ("csrf_token", token),
        ("card_holder", "AYSE YILMAZ"),
        ("card_number", card),
        ("exp_month", "12"),
        ("exp_year", "2030"),
        ("cvv", "123"),
        ("consent_preinfo", "yes"),
        ("consent_contract", "yes"),
        ("installment", "1"),
    ];
    let _ = browser
        .post(format!("{base}/checkout/{id}"))
        .form(&fields)
        .send()
        .await;
}

/// Reads the test's database (the data folder's SQLite file, or its PostgreSQL schema).
async fn open_db(data_dir: &str, db: Option<&str>) -> sqlx::AnyPool {
    crate::helpers::raw_db(std::path::Path::new(data_dir), db).await
}

#[tokio::test]
async fn a_sigkill_during_authorisation_is_settled_after_the_restart() {
    let bank = crate::bank::Bank::start().await;
    bank.set_auth(crate::bank::Auth::Gate);
    let (receiver, events) = event_receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap().to_owned();
    let db = crate::helpers::fresh_database_url().await;
    let key = MasterKey::generate_base64();
    let secret = add_merchant(&data_dir, db.as_deref(), key.expose_secret(), &receiver);
    let client = reqwest::Client::new();
    let mut node = Node::new(&data_dir, db.as_deref(), key.expose_secret(), &bank.url);
    node.start(&client).await;
    let base = node.base();
    let shopper = tokio::spawn({
        let (base, secret, receiver) = (base.clone(), secret.clone(), receiver.clone());
        async move { persistent_shopper(&base, &secret, &receiver, "5555555555554444").await }
    });
    // Kapı dies while the bank holds the authorisation.
    let mut held = false;
    for _ in 0..200 {
        let books_pending = bank.books(None).await.is_empty();
        let authorising: Value = client
            .get(format!("{base}/api/v1/payments?status=authorising"))
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if books_pending && !authorising["data"].as_array().unwrap().is_empty() {
            held = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(held, "the payment reached the bank");
    node.kill();
    // The bank books the approval after Kapı is gone.
    bank.set_auth(crate::bank::Auth::Normal);
    bank.release();
    for _ in 0..100 {
        if !bank.books(None).await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    node.start(&client).await;
    let id = tokio::time::timeout(Duration::from_secs(30), shopper)
        .await
        .expect("the payment is settled after the restart")
        .unwrap();
    let p: Value = client
        .get(format!("{base}/api/v1/payments/{id}"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(p["status"], "approved", "{p}");
    let books = bank.books(None).await;
    assert_eq!(books.len(), 1);
    assert_eq!(p["authorisation"]["auth_code"], books[0]["auth_code"]);
    for _ in 0..100 {
        if events
            .0
            .lock()
            .unwrap()
            .iter()
            .any(|(_, pid, kind)| pid == &id && kind == "payment.approved")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        events
            .0
            .lock()
            .unwrap()
            .iter()
            .any(|(_, pid, kind)| pid == &id && kind == "payment.approved"),
        "the merchant heard of it"
    );
    node.kill();
    let db = open_db(&data_dir, db.as_deref()).await;
    let cards: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM card_vault")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(cards, 0, "no card data left");
}

/// The crash test of docs: shoppers pay concurrently while the bank sometimes loses or delays
/// its answers and Kapı is killed (SIGKILL) and restarted again and again. Afterwards no
/// payment is left in between, no card data stays, every authorisation the bank holds is an
/// approved payment in Kapı (the rest reversed), and every final payment was reported once.
/// `KAPI_CRASH_ROUNDS` and `KAPI_CRASH_SHOPPERS` make it longer (README).
#[tokio::test]
async fn repeated_sigkills_under_load_leave_nothing_in_between() {
    let rounds: usize = std::env::var("KAPI_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let shoppers: usize = std::env::var("KAPI_CRASH_SHOPPERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6);
    let bank = crate::bank::Bank::start().await;
    bank.set_auth(crate::bank::Auth::Random);
    let (receiver, events) = event_receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap().to_owned();
    let db = crate::helpers::fresh_database_url().await;
    let key = MasterKey::generate_base64();
    let secret = add_merchant(&data_dir, db.as_deref(), key.expose_secret(), &receiver);
    let client = reqwest::Client::new();
    let mut node = Node::new(&data_dir, db.as_deref(), key.expose_secret(), &bank.url);
    node.start(&client).await;
    let base = node.base();
    let stop = Arc::new(AtomicBool::new(false));
    let paid = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut workers = vec![];
    for n in 0..shoppers {
        let (base, secret, receiver) = (base.clone(), secret.clone(), receiver.clone());
        let (stop, paid) = (stop.clone(), paid.clone());
        // Approved and declined cards, both without a challenge (an ACS challenge in flight
        // does not survive a restart of the built-in simulator).
        let card = if n % 3 == 2 {
            "5100000000000057"
        } else {
            "5555555555554444"
        };
        workers.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let id = persistent_shopper(&base, &secret, &receiver, card).await;
                paid.lock().unwrap().push(id);
            }
        }));
    }
    for round in 0..rounds {
        let wait = 700 + rand::random_range(0..1500);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        node.kill();
        tokio::time::sleep(Duration::from_millis(100 * (round as u64 % 3))).await;
        node.start(&client).await;
    }
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        // A session whose creation was cut off by a kill answers 409 until its key is stale
        // (the request limit and a margin): the shopper's merchant retries until then.
        if tokio::time::timeout(Duration::from_secs(120), w)
            .await
            .is_err()
        {
            let db = open_db(&data_dir, db.as_deref()).await;
            let open: Vec<(String, String, i64, Option<String>)> = sqlx::query_as(
                "SELECT id, status, updated_at, attempt_ref FROM payments \
                 WHERE status NOT IN ('approved', 'declined', 'failed', 'cancelled', 'expired')",
            )
            .fetch_all(&db)
            .await
            .unwrap();
            panic!("a journey never ended; open payments: {open:?}");
        }
    }
    let paid = paid.lock().unwrap().clone();
    assert!(paid.len() >= shoppers, "journeys ran: {}", paid.len());
    // Late answers settle, reversals go through, events are delivered.
    let mut pending_events = i64::MAX;
    for _ in 0..600 {
        let db = open_db(&data_dir, db.as_deref()).await;
        let pending_reversals: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM reversals WHERE status = 'pending'")
                .fetch_one(&db)
                .await
                .unwrap();
        pending_events = sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE status = 'pending'")
            .fetch_one(&db)
            .await
            .unwrap();
        db.close().await;
        if pending_reversals == 0 && pending_events == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(pending_events, 0, "every event delivered");
    node.kill();

    let db = open_db(&data_dir, db.as_deref()).await;
    let statuses: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT id, status, attempt_ref FROM payments")
            .fetch_all(&db)
            .await
            .unwrap();
    // A checkout session whose creation a kill cut off before the merchant heard of it (its
    // key is then taken over and makes a new one) waits in `created`, untouched, until it
    // expires: no card, no attempt at the bank. Anything else must be final.
    let in_between: Vec<_> = statuses
        .iter()
        .filter(|(_, s, attempt)| {
            let done =
                ["approved", "declined", "failed", "cancelled", "expired"].contains(&s.as_str());
            let untouched = s == "created" && attempt.is_none();
            !done && !untouched
        })
        .collect();
    assert!(in_between.is_empty(), "left in between: {in_between:?}");
    let cards: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM card_vault")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(cards, 0, "card data of final payments");
    let pending: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM reversals WHERE status = 'pending'")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(pending, 0, "reversals still waiting");

    // The bank's books against Kapı's: an authorisation the bank still holds is an approved
    // payment, and every approved payment is held by the bank.
    let books = bank.books(None).await;
    let reversed: HashSet<&str> = books
        .iter()
        .filter(|t| t["kind"] == "reversal")
        .filter_map(|t| t["original_transaction_id"].as_str())
        .collect();
    let held: HashSet<String> = books
        .iter()
        .filter(|t| t["kind"] == "authorisation" && t["proc_return_code"] == "00")
        .filter(|t| !reversed.contains(t["transaction_id"].as_str().unwrap()))
        .map(|t| t["reference"].as_str().unwrap().to_owned())
        .collect();
    let approved: HashSet<String> = statuses
        .iter()
        .filter(|(_, s, _)| s == "approved")
        .filter_map(|(_, _, r)| r.clone())
        .collect();
    assert_eq!(held, approved, "the bank's books and Kapı's agree");

    // One event per final payment in the outbox, and each reached the merchant.
    let per_payment: Vec<(String, i64)> = sqlx::query_as(
        "SELECT p.id, (SELECT COUNT(*) FROM events e WHERE e.payment_id = p.id) FROM payments p",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    let waiting: HashSet<&str> = statuses
        .iter()
        .filter(|(_, s, _)| s == "created")
        .map(|(id, _, _)| id.as_str())
        .collect();
    for (id, n) in &per_payment {
        let expected = if waiting.contains(id.as_str()) { 0 } else { 1 };
        assert_eq!(*n, expected, "events for {id}");
    }
    let codes: Vec<(String, i64)> = sqlx::query_as(
        "SELECT status || ' ' || COALESCE(error_code, ''), COUNT(*) FROM payments GROUP BY 1",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    let reversals: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, COUNT(*) FROM reversals GROUP BY 1")
            .fetch_all(&db)
            .await
            .unwrap();
    eprintln!(
        "{rounds} kills, {} journeys: {codes:?}, reversals {reversals:?}",
        paid.len()
    );
    let received: HashSet<String> = events
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|(_, pid, _)| pid.clone())
        .collect();
    for (id, _, _) in statuses
        .iter()
        .filter(|(id, _, _)| !waiting.contains(id.as_str()))
    {
        assert!(
            received.contains(id),
            "no event reached the merchant for {id}"
        );
    }
}

#[tokio::test]
async fn a_restart_in_the_middle_of_a_challenge_loses_nothing() {
    let (receiver, _events) = event_receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap().to_owned();
    let db = crate::helpers::fresh_database_url().await;
    let key = MasterKey::generate_base64().expose_secret().to_owned();
    let secret = add_merchant(&data_dir, db.as_deref(), &key, &receiver);
    let client = reqwest::Client::new();
    // The built-in bank and ACS, in the same process as Kapı: the restart takes them too.
    let mut node = Node::new(&data_dir, db.as_deref(), &key, "");
    node.bank_url = format!("{}/sim/bank", node.base());
    node.start(&client).await;
    let base = node.base();
    let session: Value = client
        .post(format!("{base}/api/v1/checkout-sessions"))
        .bearer_auth(&secret)
        .header("Idempotency-Key", "restart-1")
        .json(&json!({
            "order_id": "RESTART-1", "amount": "42.00", "currency": "TRY",
            "ok_url": format!("{receiver}/ok"), "fail_url": format!("{receiver}/fail"),
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = session["id"].as_str().unwrap().to_owned();
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let card_page = browser
        .get(session["url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let form = crate::helpers::forms(&card_page)
        .into_iter()
        .find(|f| f.action == format!("/checkout/{id}"))
        .expect("the card form");
    let csrf = crate::helpers::field(&form.fields, "csrf_token").to_owned();
    let to_acs = browser
        .post(format!("{base}/checkout/{id}"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("card_holder", "AYSE YILMAZ"),
            ("card_number", "4111 1111 1111 1111"),
            ("exp", "12/30"),
            ("cvv", "123"),
            ("consent_preinfo", "yes"),
            ("consent_contract", "yes"),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let creq = crate::helpers::form_by_id(&to_acs, "redirect-form").expect("the post to the ACS");
    let challenge = browser
        .post(&creq.action)
        .form(&creq.fields)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let otp_form = crate::helpers::forms(&challenge)
        .into_iter()
        .find(|f| f.action.contains("/sim/acs/challenge/"))
        .expect("the challenge page");
    let acs_trans_id = otp_form.action.rsplit('/').next().unwrap().to_owned();
    // Kapı (and its simulated issuer) dies while the shopper reads the SMS.
    node.kill();
    node.start(&client).await;
    let sms: Value = client
        .get(format!("{base}/sim/sms?acs_trans_id={acs_trans_id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let code = sms[0]["code"]
        .as_str()
        .expect("the SMS survived")
        .to_owned();
    let mut fields = otp_form.fields.clone();
    fields.retain(|(k, _)| k != "otp" && k != "action");
    fields.push(("otp".into(), code));
    fields.push(("action".into(), "verify".into()));
    let back = browser
        .post(&otp_form.action)
        .form(&fields)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let cres = crate::helpers::forms(&back)
        .into_iter()
        .find(|f| f.action.ends_with("/3ds/notify"))
        .unwrap_or_else(|| panic!("the challenge went on after the restart: {back}"));
    let result = browser
        .post(&cres.action)
        .form(&cres.fields)
        .send()
        .await
        .unwrap();
    assert!(result.status().is_success(), "{}", result.status());
    for _ in 0..100 {
        let p: Value = client
            .get(format!("{base}/api/v1/payments/{id}"))
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if p["status"] == "approved" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the payment was not approved after the restart");
}
