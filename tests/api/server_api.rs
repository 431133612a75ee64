//! The merchant server API: authentication, checkout sessions, idempotency, payments,
//! voids, refunds, and the OpenAPI document.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

fn assert_problem(status: StatusCode, body: &Value, expected_status: StatusCode, code: &str) {
    assert_eq!(status, expected_status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], expected_status.as_u16());
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
}

#[tokio::test]
async fn calls_without_a_valid_key_are_refused_with_a_problem() {
    let app = spawn_app().await;
    let resp = app
        .client
        .get(app.url("/api/v1/payments"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "KP-6001");
    let resp = app
        .client
        .get(app.url("/api/v1/payments"))
        .bearer_auth("sk_not_a_key")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_call_from_an_address_not_on_the_allow_list_is_refused() {
    let app = spawn_app().await;
    let out = app
        .configure_merchant(&["--allowed-ip", "203.0.113.7"])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, body) = app.get_json("/api/v1/payments").await;
    assert_problem(status, &body, StatusCode::FORBIDDEN, "KP-6002");
    assert!(body["detail"].as_str().unwrap().contains("127.0.0.1"));
    let out = app
        .configure_merchant(&["--allowed-ip", "203.0.113.7", "--allowed-ip", "127.0.0.1"])
        .await;
    assert!(out.status.success());
    let (status, _) = app.get_json("/api/v1/payments").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn rotated_keys_overlap_then_the_old_one_stops() {
    let app = spawn_app().await;
    let old = app.secret_str().to_owned();
    let out = app
        .kapi(&[
            "merchant",
            "rotate-key",
            "--merchant-id",
            &app.merchant_id,
            "--overlap-hours",
            "1",
            "--json",
        ])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rotated: Value = serde_json::from_slice(&out.stdout).unwrap();
    let new = rotated["secret_key"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert!(rotated["previous_key_expires_at"].as_str().is_some());
    let call = |key: String| {
        let app = &app;
        async move {
            app.client
                .get(app.url("/api/v1/payments"))
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    // During the overlap both keys work, for the API and for signed forms.
    assert_eq!(call(old.clone()).await, StatusCode::OK);
    assert_eq!(call(new.clone()).await, StatusCode::OK);
    assert_eq!(
        app.pay(&app.start_form(&[])).await.status,
        StatusCode::SEE_OTHER
    );
    // Events carry a signature for each valid key.
    let id = app.approved_payment().await;
    let event = app.receiver.wait_event(&id, "payment.approved").await;
    let header = event.headers["kapi-signature"].clone();
    assert_eq!(header.matches("v1=").count(), 2, "{header}");
    assert!(event_signature_ok(&header, &event.raw, &[&new]));
    assert!(event_signature_ok(&header, &event.raw, &[&old]));
    // After the overlap only the new key works.
    app.clock.advance(3601);
    assert_eq!(call(old.clone()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(call(new.clone()).await, StatusCode::OK);
    let page = app.pay(&app.start_form(&[])).await;
    assert_eq!(error_code(&page.body).as_deref(), Some("KP-1011"));
}

#[tokio::test]
async fn checkout_session_sends_the_shopper_to_a_working_card_page() {
    let app = spawn_app().await;
    let body = app.session_body(json!({"amount": "1234.56", "expires_in": 600}));
    let (status, session) = app.create_session(body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    let id = session["id"].as_str().unwrap();
    assert!(id.starts_with("pay_"));
    assert_eq!(session["status"], "created");
    assert_eq!(session["amount"], "1234.56");
    let expires = time::OffsetDateTime::parse(
        session["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let in_secs = expires.unix_timestamp() - kapi::clock::Clock::now_secs(&*app.clock);
    assert!((595..=600).contains(&in_secs), "{in_secs}");
    // The shopper's browser has no session with Kapı yet: the link is enough.
    let shopper = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap();
    let url = session["url"].as_str().unwrap();
    let resp = shopper.get(url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let card = shopper
        .get(app.url(&format!("/checkout/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(card.status(), StatusCode::OK);
    assert!(card.text().await.unwrap().contains("1.234,56 TL"));
    // A forged token does not open it.
    let forged = app
        .get(&format!("/checkout/{id}?token={}", "0".repeat(64)))
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    // Paying it works like the form way.
    let got = app.pay_session(url, VISA_CHALLENGE).await;
    assert!(got.signature_ok);
    assert_eq!(got.get("status"), "approved");
    assert_eq!(got.get("payment_id"), id);
}

#[tokio::test]
async fn checkout_session_input_errors_are_problems_with_the_field() {
    let app = spawn_app().await;
    let post_raw = |body: &'static str, content_type: &'static str| {
        let app = &app;
        async move {
            let resp = app
                .api(Method::POST, "/api/v1/checkout-sessions")
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .unwrap();
            let status = resp.status();
            assert_eq!(resp.headers()["content-type"], "application/problem+json");
            (status, resp.json::<Value>().await.unwrap())
        }
    };
    let (s, b) = post_raw("{not json", "application/json").await;
    assert_problem(s, &b, StatusCode::BAD_REQUEST, "KP-6003");
    let (s, b) = post_raw("order_id=1", "application/x-www-form-urlencoded").await;
    assert_problem(s, &b, StatusCode::UNSUPPORTED_MEDIA_TYPE, "KP-6006");

    let cases: Vec<(Value, StatusCode, &str, &str)> = vec![
        (
            json!({"surprise": 1}),
            StatusCode::BAD_REQUEST,
            "KP-6004",
            "surprise",
        ),
        (
            json!({"customer": {"name": "A", "age": 3}}),
            StatusCode::BAD_REQUEST,
            "KP-6004",
            "customer.age",
        ),
        (
            json!({"amount": 150}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "KP-6005",
            "amount",
        ),
        (
            json!({"installment": "three"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "KP-6005",
            "installment",
        ),
        (
            json!({"order_id": null}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "KP-6005",
            "order_id",
        ),
        (
            json!({"expires_in": 10}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "KP-6005",
            "expires_in",
        ),
        (
            json!({"expires_in": 86401}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "KP-6005",
            "expires_in",
        ),
        (
            json!({"amount": "1e3"}),
            StatusCode::BAD_REQUEST,
            "KP-1015",
            "amount",
        ),
        (
            json!({"currency": "GBP"}),
            StatusCode::BAD_REQUEST,
            "KP-1016",
            "currency",
        ),
        (
            json!({"order_id": "sipariş 1"}),
            StatusCode::BAD_REQUEST,
            "KP-1017",
            "order_id",
        ),
        (
            json!({"installment": 13}),
            StatusCode::BAD_REQUEST,
            "KP-1019",
            "installment",
        ),
        (
            json!({"ok_url": "https://evil.example/ok"}),
            StatusCode::BAD_REQUEST,
            "KP-1014",
            "ok_url",
        ),
        (
            json!({"fail_url": "https://evil.example/fail"}),
            StatusCode::BAD_REQUEST,
            "KP-1014",
            "fail_url",
        ),
        (
            // The registered host on another port is another origin.
            json!({"fail_url": "http://127.0.0.1:1/fail"}),
            StatusCode::BAD_REQUEST,
            "KP-1014",
            "fail_url",
        ),
        (
            json!({"ok_url": "//evil.example/ok"}),
            StatusCode::BAD_REQUEST,
            "KP-1004",
            "ok_url",
        ),
        (
            json!({"callback_url": "http://127.0.0.1:1/cb"}),
            StatusCode::BAD_REQUEST,
            "KP-1014",
            "callback_url",
        ),
        (
            json!({"customer": {"email": "nope"}}),
            StatusCode::BAD_REQUEST,
            "KP-1004",
            "customer.email",
        ),
        (
            json!({"lang": "de"}),
            StatusCode::BAD_REQUEST,
            "KP-1004",
            "lang",
        ),
    ];
    for (overrides, status, code, field) in cases {
        let (s, b) = app
            .create_session(app.session_body(overrides.clone()))
            .await;
        assert_problem(s, &b, status, code);
        assert_eq!(b["field"], field, "{overrides}: {b}");
    }
}

#[tokio::test]
async fn idempotency_key_replays_refuses_a_different_body_and_reports_in_flight() {
    let app = spawn_app().await;
    let body = app.session_body(json!({}));
    let send = |body: Value, key: &'static str| {
        let app = &app;
        async move {
            app.api(Method::POST, "/api/v1/checkout-sessions")
                .header("Idempotency-Key", key)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let first = send(body.clone(), "order-123-attempt").await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let again = send(body.clone(), "order-123-attempt").await;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers()["idempotency-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again, first, "the saved response is returned");
    let (_, list) = app
        .get_json(&format!(
            "/api/v1/payments?order_id={}",
            body["order_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        1,
        "one session, not two"
    );

    let other = send(
        app.session_body(json!({"amount": "9.99"})),
        "order-123-attempt",
    )
    .await;
    assert_eq!(other.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(other.json::<Value>().await.unwrap()["code"], "KP-6011");

    let too_long: &'static str = Box::leak("k".repeat(256).into_boxed_str());
    let bad = send(body.clone(), too_long).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert_eq!(bad.json::<Value>().await.unwrap()["code"], "KP-6010");

    // A slow refund (the simulated bank takes 3 s for amounts ending in .77) is still in
    // flight when the same request arrives again.
    app.clock_to_istanbul_noon();
    let id = app.approved_payment().await;
    let path = format!("/api/v1/payments/{id}/refunds");
    let (first, second) = tokio::join!(
        app.post_json(&path, Some(json!({"amount": "10.77"})), Some("refund-1")),
        async {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            app.post_json(&path, Some(json!({"amount": "10.77"})), Some("refund-1"))
                .await
        }
    );
    assert_eq!(first.0, StatusCode::CREATED, "{}", first.1);
    assert_problem(second.0, &second.1, StatusCode::CONFLICT, "KP-6012");
    let (again_status, again) = app
        .post_json(&path, Some(json!({"amount": "10.77"})), Some("refund-1"))
        .await;
    assert_eq!(again_status, StatusCode::CREATED);
    assert_eq!(again["id"], first.1["id"]);
    let (_, payment) = app.get_json(&format!("/api/v1/payments/{id}")).await;
    assert_eq!(
        payment["refunded_amount"], "10.77",
        "refunded once: {payment}"
    );
}

#[tokio::test]
async fn idempotency_keys_are_kept_a_day_and_then_forgotten() {
    let app = spawn_app_with(|s| s.checkout.sweep_interval_ms = 50).await;
    let body = app.session_body(json!({}));
    let send = |body: Value| {
        let app = &app;
        async move {
            app.api(Method::POST, "/api/v1/checkout-sessions")
                .header("Idempotency-Key", "nightly-batch-7")
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let first = send(body.clone()).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    // A day and an hour later (the cleanup has run meanwhile), the key still holds.
    app.clock.advance(25 * 3600);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let replay = send(body.clone()).await;
    assert_eq!(replay.status(), StatusCode::CREATED);
    assert_eq!(replay.headers()["idempotency-replayed"], "true");
    assert_eq!(replay.json::<Value>().await.unwrap(), first);
    let other = send(app.session_body(json!({"amount": "9.99"}))).await;
    assert_eq!(other.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Two days on it is forgotten, and the key may name a new request.
    app.clock.advance(24 * 3600);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let fresh = send(app.session_body(json!({"amount": "9.99"}))).await;
    assert_eq!(fresh.status(), StatusCode::CREATED);
    assert!(fresh.headers().get("idempotency-replayed").is_none());
    assert_ne!(fresh.json::<Value>().await.unwrap()["id"], first["id"]);
}

#[tokio::test]
async fn a_void_sent_twice_with_one_key_voids_once() {
    let app = spawn_app().await;
    app.clock_to_istanbul_noon();
    let id = app.approved_payment().await;
    let path = format!("/api/v1/payments/{id}/void");
    let (status, first) = app.post_json(&path, None, Some("void-1")).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (status, again) = app.post_json(&path, None, Some("void-1")).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the saved answer, not KP-6030: {again}"
    );
    assert_eq!(again, first);
    let order_id = first["order_id"].as_str().unwrap();
    let voids = app.bank_transactions(order_id).await;
    assert_eq!(voids.iter().filter(|t| t["kind"] == "void").count(), 1);
}

#[tokio::test]
async fn payment_status_shows_amounts_card_3ds_and_history() {
    let app = spawn_app().await;
    let (_, session) = app.create_session(app.session_body(json!({}))).await;
    let id = session["id"].as_str().unwrap();
    let (status, p) = app.get_json(&format!("/api/v1/payments/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(p["status"], "created");
    assert_eq!(p["authorised_amount"], "0.00");
    assert!(p["card"].is_null());
    app.pay_session(session["url"].as_str().unwrap(), VISA_CHALLENGE)
        .await;
    let (_, p) = app.get_json(&format!("/api/v1/payments/{id}")).await;
    assert_eq!(p["status"], "approved", "{p}");
    assert_eq!(p["amount"], "150.00");
    assert_eq!(p["authorised_amount"], "150.00");
    assert_eq!(p["refunded_amount"], "0.00");
    assert_eq!(p["refundable_amount"], "150.00");
    assert_eq!(p["source"], "api");
    assert_eq!(p["card"]["brand"], "visa");
    assert_eq!(p["card"]["masked_pan"], "411111******1111");
    assert_eq!(p["three_d_secure"]["trans_status"], "Y");
    assert_eq!(p["three_d_secure"]["md_status"], "1");
    assert_eq!(p["three_d_secure"]["eci"], "05");
    assert_eq!(p["authorisation"]["proc_return_code"], "00");
    assert_eq!(p["authorisation"]["terminal_id"], "KAPI-SIM-0001");
    assert_eq!(p["authorisation"]["auth_code"].as_str().unwrap().len(), 6);
    let history: Vec<&str> = p["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["to"].as_str().unwrap())
        .collect();
    assert_eq!(
        history,
        [
            "created",
            "card_submitted",
            "challenge",
            "authenticated",
            "authorising",
            "approved"
        ]
    );
    // Another merchant's payment, or none, is not found.
    let (status, body) = app
        .get_json("/api/v1/payments/pay_00000000000000000000000000000000")
        .await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "KP-2001");
}

#[tokio::test]
async fn payments_list_by_order_and_in_pages() {
    let app = spawn_app().await;
    let mut ids = vec![];
    for i in 0..5 {
        let (_, s) = app
            .create_session(app.session_body(json!({"order_id": format!("PAGE-{i}")})))
            .await;
        ids.push(s["id"].as_str().unwrap().to_owned());
        app.clock.advance(1);
    }
    let (_, by_order) = app.get_json("/api/v1/payments?order_id=PAGE-3").await;
    assert_eq!(by_order["data"].as_array().unwrap().len(), 1);
    assert_eq!(by_order["data"][0]["id"], ids[3]);
    // Asked by order, a payment comes whole: its history and refunds too.
    let history = by_order["data"][0]["history"].as_array().unwrap();
    assert_eq!(history[0]["to"], "created", "{by_order}");
    assert_eq!(by_order["data"][0]["refunds"], json!([]));
    // Pages of two, newest first, each payment exactly once.
    let mut seen = vec![];
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/payments?limit=2&status=created&cursor={c}"),
            None => "/api/v1/payments?limit=2&status=created".to_owned(),
        };
        let (status, page) = app.get_json(&path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for p in page["data"].as_array().unwrap() {
            seen.push(p["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    ids.reverse();
    assert_eq!(seen, ids);
    let from = kapi::clock::rfc3339(kapi::clock::Clock::now_ms(&*app.clock) + 60_000);
    let (_, none) = app
        .get_json(&format!(
            "/api/v1/payments?from={}",
            from.replace('+', "%2B")
        ))
        .await;
    assert_eq!(none["data"].as_array().unwrap().len(), 0, "{none}");
    for bad in [
        "limit=0",
        "limit=101",
        "cursor=%%%",
        "status=paid",
        "from=yesterday",
        "colour=red",
    ] {
        let (status, body) = app.get_json(&format!("/api/v1/payments?{bad}")).await;
        assert_problem(status, &body, StatusCode::BAD_REQUEST, "KP-6041");
    }
}

#[tokio::test]
async fn expire_ends_an_unpaid_session_and_tells_the_merchant() {
    let app = spawn_app().await;
    let (_, session) = app.create_session(app.session_body(json!({}))).await;
    let id = session["id"].as_str().unwrap();
    let (status, body) = app
        .post_json(
            &format!("/api/v1/checkout-sessions/{id}/expire"),
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "expired");
    let event = app.receiver.wait_event(id, "payment.expired").await;
    assert!(event.signature_ok);
    // The shopper's link now shows the expiry.
    let opened = app.get(session["url"].as_str().unwrap()).await;
    let page = app.get(&opened.location.unwrap()).await;
    let result = app.get(&page.location.unwrap()).await;
    assert!(result.body.contains("Ödeme süresi doldu"));
    let (status, body) = app
        .post_json(
            &format!("/api/v1/checkout-sessions/{id}/expire"),
            None,
            None,
        )
        .await;
    assert_problem(status, &body, StatusCode::CONFLICT, "KP-6020");
    let paid = app.approved_payment().await;
    let (status, body) = app
        .post_json(
            &format!("/api/v1/checkout-sessions/{paid}/expire"),
            None,
            None,
        )
        .await;
    assert_problem(status, &body, StatusCode::CONFLICT, "KP-6020");
    let (status, body) = app
        .post_json(
            "/api/v1/checkout-sessions/pay_00000000000000000000000000000000/expire",
            None,
            None,
        )
        .await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "KP-2001");
}

#[tokio::test]
async fn void_on_the_same_business_day_only() {
    let app = spawn_app().await;
    app.clock_to_istanbul_noon();
    let id = app.approved_payment().await;
    let (status, body) = app
        .post_json(&format!("/api/v1/payments/{id}/void"), None, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "voided");
    assert_eq!(body["refundable_amount"], "0.00");
    let event = app.receiver.wait_event(&id, "payment.voided").await;
    assert!(event.signature_ok);
    let voids: Vec<Value> = app
        .bank_transactions(body["order_id"].as_str().unwrap())
        .await;
    assert_eq!(voids.iter().filter(|t| t["kind"] == "void").count(), 1);
    // The shopper's result page still tells what happened at checkout, and hands the
    // merchant the approved result at ok_url (the void is the merchant's own act).
    let result = app.get(&format!("/checkout/{id}/result")).await;
    assert!(
        result.body.contains("Ödemeniz onaylandı"),
        "{}",
        result.body
    );
    let got = app.return_to_merchant(&result).await;
    assert_eq!(got.path, "/ok");
    assert!(got.signature_ok);
    assert_eq!(got.get("status"), "approved");
    let (status, body) = app
        .post_json(&format!("/api/v1/payments/{id}/void"), None, None)
        .await;
    assert_problem(status, &body, StatusCode::CONFLICT, "KP-6030");
    let (status, body) = app
        .post_json(&format!("/api/v1/payments/{id}/refunds"), None, None)
        .await;
    assert_problem(status, &body, StatusCode::CONFLICT, "KP-6033");

    // After the business day's cut-off (23:00 Istanbul), a void is refused: refund instead.
    let late = app.approved_payment().await;
    app.clock.advance(11 * 3600 + 60);
    let (status, body) = app
        .post_json(&format!("/api/v1/payments/{late}/void"), None, None)
        .await;
    assert_problem(status, &body, StatusCode::CONFLICT, "KP-6031");
    let (status, _) = app
        .post_json(&format!("/api/v1/payments/{late}/refunds"), None, None)
        .await;
    assert_eq!(status, StatusCode::CREATED);

    // Nor after a partial refund, nor for a payment that was never approved.
    let partly = app.approved_payment().await;
    app.post_json(
        &format!("/api/v1/payments/{partly}/refunds"),
        Some(json!({"amount": "1.00"})),
        None,
    )
    .await;
    let (status, body) = app
        .post_json(&format!("/api/v1/payments/{partly}/void"), None, None)
        .await;
    assert_problem(status, &body, StatusCode::CONFLICT, "KP-6030");
    let (_, open) = app.create_session(app.session_body(json!({}))).await;
    let (status, body) = app
        .post_json(
            &format!("/api/v1/payments/{}/void", open["id"].as_str().unwrap()),
            None,
            None,
        )
        .await;
    assert_problem(status, &body, StatusCode::CONFLICT, "KP-6030");
}

#[tokio::test]
async fn refunds_add_up_to_the_authorised_amount_and_never_beyond() {
    let app = spawn_app().await;
    let id = app.approved_payment().await;
    let path = format!("/api/v1/payments/{id}/refunds");
    let (status, r1) = app
        .post_json(&path, Some(json!({"amount": "50.00"})), None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{r1}");
    assert_eq!(r1["status"], "succeeded");
    assert_eq!(r1["amount"], "50.00");
    let refunded = app.receiver.wait_event(&id, "payment.refunded").await;
    assert_eq!(refunded.json()["data"]["refund"]["amount"], "50.00");
    assert_eq!(refunded.json()["data"]["payment"]["status"], "approved");
    let (status, body) = app
        .post_json(&path, Some(json!({"amount": "100.01"})), None)
        .await;
    assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "KP-6032");
    assert_eq!(body["refundable_amount"], "100.00");
    for bad in [json!({"amount": "0.00"}), json!({"amount": "-5.00"})] {
        let (status, body) = app.post_json(&path, Some(bad), None).await;
        assert!(status.is_client_error(), "{body}");
    }
    let (status, body) = app.post_json(&path, Some(json!({"amount": 5})), None).await;
    assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "KP-6005");
    // Two refunds at once cannot exceed what is left.
    let (a, b) = tokio::join!(
        app.post_json(&path, Some(json!({"amount": "60.00"})), None),
        app.post_json(&path, Some(json!({"amount": "60.00"})), None),
    );
    let created = [&a, &b]
        .iter()
        .filter(|r| r.0 == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1, "{a:?} {b:?}");
    // The rest (empty body: everything left) makes it refunded.
    let (status, last) = app.post_json(&path, None, None).await;
    assert_eq!(status, StatusCode::CREATED, "{last}");
    assert_eq!(last["amount"], "40.00");
    let (_, p) = app.get_json(&format!("/api/v1/payments/{id}")).await;
    assert_eq!(p["status"], "refunded");
    assert_eq!(p["refunded_amount"], "150.00");
    assert_eq!(p["refunds"].as_array().unwrap().len(), 3);
    let (status, body) = app
        .post_json(&path, Some(json!({"amount": "1.00"})), None)
        .await;
    assert_problem(status, &body, StatusCode::CONFLICT, "KP-6033");
}

#[tokio::test]
async fn a_refund_the_bank_refuses_is_recorded_and_releases_the_amount() {
    let app = spawn_app().await;
    let id = app.approved_payment().await;
    let path = format!("/api/v1/payments/{id}/refunds");
    let (status, body) = app
        .post_json(&path, Some(json!({"amount": "10.13"})), None)
        .await;
    assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "KP-6034");
    assert_eq!(body["proc_return_code"], "58");
    let (_, p) = app.get_json(&format!("/api/v1/payments/{id}")).await;
    assert_eq!(p["refundable_amount"], "150.00");
    assert_eq!(p["refunds"][0]["status"], "failed");
    assert_eq!(p["refunds"][0]["proc_return_code"], "58");
}

#[tokio::test]
async fn openapi_document_lists_every_route() {
    let app = spawn_app().await;
    let doc: Value = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    // The router is built from `routes()`: each of them must be documented…
    let served: Vec<(&str, &str)> = kapi::api::routes()
        .into_iter()
        .map(|(method, path, _)| (method, path))
        .collect();
    for (method, path) in &served {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} missing from the OpenAPI document"
        );
    }
    // …and each documented operation must be served.
    let documented = doc["paths"].as_object().unwrap();
    let mut operations = 0;
    for (path, item) in documented {
        for method in item.as_object().unwrap().keys() {
            operations += 1;
            assert!(
                served.contains(&(method.as_str(), path.as_str())),
                "{method} {path} is documented but not served"
            );
            let concrete = path.replace("{id}", "pay_doesnotexist");
            let resp = app
                .api(method.to_uppercase().parse().unwrap(), &concrete)
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            let status = resp.status();
            let body = resp.text().await.unwrap();
            assert!(
                !body.contains("KP-6044") && status != StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}: {status} {body}"
            );
        }
    }
    assert_eq!(operations, served.len());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    // Unknown endpoints and methods get problems too.
    let (status, body) = app.get_json("/api/v1/nothing").await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "KP-6044");
    let resp = app
        .api(Method::DELETE, "/api/v1/payments")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn two_refunds_that_together_refund_everything_make_it_refunded() {
    let app = spawn_app().await;
    let id = app.approved_payment().await;
    let path = format!("/api/v1/payments/{id}/refunds");
    let (a, b) = tokio::join!(
        app.post_json(&path, Some(json!({"amount": "75.00"})), None),
        app.post_json(&path, Some(json!({"amount": "75.00"})), None),
    );
    assert_eq!(
        (a.0, b.0),
        (StatusCode::CREATED, StatusCode::CREATED),
        "{a:?} {b:?}"
    );
    let (_, p) = app.get_json(&format!("/api/v1/payments/{id}")).await;
    assert_eq!(p["status"], "refunded", "{p}");
    assert_eq!(p["refunded_amount"], "150.00");
    assert_eq!(p["refundable_amount"], "0.00");
}

#[tokio::test]
async fn a_refund_the_bank_did_not_answer_stays_pending_and_is_settled_once() {
    let app = spawn_app_with(|s| {
        s.checkout.sweep_interval_ms = 100;
        s.api.refund_recheck_secs = 5;
    })
    .await;
    let id = app.approved_payment().await;
    let path = format!("/api/v1/payments/{id}/refunds");
    // The simulated bank does a .91 refund but its answer is lost.
    let (status, body) = app
        .post_json(&path, Some(json!({"amount": "20.91"})), Some("refund-lost"))
        .await;
    assert_problem(status, &body, StatusCode::BAD_GATEWAY, "KP-4091");
    assert_eq!(body["refund_status"], "pending");
    let (_, p) = app.get_json(&format!("/api/v1/payments/{id}")).await;
    assert_eq!(p["pending_refund_amount"], "20.91", "{p}");
    assert_eq!(p["refunded_amount"], "0.00");
    assert_eq!(
        p["refundable_amount"], "129.09",
        "the amount stays reserved"
    );
    // A retry with the same key gets the same answer, not a second refund.
    let (again, again_body) = app
        .post_json(&path, Some(json!({"amount": "20.91"})), Some("refund-lost"))
        .await;
    assert_eq!(again, StatusCode::BAD_GATEWAY);
    assert_eq!(again_body["refund_id"], body["refund_id"]);
    // Later Kapı asks the bank again with the same reference and learns it was done.
    app.clock.advance(6);
    let event = app.receiver.wait_event(&id, "payment.refunded").await;
    assert_eq!(event.json()["data"]["refund"]["id"], body["refund_id"]);
    let (_, p) = app.get_json(&format!("/api/v1/payments/{id}")).await;
    assert_eq!(p["refunded_amount"], "20.91", "{p}");
    assert_eq!(p["pending_refund_amount"], "0.00");
    let order = p["order_id"].as_str().unwrap();
    let refunds = app.bank_transactions(order).await;
    assert_eq!(
        refunds.iter().filter(|t| t["kind"] == "refund").count(),
        1,
        "the bank refunded once"
    );
    // Now the same key answers with the refund as it became, and keeps doing so.
    for _ in 0..2 {
        let (status, settled) = app
            .post_json(&path, Some(json!({"amount": "20.91"})), Some("refund-lost"))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{settled}");
        assert_eq!(settled["id"], body["refund_id"]);
        assert_eq!(settled["status"], "succeeded");
    }
}

#[tokio::test]
async fn a_refund_retried_after_the_client_gave_up_is_never_made_twice() {
    let app = spawn_app().await;
    app.clock_to_istanbul_noon();
    let id = app.approved_payment().await;
    let path = format!("/api/v1/payments/{id}/refunds");
    // The bank takes 3 s (amounts ending in .77); the merchant's client gives up after 0.5 s.
    let gave_up = app
        .api(reqwest::Method::POST, &path)
        .header("Idempotency-Key", "refund-slow")
        .json(&json!({"amount": "40.77"}))
        .timeout(std::time::Duration::from_millis(500))
        .send()
        .await;
    assert!(gave_up.is_err());
    // While the first is still running, a retry is told so.
    let (status, busy) = app
        .post_json(&path, Some(json!({"amount": "40.77"})), Some("refund-slow"))
        .await;
    assert_problem(status, &busy, StatusCode::CONFLICT, "KP-6012");
    // The refund completes without the merchant; the key holds its answer.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let (status, done) = app
        .post_json(&path, Some(json!({"amount": "40.77"})), Some("refund-slow"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{done}");
    assert_eq!(done["status"], "succeeded");
    // Long after any in-flight request would be taken as dead, still the same refund.
    app.clock.advance(6 * 60);
    let (status, later) = app
        .post_json(&path, Some(json!({"amount": "40.77"})), Some("refund-slow"))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(later["id"], done["id"]);
    let (_, p) = app.get_json(&format!("/api/v1/payments/{id}")).await;
    assert_eq!(p["refunded_amount"], "40.77", "refunded once: {p}");
    let order = p["order_id"].as_str().unwrap();
    let bank = app.bank_transactions(order).await;
    assert_eq!(bank.iter().filter(|t| t["kind"] == "refund").count(), 1);
}

#[tokio::test]
async fn a_refund_key_whose_request_died_answers_with_its_refund_not_a_new_one() {
    let app = spawn_app().await;
    app.clock_to_istanbul_noon();
    let id = app.approved_payment().await;
    // As if Kapı stopped right after reserving a refund under a key: the key is in flight,
    // linked to a pending refund that no request will finish.
    let storage = &app.app_state.storage;
    let now = kapi::clock::Clock::now_ms(&*app.clock);
    let owner = "dead-request";
    let begun = storage
        .requests
        .idempotency_begin(
            &app.merchant_id,
            "refund-crash",
            &fingerprint(&id),
            owner,
            now,
            0,
        )
        .await
        .unwrap();
    assert_eq!(begun, kapi::storage::IdempotencyState::Started);
    let refund = kapi::storage::RefundRecord {
        id: "rf_crashed000001".into(),
        payment_id: id.clone(),
        kind: kapi::storage::RefundKind::Refund,
        amount_minor: 1000,
        status: kapi::storage::RefundStatus::Pending,
        proc_return_code: None,
        host_ref: None,
        transaction_id: None,
        created_at: now,
        updated_at: now,
    };
    let link = kapi::storage::IdempotencyLink {
        merchant_id: app.merchant_id.clone(),
        key: "refund-crash".into(),
        owner: owner.into(),
    };
    let before = storage.payments.get_payment(&id).await.unwrap().unwrap();
    let after = before
        .apply(
            kapi::checkout::payment::Transition::Reserve { amount_minor: 1000 },
            now,
        )
        .unwrap();
    let reserved = storage
        .payments
        .reserve_refund(&before, &after, &refund, Some(&link))
        .await
        .unwrap();
    assert_eq!(reserved, kapi::storage::Cas::Done);
    let path = format!("/api/v1/payments/{id}/refunds");
    let retry = || {
        app.post_json(
            &path,
            Some(json!({"amount": "10.00"})),
            Some("refund-crash"),
        )
    };
    let (status, body) = retry().await;
    assert_problem(status, &body, StatusCode::CONFLICT, "KP-6012");
    // Past the time any request could still be running: the refund's own state, pending.
    app.clock.advance(10 * 60);
    let (status, body) = retry().await;
    assert_problem(status, &body, StatusCode::BAD_GATEWAY, "KP-4091");
    assert_eq!(body["refund_id"], "rf_crashed000001");
    assert_eq!(body["refund_status"], "pending");
    let (_, p) = app.get_json(&format!("/api/v1/payments/{id}")).await;
    assert_eq!(p["pending_refund_amount"], "10.00", "no second refund: {p}");
}

/// The fingerprint the API computes for a refund of 10.00 (method, path, body).
fn fingerprint(id: &str) -> String {
    let mut f = format!("POST /api/v1/payments/{id}/refunds\n").into_bytes();
    f.extend_from_slice(br#"{"amount":"10.00"}"#);
    kapi::crypto::sha256_hex(&f)
}

#[tokio::test]
async fn a_second_rotation_during_the_overlap_needs_force() {
    let app = spawn_app().await;
    let rotate = |force: bool| {
        let app = &app;
        async move {
            let mut args = vec![
                "merchant",
                "rotate-key",
                "--merchant-id",
                app.merchant_id.as_str(),
                "--json",
            ];
            if force {
                args.push("--force");
            }
            app.kapi(&args).await
        }
    };
    assert!(rotate(false).await.status.success());
    let refused = rotate(false).await;
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("still valid"));
    assert!(rotate(true).await.status.success());
}

#[tokio::test]
async fn the_simulated_bank_lists_transactions_only_to_its_terminal() {
    let app = spawn_app().await;
    let resp = app
        .client
        .get(app.url("/sim/bank/v1/transactions"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

/// A pre-authorisation through a checkout session: its id, once the shopper paid.
async fn held_payment(app: &TestApp, amount: &str) -> String {
    let (status, session) = app
        .create_session(app.session_body(json!({"intent": "preauth", "amount": amount})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    let got = app
        .pay_session(session["url"].as_str().unwrap(), MC_FRICTIONLESS)
        .await;
    // The signed result says the amount is held, not charged; the shopper was sent to ok_url.
    assert_eq!(got.path, "/ok");
    assert_eq!(got.get("status"), "authorised");
    assert_eq!(got.get("proc_return_code"), "00");
    session["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_pre_authorisation_is_held_then_captured_once_for_less_and_refunded_from_the_capture() {
    let app = spawn_app().await;
    let id = held_payment(&app, "150.00").await;
    let held = app.receiver.wait_event(&id, "payment.authorised").await;
    assert_eq!(held.json()["data"]["payment"]["intent"], "preauth");
    let (_, p) = app.get_json(&format!("/api/v1/payments/{id}")).await;
    assert_eq!(p["status"], "authorised", "{p}");
    assert_eq!(
        (
            &p["authorised_amount"],
            &p["capturable_amount"],
            &p["captured_amount"]
        ),
        (&json!("150.00"), &json!("150.00"), &json!("0.00"))
    );
    assert_eq!(p["refundable_amount"], "0.00", "a hold is not refunded");
    let order_id = p["order_id"].as_str().unwrap().to_owned();
    let books = app.bank_transactions(&order_id).await;
    assert_eq!(books.len(), 1, "{books:?}");
    assert_eq!(books[0]["preauth"], true, "the bank was asked for a hold");

    // Nothing to refund before the capture; no capture beyond the hold.
    let refunds = format!("/api/v1/payments/{id}/refunds");
    let (status, body) = app.post_json(&refunds, None, None).await;
    assert_problem(status, &body, StatusCode::CONFLICT, "KP-6033");
    let capture = format!("/api/v1/payments/{id}/capture");
    let (status, body) = app
        .post_json(&capture, Some(json!({"amount": "150.01"})), None)
        .await;
    assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "KP-6036");
    assert_eq!(body["capturable_amount"], "150.00");

    // Captured for less, once: a retry with its key answers the same and the bank captured once.
    let (status, captured) = app
        .post_json(&capture, Some(json!({"amount": "120.00"})), Some("cap-1"))
        .await;
    assert_eq!(status, StatusCode::OK, "{captured}");
    assert_eq!(captured["status"], "captured");
    assert_eq!(captured["captured_amount"], "120.00");
    assert_eq!(captured["refundable_amount"], "120.00");
    assert_eq!(captured["capturable_amount"], "0.00");
    let (status, again) = app
        .post_json(&capture, Some(json!({"amount": "120.00"})), Some("cap-1"))
        .await;
    assert_eq!((status, &again), (StatusCode::OK, &captured));
    let (status, body) = app.post_json(&capture, None, None).await;
    assert_problem(status, &body, StatusCode::CONFLICT, "KP-6035");
    let books = app.bank_transactions(&order_id).await;
    let captures: Vec<_> = books.iter().filter(|t| t["kind"] == "capture").collect();
    assert_eq!(captures.len(), 1, "{books:?}");
    assert_eq!(captures[0]["amount_minor"], 12_000);
    let told = app.receiver.wait_event(&id, "payment.captured").await;
    assert_eq!(told.json()["data"]["refund"]["kind"], "capture");
    assert_eq!(told.json()["data"]["payment"]["captured_amount"], "120.00");

    // Refunds work on what was captured, never beyond it.
    let (status, body) = app
        .post_json(&refunds, Some(json!({"amount": "120.01"})), None)
        .await;
    assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "KP-6032");
    assert_eq!(body["refundable_amount"], "120.00");
    let (status, body) = app
        .post_json(&refunds, Some(json!({"amount": "20.00"})), None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app.post_json(&refunds, None, None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["amount"], "100.00");
    let (_, p) = app.get_json(&format!("/api/v1/payments/{id}")).await;
    assert_eq!(p["status"], "refunded", "{p}");
    assert_eq!(p["refunded_amount"], "120.00");
    let kinds: Vec<&str> = p["refunds"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "succeeded")
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["capture", "refund", "refund"], "{p}");
}

#[tokio::test]
async fn a_hold_is_released_by_a_void_on_any_day_and_a_sale_has_nothing_to_capture() {
    let app = spawn_app().await;
    app.clock_to_istanbul_noon();
    let id = held_payment(&app, "80.00").await;
    // A hold has no business-day cut-off: released two days later.
    app.clock.advance(2 * 86_400);
    let (status, voided) = app
        .post_json(&format!("/api/v1/payments/{id}/void"), None, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{voided}");
    assert_eq!(voided["status"], "voided");
    app.receiver.wait_event(&id, "payment.voided").await;
    let (status, body) = app
        .post_json(&format!("/api/v1/payments/{id}/capture"), None, None)
        .await;
    assert_problem(status, &body, StatusCode::CONFLICT, "KP-6035");
    let order_id = voided["order_id"].as_str().unwrap();
    let books = app.bank_transactions(order_id).await;
    assert_eq!(books.iter().filter(|t| t["kind"] == "void").count(), 1);
    assert_eq!(books.iter().filter(|t| t["kind"] == "capture").count(), 0);

    // A sale is charged at once: nothing to capture, and its result says `approved` as ever.
    let sale = app.approved_payment().await;
    let (status, body) = app
        .post_json(&format!("/api/v1/payments/{sale}/capture"), None, None)
        .await;
    assert_problem(status, &body, StatusCode::CONFLICT, "KP-6035");
    let (_, p) = app.get_json(&format!("/api/v1/payments/{sale}")).await;
    assert_eq!(
        (&p["intent"], &p["captured_amount"]),
        (&json!("sale"), &json!("150.00"))
    );
    // An intent Kapı does not know (or an empty one) is refused with its field.
    for intent in ["hold", "", "PREAUTH"] {
        let (status, body) = app
            .create_session(app.session_body(json!({ "intent": intent })))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{intent:?}: {body}");
        assert_eq!(
            (&body["code"], &body["field"]),
            (&json!("KP-1004"), &json!("intent"))
        );
    }
}

#[tokio::test]
async fn the_signed_form_can_ask_for_a_pre_authorisation() {
    let app = spawn_app().await;
    let got = app
        .pay_with(
            MC_FRICTIONLESS,
            &[("intent", "preauth"), ("amount", "42.00")],
        )
        .await;
    assert_eq!(got.get("status"), "authorised", "{:?}", got.fields);
    let id = got.get("payment_id").to_owned();
    let (status, p) = app
        .post_json(&format!("/api/v1/payments/{id}/capture"), None, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(
        (&p["status"], &p["captured_amount"]),
        (&json!("captured"), &json!("42.00"))
    );
}

#[tokio::test]
async fn a_pre_authorisation_whose_answer_was_lost_is_found_by_inquiry_and_held_once() {
    let app = spawn_app().await;
    // `.91`: the simulated bank books the hold but its answer never arrives.
    let id = held_payment(&app, "75.91").await;
    let (_, p) = app.get_json(&format!("/api/v1/payments/{id}")).await;
    assert_eq!(
        (&p["status"], &p["intent"]),
        (&json!("authorised"), &json!("preauth"))
    );
    let order_id = p["order_id"].as_str().unwrap();
    let books = app.bank_transactions(order_id).await;
    let holds: Vec<_> = books
        .iter()
        .filter(|t| t["kind"] == "authorisation")
        .collect();
    assert_eq!(holds.len(), 1, "asked once, found by inquiry: {books:?}");
    assert_eq!(holds[0]["preauth"], true);
    assert_eq!(books.iter().filter(|t| t["kind"] == "reversal").count(), 0);
    // (Not `.91` again: the simulator would lose that answer too.)
    let (status, captured) = app
        .post_json(
            &format!("/api/v1/payments/{id}/capture"),
            Some(json!({"amount": "75.00"})),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{captured}");
    assert_eq!(captured["captured_amount"], "75.00");
}
