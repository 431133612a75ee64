//! Events: written with the change they report, signed, retried until delivered, listed with
//! their attempts, and sent again on request.

use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn an_endpoint_that_fails_three_times_gets_the_event_once_after_retries() {
    let app = spawn_app().await;
    app.receiver
        .fail_events
        .store(3, std::sync::atomic::Ordering::SeqCst);
    let id = app.approved_payment().await;
    let accepted = app.receiver.wait_event(&id, "payment.approved").await;
    assert!(accepted.signature_ok);
    let event_id = accepted.headers["kapi-event-id"].clone();
    // The receiver saw the same event four times (dedupe by id on its side) and accepted once.
    let copies: Vec<Received> = app
        .receiver
        .events()
        .into_iter()
        .filter(|r| r.headers["kapi-event-id"] == event_id)
        .collect();
    assert_eq!(copies.len(), 4);
    assert_eq!(copies.iter().filter(|r| r.answered == 200).count(), 1);
    assert!(
        copies.iter().all(|r| r.raw == accepted.raw),
        "the body is the same at every attempt"
    );
    let body = accepted.json();
    assert_eq!(body["id"], event_id);
    assert_eq!(body["type"], "payment.approved");
    assert_eq!(body["data"]["payment"]["status"], "approved");
    assert_eq!(
        body["data"]["payment"]["card"]["masked_pan"],
        "555555******4444"
    );
    // The attempt log shows the retries.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let (status, event) = app.get_json(&format!("/api/v1/events/{event_id}")).await;
    assert_eq!(status, StatusCode::OK, "{event}");
    assert_eq!(event["status"], "delivered");
    assert_eq!(event["attempts"], 4);
    let codes: Vec<i64> = event["attempt_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status_code"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, [500, 500, 500, 200]);
    assert_eq!(event["payload"], body);
}

#[tokio::test]
async fn every_final_status_writes_an_event() {
    let app = spawn_app().await;
    let declined = app.pay_with("4000 0000 0000 9995", &[]).await;
    app.receiver
        .wait_event(declined.get("payment_id"), "payment.declined")
        .await;
    let failed = app.pay_with("4000 0000 0000 3006", &[]).await;
    app.receiver
        .wait_event(failed.get("payment_id"), "payment.failed")
        .await;
    let id = app.start_payment(&[]).await;
    let page = app.card_page(&id).await;
    let cancel = forms(&page.body)
        .into_iter()
        .find(|f| f.action.ends_with("/cancel"))
        .unwrap();
    app.post_form(&cancel.action, &cancel.fields).await;
    app.receiver.wait_event(&id, "payment.cancelled").await;
    let expiring = app.start_payment(&[]).await;
    app.clock.advance(16 * 60);
    app.card_page(&expiring).await;
    app.receiver.wait_event(&expiring, "payment.expired").await;
    let (status, list) = app.get_json("/api/v1/events?type=payment.declined").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0]["payment_id"], declined.get("payment_id"));
}

#[tokio::test]
async fn events_go_to_the_merchant_webhook_without_a_callback_url() {
    let app = spawn_app().await;
    let out = app
        .configure_merchant(&["--webhook-url", &format!("{}/webhook", app.receiver_url)])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, session) = app
        .create_session(app.session_body(serde_json::json!({"callback_url": null})))
        .await;
    let id = session["id"].as_str().unwrap();
    app.pay_session(session["url"].as_str().unwrap(), MC_FRICTIONLESS)
        .await;
    let event = app.receiver.wait_event(id, "payment.approved").await;
    assert_eq!(event.path, "/webhook");
}

#[tokio::test]
async fn an_event_with_nowhere_to_go_is_kept_and_cannot_be_resent() {
    // No callback URL and no merchant webhook: the event is recorded for the API only.
    let app = spawn_app().await;
    let (_, session) = app
        .create_session(app.session_body(serde_json::json!({"callback_url": null})))
        .await;
    let id = session["id"].as_str().unwrap();
    app.pay_session(session["url"].as_str().unwrap(), MC_FRICTIONLESS)
        .await;
    let (status, list) = app
        .get_json(&format!("/api/v1/events?payment_id={id}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let event = &list["data"][0];
    assert_eq!(event["type"], "payment.approved", "{list}");
    assert!(event["url"].is_null(), "{event}");
    let (status, body) = app
        .post_json(
            &format!("/api/v1/events/{}/resend", event["id"].as_str().unwrap()),
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "KP-6042");
    assert!(app.receiver.events().is_empty());
}

#[tokio::test]
async fn events_are_listed_and_can_be_sent_again() {
    let app = spawn_app().await;
    let id = app.approved_payment().await;
    let first = app.receiver.wait_event(&id, "payment.approved").await;
    let event_id = first.headers["kapi-event-id"].clone();
    let (status, list) = app
        .get_json(&format!("/api/v1/events?payment_id={id}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["data"][0]["id"], event_id);
    let count = || {
        app.receiver
            .events()
            .into_iter()
            .filter(|r| r.headers["kapi-event-id"] == event_id)
            .count()
    };
    assert_eq!(count(), 1);
    let (status, body) = app
        .post_json(&format!("/api/v1/events/{event_id}/resend"), None, None)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    wait_until(|| count() == 2).await;
    // The CLI does the same through the database; the running server picks it up.
    let out = app.kapi(&["events", "resend", &event_id]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_until(|| count() == 3).await;
    let (status, body) = app
        .post_json("/api/v1/events/evt_nope/resend", None, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["code"], "KP-6040");
    assert!(
        !app.kapi(&["events", "resend", "evt_nope"])
            .await
            .status
            .success()
    );
}

async fn wait_until(cond: impl Fn() -> bool) {
    for _ in 0..100 {
        if cond() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("condition not met in time");
}

#[tokio::test]
async fn a_delivery_that_keeps_failing_is_given_up_as_dead() {
    let app = spawn_app_with(|s| s.notifications.max_age_secs = 1).await;
    app.receiver
        .fail_events
        .store(usize::MAX, std::sync::atomic::Ordering::SeqCst);
    let id = app.approved_payment().await;
    let mut event = serde_json::Value::Null;
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
    let attempts = event["attempt_log"].as_array().unwrap();
    assert!(attempts.len() >= 2, "{event}");
    assert!(attempts.iter().all(|a| a["status_code"] == 500));
    // Dead events can still be sent again by hand.
    app.receiver
        .fail_events
        .store(0, std::sync::atomic::Ordering::SeqCst);
    let (status, _) = app
        .post_json(
            &format!("/api/v1/events/{}/resend", event["id"].as_str().unwrap()),
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    app.receiver.wait_event(&id, "payment.approved").await;
}

#[tokio::test]
async fn event_listing_refuses_a_bad_query() {
    let app = spawn_app().await;
    for bad in ["limit=0", "cursor=***", "colour=red"] {
        let (status, body) = app.get_json(&format!("/api/v1/events?{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(body["code"], "KP-6041");
    }
    let (status, body) = app.get_json("/api/v1/events/evt_missing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], "KP-6040");
}
