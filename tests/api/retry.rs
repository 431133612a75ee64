//! A second chance after a decline, over HTTP: another card on the same payment, the
//! merchant's limit, giving up, a fraud decline that ends at once, the card-testing guard, and
//! what the merchant receives (one result, one event, every attempt).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

/// Declined without a challenge: `54` (expired card), a reason another card may fix.
const DECLINED: &str = "5100 0000 0000 0057";
/// Declined `41`, lost card, after a challenge.
const LOST: &str = "4000 0000 0000 0416";

async fn allow_cards(app: &TestApp, n: &str) {
    let out = app.configure_merchant(&["--card-attempts", n]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Submits `card` and follows the browser to where the payment leads next.
async fn try_card(app: &TestApp, id: &str, card: &str) -> Page {
    let submit = app.submit_card(id, card).await;
    app.complete_3ds(submit).await
}

#[tokio::test]
async fn a_declined_shopper_pays_with_another_card_and_the_merchant_hears_once() {
    let app = spawn_app().await;
    allow_cards(&app, "3").await;
    let id = app.start_payment(&[]).await;
    // The decline leads back to the card page, which says why and offers another card.
    let after = try_card(&app, &id, DECLINED).await;
    assert_eq!(after.status, StatusCode::SEE_OTHER, "{}", after.body);
    assert_eq!(
        after.location.as_deref(),
        Some(format!("/checkout/{id}").as_str())
    );
    let page = app.card_page(&id).await;
    assert_eq!(page.status, StatusCode::OK);
    let notice = text_of(&page.body, "#retry-notice").join(" ");
    assert!(notice.contains("Kartınız onaylanmadı"), "{notice}");
    assert!(notice.contains("başka bir kartla"), "{notice}");
    assert!(notice.contains("Kalan deneme hakkınız: 2"), "{notice}");
    assert!(
        !notice.contains("Vadesi dolmuş kart"),
        "the bank's text is the merchant's"
    );
    let (_, p) = app.get_json(&format!("/api/v1/payments/{id}")).await;
    assert_eq!(p["status"], "awaiting_retry");
    assert_eq!(
        (p["attempt"].clone(), p["card_attempts"].clone()),
        (json!(1), json!(3))
    );
    // Nothing has reached the merchant.
    assert!(app.receiver.all().is_empty());
    // Another card pays the same payment.
    let result = try_card(&app, &id, MC_FRICTIONLESS).await;
    assert_eq!(result.status, StatusCode::OK, "{}", result.body);
    let got = app.return_to_merchant(&result).await;
    assert_eq!(got.get("status"), "approved");
    assert_eq!(got.get("payment_id"), id);
    let event = app
        .receiver
        .wait_event(&id, "payment.approved")
        .await
        .json();
    let attempts = event["data"]["payment"]["attempts"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0]["status"], "awaiting_retry");
    assert_eq!(attempts[0]["proc_return_code"], "54");
    assert_eq!(attempts[0]["card"]["masked_pan"], "510000******0057");
    assert_eq!(attempts[1]["status"], "approved");
    assert_eq!(event["data"]["payment"]["attempt"], 2);
    // One signed result (the browser's post and the callback carry the same one) and one event.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let events = app.receiver.events();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.json()["data"]["payment"]["id"] == id.as_str())
            .count(),
        1
    );
    let (_, p) = app.get_json(&format!("/api/v1/payments/{id}")).await;
    let history: Vec<&str> = p["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["to"].as_str().unwrap())
        .collect();
    assert!(history.contains(&"awaiting_retry"), "{history:?}");
    assert_eq!(p["attempts"].as_array().unwrap().len(), 2);
    // The bank holds one approval and one decline for the order.
    let order = p["order_id"].as_str().unwrap();
    assert_eq!(app.bank_transactions(order).await.len(), 2);
}

#[tokio::test]
async fn the_merchant_s_limit_ends_the_payment_at_the_last_card() {
    let app = spawn_app().await;
    allow_cards(&app, "2").await;
    let id = app.start_payment(&[]).await;
    let first = try_card(&app, &id, DECLINED).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER);
    let second = try_card(&app, &id, DECLINED).await;
    assert_eq!(second.status, StatusCode::OK, "the end: {}", second.body);
    let got = app.return_to_merchant(&second).await;
    assert_eq!(
        (got.get("status"), got.get("proc_return_code")),
        ("declined", "54")
    );
    let (_, p) = app.get_json(&format!("/api/v1/payments/{id}")).await;
    assert_eq!(p["attempts"].as_array().unwrap().len(), 2);
    assert_eq!(p["attempts"][1]["status"], "declined");
    // The API's session create takes its own number, 1 to 5.
    let (status, body) = app
        .create_session(app.session_body(json!({ "card_attempts": 6 })))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        (body["code"].as_str(), body["field"].as_str()),
        (Some("KP-1004"), Some("card_attempts"))
    );
    let (status, body) = app
        .create_session(app.session_body(json!({ "card_attempts": 1 })))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, p) = app
        .get_json(&format!(
            "/api/v1/payments/{}",
            body["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        p["card_attempts"], 1,
        "the session's number wins over the merchant's 2"
    );
}

#[tokio::test]
async fn a_shopper_who_gives_up_after_a_decline_returns_to_fail_url_with_its_codes() {
    let app = spawn_app().await;
    allow_cards(&app, "3").await;
    let id = app.start_payment(&[]).await;
    try_card(&app, &id, DECLINED).await;
    let page = app.card_page(&id).await;
    let cancel = forms(&page.body)
        .into_iter()
        .find(|f| f.action.ends_with("/cancel"))
        .expect("the give-up button");
    let gone = app.post_form(&cancel.action, &cancel.fields).await;
    assert_eq!(gone.status, StatusCode::SEE_OTHER);
    let result = app.get(&gone.location.unwrap()).await;
    let got = app.return_to_merchant(&result).await;
    assert!(got.path.ends_with("/fail"), "{}", got.path);
    assert_eq!(got.get("status"), "declined");
    assert_eq!(got.get("proc_return_code"), "54");
    assert_eq!(got.get("error_code"), "KP-4001");
    app.receiver.wait_event(&id, "payment.declined").await;
}

#[tokio::test]
async fn a_lost_card_ends_the_payment_at_once_whatever_the_attempts_left() {
    let app = spawn_app().await;
    allow_cards(&app, "5").await;
    let id = app.start_payment(&[]).await;
    let result = try_card(&app, &id, LOST).await;
    assert_eq!(result.status, StatusCode::OK, "{}", result.body);
    let got = app.return_to_merchant(&result).await;
    assert_eq!(
        (got.get("status"), got.get("proc_return_code")),
        ("declined", "41")
    );
    let (_, p): (StatusCode, Value) = app.get_json(&format!("/api/v1/payments/{id}")).await;
    assert_eq!(p["attempt"], 1);
}

#[tokio::test]
async fn the_card_testing_guard_counts_attempts_on_one_payment() {
    let app = spawn_app_with(|s| s.limits.declines_per_ip = 2).await;
    allow_cards(&app, "5").await;
    let id = app.start_payment(&[]).await;
    try_card(&app, &id, DECLINED).await;
    try_card(&app, &id, DECLINED).await;
    let third = app.submit_card(&id, MC_FRICTIONLESS).await;
    assert_eq!(
        third.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        third.body
    );
    assert_eq!(error_code(&third.body).as_deref(), Some("KP-2008"));
}
