//! `POST /pay` refusals: every one is a page in the requested language with a stable code,
//! and never a redirect.

use reqwest::StatusCode;

use crate::helpers::*;

async fn refused(app: &TestApp, fields: &Fields, status: StatusCode, code: &str) -> Page {
    let page = app.pay(fields).await;
    assert_eq!(page.status, status, "{code}: {}", page.body);
    assert_eq!(
        error_code(&page.body).as_deref(),
        Some(code),
        "{}",
        page.body
    );
    assert!(
        page.location.is_none(),
        "{code}: an error must never redirect"
    );
    page
}

#[tokio::test]
async fn valid_form_sends_the_browser_to_the_card_page() {
    let app = spawn_app().await;
    let page = app.pay(&app.start_form(&[])).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let location = page.location.unwrap();
    assert!(location.starts_with("/checkout/pay_"));
    let card = app.get(&location).await;
    assert_eq!(card.status, StatusCode::OK);
}

#[tokio::test]
async fn bad_signature_is_refused() {
    let app = spawn_app().await;
    let mut fields = app.start_form(&[]);
    fields.last_mut().unwrap().1 = "0".repeat(64);
    let page = refused(&app, &fields, StatusCode::FORBIDDEN, "KP-1011").await;
    assert!(page.body.contains("imzası doğrulanamadı"));
    // Signed with another key.
    let mut other = app.start_form(&[]);
    other.pop();
    let other =
        kapi::crypto::signature::signed(other, &secrecy::SecretString::from("sk_wrong".to_owned()))
            .unwrap();
    refused(&app, &other, StatusCode::FORBIDDEN, "KP-1011").await;
    // No signature at all.
    let mut unsigned = app.start_form(&[]);
    unsigned.pop();
    refused(&app, &unsigned, StatusCode::BAD_REQUEST, "KP-1003").await;
}

#[tokio::test]
async fn tampered_amount_is_refused() {
    let app = spawn_app().await;
    let mut fields = app.start_form(&[("amount", "150.00")]);
    fields.iter_mut().find(|(k, _)| k == "amount").unwrap().1 = "1.50".into();
    refused(&app, &fields, StatusCode::FORBIDDEN, "KP-1011").await;
}

#[tokio::test]
async fn reused_nonce_is_refused() {
    let app = spawn_app().await;
    let fields = app.start_form(&[("nonce", "nonce-0123456789abcdef")]);
    assert_eq!(app.pay(&fields).await.status, StatusCode::SEE_OTHER);
    refused(&app, &fields, StatusCode::CONFLICT, "KP-1013").await;
    // The same nonce with a new order is still a reuse.
    let again = app.start_form(&[("nonce", "nonce-0123456789abcdef")]);
    refused(&app, &again, StatusCode::CONFLICT, "KP-1013").await;
}

#[tokio::test]
async fn stale_or_future_timestamp_is_refused() {
    let app = spawn_app().await;
    let now = kapi::clock::Clock::now_secs(&*app.clock);
    let old = (now - 601).to_string();
    let future = (now + 601).to_string();
    refused(
        &app,
        &app.start_form(&[("timestamp", &old)]),
        StatusCode::BAD_REQUEST,
        "KP-1012",
    )
    .await;
    refused(
        &app,
        &app.start_form(&[("timestamp", &future)]),
        StatusCode::BAD_REQUEST,
        "KP-1012",
    )
    .await;
    let edge = (now - 590).to_string();
    assert_eq!(
        app.pay(&app.start_form(&[("timestamp", &edge)]))
            .await
            .status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn unknown_merchant_is_refused() {
    let app = spawn_app().await;
    refused(
        &app,
        &app.start_form(&[("merchant_id", "mrc_nobody")]),
        StatusCode::BAD_REQUEST,
        "KP-1010",
    )
    .await;
}

#[tokio::test]
async fn unregistered_return_urls_are_refused_without_redirect() {
    let app = spawn_app().await;
    let port: u16 = app
        .receiver_url
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let other_port = format!("http://127.0.0.1:{}/ok", port.wrapping_add(1).max(1));
    for (field, url) in [
        ("ok_url", "https://evil.example/ok"),
        ("fail_url", "http://127.0.0.1:1/fail"),
        ("callback_url", "https://evil.example/cb"),
        // Same host, other port: another origin.
        ("ok_url", &other_port),
    ] {
        let page = refused(
            &app,
            &app.start_form(&[(field, url)]),
            StatusCode::BAD_REQUEST,
            "KP-1014",
        )
        .await;
        assert!(!page.body.contains(url), "the page must not link to {url}");
    }
    refused(
        &app,
        &app.start_form(&[("ok_url", "javascript:alert(1)")]),
        StatusCode::BAD_REQUEST,
        "KP-1004",
    )
    .await;
}

#[tokio::test]
async fn bad_amounts_and_currencies_are_refused() {
    let app = spawn_app().await;
    for amount in [
        "0.00",
        "-1.00",
        "1e3",
        "100.255",
        "1,50",
        "abc",
        "99999999999999.00",
    ] {
        refused(
            &app,
            &app.start_form(&[("amount", amount)]),
            StatusCode::BAD_REQUEST,
            "KP-1015",
        )
        .await;
    }
    for currency in ["GBP", "try", "826", ""] {
        let code = if currency.is_empty() {
            "KP-1003"
        } else {
            "KP-1016"
        };
        refused(
            &app,
            &app.start_form(&[("currency", currency)]),
            StatusCode::BAD_REQUEST,
            code,
        )
        .await;
    }
    for currency in ["949", "840", "978", "USD", "EUR"] {
        assert_eq!(
            app.pay(&app.start_form(&[("currency", currency)]))
                .await
                .status,
            StatusCode::SEE_OTHER,
            "{currency}"
        );
    }
}

#[tokio::test]
async fn malformed_fields_are_refused_with_their_codes() {
    let app = spawn_app().await;
    refused(
        &app,
        &app.start_form(&[("order_id", "sipariş 1")]),
        StatusCode::BAD_REQUEST,
        "KP-1017",
    )
    .await;
    refused(
        &app,
        &app.start_form(&[("order_id", &"x".repeat(65))]),
        StatusCode::BAD_REQUEST,
        "KP-1017",
    )
    .await;
    refused(
        &app,
        &app.start_form(&[("installment", "13")]),
        StatusCode::BAD_REQUEST,
        "KP-1019",
    )
    .await;
    refused(
        &app,
        &app.start_form(&[("lang", "de")]),
        StatusCode::BAD_REQUEST,
        "KP-1004",
    )
    .await;
    refused(
        &app,
        &app.start_form(&[("nonce", "short")]),
        StatusCode::BAD_REQUEST,
        "KP-1004",
    )
    .await;
    refused(
        &app,
        &app.start_form(&[("customer_email", "not-an-email")]),
        StatusCode::BAD_REQUEST,
        "KP-1004",
    )
    .await;
    refused(
        &app,
        &app.start_form(&[("surprise", "1")]),
        StatusCode::BAD_REQUEST,
        "KP-1002",
    )
    .await;
    // A line break cannot even be signed; a merchant who posts one anyway is refused.
    let mut broken = app.start_form(&[]);
    broken
        .iter_mut()
        .find(|(k, _)| k == "description")
        .unwrap()
        .1 = "line\nbreak".into();
    refused(&app, &broken, StatusCode::BAD_REQUEST, "KP-1006").await;
    let mut dup = app.start_form(&[]);
    dup.insert(0, ("amount".into(), "1.00".into()));
    refused(&app, &dup, StatusCode::BAD_REQUEST, "KP-1005").await;
    let mut missing = app.start_form(&[]);
    missing.retain(|(k, _)| k != "order_id");
    refused(&app, &missing, StatusCode::BAD_REQUEST, "KP-1003").await;
}

#[tokio::test]
async fn error_pages_follow_the_requested_language() {
    let app = spawn_app().await;
    let mut fields = app.start_form(&[("lang", "en")]);
    fields.last_mut().unwrap().1 = "0".repeat(64);
    let page = refused(&app, &fields, StatusCode::FORBIDDEN, "KP-1011").await;
    assert!(
        page.body.contains("signature could not be verified"),
        "{}",
        page.body
    );
    assert!(page.body.contains(r#"<html lang="en">"#));
}

#[tokio::test]
async fn wrong_method_gets_a_page() {
    let app = spawn_app().await;
    let page = app.get("/pay").await;
    assert_eq!(page.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(error_code(&page.body).as_deref(), Some("KP-1001"));
}

#[tokio::test]
async fn non_form_bodies_get_a_page_not_a_crash() {
    let app = spawn_app().await;
    let resp = app
        .client
        .post(app.url("/pay"))
        .json(&serde_json::json!({"a": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        error_code(&resp.text().await.unwrap()).as_deref(),
        Some("KP-1001")
    );
    let resp = app
        .client
        .post(app.url("/pay"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![0xff, 0xfe, b'=', 0x00])
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_client_error());
    let empty = app.post_form("/pay", &vec![]).await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
}
