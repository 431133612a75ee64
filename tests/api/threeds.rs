//! 3-D Secure: the challenge rules and the bindings that stop forged or replayed results.

use reqwest::StatusCode;

use crate::helpers::*;

/// Starts a challenge-card payment and returns (payment id, the ACS challenge page).
async fn at_challenge(app: &TestApp, order_id: &str) -> (String, Page) {
    let id = app.start_payment(&[("order_id", order_id)]).await;
    let submit = app.submit_card(&id, VISA_CHALLENGE).await;
    assert_eq!(submit.status, StatusCode::OK);
    let challenge = app.follow_post(&submit.body).await;
    assert_eq!(challenge.status, StatusCode::OK);
    (id, challenge)
}

fn wrong(code: &str) -> String {
    format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000)
}

#[tokio::test]
async fn three_wrong_codes_end_at_fail_url() {
    let app = spawn_app().await;
    let order_id = random_id("OTP");
    let (_, challenge) = at_challenge(&app, &order_id).await;
    let bad = wrong(&app.latest_otp().await);
    let first = app.acs_action(&challenge.body, "verify", &bad).await;
    assert!(
        first
            .body
            .contains("Kod hatalı; SMS ile gelen 6 haneli kodu yeniden girin.")
            && first.body.contains("Kalan deneme hakkı: 2"),
        "{}",
        first.body
    );
    let second = app.acs_action(&first.body, "verify", &bad).await;
    assert!(second.body.contains("Kalan deneme hakkı: 1"));
    let third = app.acs_action(&second.body, "verify", &bad).await;
    // The ACS gives up and sends the browser back with a failed cres.
    let back = app.follow_post(&third.body).await;
    let result = app.get(&back.location.unwrap()).await;
    assert!(
        result
            .body
            .contains("3-D Secure doğrulaması başarısız oldu")
    );
    let got = app.return_to_merchant(&result).await;
    assert_eq!(got.path, "/fail");
    assert!(got.signature_ok);
    assert_eq!(got.get("status"), "failed");
    assert_eq!(got.get("md_status"), "0");
    assert_eq!(got.get("error_code"), "KP-3001");
    assert!(
        app.bank_transactions(&order_id).await.is_empty(),
        "a failed authentication must not reach the bank"
    );
}

#[tokio::test]
async fn replayed_cres_is_rejected_and_authorises_nothing_more() {
    let app = spawn_app().await;
    let order_id = random_id("REPLAY");
    let (id, challenge) = at_challenge(&app, &order_id).await;
    let otp = app.latest_otp().await;
    let cres_page = app.acs_action(&challenge.body, "verify", &otp).await;
    let cres_form = forms(&cres_page.body).into_iter().next().unwrap();
    let first = app.post_form(&cres_form.action, &cres_form.fields).await;
    assert_eq!(
        first.location.as_deref(),
        Some(format!("/checkout/{id}/result").as_str())
    );
    let replay = app.post_form(&cres_form.action, &cres_form.fields).await;
    assert_eq!(replay.status, StatusCode::CONFLICT);
    assert_eq!(error_code(&replay.body).as_deref(), Some("KP-3004"));
    // Even from a browser without the session cookie.
    let bare = reqwest::Client::new();
    let resp = bare
        .post(&cres_form.action)
        .form(&cres_form.fields)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert_eq!(app.bank_transactions(&order_id).await.len(), 1);
}

#[tokio::test]
async fn cres_with_forged_session_data_or_status_is_rejected() {
    let app = spawn_app().await;
    let order_id = random_id("FORGE");
    let (_, challenge) = at_challenge(&app, &order_id).await;
    let otp = app.latest_otp().await;
    let bad = wrong(&otp);
    // Finish the challenge as failed, then try to pass a "Y" cres instead.
    let mut page = challenge;
    for _ in 0..3 {
        page = app.acs_action(&page.body, "verify", &bad).await;
    }
    let form = forms(&page.body).into_iter().next().unwrap();
    let mut tampered = form.fields.clone();
    let cres = field(&form.fields, "cres").to_owned();
    let mut json: serde_json::Value = kapi::threeds::messages::decode_b64url(&cres).unwrap();
    json["transStatus"] = "Y".into();
    tampered.iter_mut().find(|(k, _)| k == "cres").unwrap().1 =
        kapi::threeds::messages::encode_b64url(&json);
    let forged_status = app.post_form(&form.action, &tampered).await;
    let result = app
        .get(&forged_status.location.expect("the payment ends"))
        .await;
    let got = app.return_to_merchant(&result).await;
    assert_ne!(got.get("status"), "approved");
    assert!(app.bank_transactions(&order_id).await.is_empty());

    // Session data with a broken MAC.
    let mut broken = form.fields.clone();
    broken
        .iter_mut()
        .find(|(k, _)| k == "threeDSSessionData")
        .unwrap()
        .1
        .push('0');
    let page = app.post_form(&form.action, &broken).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&page.body).as_deref(), Some("KP-3005"));
    // Garbage.
    let page = app
        .post_form("/3ds/notify", &vec![("cres".into(), "!!".into())])
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn rreq_without_the_acs_signature_is_refused() {
    let app = spawn_app().await;
    let (_, _) = at_challenge(&app, &random_id("RREQ")).await;
    let body = serde_json::json!({
        "threeDSServerTransID": "x", "acsTransID": "y", "dsTransID": "z", "messageType": "RReq",
        "messageVersion": "2.2.0", "messageCategory": "01", "transStatus": "Y", "interactionCounter": "01"
    });
    let resp = app
        .client
        .post(app.url("/3ds/rreq"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let problem: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(problem["code"], "KP-3005");
    let resp = app
        .client
        .post(app.url("/3ds/rreq"))
        .header("kapi-acs-signature", "00")
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_validly_signed_rreq_sent_again_is_refused() {
    const CHANNEL_KEY: &str = "test-acs-channel-key";
    let app = spawn_app_with(|s| {
        s.threeds.acs_shared_key = Some(secrecy::SecretString::from(CHANNEL_KEY.to_owned()));
    })
    .await;
    let order_id = random_id("RREQ");
    let (id, challenge) = at_challenge(&app, &order_id).await;
    // Three wrong codes: the ACS reports "N" server to server.
    let bad = wrong(&app.latest_otp().await);
    let mut page = challenge;
    for _ in 0..3 {
        page = app.acs_action(&page.body, "verify", &bad).await;
    }
    // Someone who holds the channel key (or replays a captured message) claims "Y".
    let p = app
        .app_state
        .storage
        .payments
        .get_payment(&id)
        .await
        .unwrap()
        .unwrap();
    let body = serde_json::to_vec(&serde_json::json!({
        "threeDSServerTransID": p.threeds.as_ref().unwrap().server_trans_id,
        "acsTransID": p.threeds.as_ref().unwrap().acs_trans_id,
        "dsTransID": p.threeds.as_ref().unwrap().ds_trans_id,
        "messageType": "RReq", "messageVersion": "2.2.0", "messageCategory": "01",
        "transStatus": "Y", "eci": "05", "authenticationValue": "AAABBBCCCDDDEEEFFF0011223344=",
        "interactionCounter": "04"
    }))
    .unwrap();
    let mac = kapi::crypto::hmac_hex(CHANNEL_KEY.as_bytes(), &body);
    let resp = app
        .client
        .post(app.url("/3ds/rreq"))
        .header("kapi-acs-signature", mac)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let problem: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(problem["code"], "KP-3004", "{problem}");
    // The first report stands: the shopper's return ends the payment as failed.
    let back = app.follow_post(&page.body).await;
    let result = app.get(&back.location.unwrap()).await;
    let got = app.return_to_merchant(&result).await;
    assert_eq!(got.get("status"), "failed");
    assert_eq!(got.get("error_code"), "KP-3001");
    assert!(app.bank_transactions(&order_id).await.is_empty());
}

#[tokio::test]
async fn the_demo_acs_page_links_to_the_simulated_sms_outbox() {
    let app = spawn_app_with(|s| s.server.demo = true).await;
    let (_, challenge) = at_challenge(&app, &random_id("SMSLINK")).await;
    // The link shows this challenge's messages only, as a page a person can read.
    let acs_trans_id = forms(&challenge.body)
        .into_iter()
        .find(|f| f.action.contains("/sim/acs/challenge/"))
        .unwrap()
        .action
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let link = format!("/sim/sms?acs_trans_id={acs_trans_id}");
    assert!(
        challenge.body.contains(&format!("href=\"{link}\"")),
        "{}",
        challenge.body
    );
    let page = app
        .client
        .get(app.url(&link))
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await
        .unwrap();
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    let code = app.latest_otp().await;
    assert_eq!(text_of(&html, ".sms-code"), vec![code.clone()]);
    // Tools keep getting the JSON.
    let json: serde_json::Value = app
        .client
        .get(app.url(&link))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(json[0]["code"], code.as_str());
    // Without the demo, the page does not point shoppers at it.
    let app = spawn_app().await;
    let (_, challenge) = at_challenge(&app, &random_id("SMSLINK")).await;
    assert!(!challenge.body.contains("/sim/sms"));
}

#[tokio::test]
async fn cancel_at_the_acs_returns_cancelled() {
    let app = spawn_app().await;
    let (_, challenge) = at_challenge(&app, &random_id("ACSCANCEL")).await;
    let page = app.acs_action(&challenge.body, "cancel", "").await;
    let back = app.follow_post(&page.body).await;
    let got = app
        .return_to_merchant(&app.get(&back.location.unwrap()).await)
        .await;
    assert_eq!(got.path, "/fail");
    assert_eq!(got.get("status"), "cancelled");
    assert_eq!(got.get("error_code"), "KP-3006");
}

#[tokio::test]
async fn resend_waits_for_the_cooldown_and_invalidates_the_old_code() {
    let app = spawn_app().await;
    let (_, challenge) = at_challenge(&app, &random_id("RESEND")).await;
    let first = app.latest_otp().await;
    let too_soon = app.acs_action(&challenge.body, "resend", "").await;
    assert!(
        too_soon.body.contains("biraz bekleyin"),
        "{}",
        too_soon.body
    );
    app.clock.advance(31);
    let resent = app.acs_action(&too_soon.body, "resend", "").await;
    assert!(resent.body.contains("Yeni kod gönderildi"));
    let second = app.latest_otp().await;
    if first != second {
        let old = app.acs_action(&resent.body, "verify", &first).await;
        assert!(
            old.body.contains("Kod hatalı"),
            "the previous code must no longer work"
        );
        let ok = app.acs_action(&old.body, "verify", &second).await;
        let back = app.follow_post(&ok.body).await;
        let got = app
            .return_to_merchant(&app.get(&back.location.unwrap()).await)
            .await;
        assert_eq!(got.get("status"), "approved");
    }
}

#[tokio::test]
async fn resends_are_limited_and_a_used_code_works_once() {
    let app = spawn_app().await;
    let (_, challenge) = at_challenge(&app, &random_id("RESENDS")).await;
    let mut page = challenge;
    // Three new codes (after the cooldown each time), then no more.
    for _ in 0..3 {
        app.clock.advance(31);
        page = app.acs_action(&page.body, "resend", "").await;
        assert!(page.body.contains("Yeni kod gönderildi"), "{}", page.body);
    }
    app.clock.advance(31);
    let sms_before = app.sms_count().await;
    page = app.acs_action(&page.body, "resend", "").await;
    assert!(
        page.body.contains("Kod yeniden gönderme sınırına ulaşıldı"),
        "{}",
        page.body
    );
    assert_eq!(app.sms_count().await, sms_before, "no fourth SMS");
    // The last code still works, once.
    let code = app.latest_otp().await;
    let done = app.acs_action(&page.body, "verify", &code).await;
    assert!(forms(&done.body)[0].action.ends_with("/3ds/notify"));
    let again = app.acs_action(&page.body, "verify", &code).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.body.contains("Bu doğrulama işlemi tamamlanmış"));
    let back = app.follow_post(&done.body).await;
    let got = app
        .return_to_merchant(&app.get(&back.location.unwrap()).await)
        .await;
    assert_eq!(got.get("status"), "approved");
}

#[tokio::test]
async fn expired_code_asks_for_a_new_one() {
    let app = spawn_app().await;
    let (_, challenge) = at_challenge(&app, &random_id("OTPEXP")).await;
    let code = app.latest_otp().await;
    app.clock.advance(181);
    let page = app.acs_action(&challenge.body, "verify", &code).await;
    assert!(page.body.contains("Kodun süresi doldu"), "{}", page.body);
}

#[tokio::test]
async fn the_simulated_acs_refuses_malformed_card_numbers_without_crashing() {
    let app = spawn_app().await;
    for pan in ["4€1", "4", "41111111111111112", "4111 1111 1111 1111x", ""] {
        let areq = serde_json::json!({
            "threeDSServerTransID": "t", "messageType": "AReq", "messageVersion": "2.2.0",
            "deviceChannel": "02", "messageCategory": "01", "threeDSRequestorID": "r",
            "threeDSRequestorName": "n", "threeDSServerURL": "http://127.0.0.1:1/3ds/rreq",
            "acctNumber": pan, "cardExpiryDate": "3012", "cardholderName": "A B",
            "purchaseAmount": "100", "purchaseCurrency": "949", "purchaseExponent": "2",
            "purchaseDate": "20261129120000", "merchantName": "m", "acquirerMerchantID": "m",
            "merchantCountryCode": "792", "notificationURL": "http://127.0.0.1:1/3ds/notify",
            "browserAcceptHeader": "*/*", "browserIP": "127.0.0.1", "browserLanguage": "tr",
            "browserUserAgent": "x"
        });
        let resp = app
            .client
            .post(app.url("/sim/acs/areq"))
            .json(&areq)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{pan}");
        let problem: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(problem["code"], "ACS-102", "{pan}: {problem}");
    }
}
