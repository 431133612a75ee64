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

fn start(data_dir: &str, port: u16, key: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_kapi"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
            data_dir,
            "--insecure-http",
        ])
        .env("KAPI__SECURITY__MASTER_KEY", key)
        .env("KAPI__NOTIFICATIONS__LEASE_SECS", "2")
        .env("KAPI__NOTIFICATIONS__ALLOW_PRIVATE_TARGETS", "true")
        .env("KAPI__NOTIFICATIONS__FIRST_RETRY_MS", "200")
        .env("KAPI__NOTIFICATIONS__TIMEOUT_SECS", "1")
        .env("KAPI__NOTIFICATIONS__POLL_INTERVAL_MS", "100")
        .env("KAPI_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
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
    let key = MasterKey::generate_base64();
    let out = Command::new(env!("CARGO_BIN_EXE_kapi"))
        .args([
            "merchant",
            "add",
            "--data-dir",
            &data_dir,
            "--name",
            "Crash Shop",
            "--return-origin",
            &receiver,
            "--json",
        ])
        .env("KAPI__SECURITY__MASTER_KEY", key.expose_secret())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let merchant: Value = serde_json::from_slice(&out.stdout).unwrap();
    let secret = merchant["secret_key"].as_str().unwrap().to_owned();

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut server = start(&data_dir, port, key.expose_secret());
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
    let mut server = start(&data_dir, port, key.expose_secret());
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
