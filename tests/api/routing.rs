//! Terminals and routing, end to end: a merchant with a terminal at a second bank (another
//! Kapı's simulated bank, over HTTP) and today's default terminal; which bank each payment
//! reaches, what the payment records, and where its refunds go.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

/// A second bank: another Kapı whose simulated bank serves the terminal `terminal_no`.
async fn second_bank(terminal_no: &str) -> TestApp {
    let terminal_no = terminal_no.to_owned();
    spawn_app_with(move |s| s.acquirer.terminal_id = terminal_no).await
}

/// Adds a simulator terminal at `bank` (its simulated bank) to `app`'s merchant.
async fn add_terminal(app: &TestApp, bank: &TestApp, name: &str, commission: &str) -> String {
    let terminal_no = bank.app_state.settings.acquirer.terminal_id.clone();
    add_terminal_at(app, &bank.url("/sim/bank"), &terminal_no, name, commission).await
}

/// Adds a simulator terminal `terminal_no` of the bank `name` whose API is at `url`.
async fn add_terminal_at(
    app: &TestApp,
    url: &str,
    terminal_no: &str,
    name: &str,
    commission: &str,
) -> String {
    app.add_terminal(kapi::terminals::NewTerminal {
        merchant_id: app.merchant_id.clone(),
        bank: name.into(),
        platform: kapi::terminals::Platform::Simulator,
        client_id: terminal_no.into(),
        user: "kapi".into(),
        password: secrecy::SecretString::from(BANK_KEY.to_owned()),
        terminal_no: None,
        store_key: secrecy::SecretString::from("unused".to_owned()),
        gate_url: url.into(),
        api_url: url.into(),
        static_ip: None,
        commission: Some(commission.into()),
        installment_commissions: vec![],
        accept_half_3d: false,
        refund_user: None,
        refund_password: None,
        mbr_id: None,
    })
    .await
}

/// A frictionless payment of the test merchant: its id and order id.
async fn pay(app: &TestApp, card: &str) -> (String, String) {
    let got = app.pay_with(card, &[]).await;
    assert_eq!(got.get("status"), "approved", "{:?}", got.fields);
    (
        got.get("payment_id").to_owned(),
        got.get("order_id").to_owned(),
    )
}

fn authorisations(books: &[Value]) -> usize {
    books
        .iter()
        .filter(|t| t["kind"] == "authorisation")
        .count()
}

#[tokio::test]
async fn a_payment_goes_to_the_cheaper_terminal_and_its_refunds_and_status_follow_it() {
    // The default terminal costs 2.00 %; the merchant's terminal at a second bank 1.50 %.
    let app = spawn_app_with(|s| s.acquirer.commission = Some("2.00".into())).await;
    let bank = second_bank("GARANTI-0042").await;
    let terminal = add_terminal(&app, &bank, "Garanti BBVA", "1.50").await;

    let (id, order) = pay(&app, MC_FRICTIONLESS).await;
    assert_eq!(authorisations(&bank.bank_transactions(&order).await), 1);
    assert!(
        app.bank_transactions(&order).await.is_empty(),
        "not the default bank"
    );
    let (_, p) = app.get_json(&format!("/api/v1/payments/{id}")).await;
    assert_eq!(
        p["terminal"],
        json!({"id": terminal, "bank": "Garanti BBVA", "platform": "simulator"})
    );
    assert_eq!(p["routing"]["rule"], "lowest_commission", "{p}");
    let inputs = &p["routing"]["inputs"];
    assert_eq!(inputs["commission"], "1.50");
    assert_eq!(inputs["installment"], 1);
    assert_eq!(inputs["card_bank"], "Yapı Kredi");
    assert_eq!(inputs["candidates"], json!([terminal, "KAPI-SIM-0001"]));
    assert_eq!(p["authorisation"]["terminal_id"], terminal.as_str());
    // The event carries the same.
    let approved = app.receiver.wait_event(&id, "payment.approved").await;
    assert_eq!(
        approved.json()["data"]["payment"]["terminal"]["id"],
        terminal.as_str()
    );

    // The terminal is disabled: new payments go elsewhere, but this one's refund still goes
    // to the bank that authorised it.
    app.configure_terminal(
        &terminal,
        kapi::terminals::TerminalChange::default(),
        Some(false),
    )
    .await;
    let (status, refund) = app
        .post_json(
            &format!("/api/v1/payments/{id}/refunds"),
            Some(json!({"amount": "20.00"})),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{refund}");
    let books = bank.bank_transactions(&order).await;
    assert_eq!(books.iter().filter(|t| t["kind"] == "refund").count(), 1);
    let (second, second_order) = pay(&app, MC_FRICTIONLESS).await;
    assert_eq!(
        authorisations(&app.bank_transactions(&second_order).await),
        1
    );
    assert!(bank.bank_transactions(&second_order).await.is_empty());
    let (_, p) = app.get_json(&format!("/api/v1/payments/{second}")).await;
    assert_eq!(p["terminal"]["id"], "KAPI-SIM-0001", "{p}");
    assert_eq!(
        p["routing"]["inputs"]["candidates"],
        json!(["KAPI-SIM-0001"])
    );
}

#[tokio::test]
async fn a_merchant_preferring_on_us_pays_a_card_at_its_own_bank() {
    let app = spawn_app_with(|s| s.acquirer.commission = Some("1.00".into())).await;
    let bank = second_bank("YKB-0007").await;
    // Dearer than the default terminal, but the card's own bank.
    let terminal = add_terminal(&app, &bank, "yapı kredi", "2.40").await;

    // Without the preference: the cheapest.
    let (id, order) = pay(&app, MC_FRICTIONLESS).await;
    assert!(bank.bank_transactions(&order).await.is_empty());
    let (_, p) = app.get_json(&format!("/api/v1/payments/{id}")).await;
    assert_eq!(p["routing"]["rule"], "lowest_commission");

    let change = kapi::merchants::Settings {
        prefer_on_us: Some(true),
        ..Default::default()
    };
    kapi::merchants::configure(&*app.app_state.storage.merchants, &app.merchant_id, change)
        .await
        .unwrap();
    // A Yapı Kredi card goes to Yapı Kredi's terminal; a Garanti BBVA card (no terminal of
    // its bank) to the cheapest.
    let (id, order) = pay(&app, MC_FRICTIONLESS).await;
    assert_eq!(authorisations(&bank.bank_transactions(&order).await), 1);
    let (_, p) = app.get_json(&format!("/api/v1/payments/{id}")).await;
    assert_eq!(
        (&p["terminal"]["id"], &p["routing"]["rule"]),
        (&json!(terminal), &json!("on_us"))
    );
    assert_eq!(p["routing"]["inputs"]["prefer_on_us"], true);
    let (id, order) = pay(&app, VISA_CHALLENGE).await;
    assert!(bank.bank_transactions(&order).await.is_empty());
    let (_, p) = app.get_json(&format!("/api/v1/payments/{id}")).await;
    assert_eq!(p["routing"]["rule"], "lowest_commission", "{p}");
}

#[tokio::test]
async fn installments_on_a_program_card_go_only_to_a_member_banks_terminal() {
    // The default terminal is Akbank's (Axess), the cheapest; the merchant's Denizbank terminal
    // (a Bonus bank) is dearer.
    let app = spawn_app_with(|s| {
        s.acquirer.bank = "Akbank".into();
        s.acquirer.commission = Some("1.00".into());
    })
    .await;
    let bank = second_bank("DENIZ-0003").await;
    let terminal = add_terminal(&app, &bank, "Denizbank", "3.00").await;

    // A Bonus card in 3 installments: the Bonus bank's terminal.
    let order = random_id("TAKSIT");
    let id = app
        .start_payment(&[("installment", "3"), ("order_id", &order)])
        .await;
    let result = app
        .complete_3ds(app.submit_card(&id, VISA_CHALLENGE).await)
        .await;
    let got = app.return_to_merchant(&result).await;
    assert_eq!(got.get("status"), "approved", "{:?}", got.fields);
    let books = bank.bank_transactions(&order).await;
    assert_eq!(authorisations(&books), 1);
    assert_eq!(books[0]["installment"], 3);
    let (_, p) = app.get_json(&format!("/api/v1/payments/{id}")).await;
    assert_eq!(
        (&p["terminal"]["id"], &p["routing"]["rule"]),
        (&json!(terminal), &json!("program"))
    );
    assert_eq!(p["routing"]["inputs"]["card_program"], "bonus");
    assert_eq!(p["routing"]["inputs"]["candidates"], json!([terminal]));

    // The same card in a single payment: the cheapest, the default terminal.
    let (single, order) = pay(&app, VISA_CHALLENGE).await;
    assert_eq!(authorisations(&app.bank_transactions(&order).await), 1);
    let (_, p) = app.get_json(&format!("/api/v1/payments/{single}")).await;
    assert_eq!(p["routing"]["rule"], "lowest_commission");

    // A World card in installments: no World bank's terminal here, and the default terminal
    // is not one either. The shopper is told at once, nothing reaches a bank, and a single
    // payment still works.
    let order = random_id("WORLD");
    let id = app
        .start_payment(&[("installment", "3"), ("order_id", &order)])
        .await;
    let refused = app.submit_card(&id, MC_FRICTIONLESS).await;
    // The card page again, saying so (as for a card that takes no installments).
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("taksit yapılabilen bir kredi kartı"),
        "{}",
        refused.body
    );
    assert!(app.bank_transactions(&order).await.is_empty());
    assert!(bank.bank_transactions(&order).await.is_empty());
    let (_, p) = app.get_json(&format!("/api/v1/payments/{id}")).await;
    assert_eq!(p["status"], "created", "the shopper may still pay: {p}");
}

#[tokio::test]
async fn the_daily_report_counts_by_terminal_in_json_csv_and_on_the_command_line() {
    let app = spawn_app_with(|s| s.acquirer.commission = Some("2.00".into())).await;
    app.clock_to_istanbul_noon();
    let bank = second_bank("GARANTI-0099").await;
    let terminal = add_terminal(&app, &bank, "Garanti BBVA", "1.50").await;

    // At the merchant's terminal: a sale, a decline, a partial refund of the sale.
    let (sale, _) = pay(&app, MC_FRICTIONLESS).await;
    let declined = app.pay_with("4000 0000 0000 9995", &[]).await;
    assert_eq!(declined.get("status"), "declined");
    let (status, body) = app
        .post_json(
            &format!("/api/v1/payments/{sale}/refunds"),
            Some(json!({"amount": "20.00"})),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // At the default terminal (the other disabled): a sale, voided the same day.
    app.configure_terminal(
        &terminal,
        kapi::terminals::TerminalChange::default(),
        Some(false),
    )
    .await;
    let (other, _) = pay(&app, MC_FRICTIONLESS).await;
    let (status, body) = app
        .post_json(&format!("/api/v1/payments/{other}/void"), None, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let day = kapi::clock::istanbul_day(kapi::clock::Clock::now_ms(&*app.clock)).to_string();
    let (status, report) = app
        .get_json(&format!("/api/v1/reports/daily?date={day}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(
        (&report["date"], &report["timezone"]),
        (&json!(day), &json!("Europe/Istanbul"))
    );
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{report}");
    let row = |id: &str| {
        rows.iter()
            .find(|r| r["terminal_id"] == id)
            .unwrap()
            .clone()
    };
    let at_terminal = row(&terminal);
    assert_eq!(at_terminal["terminal_bank"], "Garanti BBVA");
    assert_eq!(
        at_terminal["approved"],
        json!({"count": 1, "amount": "150.00"})
    );
    assert_eq!(
        at_terminal["declined"],
        json!({"count": 1, "amount": "150.00"})
    );
    assert_eq!(
        at_terminal["refunded"],
        json!({"count": 1, "amount": "20.00"})
    );
    assert_eq!(at_terminal["net"], "130.00");
    let at_default = row("KAPI-SIM-0001");
    assert_eq!(
        at_default["approved"],
        json!({"count": 1, "amount": "150.00"})
    );
    assert_eq!(
        at_default["voided"],
        json!({"count": 1, "amount": "150.00"})
    );
    assert_eq!(
        (&at_default["net"], &at_default["currency"]),
        (&json!("0.00"), &json!("TRY"))
    );

    // The same as CSV.
    let csv = app
        .api(
            reqwest::Method::GET,
            &format!("/api/v1/reports/daily?date={day}"),
        )
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0].starts_with("date,merchant_id,currency,terminal_id,"),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&terminal) && l.ends_with(",130.00")),
        "{text}"
    );

    // Another day has nothing; a date that is not one is refused.
    let (_, empty) = app.get_json("/api/v1/reports/daily?date=2020-01-01").await;
    assert_eq!(empty["rows"], json!([]));
    for bad in ["2026-13-01", "2026-1-01", "yesterday", ""] {
        let (status, body) = app
            .get_json(&format!("/api/v1/reports/daily?date={bad}"))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(body["code"], "KP-6041");
    }

    // The operator's command gives the same rows.
    let out = app.kapi(&["report", "daily", "--date", &day]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(cli["rows"], report["rows"]);
}

#[tokio::test]
async fn a_banks_settlement_file_is_reconciled_with_kapis_books_and_the_differences_kept() {
    let app = spawn_app().await;
    app.clock_to_istanbul_noon();
    let (first, _) = pay(&app, MC_FRICTIONLESS).await;
    let (second, _) = pay(&app, MC_FRICTIONLESS).await;
    let (status, refund) = app
        .post_json(
            &format!("/api/v1/payments/{first}/refunds"),
            Some(json!({"amount": "20.00"})),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{refund}");
    let day = kapi::clock::istanbul_day(kapi::clock::Clock::now_ms(&*app.clock)).to_string();

    // The simulated bank's file of the day: the two sales and the refund.
    let file = app
        .client
        .get(app.url(&format!("/sim/bank/v1/settlement?date={day}")))
        .bearer_auth(BANK_KEY)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<&str> = file.lines().collect();
    assert_eq!(
        lines[0],
        "transaction_id,host_ref,auth_code,amount,currency,type"
    );
    assert_eq!(lines.len(), 4, "{file}");
    let txn = async |id: &str| {
        let (_, p) = app.get_json(&format!("/api/v1/payments/{id}")).await;
        p["authorisation"]["transaction_id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (first_txn, second_txn) = (txn(&first).await, txn(&second).await);
    let refund_txn = refund["transaction_id"].as_str().unwrap().to_owned();
    assert!(file.contains(&format!("{first_txn},")) && file.contains(&format!("{refund_txn},")));
    let reconcile = async |text: &str| {
        let path = app.data_dir.path().join("settlement.csv");
        std::fs::write(&path, text).unwrap();
        let out = app
            .kapi(&[
                "reconcile",
                "--file",
                path.to_str().unwrap(),
                "--date",
                &day,
            ])
            .await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let clean = reconcile(&file).await;
    assert_eq!(
        (&clean["matched"], &clean["issues"]),
        (&json!(3), &json!([])),
        "{clean}"
    );

    // The bank lost the refund, booked the second sale for less, and has one Kapı never saw.
    let changed: String = file
        .lines()
        .filter(|l| !l.starts_with(&refund_txn))
        .map(|l| {
            if l.starts_with(&second_txn) {
                l.replace(",150.00,", ",149.00,")
            } else {
                l.to_owned()
            }
        })
        .chain(["99999999,612345000000,,5.00,TRY,sale".to_owned()])
        .collect::<Vec<_>>()
        .join("\n");
    let found = reconcile(&changed).await;
    assert_eq!(found["matched"], 1, "{found}");
    let kinds: Vec<(String, String)> = found["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["kind"].as_str().unwrap().into(),
                i["transaction_id"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(
        kinds.contains(&("amount_differs".into(), second_txn.clone())),
        "{found}"
    );
    assert!(
        kinds.contains(&("missing_in_kapi".into(), "99999999".into())),
        "{found}"
    );
    assert!(
        kinds.contains(&("missing_at_bank".into(), refund_txn.clone())),
        "{found}"
    );
    let differs = found["issues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "amount_differs")
        .unwrap();
    assert_eq!(
        (&differs["bank_amount_minor"], &differs["kapi_amount_minor"]),
        (&json!(14_900), &json!(15_000))
    );
    // The operator lists them; a bad file is refused with its line.
    let out = app.kapi(&["reconcile"]).await;
    let kept: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(kept.as_array().unwrap().len(), 3, "{kept}");
    let path = app.data_dir.path().join("bad.csv");
    std::fs::write(&path, "transaction_id,amount\n1,2\n").unwrap();
    let out = app
        .kapi(&[
            "reconcile",
            "--file",
            path.to_str().unwrap(),
            "--date",
            &day,
        ])
        .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("header"));
}

/// A card attempt of the test merchant through a challenge (two, after a fallback), on to the
/// merchant: its payment id, order id, and what the merchant received.
async fn pay_through_fallback(
    app: &TestApp,
    card: &str,
    installments: &str,
) -> (String, String, Received) {
    let order = random_id("FALLBACK");
    let id = app
        .start_payment(&[("order_id", &order), ("installment", installments)])
        .await;
    let page = app.complete_3ds(app.submit_card(&id, card).await).await;
    // After a fallback the result page sends the browser to the next terminal's 3-D Secure.
    let page = app.through_to_result(&id, page).await;
    let got = app.return_to_merchant(&page).await;
    (id, order, got)
}

#[tokio::test]
async fn a_single_payment_a_terminal_refuses_before_authorising_goes_once_to_the_next() {
    // The merchant's own terminal is the cheaper, but its bank refuses connections.
    let app = spawn_app_with(|s| s.acquirer.commission = Some("2.00".into())).await;
    let default_terminal = app.app_state.settings.acquirer.terminal_id.clone();
    let down = add_terminal_at(&app, &refused_url(), "DOWN-0001", "Denizbank", "1.00").await;

    // A new 3-D Secure step at the next terminal (the default), where it is approved.
    let sms_before = app.sms_count().await;
    let (id, order, got) = pay_through_fallback(&app, VISA_CHALLENGE, "1").await;
    assert_eq!(got.get("status"), "approved", "{:?}", got.fields);
    assert_eq!(
        app.sms_count().await,
        sms_before + 2,
        "two challenges: one per bank"
    );
    assert_eq!(authorisations(&app.bank_transactions(&order).await), 1);
    let (_, p) = app.get_json(&format!("/api/v1/payments/{id}")).await;
    assert_eq!(p["terminal"]["id"], default_terminal.as_str(), "{p}");
    assert_eq!(p["routing"]["rule"], "fallback");
    assert_eq!(p["routing"]["inputs"]["excluded"], json!([down]));
    assert_eq!(p["routing"]["inputs"]["refusal"], "connection_refused");
    let tried = p["routing"]["inputs"]["refused_attempt"]
        .as_str()
        .unwrap_or_default();
    assert!(
        tried.starts_with("au_"),
        "the refused attempt's reference: {p}"
    );
    // Its refund goes to the terminal that authorised it.
    let (code, refund) = app
        .post_json(
            &format!("/api/v1/payments/{id}/refunds"),
            Some(json!({"amount": "10.00"})),
            None,
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{refund}");

    // Installments never go on to another terminal: the refused connection fails the payment
    // (nothing reached a bank), and the default terminal never saw it.
    let (id, order, got) = pay_through_fallback(&app, VISA_CHALLENGE, "3").await;
    assert_eq!(
        (got.get("status"), got.get("error_code")),
        ("failed", "KP-4091"),
        "{:?}",
        got.fields
    );
    assert!(app.bank_transactions(&order).await.is_empty());
    let (_, p) = app.get_json(&format!("/api/v1/payments/{id}")).await;
    assert_eq!(p["terminal"]["id"], down.as_str());
    assert_eq!(p["routing"]["rule"], "program");
}

#[tokio::test]
async fn a_system_error_goes_on_once_and_an_answer_that_may_have_authorised_never_does() {
    let app = spawn_app_with(|s| s.acquirer.commission = Some("2.00".into())).await;
    let bank = second_bank("DENIZ-0096").await;
    let terminal = add_terminal(&app, &bank, "Denizbank", "1.00").await;

    // `96` (system malfunction) at the cheaper bank: on to the default terminal, whose bank
    // says `96` for this card too; there it ends: one fallback, not a loop.
    let (id, order, got) = pay_through_fallback(&app, "4000 0000 0000 0960", "1").await;
    assert_eq!(
        (got.get("status"), got.get("proc_return_code")),
        ("declined", "96"),
        "{:?}",
        got.fields
    );
    assert_eq!(authorisations(&bank.bank_transactions(&order).await), 1);
    assert_eq!(authorisations(&app.bank_transactions(&order).await), 1);
    let (_, p) = app.get_json(&format!("/api/v1/payments/{id}")).await;
    assert_eq!(p["routing"]["rule"], "fallback");
    assert_eq!(p["routing"]["inputs"]["refusal"], "96");

    // A lost answer (Kapı's own `91`) might have authorised: never another terminal. The
    // payment fails after the inquiry and the attempt is reversed where it was sent.
    let (id, order, got) = pay_through_fallback(&app, "4000 0000 0000 0911", "1").await;
    assert_eq!(
        (got.get("status"), got.get("proc_return_code")),
        ("failed", "91"),
        "{:?}",
        got.fields
    );
    assert!(app.bank_transactions(&order).await.is_empty());
    let (_, p) = app.get_json(&format!("/api/v1/payments/{id}")).await;
    assert_eq!(p["terminal"]["id"], terminal.as_str());
    assert_eq!(p["routing"]["rule"], "lowest_commission");
}
