//! What the operator sees and runs: the health probes, a Prometheus scrape after real journeys,
//! JSON logs, a graceful SIGTERM in the middle of a payment, and the commands that look inside
//! without a merchant's key — on SQLite, and on PostgreSQL when the suite runs there.

use std::{collections::HashMap, process::Stdio, time::Duration};

use kapi::crypto::vault::MasterKey;
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::{
    helpers::*,
    real::{Instance, free_port, shop_at},
};

#[tokio::test]
async fn healthz_answers_and_readyz_says_ready_until_the_schema_is_behind() {
    let app = spawn_app().await;
    let health = app.get("/healthz").await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<Value>(&health.body).unwrap(),
        json!({"status": "ok"})
    );
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.body);
    let body: Value = serde_json::from_str(&ready.body).unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["database"], "ok");
    assert_eq!(body["pending_migrations"], json!([]));
    assert!(body["current_key_id"].as_u64().is_some());

    // A newer release's schema step this instance expects is missing (the database was
    // restored from an older backup, say): not ready, and it says why.
    let db = app.db().await;
    let last: i64 = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
        .fetch_one(&db)
        .await
        .unwrap();
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = $1")
        .bind(last)
        .execute(&db)
        .await
        .unwrap();
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = serde_json::from_str(&ready.body).unwrap();
    assert_eq!(body["status"], "not_ready");
    assert!(
        body["pending_migrations"][0]
            .as_str()
            .unwrap()
            .starts_with(&last.to_string()),
        "{body}"
    );
    assert_eq!(app.get("/healthz").await.status, StatusCode::OK);
}

/// The database goes away under a running instance: `/readyz` says so with 503 (a balancer
/// stops sending shoppers), `/healthz` still answers (the process is fine, do not restart it).
#[tokio::test]
async fn readyz_is_503_with_the_database_down() {
    let Some(base) = test_postgres() else {
        eprintln!("KAPI_TEST_POSTGRES unset: the database-down probe runs on PostgreSQL in CI");
        return;
    };
    // A database of its own, to drop under the running server.
    let name = format!("kapi_down_{}", kapi::domain::ids::random_token(6));
    let mut admin: sqlx::PgConnection = sqlx::Connection::connect(&base).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let url = {
        let mut u = url::Url::parse(&base).unwrap();
        u.set_path(&format!("/{name}"));
        u.to_string()
    };
    let app = spawn_app_with(|s| {
        s.database.url = Some(secrecy::SecretString::from(url.clone()));
    })
    .await;
    assert_eq!(app.get("/readyz").await.status, StatusCode::OK);
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
    let ready = app.get("/readyz").await;
    assert_eq!(
        ready.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        ready.body
    );
    let body: Value = serde_json::from_str(&ready.body).unwrap();
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["database"], "unreachable", "{body}");
    assert!(!ready.body.contains(&base), "no database URL in the answer");
    assert_eq!(app.get("/healthz").await.status, StatusCode::OK);
}

/// Prometheus' text format, as `name{labels}` → value.
fn scrape(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// The sum of the series named `name` whose labels include all of `labels`; `None` when
/// there is none.
fn series(all: &HashMap<String, f64>, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let values: Vec<f64> = all
        .iter()
        .filter(|(s, _)| s.as_str() == name || s.starts_with(&format!("{name}{{")))
        .filter(|(s, _)| {
            labels
                .iter()
                .all(|(k, v)| s.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|(_, v)| *v)
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

#[tokio::test]
async fn a_prometheus_scrape_after_journeys_has_every_series_an_operator_needs() {
    let db = fresh_database_url().await;
    let key = MasterKey::generate_base64();
    let metrics_port = free_port();
    let listen = format!("127.0.0.1:{metrics_port}");
    let env = [
        ("KAPI__SERVER__METRICS_LISTEN", listen.as_str()),
        ("KAPI__CHECKOUT__SWEEP_INTERVAL_MS", "200"),
    ];
    let node = Instance::start_at(free_port(), db.as_deref(), key.expose_secret(), "", &env).await;
    let shop = shop_at(
        db.as_deref(),
        key.expose_secret(),
        &node.base,
        node.dir.path(),
    )
    .await;
    let challenged = shop.pay_with(VISA_CHALLENGE, &[]).await;
    assert_eq!(challenged.get("status"), "approved");
    let frictionless = shop.approved_payment().await;
    let declined = shop.pay_with("4000 0000 0000 0002", &[]).await;
    assert_eq!(declined.get("status"), "declined");
    let (status, refund) = shop
        .post_json(
            &format!("/api/v1/payments/{frictionless}/refunds"),
            Some(json!({"amount": "1.00"})),
            Some("scrape-refund"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{refund}");
    shop.receiver
        .wait_event(&frictionless, "payment.approved")
        .await;

    let text = reqwest::get(format!("http://{listen}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let all = scrape(&text);
    let merchant = shop.merchant_id.as_str();
    let need = |name: &str, labels: &[(&str, &str)]| {
        series(&all, name, labels).unwrap_or_else(|| panic!("{name} {labels:?} in:\n{text}"))
    };
    // Requests by route (the pattern, not the payment's id) and status, with latencies.
    assert!(
        need(
            "kapi_http_requests_total",
            &[("route", "/pay"), ("status", "303")]
        ) >= 2.0
    );
    assert!(
        need(
            "kapi_http_requests_total",
            &[("route", "/checkout/{id}"), ("method", "POST")]
        ) >= 3.0
    );
    assert!(!text.contains("pay_"), "no payment id in a label");
    assert!(
        need(
            "kapi_http_request_duration_seconds_count",
            &[("route", "/checkout/{id}")]
        ) >= 3.0
    );
    need(
        "kapi_http_request_duration_seconds_bucket",
        &[("route", "/checkout/{id}"), ("le", "0.1")],
    );
    // Payments started and finished by merchant, currency and status.
    assert_eq!(
        need(
            "kapi_payments_started_total",
            &[("merchant", merchant), ("currency", "TRY")]
        ),
        3.0
    );
    assert_eq!(
        need(
            "kapi_payments_finished_total",
            &[("merchant", merchant), ("status", "approved")]
        ),
        2.0
    );
    assert_eq!(
        need(
            "kapi_payments_finished_total",
            &[("merchant", merchant), ("status", "declined")]
        ),
        1.0
    );
    // 3-D Secure: the ARes (a challenge, frictionless ones) and the challenge's result.
    assert!(
        need(
            "kapi_threeds_outcomes_total",
            &[("message", "ares"), ("trans_status", "C")]
        ) >= 1.0
    );
    assert!(
        need(
            "kapi_threeds_outcomes_total",
            &[("message", "ares"), ("trans_status", "Y")]
        ) >= 1.0
    );
    assert!(
        need(
            "kapi_threeds_outcomes_total",
            &[("message", "rreq"), ("trans_status", "Y")]
        ) >= 1.0
    );
    assert!(need("kapi_acs_request_duration_seconds_count", &[]) >= 3.0);
    // The bank: authorisations by outcome, the refund, latencies.
    assert_eq!(
        need(
            "kapi_bank_operations_total",
            &[("operation", "authorise"), ("outcome", "approved")]
        ),
        2.0
    );
    assert_eq!(
        need(
            "kapi_bank_operations_total",
            &[("operation", "authorise"), ("outcome", "declined")]
        ),
        1.0
    );
    assert_eq!(
        need(
            "kapi_bank_operations_total",
            &[("operation", "refund"), ("outcome", "approved")]
        ),
        1.0
    );
    assert_eq!(
        need(
            "kapi_bank_request_duration_seconds_count",
            &[("operation", "authorise")]
        ),
        3.0
    );
    // The outbox, deliveries, the sweeper, what is in between, the pool.
    need("kapi_outbox_backlog", &[]);
    need("kapi_outbox_oldest_due_age_seconds", &[]);
    assert!(need("kapi_event_deliveries_total", &[("outcome", "delivered")]) >= 1.0);
    assert_eq!(
        need("kapi_event_deliveries_total", &[("outcome", "failed")]),
        0.0
    );
    assert!(need("kapi_sweeper_runs_total", &[]) >= 1.0);
    need("kapi_recoveries_total", &[("kind", "interrupted")]);
    assert_eq!(need("kapi_payments_in_between", &[("age", "overdue")]), 0.0);
    need("kapi_payments_in_between", &[("age", "any")]);
    assert!(need("kapi_db_pool_max_connections", &[]) >= 1.0);
    need("kapi_db_pool_connections", &[("state", "in_use")]);
    // The main port does not serve metrics.
    let on_main = reqwest::get(format!("{}/metrics", node.base))
        .await
        .unwrap();
    assert_eq!(on_main.status(), StatusCode::NOT_FOUND);

    // Prometheus' own tools: the exposition passes promtool's lint, and a real Prometheus
    // (Debian's) scrapes it and answers a query over it.
    let mut lint = tokio::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed (apt-get install prometheus; .ci/run does it)");
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = lint.stdin.take().unwrap();
        stdin.write_all(text.as_bytes()).await.unwrap();
    }
    let linted = lint.wait_with_output().await.unwrap();
    assert!(
        linted.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&linted.stdout),
        String::from_utf8_lossy(&linted.stderr)
    );
    let prom_dir = tempfile::tempdir().unwrap();
    let config = prom_dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: kapi\n    static_configs:\n      - targets: ['{listen}']\n"
        ),
    )
    .unwrap();
    let prom_port = free_port();
    let mut prometheus = std::process::Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            prom_dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus is installed (apt-get install prometheus; .ci/run does it)");
    let query = format!(
        "http://127.0.0.1:{prom_port}/api/v1/query?query=sum(kapi_payments_started_total%7Bmerchant%3D%22{merchant}%22%7D)"
    );
    let mut answer = Value::Null;
    for _ in 0..100 {
        if let Ok(resp) = reqwest::get(&query).await
            && let Ok(v) = resp.json::<Value>().await
            && v["data"]["result"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
        {
            answer = v;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = prometheus.kill();
    let _ = prometheus.wait();
    assert_eq!(answer["data"]["result"][0]["value"][1], "3", "{answer}");
}

#[tokio::test]
async fn json_logs_carry_the_request_id_and_the_payment_and_never_card_data() {
    let db = fresh_database_url().await;
    let key = MasterKey::generate_base64();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let log_path = dir.path().join("kapi.log");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_kapi"));
    command
        .args([
            "--log-format",
            "json",
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
            dir.path().join("data").to_str().unwrap(),
            "--insecure-http",
        ])
        .env("KAPI__SECURITY__MASTER_KEY", key.expose_secret())
        .env("KAPI__SIMULATORS__ENABLED", "true")
        .env("KAPI__ACQUIRER__API_KEY", BANK_KEY)
        .env("KAPI__NOTIFICATIONS__ALLOW_PRIVATE_TARGETS", "true")
        // The test is the trusted proxy: its X-Request-Id is kept.
        .env("KAPI__SERVER__TRUSTED_PROXIES", "[\"127.0.0.1\"]")
        .env("KAPI_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap());
    if let Some(db) = &db {
        command.env("KAPI__DATABASE__URL", db);
    }
    let mut child = command.spawn().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..300 {
        if reqwest::get(format!("{base}/healthz")).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let shop = shop_at(
        db.as_deref(),
        key.expose_secret(),
        &base,
        &dir.path().join("data"),
    )
    .await;
    let paid = shop.pay_with(MC_FRICTIONLESS, &[]).await;
    assert_eq!(paid.get("status"), "approved");
    let id = paid.get("payment_id").to_owned();
    let second = shop.pay_with(VISA_CHALLENGE, &[("amount", "151.00")]).await;
    let second_id = second.get("payment_id").to_owned();
    // A proxy's request id is kept and returned; a made-up one is made otherwise.
    let traced = shop
        .client
        .get(format!("{base}/api/v1/payments/{id}"))
        .bearer_auth(shop.secret.expose_secret())
        .header("x-request-id", "lb-7f3a-42")
        .send()
        .await
        .unwrap();
    assert_eq!(traced.headers()["x-request-id"], "lb-7f3a-42");
    let bogus = shop
        .client
        .get(format!("{base}/healthz"))
        .header("x-request-id", "not/an id*")
        .send()
        .await
        .unwrap();
    assert_ne!(bogus.headers()["x-request-id"], "not/an id*");
    tokio::time::sleep(Duration::from_millis(300)).await;
    child.kill().unwrap();
    child.wait().unwrap();

    let text = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.len() > 10, "{text}");
    for line in &lines {
        assert!(
            line["timestamp"].is_string()
                && line["level"].is_string()
                && line["message"].is_string(),
            "{line}"
        );
        if let Some(span) = line.get("span") {
            assert!(
                span["request_id"].as_str().is_some_and(|r| !r.is_empty()),
                "{line}"
            );
        }
    }
    // The merchant's API call: the proxy's id and the merchant on its lines.
    assert!(
        lines.iter().any(|l| l["span"]["request_id"] == "lb-7f3a-42"
            && l["span"]["merchant_id"] == shop.merchant_id.as_str()),
        "{text}"
    );
    // The shopper's card submit: its lines name the payment.
    assert!(
        lines
            .iter()
            .any(|l| l["span"]["payment_id"] == id.as_str() && l["span"]["method"] == "POST"),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["message"] == "payment finished" && l["payment_id"] == second_id.as_str()),
        "{text}"
    );
    for pan in [
        "5555555555554444",
        "5555 5555 5555 4444",
        "4111111111111111",
        "4111 1111 1111 1111",
    ] {
        assert!(!text.contains(pan), "card number in the log");
    }
    assert!(!text.contains("\"cvv\""), "no CVV field in the log");
}

/// `SIGTERM` while the bank is still answering a payment: Kapı stops taking connections, waits
/// for the authorisation, records it, and exits cleanly; nothing is left in between.
#[tokio::test]
async fn sigterm_in_the_middle_of_an_authorisation_lets_it_finish() {
    let bank = crate::bank::Bank::start().await;
    bank.set_auth(crate::bank::Auth::Late(Duration::from_secs(3)));
    let db = fresh_database_url().await;
    let key = MasterKey::generate_base64();
    let env = [
        ("KAPI__ACQUIRER__BASE_URL", bank.url.as_str()),
        ("KAPI__ACQUIRER__TIMEOUT_SECS", "10"),
        ("KAPI__CHECKOUT__OUTCOME_WAIT_MS", "1000"),
    ];
    let mut node =
        Instance::start_at(free_port(), db.as_deref(), key.expose_secret(), "", &env).await;
    let shop = shop_at(
        db.as_deref(),
        key.expose_secret(),
        &node.base,
        node.dir.path(),
    )
    .await;
    let id = shop.start_payment(&[]).await;
    let fields = shop.card_fields(&id, MC_FRICTIONLESS, &[]).await;
    // The card submit waits a second for the outcome, then sends the browser to the result
    // page, which keeps waiting; the authorisation goes on at the bank.
    let submitted = shop.post_form(&format!("/checkout/{id}"), &fields).await;
    assert_eq!(submitted.status, StatusCode::SEE_OTHER);
    let pool = raw_db(node.dir.path(), db.as_deref()).await;
    let status = |pool: sqlx::AnyPool, id: String| async move {
        sqlx::query_scalar::<_, String>("SELECT status FROM payments WHERE id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    assert_eq!(status(pool.clone(), id.clone()).await, "authorising");

    let child = node.child.take().unwrap();
    let pid = child.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let started = std::time::Instant::now();
    let exit = tokio::task::spawn_blocking(move || {
        let mut child = child;
        child.wait().unwrap()
    })
    .await
    .unwrap();
    assert!(exit.success(), "clean exit: {exit:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(1000),
        "it waited for the bank"
    );
    // New connections were refused meanwhile, and the payment is settled, booked once.
    assert!(
        reqwest::get(format!("{}/healthz", node.base))
            .await
            .is_err()
    );
    assert_eq!(status(pool.clone(), id.clone()).await, "approved");
    let order: String = sqlx::query_scalar("SELECT order_id FROM payments WHERE id = $1")
        .bind(&id)
        .fetch_one(&pool)
        .await
        .unwrap();
    let books = bank.books(Some(&order)).await;
    assert_eq!(books.len(), 1, "{books:?}");
}

/// `kapi` with the node's data (folder and database) and key.
async fn kapi_at(
    dir: &std::path::Path,
    db: Option<&str>,
    key: &str,
    args: &[&str],
) -> std::process::Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_kapi"));
    command
        .args(args)
        .args(["--data-dir", dir.to_str().unwrap()])
        .env("KAPI__SECURITY__MASTER_KEY", key)
        .env_remove("KAPI__DATABASE__URL");
    if let Some(db) = db {
        command.env("KAPI__DATABASE__URL", db);
    }
    command.output().await.unwrap()
}

#[tokio::test]
async fn the_operator_lists_and_shows_payments_and_merchants_without_a_key() {
    let db = fresh_database_url().await;
    let key = MasterKey::generate_base64();
    let key = key.expose_secret();
    let node = Instance::start_at(free_port(), db.as_deref(), key, "", &[]).await;
    let dir = node.dir.path();
    let shop = shop_at(db.as_deref(), key, &node.base, dir).await;
    let approved = shop.approved_payment().await;
    let (status, _) = shop
        .post_json(
            &format!("/api/v1/payments/{approved}/refunds"),
            Some(json!({"amount": "10.00"})),
            Some("op-refund"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let declined = shop.pay_with("4000 0000 0000 0002", &[]).await;
    let declined = declined.get("payment_id").to_owned();
    shop.receiver
        .wait_event(&approved, "payment.approved")
        .await;
    let run = |args: &'static [&'static str]| kapi_at(dir, db.as_deref(), key, args);

    let out = run(&["merchant", "list"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(&shop.merchant_id) && text.contains("Küme Mağazası"),
        "{text}"
    );
    assert!(!text.contains("sk_"), "never a key");
    let out = run(&["merchant", "list", "--json"]).await;
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list[0]["id"], shop.merchant_id.as_str());
    assert_eq!(list[0]["return_origins"][0], shop.receiver_url.as_str());

    let out = run(&["payments", "list"]).await;
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(&approved) && text.contains(&declined),
        "{text}"
    );
    assert!(text.contains("2 payment(s)"), "{text}");
    let out = run(&[
        "payments", "list", "--status", "declined", "--since", "1h", "--json",
    ])
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["id"], declined.as_str());
    assert_eq!(list[0]["merchant_id"], shop.merchant_id.as_str());
    let out = run(&["payments", "list", "--merchant-id", "mrc_nobody", "--json"]).await;
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).unwrap(),
        json!([])
    );
    let out = run(&["payments", "list", "--status", "paid"]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a payment status"));

    let show = ["payments", "show", approved.as_str()];
    let mut full: Vec<&str> = show.to_vec();
    let out = kapi_at(dir, db.as_deref(), key, &full).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    for needed in [
        "approved",
        "history",
        "created -> card_submitted",
        "payment.approved",
        "refunds and voids",
        "10.00",
        "consents",
    ] {
        assert!(text.contains(needed), "{needed} in:\n{text}");
    }
    assert!(!text.contains("5555555555554444"), "masked card only");
    full.push("--json");
    let out = kapi_at(dir, db.as_deref(), key, &full).await;
    let detail: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(detail["id"], approved.as_str());
    assert_eq!(detail["refunds"][0]["amount"], "10.00");
    assert!(
        detail["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "payment.approved" && e["status"] == "delivered"),
        "{detail}"
    );
    assert_eq!(detail["consents"].as_array().unwrap().len(), 2);
    let out = run(&["payments", "show", "pay_nothere"]).await;
    assert!(!out.status.success());
}

#[tokio::test]
async fn read_only_commands_refuse_a_folder_without_kapi_data_and_write_nothing() {
    let empty = tempfile::tempdir().unwrap();
    let missing = empty.path().join("typo");
    for args in [
        &["keys", "status"][..],
        &["security-events"][..],
        &["security-events", "blocks"][..],
        &["merchant", "list"][..],
        &["payments", "list"][..],
        &["migrate", "--check"][..],
    ] {
        for dir in [empty.path(), missing.as_path()] {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_kapi"))
                .args(args)
                .args(["--data-dir", dir.to_str().unwrap()])
                .env_remove("KAPI__DATABASE__URL")
                .env_remove("KAPI__SECURITY__MASTER_KEY")
                .output()
                .unwrap();
            assert!(!out.status.success(), "{args:?}");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.contains("holds no Kapı data"), "{args:?}: {stderr}");
        }
        assert_eq!(
            std::fs::read_dir(empty.path()).unwrap().count(),
            0,
            "{args:?} wrote"
        );
        assert!(!missing.exists(), "{args:?} made the folder");
    }
}

#[tokio::test]
async fn migrate_check_reports_without_writing_and_migrate_applies() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database_url().await;
    let key = MasterKey::generate_base64();
    let key = key.expose_secret();
    if db.is_some() {
        // A fresh PostgreSQL schema: everything pending, and --check creates nothing.
        let out = kapi_at(dir.path(), db.as_deref(), key, &["migrate", "--check"]).await;
        assert!(!out.status.success());
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(
            !report["pending"].as_array().unwrap().is_empty(),
            "{report}"
        );
        let pool = raw_db(dir.path(), db.as_deref()).await;
        let tables: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema()",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(tables, 0, "--check wrote nothing");
    }
    let out = kapi_at(dir.path(), db.as_deref(), key, &["migrate"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = kapi_at(dir.path(), db.as_deref(), key, &["migrate", "--check"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["pending"], json!([]));
}

#[tokio::test]
async fn config_check_validates_and_masks_every_secret() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kapi.toml");
    std::fs::write(
        &file,
        "[server]\nlisten = \"127.0.0.1:8443\"\nmetrics_listen = \"127.0.0.1:9100\"\nlog_format = \"json\"\n\n[acquirer]\napi_key = \"bank-terminal-secret\"\n",
    )
    .unwrap();
    let key = MasterKey::generate_base64();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kapi"))
        .args(["--config", file.to_str().unwrap(), "config", "check"])
        .env("KAPI__SECURITY__MASTER_KEY", key.expose_secret())
        .env(
            "KAPI__DATABASE__URL",
            "postgres://kapi:db-password@db.internal:5432/kapi",
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let shown: toml::Value = toml::from_str(&text).unwrap();
    assert_eq!(
        shown["server"]["metrics_listen"].as_str(),
        Some("127.0.0.1:9100")
    );
    assert_eq!(shown["server"]["log_format"].as_str(), Some("json"));
    assert_eq!(shown["acquirer"]["api_key"].as_str(), Some("********"));
    assert_eq!(shown["security"]["master_key"].as_str(), Some("********"));
    assert_eq!(
        shown["database"]["url"].as_str(),
        Some("postgres://kapi:********@db.internal:5432/kapi")
    );
    for secret in ["bank-terminal-secret", "db-password", key.expose_secret()] {
        assert!(!text.contains(secret));
    }
    // A bad value is refused with its name.
    std::fs::write(&file, "[server]\nmetrics_listen = \"nowhere\"\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kapi"))
        .args(["--config", file.to_str().unwrap(), "config", "check"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("server.metrics_listen"));
}

/// A port already taken: refused before anything is written (no key file, no database).
#[tokio::test]
async fn a_port_in_use_is_refused_before_anything_is_written() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kapi"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
            data.to_str().unwrap(),
            "--insecure-http",
        ])
        .env("KAPI__SIMULATORS__ENABLED", "true")
        .env_remove("KAPI__SECURITY__MASTER_KEY")
        .env_remove("KAPI__DATABASE__URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot listen"));
    assert!(!data.join("keyring.json").exists() && !data.join("kapi.db").exists());
}
