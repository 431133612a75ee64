//! Attacks on the payment page's browser side: headers on every kind of page, nothing
//! loaded outside the script inventory, framing only by registered origins.

use reqwest::StatusCode;
use scraper::{Html, Selector};
use serde_json::Value;

use crate::helpers::*;

/// The inventory as `kapi scripts` prints it.
fn inventory() -> Vec<Value> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kapi"))
        .arg("scripts")
        .output()
        .unwrap();
    assert!(out.status.success());
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// Every subresource a page loads is Kapı's own, in the inventory, with its integrity; no
/// inline script or style, no inline event handlers.
pub(crate) fn assert_loads_only_the_inventory(html: &str, what: &str) {
    let inventory = inventory();
    let doc = Html::parse_document(html);
    let sel =
        Selector::parse("script, link, img, iframe, object, embed, style, audio, video, source")
            .unwrap();
    for el in doc.select(&sel) {
        let v = el.value();
        let name = v.name();
        assert_ne!(name, "style", "{what}: inline <style>");
        assert!(
            !matches!(name, "iframe" | "object" | "embed"),
            "{what}: <{name}>"
        );
        let url = v.attr("src").or_else(|| v.attr("href"));
        let Some(url) = url else {
            panic!("{what}: inline <{name}> without a source");
        };
        // A merchant's generated resources are listed by pattern, with the version after `?v=`.
        let generated = |pattern: &str| {
            let (before, after) = pattern.split_once("{merchant_id}").unwrap_or((pattern, ""));
            let path = url.split_once("?v=").map_or(url, |(p, _)| p);
            path.strip_prefix(before)
                .and_then(|rest| rest.strip_suffix(after))
                .is_some_and(|id| {
                    !id.is_empty()
                        && id
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                })
        };
        let entry = inventory
            .iter()
            .find(|e| e["path"] == url || generated(e["path"].as_str().unwrap()))
            .unwrap_or_else(|| panic!("{what}: {url} is not in the inventory"));
        if entry["path"] == url {
            assert_eq!(
                v.attr("integrity"),
                entry["integrity"].as_str(),
                "{what}: {url} integrity"
            );
        } else if name == "link" {
            // Computed per merchant; `branding` checks it against the served body.
            assert!(
                v.attr("integrity").unwrap_or("").starts_with("sha384-"),
                "{what}: {url} integrity"
            );
        }
    }
    let any = Selector::parse("*").unwrap();
    for el in doc.select(&any) {
        for (attr, _) in el.value().attrs() {
            assert!(!attr.starts_with("on"), "{what}: inline handler {attr}");
            assert_ne!(attr, "style", "{what}: inline style attribute");
        }
    }
}

fn assert_headers(resp: &reqwest::Response, what: &str) {
    let h = resp.headers();
    let get = |n: &str| {
        h.get(n)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    assert_eq!(get("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(get("referrer-policy"), "no-referrer", "{what}");
    assert!(get("permissions-policy").contains("camera=()"), "{what}");
    if get("content-type").starts_with("text/html") {
        let csp = get("content-security-policy");
        for part in [
            "default-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
        ] {
            assert!(csp.contains(part), "{what}: CSP lacks {part}: {csp}");
        }
        assert!(csp.contains("script-src 'self' 'nonce-"), "{what}: {csp}");
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("https:;"),
            "{what}: {csp}"
        );
        assert_eq!(get("cache-control"), "no-store", "{what}");
    }
}

#[tokio::test]
async fn every_kind_of_page_has_the_headers_and_loads_only_the_inventory() {
    let app = spawn_app().await;
    let mut pages: Vec<(String, reqwest::Response)> = vec![];
    // Error page (bad signature), not-found page, home.
    let mut bad = app.start_form(&[]);
    bad.last_mut().unwrap().1 = "0".repeat(64);
    pages.push((
        "error page".into(),
        app.client
            .post(app.url("/pay"))
            .form(&bad)
            .send()
            .await
            .unwrap(),
    ));
    pages.push((
        "not found".into(),
        app.client.get(app.url("/nowhere")).send().await.unwrap(),
    ));
    pages.push((
        "home".into(),
        app.client.get(app.url("/")).send().await.unwrap(),
    ));
    // Card page, the form error page, the trip to the ACS, the ACS page, the result.
    let id = app.start_payment(&[]).await;
    pages.push((
        "card page".into(),
        app.client
            .get(app.url(&format!("/checkout/{id}")))
            .send()
            .await
            .unwrap(),
    ));
    let invalid = app
        .card_fields(&id, VISA_CHALLENGE, &[("consent_contract", "")])
        .await;
    pages.push((
        "card page with errors".into(),
        app.client
            .post(app.url(&format!("/checkout/{id}")))
            .form(&invalid)
            .send()
            .await
            .unwrap(),
    ));
    let fields = app.card_fields(&id, VISA_CHALLENGE, &[]).await;
    let to_acs = app
        .client
        .post(app.url(&format!("/checkout/{id}")))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_headers(&to_acs, "to-ACS page");
    let to_acs_csp = to_acs.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let to_acs_body = to_acs.text().await.unwrap();
    assert_loads_only_the_inventory(&to_acs_body, "to-ACS page");
    // Exactly Kapı and the ACS of this payment, nothing more.
    assert!(
        to_acs_csp.contains(&format!(
            "form-action 'self' http://127.0.0.1:{};",
            app.address.rsplit(':').next().unwrap()
        )),
        "{to_acs_csp}"
    );
    let acs_form = forms(&to_acs_body).into_iter().next().unwrap();
    let acs = app
        .client
        .post(&acs_form.action)
        .form(&acs_form.fields)
        .send()
        .await
        .unwrap();
    pages.push(("ACS challenge page".into(), acs));
    let challenge = app.post_form(&acs_form.action, &acs_form.fields).await;
    let cres = app
        .acs_action(&challenge.body, "verify", &app.latest_otp().await)
        .await;
    let back = app.follow_post(&cres.body).await;
    let result = app
        .client
        .get(app.url(&back.location.unwrap()))
        .send()
        .await
        .unwrap();
    let result_csp = result.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        result_csp.contains(&format!("form-action 'self' {};", app.receiver_url)),
        "the result may post only to the merchant: {result_csp}"
    );
    pages.push(("result page".into(), result));
    // A wrong method, a payment opened in another browser, an expired payment.
    pages.push((
        "wrong method".into(),
        app.client.get(app.url("/pay")).send().await.unwrap(),
    ));
    let other = app.start_payment(&[]).await;
    pages.push((
        "another browser's payment".into(),
        reqwest::Client::new()
            .get(app.url(&format!("/checkout/{other}")))
            .send()
            .await
            .unwrap(),
    ));
    app.clock.advance(16 * 60);
    pages.push((
        "expired payment".into(),
        app.client
            .get(app.url(&format!("/checkout/{other}")))
            .send()
            .await
            .unwrap(),
    ));
    for (what, resp) in pages {
        assert_headers(&resp, &what);
        let body = resp.text().await.unwrap();
        assert_loads_only_the_inventory(&body, &what);
    }
    // Static files and API answers get the basic headers too.
    let css = app
        .client
        .get(app.url("/static/kapi.css"))
        .send()
        .await
        .unwrap();
    assert_headers(&css, "stylesheet");
    let api = app
        .client
        .get(app.url("/api/v1/payments"))
        .send()
        .await
        .unwrap();
    assert_headers(&api, "API problem");
}

#[tokio::test]
async fn pages_are_served_exactly_as_inventoried() {
    let app = spawn_app().await;
    let inventory = inventory();
    // The merchants' generated resources are checked per merchant (tests/api/branding.rs).
    let fixed: Vec<&Value> = inventory
        .iter()
        .filter(|e| !e["path"].as_str().unwrap().contains("{merchant_id}"))
        .collect();
    assert_eq!(fixed.len(), 2, "kapi.css and kapi.js");
    for entry in fixed {
        let body = app
            .client
            .get(app.url(entry["path"].as_str().unwrap()))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        use base64::Engine;
        use sha2::Digest;
        let sri = format!(
            "sha384-{}",
            base64::engine::general_purpose::STANDARD.encode(sha2::Sha384::digest(&body))
        );
        assert_eq!(entry["integrity"], sri);
        assert!(!entry["purpose"].as_str().unwrap().is_empty());
    }
}

#[tokio::test]
async fn only_registered_origins_may_frame_a_merchants_pages() {
    let app = spawn_app().await;
    let id = app.start_payment(&[]).await;
    let resp = app
        .client
        .get(app.url(&format!("/checkout/{id}")))
        .send()
        .await
        .unwrap();
    assert!(
        resp.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(resp.headers()["x-frame-options"], "DENY");
    let out = app
        .configure_merchant(&["--frame-origin", "https://shop.example"])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let resp = app
        .client
        .get(app.url(&format!("/checkout/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("frame-ancestors https://shop.example:443"),
        "{csp}"
    );
    assert!(resp.headers().get("x-frame-options").is_none());
    // Pages not of this merchant's payments stay unframeable.
    let home = app.client.get(app.url("/")).send().await.unwrap();
    assert!(
        home.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    let out = app.configure_merchant(&["--no-framing"]).await;
    assert!(out.status.success());
    let resp = app
        .client
        .get(app.url(&format!("/checkout/{id}")))
        .send()
        .await
        .unwrap();
    assert!(
        resp.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after_and_lift() {
    let app = spawn_app_with(|s| {
        s.limits.pay_start = 3;
        s.limits.card_submit = 2;
        s.limits.api_calls = 3;
    })
    .await;
    app.clock_to_istanbul_noon();
    // Payment start, per address.
    for _ in 0..3 {
        assert_eq!(
            app.pay(&app.start_form(&[])).await.status,
            StatusCode::SEE_OTHER
        );
    }
    let resp = app
        .client
        .post(app.url("/pay"))
        .form(&app.start_form(&[]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait));
    assert_eq!(
        error_code(&resp.text().await.unwrap()).as_deref(),
        Some("KP-1020")
    );
    // The API, per merchant.
    for _ in 0..3 {
        assert_eq!(app.get_json("/api/v1/payments").await.0, StatusCode::OK);
    }
    let resp = app
        .api(reqwest::Method::GET, "/api/v1/payments")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.headers().contains_key("retry-after"));
    assert_eq!(resp.json::<Value>().await.unwrap()["code"], "KP-6050");
    // After the window, all is well again.
    app.clock.advance(61);
    assert_eq!(
        app.pay(&app.start_form(&[])).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(app.get_json("/api/v1/payments").await.0, StatusCode::OK);

    // Card submits, per address: a page with its code, the headers and Retry-After.
    let id = app.start_payment(&[]).await;
    let incomplete = app
        .card_fields(&id, VISA_CHALLENGE, &[("consent_contract", "")])
        .await;
    for _ in 0..2 {
        let page = app.post_form(&format!("/checkout/{id}"), &incomplete).await;
        assert_eq!(
            page.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            page.body
        );
    }
    let resp = app
        .client
        .post(app.url(&format!("/checkout/{id}")))
        .form(&incomplete)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.headers().contains_key("retry-after"));
    assert_headers(&resp, "429 page");
    assert_eq!(
        error_code(&resp.text().await.unwrap()).as_deref(),
        Some("KP-1020")
    );
    app.clock.advance(61);
    let page = app.submit_card(&id, MC_FRICTIONLESS).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
}

#[tokio::test]
async fn forwarded_addresses_count_only_from_trusted_proxies() {
    // Untrusted: X-Forwarded-For is ignored, so varying it does not escape the limit.
    let app = spawn_app_with(|s| s.limits.pay_start = 2).await;
    for i in 0..2 {
        let resp = app
            .client
            .post(app.url("/pay"))
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .form(&app.start_form(&[]))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    }
    let resp = app
        .client
        .post(app.url("/pay"))
        .header("x-forwarded-for", "203.0.113.99")
        .form(&app.start_form(&[]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    // Behind a trusted proxy each shopper has their own count.
    let app = spawn_app_with(|s| {
        s.limits.pay_start = 2;
        s.server.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    for i in 0..4 {
        let resp = app
            .client
            .post(app.url("/pay"))
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .form(&app.start_form(&[]))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "shopper {i}");
    }
}

#[tokio::test]
async fn otp_entry_is_rate_limited_per_address() {
    let app = spawn_app_with(|s| s.limits.otp_entry = 4).await;
    let mut tries = 0;
    let mut limited = None;
    // Several challenges, two wrong codes each: the limit spans transactions.
    'outer: for _ in 0..3 {
        let id = app.start_payment(&[]).await;
        let submit = app.submit_card(&id, VISA_CHALLENGE).await;
        let mut page = app.follow_post(&submit.body).await;
        for _ in 0..2 {
            let resp = {
                let form = forms(&page.body)
                    .into_iter()
                    .find(|f| f.action.contains("/sim/acs/challenge/"))
                    .unwrap();
                let mut fields = form.fields.clone();
                fields.retain(|(k, _)| k != "otp" && k != "action");
                fields.push(("action".into(), "verify".into()));
                fields.push(("otp".into(), "000000".into()));
                app.client
                    .post(&form.action)
                    .form(&fields)
                    .send()
                    .await
                    .unwrap()
            };
            tries += 1;
            if resp.status() == StatusCode::TOO_MANY_REQUESTS {
                assert!(resp.headers().contains_key("retry-after"));
                limited = Some(tries);
                break 'outer;
            }
            page = Page::from(resp).await;
        }
    }
    assert_eq!(
        limited,
        Some(5),
        "the fifth entry within the window is refused"
    );
}

#[tokio::test]
async fn many_declines_block_card_testing_and_tell_the_operator() {
    let app = spawn_app_with(|s| {
        s.limits.declines_per_ip = 3;
        s.limits.block_secs = 600;
    })
    .await;
    for _ in 0..3 {
        let got = app.pay_with("5100 0000 0000 0057", &[]).await;
        assert_eq!(got.get("status"), "declined");
    }
    // The next card from this address is refused before it reaches 3-D Secure or the bank.
    let id = app.start_payment(&[]).await;
    let order = app
        .app_state
        .storage
        .payments
        .get_payment(&id)
        .await
        .unwrap()
        .unwrap()
        .order_id
        .to_string();
    let resp = app.submit_card(&id, MC_FRICTIONLESS).await;
    assert_eq!(resp.status, StatusCode::TOO_MANY_REQUESTS, "{}", resp.body);
    assert_eq!(error_code(&resp.body).as_deref(), Some("KP-2008"));
    assert!(app.bank_transactions(&order).await.is_empty());
    // The operator sees it.
    let out = app.kapi(&["security-events"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(events[0]["kind"], "card_testing_block");
    assert_eq!(events[0]["subject"], "ip:127.0.0.1");
    let blocks: Value =
        serde_json::from_slice(&app.kapi(&["security-events", "blocks"]).await.stdout).unwrap();
    assert_eq!(blocks[0]["subject"], "ip:127.0.0.1", "{blocks}");
    // The operator lifts it from the command line (another process): at once, and the next
    // decline does not block again.
    let out = app
        .kapi(&["security-events", "unblock", "ip:127.0.0.1"])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("lifted the block of ip:127.0.0.1"));
    let got = app.pay_with("5100 0000 0000 0057", &[]).await;
    assert_eq!(got.get("status"), "declined");
    let resp = app.submit_card(&id, MC_FRICTIONLESS).await;
    assert_eq!(resp.status, StatusCode::SEE_OTHER, "{}", resp.body);
    let bad = app.kapi(&["security-events", "unblock", "card:1"]).await;
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is not a blocked subject"));
}

#[tokio::test]
async fn a_guard_block_lifts_after_its_time() {
    let app = spawn_app_with(|s| {
        s.limits.declines_per_ip = 2;
        s.limits.block_secs = 600;
    })
    .await;
    for _ in 0..2 {
        let got = app.pay_with("5100 0000 0000 0057", &[]).await;
        assert_eq!(got.get("status"), "declined");
    }
    let id = app.start_payment(&[]).await;
    let resp = app.submit_card(&id, MC_FRICTIONLESS).await;
    assert_eq!(resp.status, StatusCode::TOO_MANY_REQUESTS, "{}", resp.body);
    app.clock.advance(601);
    let resp = app.submit_card(&id, MC_FRICTIONLESS).await;
    assert_eq!(resp.status, StatusCode::SEE_OTHER, "{}", resp.body);
}

#[tokio::test]
async fn many_declines_for_one_merchant_block_its_card_submits() {
    // Spread over many shoppers (here: one address under a high per-address limit), the
    // declines of one merchant still add up.
    let app = spawn_app_with(|s| {
        s.limits.declines_per_merchant = 3;
        s.limits.block_secs = 600;
    })
    .await;
    for _ in 0..3 {
        let got = app.pay_with("4000 0000 0000 0002", &[]).await;
        assert_eq!(got.get("status"), "declined");
    }
    let id = app.start_payment(&[]).await;
    let resp = app.submit_card(&id, MC_FRICTIONLESS).await;
    assert_eq!(resp.status, StatusCode::TOO_MANY_REQUESTS, "{}", resp.body);
    assert_eq!(error_code(&resp.body).as_deref(), Some("KP-2008"));
    let events: Value =
        serde_json::from_slice(&app.kapi(&["security-events"]).await.stdout).unwrap();
    assert_eq!(events[0]["kind"], "card_testing_block");
    assert_eq!(
        events[0]["subject"],
        format!("merchant:{}", app.merchant_id)
    );
    app.clock.advance(601);
    let resp = app.submit_card(&id, MC_FRICTIONLESS).await;
    assert_eq!(resp.status, StatusCode::SEE_OTHER, "{}", resp.body);
}

#[tokio::test]
async fn callbacks_to_internal_addresses_are_refused_unless_allowed() {
    // Here the merchant's (registered) callback URL is on loopback: in production a callback
    // must not reach this machine or its private networks.
    let app = spawn_app_with(|s| {
        s.notifications.allow_private_targets = false;
        // A refused target is retried like any failure, then given up.
        s.notifications.max_age_secs = 1;
    })
    .await;
    let got = app.pay_with(MC_FRICTIONLESS, &[]).await;
    let id = got.get("payment_id").to_owned();
    let mut event = Value::Null;
    for _ in 0..100 {
        let (_, list) = app
            .get_json(&format!("/api/v1/events?payment_id={id}"))
            .await;
        event = list["data"][0].clone();
        if event["status"] == "dead" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(event["status"], "dead", "{event}");
    let log = event["attempt_log"].as_array().unwrap();
    assert!(log.len() >= 2, "{event}");
    for attempt in log {
        let error = attempt["error"].as_str().unwrap_or_default();
        assert!(error.contains("internal address"), "{event}");
        assert!(attempt["status_code"].is_null());
    }
    // Nothing reached the receiver: neither the event nor the form-encoded callback.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(app.receiver.events().is_empty());
    assert!(app.receiver.at("/callback").is_empty());
    let attempts = app
        .app_state
        .storage
        .payments
        .callback_attempts(&id)
        .await
        .unwrap();
    assert!(
        attempts[0]
            .error
            .as_deref()
            .unwrap_or("")
            .contains("internal address")
    );
}

/// Every test card, in the shapes a shopper types it.
const PANS: &[&str] = &[
    "4111111111111111",
    "5555555555554444",
    "9792000000000003",
    "378282246310005",
    "4000000000009995",
    "5100000000000057",
    "4000000000000002",
    "4000000000000416",
    "4000000000000432",
    "4000000000003006",
    "4000000000003014",
    "4000000000000911",
];

#[tokio::test]
async fn no_pan_or_cvv_in_the_database_its_wal_or_the_logs() {
    let app = spawn_app().await;
    for pan in PANS {
        let spaced: String = pan
            .chars()
            .collect::<Vec<_>>()
            .chunks(4)
            .map(|c| c.iter().collect::<String>())
            .collect::<Vec<_>>()
            .join(" ");
        let got = app.pay_with(&spaced, &[]).await;
        assert!(!got.get("status").is_empty());
    }
    // A rejected form, and a challenge left open with its card in the (encrypted) vault.
    let id = app.start_payment(&[]).await;
    let bad = app
        .card_fields(&id, "4111 1111 1111 1111", &[("consent_preinfo", "")])
        .await;
    app.post_form(&format!("/checkout/{id}"), &bad).await;
    let open = app.start_payment(&[]).await;
    app.submit_card(&open, "4111 1111 1111 1111").await;

    let mut haystacks = app.stored_bytes().await;
    if app.database_url.is_none() {
        assert!(
            haystacks
                .iter()
                .any(|(name, _)| name.ends_with("kapi.db-wal")),
            "the WAL is scanned too"
        );
    } else {
        assert!(
            haystacks.iter().any(|(name, _)| name == "table card_vault"),
            "every table is scanned"
        );
    }
    let logs = captured_logs().lock().unwrap().clone();
    assert!(
        logs.len() > 10_000,
        "debug logs were captured ({} bytes)",
        logs.len()
    );
    haystacks.push(("logs".into(), logs));
    let mut needles: Vec<String> = vec![];
    for pan in PANS {
        needles.push((*pan).to_owned());
        let spaced: Vec<String> = pan
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8(c.to_vec()).unwrap())
            .collect();
        needles.push(spaced.join(" "));
        needles.push(spaced.join("+")); // form-encoded spaces
    }
    // CVVs are three or four digits, common in any data: look for them where they would leak.
    for cvv in ["123", "1234"] {
        needles.push(format!("cvv={cvv}"));
        needles.push(format!("\"cvv\":\"{cvv}\""));
        needles.push(format!("cvv: {cvv}"));
    }
    for (name, data) in &haystacks {
        for needle in &needles {
            assert!(
                !data.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle:?} found in {name}"
            );
        }
    }
}

async fn raw_exchange(address: &str, request: &[u8], pause_ms: u64) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    stream.write_all(request).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(pause_ms)).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        stream.read_to_end(&mut answer),
    )
    .await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn slow_clients_oversized_headers_and_bodies_are_cut_off() {
    let app = spawn_app_with(|s| s.server.header_read_timeout_ms = 300).await;
    // Headers that never finish: the connection is closed after the timeout.
    let started = std::time::Instant::now();
    let answer = raw_exchange(
        &app.address,
        b"POST /pay HTTP/1.1\r\nHost: kapi\r\nX-Slow: 1\r\n",
        0,
    )
    .await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "the slow client was not cut off"
    );
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    // Too many headers.
    let mut many = b"GET / HTTP/1.1\r\nHost: kapi\r\n".to_vec();
    for i in 0..150 {
        many.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    let answer = raw_exchange(&app.address, &many, 0).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    // A body over the limit.
    let big = vec![("description".to_owned(), "x".repeat(70 * 1024))];
    let resp = app
        .client
        .post(app.url("/pay"))
        .form(&big)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_headers(&resp, "413");
    // …gets a page in the browser's language, not the body limit's plain text.
    let resp = app
        .client
        .post(app.url("/pay"))
        .header("accept-language", "en-GB,en;q=0.8")
        .form(&big)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let page = resp.text().await.unwrap();
    assert_eq!(error_code(&page).as_deref(), Some("KP-1007"), "{page}");
    assert!(page.contains("The request is too large."), "{page}");
    // The same when the size is not announced (chunked), and for the API as a problem.
    let chunk = "x".repeat(70 * 1024);
    let chunked = |path: &str, content_type: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: kapi\r\nConnection: close\r\n\
             Content-Type: {content_type}\r\nAuthorization: Bearer {}\r\n\
             Transfer-Encoding: chunked\r\n\r\n{:x}\r\ndescription={chunk}\r\n0\r\n\r\n",
            app.secret_str(),
            chunk.len() + "description=".len()
        )
    };
    let answer = raw_exchange(
        &app.address,
        chunked("/pay", "application/x-www-form-urlencoded").as_bytes(),
        0,
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer:.300}");
    assert!(answer.contains("KP-1007"), "{answer:.300}");
    let answer = raw_exchange(
        &app.address,
        chunked("/api/v1/checkout-sessions", "application/json").as_bytes(),
        0,
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer:.300}");
    assert!(answer.contains("application/problem+json"), "{answer:.300}");
    assert!(answer.contains("\"KP-6007\""), "{answer:.300}");
    let resp = app
        .api(reqwest::Method::POST, "/api/v1/checkout-sessions")
        .header("content-type", "application/json")
        .body(format!("{{\"description\": \"{chunk}\"}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    assert_eq!(resp.json::<Value>().await.unwrap()["code"], "KP-6007");
    // Form bytes that are not UTF-8 are refused, not patched up.
    let resp = app
        .client
        .post(app.url("/pay"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("merchant_id=%ff%fe&amount=1.00")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        error_code(&resp.text().await.unwrap()).as_deref(),
        Some("KP-1001")
    );
}

#[tokio::test]
async fn every_state_changing_form_needs_its_token() {
    let app = spawn_app().await;
    let id = app.start_payment(&[]).await;
    // Card form and cancel: the session's CSRF token.
    for path in [format!("/checkout/{id}"), format!("/checkout/{id}/cancel")] {
        let page = app
            .post_form(&path, &vec![("csrf_token".into(), "forged".into())])
            .await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(error_code(&page.body).as_deref(), Some("KP-2005"), "{path}");
    }
    assert_eq!(
        app.card_page(&id).await.status,
        StatusCode::OK,
        "nothing changed"
    );
    // The OTP form at the ACS: its own per-transaction token.
    let submit = app.submit_card(&id, VISA_CHALLENGE).await;
    let challenge = app.follow_post(&submit.body).await;
    let form = forms(&challenge.body)
        .into_iter()
        .find(|f| f.action.contains("/sim/acs/challenge/"))
        .unwrap();
    for token in ["", "0000"] {
        let fields: Fields = vec![
            ("form_token".into(), token.into()),
            ("action".into(), "verify".into()),
            ("otp".into(), app.latest_otp().await),
        ];
        let resp = app.post_form(&form.action, &fields).await;
        assert_eq!(resp.status, StatusCode::FORBIDDEN, "token {token:?}");
    }
    // The 3-D Secure return and the merchant callbacks take no token: they are bound by MACs
    // and signatures (see the threeds tests).
    let ok = app
        .acs_action(&challenge.body, "verify", &app.latest_otp().await)
        .await;
    let back = app.follow_post(&ok.body).await;
    assert_eq!(back.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn two_payments_in_two_tabs_of_one_browser() {
    let app = spawn_app().await;
    let first = app.start_payment(&[]).await;
    let second = app.start_payment(&[]).await;
    // Both card pages stay usable; the forms of the first tab still work after the second
    // payment started.
    let fields_first = app.card_fields(&first, MC_FRICTIONLESS, &[]).await;
    let fields_second = app.card_fields(&second, "4000 0000 0000 9995", &[]).await;
    let a = app
        .post_form(&format!("/checkout/{first}"), &fields_first)
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let b = app
        .complete_3ds(
            app.post_form(&format!("/checkout/{second}"), &fields_second)
                .await,
        )
        .await;
    let got_b = app.return_to_merchant(&b).await;
    let got_a = app
        .return_to_merchant(&app.get(&a.location.unwrap()).await)
        .await;
    assert_eq!(got_a.get("status"), "approved");
    assert_eq!(got_b.get("status"), "declined");
    assert_ne!(got_a.get("payment_id"), got_b.get("payment_id"));
}

/// Runs `kapi` on the app's data folder with the keys from its keyring (no configured key).
async fn kapi_keyring(app: &TestApp, args: &[&str]) -> (bool, Value, String) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_kapi"));
    if let Some(url) = &app.database_url {
        command.env("KAPI__DATABASE__URL", url);
    }
    let out = command
        .args(args)
        .args(["--data-dir", app.data_dir.path().to_str().unwrap()])
        .output()
        .await
        .unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (
        out.status.success(),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn master_key_rotation_reencrypts_while_serving_and_retires_the_old_key() {
    // Keyring mode is one data folder's: on SQLite, whichever backend the suite runs on (a
    // shared database requires a configured key, `cli.rs`).
    let app = spawn_app_with(|s| {
        s.security.master_key = None;
        s.database.url = None;
        s.checkout.sweep_interval_ms = 100;
    })
    .await;
    assert!(app.data_dir.path().join("keyring.json").exists());
    // The merchant's NestPay store key and API password are sealed with key 1 too.
    let credentials = kapi::merchants::NestpayCredentials {
        client_id: "700655000299".into(),
        store_key: secrecy::SecretString::from("STOREKEY1".to_owned()),
        api_user: "api".into(),
        api_password: secrecy::SecretString::from("Parola-1".to_owned()),
    };
    kapi::merchants::configure_nestpay(
        &*app.app_state.storage.merchants,
        &app.app_state.vault,
        &app.merchant_id,
        kapi::merchants::NestpayChange::Set(credentials),
        kapi::clock::Clock::now_ms(&*app.clock),
    )
    .await
    .unwrap();
    // A bank terminal's password, store key and refund password too (disabled, so this test's
    // payments stay on the default terminal: a disabled terminal's secrets are re-sealed all
    // the same).
    let terminal = app
        .add_terminal(kapi::terminals::NewTerminal {
            merchant_id: app.merchant_id.clone(),
            bank: "Garanti BBVA".into(),
            platform: kapi::terminals::Platform::Garanti,
            client_id: "100200300".into(),
            user: "api".into(),
            password: secrecy::SecretString::from("Banka-Parola-1".to_owned()),
            terminal_no: Some("30691297".into()),
            store_key: secrecy::SecretString::from("BANKASTOREKEY".to_owned()),
            gate_url: "https://bank.example/fim/est3Dgate".into(),
            api_url: "https://bank.example/fim/api".into(),
            static_ip: None,
            commission: None,
            installment_commissions: vec![],
            accept_half_3d: false,
            refund_user: Some("PROVRFN".into()),
            refund_password: Some(secrecy::SecretString::from("Iade-Parola-1".to_owned())),
            mbr_id: None,
        })
        .await;
    app.configure_terminal(
        &terminal,
        kapi::terminals::TerminalChange::default(),
        Some(false),
    )
    .await;
    // A challenge left open: its card waits in the vault, sealed with key 1.
    let id = app.start_payment(&[]).await;
    let submit = app.submit_card(&id, VISA_CHALLENGE).await;
    let challenge = app.follow_post(&submit.body).await;

    let (ok, rotated, err) = kapi_keyring(&app, &["keys", "rotate"]).await;
    assert!(ok, "{err}");
    assert_eq!(rotated["current_key_id"], 2);
    let (ok, _, err) = kapi_keyring(&app, &["keys", "retire", "--key-id", "2"]).await;
    assert!(!ok && err.contains("current key"), "{err}");

    // The server reloads the keyring and re-encrypts in the background.
    let mut status = Value::Null;
    for _ in 0..100 {
        status = kapi_keyring(&app, &["keys", "status"]).await.1;
        if status["keys"][0]["sealed_items"] == 0
            && status["keys"][1]["sealed_items"].as_i64() >= Some(4)
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status["keys"][0]["id"], 1);
    assert_eq!(status["keys"][0]["sealed_items"], 0, "{status}");
    assert_eq!(status["keys"][1]["current"], true, "{status}");

    // Everything still works: the merchant's key, the pending card.
    assert_eq!(app.get_json("/api/v1/payments").await.0, StatusCode::OK);
    let cres = app
        .acs_action(&challenge.body, "verify", &app.latest_otp().await)
        .await;
    let back = app.follow_post(&cres.body).await;
    let got = app
        .return_to_merchant(&app.get(&back.location.unwrap()).await)
        .await;
    assert_eq!(got.get("status"), "approved");

    // Key 1 seals nothing any more: it can go, and the server carries on without it.
    let (ok, retired, err) = kapi_keyring(&app, &["keys", "retire", "--key-id", "1"]).await;
    assert!(ok, "{err}");
    assert_eq!(retired["retired_key_id"], 1);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let again = app.pay_with(MC_FRICTIONLESS, &[]).await;
    assert_eq!(again.get("status"), "approved");
    assert!(again.signature_ok);
    // The terminal's secrets, re-sealed, read back as they were.
    let record = app
        .app_state
        .storage
        .terminals
        .terminal(&terminal)
        .await
        .unwrap()
        .unwrap();
    let (password, store_key) = kapi::terminals::secrets(&app.app_state.vault, &record).unwrap();
    use secrecy::ExposeSecret;
    assert_eq!(password.expose_secret(), "Banka-Parola-1");
    assert_eq!(store_key.expose_secret(), "BANKASTOREKEY");
    let refund = kapi::terminals::refund_password(&app.app_state.vault, &record)
        .unwrap()
        .unwrap();
    assert_eq!(refund.expose_secret(), "Iade-Parola-1");
    // The NestPay API password, re-sealed, still logs in (an unknown order, not a refusal).
    let status = app
        .client
        .post(app.url("/fim/api"))
        .header("content-type", "text/xml")
        .body(
            "<CC5Request><Name>api</Name><Password>Parola-1</Password>\
             <ClientId>700655000299</ClientId><OrderId>NONE-1</OrderId>\
             <Extra><ORDERSTATUS>QUERY</ORDERSTATUS></Extra></CC5Request>",
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(status.contains("Sipariş bulunamadı"), "{status}");
}

#[tokio::test]
async fn callbacks_to_metadata_and_private_addresses_are_refused_before_connecting() {
    // The merchant registered these origins (a mistake or an attacker's doing): Kapı still
    // refuses to call them. The check is on the IP literal, before any connection is made.
    let app = spawn_app_with(|s| s.notifications.allow_private_targets = false).await;
    // A host name that resolves to loopback: refused by the resolver, after the lookup.
    let by_name = app.receiver_url.replace("127.0.0.1", "localhost");
    let (merchant, secret) = kapi::merchants::register(
        &*app.app_state.storage.merchants,
        &app.app_state.vault,
        kapi::merchants::NewMerchant {
            name: "Internal".into(),
            return_origins: vec![
                app.receiver_url.clone(),
                "http://169.254.169.254".into(),
                "http://10.0.0.1".into(),
                by_name.clone(),
            ],
            ..Default::default()
        },
        kapi::clock::Clock::now_ms(&*app.clock),
    )
    .await
    .unwrap();
    let named_callback = format!("{by_name}/callback");
    for target in [
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.1/cb",
        named_callback.as_str(),
    ] {
        let mut fields =
            app.start_form(&[("merchant_id", merchant.as_str()), ("callback_url", target)]);
        fields.retain(|(k, _)| k != "signature");
        let fields = kapi::crypto::signature::signed(fields, &secret).unwrap();
        let page = app.pay(&fields).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        let id = page
            .location
            .unwrap()
            .trim_start_matches("/checkout/")
            .to_owned();
        let result = app
            .complete_3ds(app.submit_card(&id, MC_FRICTIONLESS).await)
            .await;
        assert_eq!(result.status, StatusCode::OK);
        let mut attempts = vec![];
        for _ in 0..50 {
            attempts = app
                .app_state
                .storage
                .payments
                .callback_attempts(&id)
                .await
                .unwrap();
            if !attempts.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(
            attempts[0]
                .error
                .as_deref()
                .unwrap_or("")
                .contains("internal address"),
            "{target}: {attempts:?}"
        );
        assert!(attempts[0].status_code.is_none());
        if target != named_callback {
            assert!(attempts[0].latency_ms == 0, "refused without connecting");
        }
    }
    assert!(
        app.receiver.at("/callback").is_empty(),
        "nothing reached the loopback receiver by its name"
    );
}

#[tokio::test]
async fn webhook_urls_must_stay_on_registered_origins() {
    let app = spawn_app().await;
    for url in [
        "https://evil.example/hook",
        "javascript:alert(1)",
        "http://127.0.0.1:1/hook",
    ] {
        let out = app.configure_merchant(&["--webhook-url", url]).await;
        assert!(!out.status.success(), "{url} was accepted");
    }
}

fn session_cookie(resp: &reqwest::Response) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("kapi_session="))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

#[tokio::test]
async fn the_session_id_rotates_when_a_payment_is_bound_and_a_double_click_lands_well() {
    let app = spawn_app().await;
    let bare = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // A cookie planted before the shopper arrives never holds the payment.
    let planted = "kapi_session=AAAAAAAAAAAAAAAAAAAAAA";
    let started = bare
        .post(app.url("/pay"))
        .header("cookie", planted)
        .form(&app.start_form(&[]))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
    let fresh = session_cookie(&started).expect("a session for the payment");
    assert_ne!(fresh, planted);
    let card_page = started.headers()["location"].to_str().unwrap().to_owned();
    let with_planted = bare
        .get(app.url(&card_page))
        .header("cookie", planted)
        .send()
        .await
        .unwrap();
    assert_eq!(with_planted.status(), StatusCode::FORBIDDEN);

    // A double click sends the card form twice from the same session: one authorisation,
    // and both clicks land on the result.
    let order_id = random_id("DBL");
    let id = app.start_payment(&[("order_id", &order_id)]).await;
    let fields = app.card_fields(&id, MC_FRICTIONLESS, &[]).await;
    let path = format!("/checkout/{id}");
    let (first, second) =
        tokio::join!(app.post_form(&path, &fields), app.post_form(&path, &fields));
    for click in [&first, &second] {
        assert_eq!(click.status, StatusCode::SEE_OTHER, "{}", click.body);
        assert_eq!(
            click.location.as_deref(),
            Some(format!("/checkout/{id}/result").as_str())
        );
    }
    let result = app.get(&format!("/checkout/{id}/result")).await;
    assert!(
        result.body.contains("Ödemeniz onaylandı"),
        "{}",
        result.body
    );
    assert_eq!(
        app.bank_transactions(&order_id).await.len(),
        1,
        "authorised once"
    );
}

#[tokio::test]
async fn a_form_token_without_the_shoppers_session_takes_nothing_over() {
    let app = spawn_app().await;
    let id = app.start_payment(&[]).await;
    let fields = app.card_fields(&id, MC_FRICTIONLESS, &[]).await;
    let token = field(&fields, "csrf_token").to_owned();
    // Another browser that learnt the card page's token, but holds no session of the payment.
    let other = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap();
    let submit = other
        .post(app.url(&format!("/checkout/{id}")))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(submit.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        error_code(&submit.text().await.unwrap()).as_deref(),
        Some("KP-2004")
    );
    let cancel = other
        .post(app.url(&format!("/checkout/{id}/cancel")))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(cancel.status(), StatusCode::FORBIDDEN);
    // Nor is that browser bound to the payment now.
    let page = other
        .get(app.url(&format!("/checkout/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::FORBIDDEN);
    let p = app
        .app_state
        .storage
        .payments
        .get_payment(&id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.status.as_str(), "created");
    // A token from another session of the same payment does not fit this one.
    let mut forged = fields.clone();
    forged.retain(|(k, _)| k != "csrf_token");
    forged.push((
        "csrf_token".into(),
        kapi::crypto::hmac_hex(b"guess", format!("csrf:{id}").as_bytes()),
    ));
    let refused = app.post_form(&format!("/checkout/{id}"), &forged).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(error_code(&refused.body).as_deref(), Some("KP-2005"));
    // The shopper's own browser pays as usual.
    let got = app.pay_with_fields(&id, &fields).await;
    assert_eq!(got.get("status"), "approved");
}

#[tokio::test]
async fn the_session_lives_as_long_as_a_long_checkout_session() {
    let app = spawn_app().await;
    let cookie = |resp: &reqwest::Response| -> Option<String> {
        resp.headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("kapi_session="))
            .map(str::to_owned)
    };
    let max_age_of = |cookie: &str| -> i64 {
        cookie
            .split(';')
            .find_map(|a| a.trim().strip_prefix("Max-Age="))
            .unwrap()
            .parse()
            .unwrap()
    };
    // A short payment gets the 30 minutes of inactivity from its start.
    let started = app
        .client
        .post(app.url("/pay"))
        .form(&app.start_form(&[]))
        .send()
        .await
        .unwrap();
    let secs = max_age_of(&cookie(&started).expect("the session starts with the payment"));
    assert!((1800..=1800 + 20 * 60).contains(&secs), "{secs}");
    let card_page = started.headers()["location"].to_str().unwrap().to_owned();
    // The pages right after write nothing (no renewal, no cookie): the session has most of
    // its time left.
    let page = app.client.get(app.url(&card_page)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(cookie(&page).is_none(), "no write on every page view");
    // Ten minutes on, a page view renews it: 30 minutes again from then.
    app.clock.advance(11 * 60);
    let page = app.client.get(app.url(&card_page)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let secs = max_age_of(&cookie(&page).expect("renewed after ten minutes"));
    assert!((1800..=1800 + 20 * 60).contains(&secs), "{secs}");
    let id = card_page.trim_start_matches("/checkout/").to_owned();
    // A checkout session of two hours: its browser stays bound that long.
    let (status, session) = app
        .create_session(app.session_body(serde_json::json!({"expires_in": 7200})))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let opened = app
        .client
        .get(session["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(opened.status(), StatusCode::SEE_OTHER);
    let max_age = |resp: &reqwest::Response| -> i64 {
        resp.headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("kapi_session="))
            .and_then(|c| {
                c.split(';')
                    .find_map(|a| a.trim().strip_prefix("Max-Age="))
                    .map(|v| v.parse().unwrap())
            })
            .expect("the session cookie has a lifetime")
    };
    let long = max_age(&opened);
    assert!(
        long >= 7200,
        "a session bound to a 2 h checkout lives at least 2 h, not {long} s"
    );
    // Visiting the short payment again does not cut the long one's binding short.
    let again = app
        .client
        .get(app.url(&format!("/checkout/{id}")))
        .send()
        .await
        .unwrap();
    assert!(max_age(&again) >= 7000, "{}", max_age(&again));
}

#[tokio::test]
async fn the_protocol_is_taken_as_written_and_nothing_looser() {
    let app = spawn_app().await;
    // A signature in upper-case hex is not the signature.
    let mut fields = app.start_form(&[]);
    let sig = fields.iter_mut().find(|(k, _)| k == "signature").unwrap();
    sig.1 = sig.1.to_uppercase();
    let page = app.pay(&fields).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert_eq!(error_code(&page.body).as_deref(), Some("KP-1011"));
    // `Bearer` and the key with two spaces between them: not a bearer key.
    let resp = app
        .client
        .get(app.url("/api/v1/payments"))
        .header("authorization", format!("Bearer  {}", app.secret_str()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "KP-6001");
    // Bidirectional controls could make the contract read otherwise than it says.
    for text in ["Kazak \u{202E}M ebed", "a\u{2066}b\u{2069}", "\u{200F}x"] {
        let page = app.pay(&app.start_form(&[("description", text)])).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{text:?}");
        assert_eq!(error_code(&page.body).as_deref(), Some("KP-1004"));
        let (status, body) = app
            .create_session(app.session_body(serde_json::json!({"description": text})))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["code"], "KP-1004");
        assert_eq!(body["field"], "description");
        let (status, body) = app
            .create_session(app.session_body(
                serde_json::json!({"customer": {"name": text, "email": "", "phone": ""}}),
            ))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["field"], "customer.name");
    }
    let out = app
        .kapi(&[
            "merchant",
            "add",
            "--name",
            "Sahte",
            "--address",
            "Cad. No: 5 \u{202E}0001 :ON",
            "--return-origin",
            "https://shop.example",
        ])
        .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--address"));
}
