//! The README walkthrough: the demo shop sells, Kapı takes the payment, the shop verifies.

use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn demo_shop_sells_with_a_test_card_and_verifies_the_result() {
    let app = spawn_app_with(|s| s.server.demo = true).await;
    let shop = app.demo_url.clone().expect("demo shop runs");
    let front = app.get(&format!("{shop}/")).await;
    assert_eq!(front.status, StatusCode::OK);
    assert!(front.body.contains("Satın al"));
    let buy = forms(&front.body)
        .into_iter()
        .next()
        .expect("a product form");

    // "Satın al": the shop answers with a signed form that the browser posts to Kapı.
    let signed = app
        .post_form(&format!("{shop}{}", buy.action), &buy.fields)
        .await;
    let to_kapi = forms(&signed.body).into_iter().next().unwrap();
    assert_eq!(to_kapi.action, format!("{}/pay", app.address));
    let started = app.post_form(&to_kapi.action, &to_kapi.fields).await;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.body);
    let id = started
        .location
        .unwrap()
        .trim_start_matches("/checkout/")
        .to_owned();
    assert!(app.card_page(&id).await.body.contains("Kapı Demo Mağaza"));

    let result = app
        .complete_3ds(app.submit_card(&id, VISA_CHALLENGE).await)
        .await;
    let back = form_by_id(&result.body, "merchant-return").unwrap();
    assert_eq!(back.action, format!("{shop}/ok"));
    let thanks = app.post_form(&back.action, &back.fields).await;
    assert!(
        thanks.body.contains("Teşekkürler, ödemeniz alındı"),
        "{}",
        thanks.body
    );
    assert!(thanks.body.contains("İmza doğrulandı"));

    // The signed form result and the JSON event both reach the shop's callback URL, and
    // both verify.
    let order_id = field(&back.fields, "order_id").to_owned();
    wait_for_notification(&app, &shop, &order_id, "form").await;
    wait_for_notification(&app, &shop, &order_id, "payment.approved").await;
}

#[tokio::test]
async fn demo_shop_sells_through_the_nestpay_gate_and_checks_the_hash() {
    let app = spawn_app_with(|s| s.server.demo = true).await;
    let shop = app.demo_url.clone().expect("demo shop runs");
    let front = app.get(&format!("{shop}/")).await;
    assert!(
        front.body.contains("Satın al (NestPay ile)"),
        "{}",
        front.body
    );
    let buy = forms(&front.body)
        .into_iter()
        .next()
        .expect("a product form");

    // "NestPay": the shop's NestPay code posts its ver3-hashed form to Kapı's gate.
    let signed = app
        .post_form(&format!("{shop}/buy-nestpay"), &buy.fields)
        .await;
    let to_kapi = forms(&signed.body).into_iter().next().unwrap();
    assert_eq!(to_kapi.action, format!("{}/fim/est3Dgate", app.address));
    assert_eq!(field(&to_kapi.fields, "storetype"), "3d_pay_hosting");
    let started = app.post_form(&to_kapi.action, &to_kapi.fields).await;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.body);
    let id = started
        .location
        .unwrap()
        .trim_start_matches("/checkout/")
        .to_owned();
    assert!(app.card_page(&id).await.body.contains("Kapı Demo Mağaza"));

    let result = app
        .complete_3ds(app.submit_card(&id, VISA_CHALLENGE).await)
        .await;
    let back = form_by_id(&result.body, "merchant-return").unwrap();
    assert_eq!(back.action, format!("{shop}/nestpay/ok"));
    assert_eq!(field(&back.fields, "Response"), "Approved");
    let thanks = app.post_form(&back.action, &back.fields).await;
    assert!(
        thanks.body.contains("Teşekkürler, ödemeniz alındı"),
        "{}",
        thanks.body
    );
    assert!(thanks.body.contains("İmza doğrulandı"));

    // A result changed on the way fails the shop's hash check.
    let mut forged = back.fields.clone();
    for (name, value) in forged.iter_mut() {
        if name == "amount" {
            *value = "0.01".to_owned();
        }
    }
    let refused = app.post_form(&back.action, &forged).await;
    assert!(
        !refused.body.contains("İmza doğrulandı"),
        "{}",
        refused.body
    );

    // NestPay's callback reaches the shop, which takes it with `Approved`.
    let order_id = field(&back.fields, "oid").to_owned();
    wait_for_notification(&app, &shop, &order_id, "nestpay").await;
}

#[tokio::test]
async fn demo_shop_pre_authorises_through_nestpay_then_captures_with_post_auth() {
    let app = spawn_app_with(|s| s.server.demo = true).await;
    let shop = app.demo_url.clone().expect("demo shop runs");
    let front = app.get(&format!("{shop}/")).await;
    assert!(
        front.body.contains("Ön provizyon (NestPay PreAuth)"),
        "{}",
        front.body
    );
    let mut buy = forms(&front.body).into_iter().next().unwrap().fields;
    // The button's own name and value, as a browser sends them.
    buy.push(("tran_type".to_owned(), "PreAuth".to_owned()));
    let signed = app.post_form(&format!("{shop}/buy-nestpay"), &buy).await;
    let to_kapi = forms(&signed.body).into_iter().next().unwrap();
    assert_eq!(field(&to_kapi.fields, "TranType"), "PreAuth");
    let started = app.post_form(&to_kapi.action, &to_kapi.fields).await;
    let id = started
        .location
        .unwrap()
        .trim_start_matches("/checkout/")
        .to_owned();
    let result = app
        .complete_3ds(app.submit_card(&id, MC_FRICTIONLESS).await)
        .await;
    assert!(
        result.body.contains("Tutar kartınızda ayrıldı"),
        "the shopper is told the amount is held: {}",
        result.body
    );
    let back = form_by_id(&result.body, "merchant-return").unwrap();
    let held = app.post_form(&back.action, &back.fields).await;
    assert!(held.body.contains("ön provizyon"), "{}", held.body);
    assert!(held.body.contains("İmza doğrulandı"));
    assert_eq!(app.wait_final(&id).await.status.as_str(), "authorised");

    // The shop ships and captures less than was held, through the XML API.
    let mut capture = form_by_id(&held.body, "capture").expect("a capture form");
    // A form the shop did not show (another site's, a forged token) captures nothing.
    let mut forged = capture.fields.clone();
    for (name, value) in forged.iter_mut() {
        if name == "token" {
            *value = "0".repeat(64);
        }
    }
    let refused = app
        .post_form(&format!("{shop}{}", capture.action), &forged)
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(app.wait_final(&id).await.status.as_str(), "authorised");
    for (name, value) in capture.fields.iter_mut() {
        if name == "amount" {
            *value = "10.00".to_owned();
        }
    }
    let done = app
        .post_form(&format!("{shop}{}", capture.action), &capture.fields)
        .await;
    assert!(
        done.body.contains("Tutar çekildi (PostAuth)"),
        "{}",
        done.body
    );
    let p = app.wait_final(&id).await;
    assert_eq!((p.status.as_str(), p.captured_minor), ("captured", 1000));
    // A second capture is refused, and the shop's page says so.
    let again = app
        .post_form(&format!("{shop}{}", capture.action), &capture.fields)
        .await;
    assert!(again.body.contains("Tutar çekilemedi"), "{}", again.body);
    assert!(
        again.body.contains("KP-6035") || again.body.contains("ön provizyon yok"),
        "{}",
        again.body
    );
}

/// Waits until the shop's front page lists a verified notification for the order.
async fn wait_for_notification(app: &TestApp, shop: &str, order_id: &str, via: &str) {
    for _ in 0..100 {
        let page = app.get(&format!("{shop}/")).await;
        let rows = text_of(&page.body, ".notifications li");
        if let Some(row) = rows
            .iter()
            .find(|r| r.contains(order_id) && r.contains(via))
        {
            assert!(row.contains("approved"), "{row}");
            assert!(row.contains("İmza doğrulandı"), "{row}");
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the shop never received {via} for {order_id}");
}

#[tokio::test]
async fn demo_shop_sells_through_the_api_and_gets_the_event_at_its_webhook() {
    let app = spawn_app_with(|s| s.server.demo = true).await;
    let shop = app.demo_url.clone().expect("demo shop runs");
    let front = app.get(&format!("{shop}/")).await;
    let buy = forms(&front.body).into_iter().next().unwrap();
    // "Satın al (API ile)": the shop's server creates a checkout session.
    let to_session = app.post_form(&format!("{shop}/buy-api"), &buy.fields).await;
    assert_eq!(
        to_session.status,
        StatusCode::SEE_OTHER,
        "{}",
        to_session.body
    );
    let opened = app.get(&to_session.location.unwrap()).await;
    let id = opened
        .location
        .unwrap()
        .trim_start_matches("/checkout/")
        .to_owned();
    let result = app
        .complete_3ds(app.submit_card(&id, MC_FRICTIONLESS).await)
        .await;
    let back = form_by_id(&result.body, "merchant-return").unwrap();
    assert_eq!(back.action, format!("{shop}/ok"));
    let thanks = app.post_form(&back.action, &back.fields).await;
    assert!(thanks.body.contains("Teşekkürler, ödemeniz alındı"));
    let order = {
        let mut found = None;
        for _ in 0..100 {
            let page = app.get(&format!("{shop}/")).await;
            if let Some(row) = text_of(&page.body, ".notifications li")
                .into_iter()
                .find(|r| r.contains("DEMOAPI-"))
            {
                found = Some(row);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        found.expect("the event reached the shop's webhook")
    };
    assert!(order.contains("payment.approved"), "{order}");
    assert!(order.contains("İmza doğrulandı"), "{order}");
}

#[tokio::test]
async fn the_demo_shop_shows_its_orders_through_the_api_and_few_notifications() {
    let app = spawn_app_with(|s| s.server.demo = true).await;
    let shop = app.demo_url.clone().unwrap();
    // With --demo the merchant's key is at hand, and the demo shop is a relaxed merchant.
    assert!(
        app.app_state
            .settings
            .limits
            .relaxed_merchants
            .contains(&"demo-shop".to_owned())
    );
    let resp = app
        .client
        .post(format!("{shop}/buy"))
        .form(&[("product", "kahve"), ("lang", "tr")])
        .send()
        .await
        .unwrap();
    let body = resp.text().await.unwrap();
    let form = form_by_id(&body, "redirect-form").unwrap();
    let order_id = field(&form.fields, "order_id").to_owned();
    let view = app
        .get(&format!("{shop}/payments?order_id={order_id}&lang=en"))
        .await;
    assert_eq!(view.status, StatusCode::OK);
    assert!(view.body.contains("200 OK"), "{}", view.body);
    assert!(
        view.body.contains("api/v1/payments?order_id="),
        "{}",
        view.body
    );
    // Not paid yet: the API knows no payment of the order until the form reaches Kapı.
    assert!(view.body.contains("&#34;data&#34;: []"), "{}", view.body);
}

/// Where routing sent a payment of the demo shop, and why.
async fn routing_of(app: &TestApp, id: &str) -> kapi::checkout::payment::Routing {
    let paid = app
        .app_state
        .storage
        .payments
        .get_payment(id)
        .await
        .unwrap();
    paid.unwrap().routing.unwrap()
}

/// A demo shop payment started through the shop's signed form: its id.
async fn demo_payment(app: &TestApp, shop: &str) -> String {
    let front = app.get(&format!("{shop}/")).await;
    let buy = forms(&front.body).into_iter().next().unwrap();
    let signed = app
        .post_form(&format!("{shop}{}", buy.action), &buy.fields)
        .await;
    let to_kapi = forms(&signed.body).into_iter().next().unwrap();
    let started = app.post_form(&to_kapi.action, &to_kapi.fields).await;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.body);
    started
        .location
        .unwrap()
        .trim_start_matches("/checkout/")
        .to_owned()
}

#[tokio::test]
async fn the_demo_sends_program_installments_to_their_banks_and_single_payments_to_the_default() {
    let app = spawn_app_with(|s| s.server.demo = true).await;
    let shop = app.demo_url.clone().unwrap();
    let terminals = kapi::terminals::of_merchant(&*app.app_state.storage.terminals, "demo-shop")
        .await
        .unwrap();
    // Three bank terminals beside the default: NestPay (Akbank), Garanti BBVA and QNB PayFor.
    let of = |p: kapi::terminals::Platform| terminals.iter().find(|t| t.platform == p).unwrap();
    assert_eq!(terminals.len(), 3);
    let nestpay = of(kapi::terminals::Platform::Nestpay);
    let garanti = of(kapi::terminals::Platform::Garanti);
    assert_eq!(garanti.bank, "Garanti BBVA");
    assert_eq!(of(kapi::terminals::Platform::Payfor).bank, "QNB");
    assert_eq!(nestpay.bank, "Akbank");
    assert_eq!(nestpay.gate_url, app.url("/fim/est3Dgate"));

    // An Axess card in 3 installments: Akbank's terminal, so the shopper's browser goes to
    // the bank's gate (Kapı's own NestPay gate, for the demo bank) and back.
    let id = demo_payment(&app, &shop).await;
    let fields = app
        .card_fields(&id, "5218 0700 0000 0000", &[("installment", "3")])
        .await;
    let to_gate = app.post_form(&format!("/checkout/{id}"), &fields).await;
    assert_eq!(to_gate.status, StatusCode::OK, "{}", to_gate.body);
    assert_eq!(to_gate.header("cache-control").as_deref(), Some("no-store"));
    let gate = forms(&to_gate.body).into_iter().next().unwrap();
    assert_eq!(gate.action, nestpay.gate_url);
    assert_eq!(field(&gate.fields, "taksit"), "3");
    let at_bank = app
        .complete_3ds(app.post_form(&gate.action, &gate.fields).await)
        .await;
    let back = form_by_id(&at_bank.body, "merchant-return").expect("the bank posts back");
    assert!(back.action.starts_with(&app.url("/bank/return?s=")));
    let returned = app.post_form(&back.action, &back.fields).await;
    assert_eq!(returned.status, StatusCode::SEE_OTHER, "{}", returned.body);
    let result = app.get(&returned.location.unwrap()).await;
    let result = app.through_to_result(&id, result).await;
    let to_shop = form_by_id(&result.body, "merchant-return").unwrap();
    assert_eq!(to_shop.action, format!("{shop}/ok"));
    assert_eq!(field(&to_shop.fields, "status"), "approved");
    assert_eq!(field(&to_shop.fields, "installment"), "3");
    let routing = routing_of(&app, &id).await;
    assert_eq!(
        (routing.terminal_id.as_str(), routing.rule.as_str()),
        (nestpay.id.as_str(), "program")
    );

    // A Bonus card in 6 installments: Garanti BBVA's terminal, through Garanti's gate (its
    // simulator) and its own 3-D Secure.
    let id = demo_payment(&app, &shop).await;
    let fields = app
        .card_fields(&id, VISA_CHALLENGE, &[("installment", "6")])
        .await;
    let to_gate = app.post_form(&format!("/checkout/{id}"), &fields).await;
    let gate = forms(&to_gate.body).into_iter().next().unwrap();
    assert_eq!(gate.action, garanti.gate_url);
    assert_eq!(field(&gate.fields, "txninstallmentcount"), "6");
    let mut page = app.post_form(&gate.action, &gate.fields).await;
    let challenge_form = forms(&page.body).into_iter().next().unwrap();
    assert!(challenge_form.action.ends_with("/sim/acs/challenge"));
    let challenge = app
        .post_form(&challenge_form.action, &challenge_form.fields)
        .await;
    let otp = app.latest_otp().await;
    page = app.acs_action(&challenge.body, "verify", &otp).await;
    // The ACS to Garanti's gate, the gate back to Kapı.
    let to_gate_back = forms(&page.body).into_iter().next().unwrap();
    page = app
        .post_form(&to_gate_back.action, &to_gate_back.fields)
        .await;
    let back = forms(&page.body).into_iter().next().unwrap();
    assert!(back.action.starts_with(&app.url("/bank/return?s=")));
    let returned = app.post_form(&back.action, &back.fields).await;
    let result = app.get(&returned.location.unwrap()).await;
    let result = app.through_to_result(&id, result).await;
    let to_shop = form_by_id(&result.body, "merchant-return").unwrap();
    assert_eq!(field(&to_shop.fields, "status"), "approved");
    let routing = routing_of(&app, &id).await;
    assert_eq!(
        (routing.terminal_id.as_str(), routing.rule.as_str()),
        (garanti.id.as_str(), "program")
    );

    // A single payment: the default terminal, the cheaper one.
    let id = demo_payment(&app, &shop).await;
    let result = app
        .complete_3ds(app.submit_card(&id, VISA_CHALLENGE).await)
        .await;
    let to_shop = form_by_id(&result.body, "merchant-return").unwrap();
    assert_eq!(field(&to_shop.fields, "status"), "approved");
    let routing = routing_of(&app, &id).await;
    assert_eq!(routing.platform, "simulator");
    assert_eq!(routing.rule, "lowest_commission");
}
