//! The benchmark and overload: `kapi bench` walks complete journeys and checks each one (CI
//! runs a short smoke of it, no timing), and a server at its limit answers 503 with
//! `Retry-After` at once instead of queueing without bound.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn kapi_bench_walks_and_checks_every_kind_of_journey() {
    let db = fresh_database_url().await;
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_kapi"));
    command.args(["bench", "--journeys", "20", "--shoppers", "4", "--json"]);
    command.env_remove("KAPI__DATABASE__URL");
    if let Some(db) = &db {
        command.args(["--database-url", db]);
    }
    let out = command.output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["journeys"], 20, "{report}");
    assert_eq!(report["errors"], serde_json::json!({}), "{report}");
    assert_eq!(
        report["backend"],
        if db.is_some() { "postgresql" } else { "sqlite" }
    );
    // The mix: challenges, frictionless and declines all walked, each with its requests.
    let kinds = &report["journeys_by_kind"];
    assert!(kinds["challenge"].as_u64().unwrap() >= 10, "{kinds}");
    assert!(kinds["frictionless"].as_u64().unwrap() >= 4, "{kinds}");
    assert!(kinds["decline"].as_u64().unwrap() >= 1, "{kinds}");
    let requests = kinds["challenge"].as_u64().unwrap() * 8
        + (kinds["frictionless"].as_u64().unwrap() + kinds["decline"].as_u64().unwrap()) * 4;
    assert_eq!(report["requests"].as_u64(), Some(requests));
    let steps: Vec<&str> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "pay",
            "card_page",
            "card_submit",
            "acs_challenge",
            "sms_outbox",
            "acs_verify",
            "threeds_return",
            "result"
        ]
    );
    assert!(report["rss_mib"].as_f64().unwrap() > 1.0);
}

/// One request at a time: while a slow client is still sending its form, everything else is
/// refused at once with 503 and `Retry-After` — a page for shoppers, a problem for the API —
/// and the liveness probe still answers. Nothing waits in a queue; once the slot is free, Kapı
/// serves again.
#[tokio::test]
async fn at_its_limit_kapi_answers_503_with_retry_after_at_once() {
    use tokio::io::AsyncWriteExt;
    let app = spawn_app_with(|s| s.server.max_in_flight = 1).await;
    let mut slow = tokio::net::TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap();
    slow.write_all(
        b"POST /pay HTTP/1.1\r\nHost: kapi\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 400\r\n\r\nmerchant_id=",
    )
    .await
    .unwrap();
    // The slow client holds the one slot: every other request is refused at once.
    let fresh = reqwest::Client::new();
    let mut page = None;
    for _ in 0..100 {
        let resp = fresh
            .get(app.url("/"))
            .header("accept-language", "en")
            .send()
            .await
            .unwrap();
        if resp.status() == StatusCode::SERVICE_UNAVAILABLE {
            page = Some(resp);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let page = page.expect("refused while the slot is taken");
    assert_eq!(page.headers()["retry-after"], "1");
    let body = page.text().await.unwrap();
    assert!(
        body.contains("KP-5003") && body.contains("try again"),
        "{body}"
    );
    let started = std::time::Instant::now();
    let api = app
        .api(reqwest::Method::GET, "/api/v1/payments")
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(api.headers()["retry-after"], "1");
    let problem: Value = api.json().await.unwrap();
    assert_eq!(problem["code"], "KP-5003");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "refused at once"
    );
    assert_eq!(app.get("/healthz").await.status, StatusCode::OK);
    // The slow client goes away: Kapı serves again.
    drop(slow);
    let mut served = false;
    for _ in 0..100 {
        if fresh.get(app.url("/")).send().await.unwrap().status() == StatusCode::OK {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(served);
}
