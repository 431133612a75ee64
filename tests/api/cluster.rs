//! Several instances of the real `kapi` binary on one PostgreSQL database, as a payment
//! institution runs them: behind a round-robin balancer that sends each request of a journey to
//! the next instance, and delivering events side by side. These tests need PostgreSQL
//! (`KAPI_TEST_POSTGRES`, set by CI); on SQLite they say so and pass.

use std::{
    collections::HashMap,
    process::{Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    extract::{Request, State},
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use kapi::crypto::vault::MasterKey;
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde_json::json;

use crate::{
    helpers::*,
    real::{Instance, free_port, shop_at},
};

/// A round-robin balancer: every request goes to the next instance in turn, whatever the
/// request is; it remembers which instance served which request.
#[derive(Clone)]
struct Balancer {
    url: String,
    upstreams: Arc<Mutex<Vec<String>>>,
    next: Arc<AtomicUsize>,
    served: Arc<Mutex<Vec<(String, usize)>>>,
    client: reqwest::Client,
}

impl Balancer {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let balancer = Self {
            url: format!("http://{}", listener.local_addr().unwrap()),
            upstreams: Arc::default(),
            next: Arc::default(),
            served: Arc::default(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        };
        let router = Router::new().fallback(forward).with_state(balancer.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        balancer
    }

    fn set_upstreams(&self, upstreams: Vec<String>) {
        *self.upstreams.lock().unwrap() = upstreams;
    }

    /// The instances that served requests whose "METHOD /path" starts with `prefix`.
    fn served_by(&self, prefix: &str) -> Vec<usize> {
        let mut by: Vec<usize> = self
            .served
            .lock()
            .unwrap()
            .iter()
            .filter(|(request, _)| request.starts_with(prefix))
            .map(|(_, i)| *i)
            .collect();
        by.sort_unstable();
        by.dedup();
        by
    }
}

async fn forward(State(lb): State<Balancer>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 16 << 20).await.unwrap();
    let upstreams = lb.upstreams.lock().unwrap().clone();
    let i = lb.next.fetch_add(1, Ordering::SeqCst) % upstreams.len();
    let target = format!(
        "{}{}",
        upstreams[i],
        parts.uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut outgoing = lb.client.request(parts.method.clone(), target);
    for (name, value) in &parts.headers {
        if !matches!(name.as_str(), "host" | "content-length" | "connection") {
            outgoing = outgoing.header(name, value);
        }
    }
    lb.served
        .lock()
        .unwrap()
        .push((format!("{} {}", parts.method, parts.uri.path()), i));
    let Ok(answer) = outgoing.body(body).send().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let status = answer.status();
    let mut headers = HeaderMap::new();
    for (name, value) in answer.headers() {
        if !matches!(
            name.as_str(),
            "content-length" | "transfer-encoding" | "connection"
        ) {
            headers.append(name, value.clone());
        }
    }
    let bytes = answer.bytes().await.unwrap_or_default();
    (status, headers, bytes).into_response()
}

#[tokio::test]
async fn two_instances_behind_a_round_robin_balancer_share_every_journey() {
    let Some(db) = fresh_database_url().await else {
        eprintln!("KAPI_TEST_POSTGRES unset: the two-instance tests run on PostgreSQL in CI");
        return;
    };
    let key = MasterKey::generate_base64();
    let key = key.expose_secret();
    let balancer = Balancer::start().await;
    let a = Instance::start(&db, key, &balancer.url, &[]).await;
    let b = Instance::start(&db, key, &balancer.url, &[]).await;
    balancer.set_upstreams(vec![a.base.clone(), b.base.clone()]);
    let shop = shop_at(Some(&db), key, &balancer.url, a.dir.path()).await;

    // Each kind of journey twice, the second time shifted by one request, so that every step
    // of it is served once by each instance.
    let mut approved = Vec::new();
    for round in 0..2 {
        while balancer.next.load(Ordering::SeqCst) % 2 != round {
            let _ = shop.client.get(shop.url("/")).send().await;
        }
        // The bank's way in (a signed form), with a challenge answered on the ACS page.
        let order = random_id("RR");
        let got = shop
            .pay_with(VISA_CHALLENGE, &[("order_id", order.as_str())])
            .await;
        assert_eq!(got.get("status"), "approved", "{:?}", got.fields);
        assert!(got.signature_ok);
        assert_eq!(got.get("order_id"), order);
        approved.push(got.get("payment_id").to_owned());
        // The API's way in, frictionless.
        approved.push(shop.approved_payment().await);
        // A decline comes back signed too.
        let declined = shop.pay_with("4000 0000 0000 0002", &[]).await;
        assert_eq!(declined.get("status"), "declined", "{:?}", declined.fields);
        assert!(declined.signature_ok);
    }
    for step in [
        "POST /pay",
        "GET /checkout/",
        "POST /checkout/",
        "POST /sim/acs/challenge/",
        "POST /api/v1/checkout-sessions",
    ] {
        assert_eq!(
            balancer.served_by(step),
            vec![0, 1],
            "{step} was served by both instances"
        );
    }

    // The merchant's server, through the same balancer: refunds split across instances add
    // up, and one beyond the amount is refused wherever it lands.
    let id = &approved[1];
    let path = format!("/api/v1/payments/{id}/refunds");
    for (amount, key) in [("40.00", "r-1"), ("60.00", "r-2")] {
        let (status, refund) = shop
            .post_json(&path, Some(json!({ "amount": amount })), Some(key))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{refund}");
        // The same key again, now on the other instance: the same refund, not a second one.
        let (again, same) = shop
            .post_json(&path, Some(json!({ "amount": amount })), Some(key))
            .await;
        assert_eq!(again, StatusCode::CREATED, "{same}");
        assert_eq!(same["id"], refund["id"]);
    }
    let (status, problem) = shop
        .post_json(&path, Some(json!({ "amount": "50.01" })), Some("r-3"))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["code"], "KP-6032");
    assert_eq!(problem["refundable_amount"], "50.00");
    for _ in 0..2 {
        let (status, payment) = shop.get_json(&format!("/api/v1/payments/{id}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(payment["refunded_amount"], "100.00", "{payment}");
        assert_eq!(payment["refunds"].as_array().unwrap().len(), 2, "{payment}");
    }
    let (status, list) = shop.get_json("/api/v1/payments?limit=50").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["data"].as_array().unwrap().len(), 6, "{list}");
    assert_eq!(balancer.served_by("POST /api/v1/payments/"), vec![0, 1]);

    // Every payment's event reached the merchant, signed, exactly once.
    for id in &approved {
        shop.receiver.wait_event(id, "payment.approved").await;
    }
    assert!(shop.receiver.events().iter().all(|e| e.signature_ok));
    let seen = event_counts(&shop);
    assert!(seen.len() >= 6, "{seen:?}");
    assert!(seen.values().all(|n| *n == 1), "{seen:?}");
    drop((a, b));
}

/// Payments that end at once (the merchant expires the session), each with a
/// `payment.expired` event.
async fn expired_payments(shop: &Shop, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..n {
        let (status, session) = shop.create_session(shop.session_body(json!({}))).await;
        assert_eq!(status, StatusCode::CREATED, "{session}");
        let id = session["id"].as_str().unwrap().to_owned();
        let resp = shop
            .api(
                Method::POST,
                &format!("/api/v1/checkout-sessions/{id}/expire"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        ids.push(id);
    }
    ids
}

/// How many times each event arrived at the shop's endpoint.
fn event_counts(shop: &Shop) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for event in shop.receiver.events() {
        *counts
            .entry(event.headers["kapi-event-id"].clone())
            .or_default() += 1;
    }
    counts
}

#[tokio::test]
async fn two_instances_deliver_each_event_once_and_one_takes_over_after_the_other_dies() {
    let Some(db) = fresh_database_url().await else {
        eprintln!("KAPI_TEST_POSTGRES unset: the two-instance tests run on PostgreSQL in CI");
        return;
    };
    let key = MasterKey::generate_base64();
    let key = key.expose_secret();
    let lease = Duration::from_secs(4);
    let env = [
        ("KAPI__NOTIFICATIONS__LEASE_SECS", "4"),
        ("KAPI__NOTIFICATIONS__TIMEOUT_SECS", "3"),
    ];
    let balancer = Balancer::start().await;
    let mut a = Instance::start(&db, key, &balancer.url, &env).await;
    balancer.set_upstreams(vec![a.base.clone()]);
    let shop = shop_at(Some(&db), key, &balancer.url, a.dir.path()).await;

    // A delivery is under way on A (the endpoint hangs) when A dies; B, started meanwhile,
    // sends it again only once A's lease has run out.
    shop.receiver.hang_events.store(true, Ordering::SeqCst);
    let first = expired_payments(&shop, 1).await;
    let mut hung = None;
    for _ in 0..200 {
        hung = shop.receiver.events().first().cloned();
        if hung.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let hung = hung.unwrap_or_else(|| panic!("A never delivered the event of {first:?}"));
    let b = Instance::start(&db, key, &balancer.url, &env).await;
    balancer.set_upstreams(vec![b.base.clone()]);
    a.kill();
    shop.receiver.hang_events.store(false, Ordering::SeqCst);
    let event_id = hung.headers["kapi-event-id"].clone();
    let mut again = Vec::new();
    for _ in 0..400 {
        again = shop
            .receiver
            .events()
            .into_iter()
            .filter(|e| e.headers["kapi-event-id"] == event_id)
            .collect();
        if again.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(again.len(), 2, "B took the event over");
    assert_eq!(again[1].answered, 200);
    let waited = again[1].at.duration_since(hung.at);
    assert!(
        waited >= lease - Duration::from_millis(200),
        "B waited for A's lease: {waited:?}"
    );

    // Now both run side by side and compete for every due event: each arrives exactly once.
    let mut a = Instance::start(&db, key, &balancer.url, &env).await;
    balancer.set_upstreams(vec![a.base.clone(), b.base.clone()]);
    let ids = expired_payments(&shop, 24).await;
    for id in &ids {
        shop.receiver.wait_event(id, "payment.expired").await;
    }
    // Any second send would come within a poll interval or two.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let counts = event_counts(&shop);
    assert_eq!(counts.len(), ids.len() + 1, "{counts:?}");
    assert!(
        counts
            .iter()
            .filter(|(id, _)| **id != event_id)
            .all(|(_, n)| *n == 1),
        "each event once: {counts:?}"
    );
    a.kill();
}

/// The tested nginx configuration (docs/deploy/nginx.conf) in front of two instances: journeys
/// pass through it, every instance sees the shopper's own address whatever the shopper writes
/// into `X-Forwarded-For`, and when one instance goes away the journeys go on through the other.
#[tokio::test]
async fn two_instances_behind_nginx_see_the_shoppers_address_and_survive_losing_one() {
    let Some(db) = fresh_database_url().await else {
        eprintln!("KAPI_TEST_POSTGRES unset: the two-instance tests run on PostgreSQL in CI");
        return;
    };
    let key = MasterKey::generate_base64();
    let key = key.expose_secret();
    let ports = [free_port(), free_port()];
    let nginx = crate::proxy::Nginx::start(&ports.map(|p| format!("127.0.0.1:{p}"))).await;
    let env = [("KAPI__SERVER__TRUSTED_PROXIES", "[\"127.0.0.1\"]")];
    let mut a = Instance::start_at(ports[0], Some(&db), key, &nginx.url, &env).await;
    let b = Instance::start_at(ports[1], Some(&db), key, &nginx.url, &env).await;
    let mut shop = shop_at(Some(&db), key, &nginx.url, a.dir.path()).await;
    // The shopper is at 127.0.0.2 and claims to be somewhere else.
    shop.client = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .default_headers(
            [(
                reqwest::header::HeaderName::from_static("x-forwarded-for"),
                reqwest::header::HeaderValue::from_static("198.51.100.77"),
            )]
            .into_iter()
            .collect(),
        )
        .build()
        .unwrap();

    let mut paid = Vec::new();
    for _ in 0..2 {
        let got = shop.pay_with(VISA_CHALLENGE, &[]).await;
        assert_eq!(got.get("status"), "approved", "{:?}", got.fields);
        paid.push(got.get("payment_id").to_owned());
        paid.push(shop.approved_payment().await);
    }
    // One instance goes away (a crash, or an upgrade taking it down): nginx sends the next
    // requests to the other, and shoppers do not notice.
    a.kill();
    for _ in 0..2 {
        let got = shop.pay_with(VISA_CHALLENGE, &[]).await;
        assert_eq!(got.get("status"), "approved", "{:?}", got.fields);
        paid.push(got.get("payment_id").to_owned());
    }

    let pool = raw_db(std::path::Path::new("/nonexistent"), Some(&db)).await;
    for id in &paid {
        let ip: Option<String> = sqlx::query_scalar("SELECT client_ip FROM payments WHERE id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(ip.as_deref(), Some("127.0.0.2"), "payment {id}");
        let consent_ips: Vec<String> =
            sqlx::query_scalar("SELECT client_ip FROM consents WHERE payment_id = $1")
                .bind(id)
                .fetch_all(&pool)
                .await
                .unwrap();
        assert_eq!(consent_ips, vec!["127.0.0.2"; 2], "consents of {id}");
    }
    drop(b);
}

/// Instances share a database, never a data folder: a second server on the same folder is
/// refused while the first lives, and starts once it is gone (even killed: the lock is the
/// kernel's).
#[tokio::test]
async fn a_second_server_on_the_same_data_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::generate_base64();
    let serve = || {
        Command::new(env!("CARGO_BIN_EXE_kapi"))
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{}", free_port()),
                "--data-dir",
                dir.path().to_str().unwrap(),
                "--insecure-http",
            ])
            .env("KAPI__SECURITY__MASTER_KEY", key.expose_secret())
            .env("KAPI__SIMULATORS__ENABLED", "true")
            .env_remove("KAPI__DATABASE__URL")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut first = serve();
    let lock = dir.path().join("kapi.lock");
    for _ in 0..200 {
        if lock.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let second = serve().wait_with_output().unwrap();
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("another kapi server uses the data folder"),
        "{stderr}"
    );
    first.kill().unwrap();
    first.wait().unwrap();
    let mut third = serve();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        third.try_wait().unwrap().is_none(),
        "the folder is free again"
    );
    third.kill().unwrap();
    third.wait().unwrap();
}
