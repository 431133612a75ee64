//! Installments (taksit): the merchant's plan, the BIN table, the regulator's caps, and the
//! chosen count and its interest all the way to the bank, the result and the event.

use reqwest::StatusCode;
use scraper::{Html, Selector};
use serde_json::{Value, json};

use crate::helpers::*;

/// The plan of docs/examples: Bonus 2 and 3 interest-free, 6 at 5,90 %; World 2 free…
const PLAN: &str = include_str!("../../docs/examples/installment-plan.json");
const WORLD: &str = "5555 5555 5555 4444";
const DEBIT: &str = "4355 0800 0000 0005";
const COMMERCIAL: &str = "5526 0800 0000 0006";

/// Gives the test merchant the example plan through the command line, as an operator would.
async fn with_plan(app: &TestApp, plan: &str) {
    let file = app.data_dir.path().join("plan.json");
    std::fs::write(&file, plan).unwrap();
    let out = app
        .configure_merchant(&["--installment-plan", file.to_str().unwrap()])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `(count, total)` of each row of an installment table, and which is checked.
fn rows(html: &str) -> Vec<(String, String, bool)> {
    let doc = Html::parse_fragment(html);
    let row = Selector::parse(".installment-option").unwrap();
    let radio = Selector::parse("input[name=installment]").unwrap();
    let total = Selector::parse(".option-total").unwrap();
    doc.select(&row)
        .map(|r| {
            let input = r.select(&radio).next().unwrap();
            (
                input.value().attr("value").unwrap().to_owned(),
                r.select(&total).next().unwrap().text().collect::<String>(),
                input.value().attr("checked").is_some(),
            )
        })
        .collect()
}

/// Asks for the table of a card's first digits, as the page's script does.
async fn table_for(app: &TestApp, id: &str, bin: &str) -> Page {
    let page = app.card_page(id).await;
    let csrf = forms(&page.body)
        .into_iter()
        .find(|f| f.action == format!("/checkout/{id}"))
        .map(|f| field(&f.fields, "csrf_token").to_owned())
        .unwrap();
    app.post_form(
        &format!("/checkout/{id}/installments"),
        &vec![("csrf_token".into(), csrf), ("bin".into(), bin.into())],
    )
    .await
}

#[tokio::test]
async fn a_bonus_card_pays_in_six_with_its_interest_all_the_way_through() {
    let app = spawn_app().await;
    with_plan(&app, PLAN).await;
    let order_id = random_id("TAKSIT");
    let id = app.start_payment(&[("order_id", &order_id)]).await;
    // Before a card number: a line in place of the table.
    let page = app.card_page(&id).await;
    assert!(page.body.contains("id=\"installments\""), "{}", page.body);
    assert!(page.body.contains("Kart numaranızı girdiğinizde"));
    // The script's question for the card's first digits.
    let table = table_for(&app, &id, "41111111").await;
    assert_eq!(table.status, StatusCode::OK);
    assert!(
        table.body.contains("Garanti BBVA Bonus kartınız için"),
        "{}",
        table.body
    );
    let got: Vec<(String, String)> = rows(&table.body)
        .into_iter()
        .map(|(c, t, _)| (c, t))
        .collect();
    assert_eq!(
        got,
        [
            ("1", "150,00 TL"),
            ("2", "150,00 TL"),
            ("3", "150,00 TL"),
            ("6", "158,85 TL"),
            ("9", "163,35 TL"),
        ]
        .map(|(c, t)| (c.to_owned(), t.to_owned()))
    );
    assert!(table.body.contains("6 × 26,47 TL"), "{}", table.body);
    assert!(table.body.contains("vade farkı 8,85 TL"));
    // Pay in six.
    let fields = app
        .card_fields(&id, VISA_CHALLENGE, &[("installment", "6")])
        .await;
    let submit = app.post_form(&format!("/checkout/{id}"), &fields).await;
    let result = app.complete_3ds(submit).await;
    assert!(result.body.contains("6 taksit"), "{}", result.body);
    assert!(result.body.contains("158,85 TL"));
    let got = app.return_to_merchant(&result).await;
    assert!(got.signature_ok);
    assert_eq!(got.get("status"), "approved");
    assert_eq!(got.get("installment"), "6");
    assert_eq!(got.get("amount"), "150.00", "the order's amount");
    // The bank was asked for the total with the interest, in six.
    let bank = app.bank_transactions(&order_id).await;
    assert_eq!(bank.len(), 1);
    assert_eq!(bank[0]["amount_minor"], 15_885, "{}", bank[0]);
    assert_eq!(bank[0]["installment"], 6);
    // The API and the event tell the whole story.
    let (_, p) = app.get_json(&format!("/api/v1/payments/{id}")).await;
    assert_eq!(p["installment"], 6);
    assert_eq!(p["installment_fee"], "8.85");
    assert_eq!(p["charged_amount"], "158.85");
    assert_eq!(p["authorised_amount"], "158.85");
    assert_eq!(p["refundable_amount"], "158.85");
    assert_eq!(p["card"]["bank"], "Garanti BBVA");
    assert_eq!(p["card"]["program"], "bonus");
    assert_eq!(p["card"]["kind"], "credit");
    let event = app.receiver.wait_event(&id, "payment.approved").await;
    let body: Value = serde_json::from_slice(&event.raw).unwrap();
    assert_eq!(body["data"]["payment"]["installment"], 6, "{body}");
    assert_eq!(body["data"]["payment"]["charged_amount"], "158.85");
    // A refund may return everything charged, interest included, and no more.
    app.clock_to_istanbul_noon();
    let (status, _) = app
        .post_json(
            &format!("/api/v1/payments/{id}/refunds"),
            Some(json!({"amount": "158.86"})),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, refund) = app
        .post_json(&format!("/api/v1/payments/{id}/refunds"), None, None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{refund}");
    let (_, p) = app.get_json(&format!("/api/v1/payments/{id}")).await;
    assert_eq!(p["status"], "refunded");
    assert_eq!(p["refunded_amount"], "158.85");
}

#[tokio::test]
async fn without_javascript_the_table_comes_after_the_first_submit() {
    let app = spawn_app().await;
    with_plan(&app, PLAN).await;
    let order_id = random_id("NOJS");
    let id = app.start_payment(&[("order_id", &order_id)]).await;
    // The first submit has no installment field: the page comes back with the World card's
    // table, everything typed kept but the card number and CVV.
    let fields = app.card_fields(&id, WORLD, &[("installment", "")]).await;
    let first = app.post_form(&format!("/checkout/{id}"), &fields).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert!(first.body.contains("Yapı Kredi World kartınız için"));
    assert!(first.body.contains("yeniden girin"), "{}", first.body);
    assert!(!first.body.contains("5555"), "no card digits in the page");
    let counts: Vec<String> = rows(&first.body).into_iter().map(|r| r.0).collect();
    assert_eq!(counts, ["1", "2", "3", "6"]);
    assert!(rows(&first.body)[0].2, "single payment is preselected");
    assert!(first.body.contains("AYSE YILMAZ"));
    // Nothing reached 3-D Secure or the bank yet.
    assert!(app.bank_transactions(&order_id).await.is_empty());
    let p = app
        .app_state
        .storage
        .payments
        .get_payment(&id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.status.as_str(), "created");
    // The second submit, with a choice, pays.
    let fields = app.card_fields(&id, WORLD, &[("installment", "3")]).await;
    let submit = app.post_form(&format!("/checkout/{id}"), &fields).await;
    let got = app
        .return_to_merchant(&app.complete_3ds(submit).await)
        .await;
    assert_eq!(got.get("installment"), "3");
    assert_eq!(
        app.bank_transactions(&order_id).await[0]["amount_minor"],
        15_285
    );
}

#[tokio::test]
async fn debit_and_unknown_cards_pay_at_once() {
    let app = spawn_app().await;
    with_plan(&app, PLAN).await;
    // A debit card: no table to choose from, straight on.
    let id = app.start_payment(&[]).await;
    let table = table_for(&app, &id, "435508").await;
    assert!(table.body.contains("yalnızca tek çekim"), "{}", table.body);
    assert!(rows(&table.body).is_empty());
    let submit = app.submit_card(&id, DEBIT).await;
    assert_eq!(submit.status, StatusCode::OK, "to the ACS: {}", submit.body);
    let got = app
        .return_to_merchant(&app.complete_3ds(submit).await)
        .await;
    assert_eq!(got.get("installment"), "1");
    let (_, p) = app.get_json(&format!("/api/v1/payments/{id}")).await;
    assert_eq!(p["card"]["kind"], "debit");
    assert_eq!(p["installment_fee"], "0.00");
    // A count chosen for another card is refused for a debit card, next to the table.
    let id = app.start_payment(&[]).await;
    let fields = app.card_fields(&id, DEBIT, &[("installment", "3")]).await;
    let page = app.post_form(&format!("/checkout/{id}"), &fields).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("bu kartla yapılamıyor"), "{}", page.body);
    // A card the BIN table does not know: single payment.
    let table = table_for(&app, &id, "42424242").await;
    assert!(table.body.contains("yalnızca tek çekim"));
    // Installments are for TRY: a fixed count in another currency is refused at the start.
    let page = app
        .pay(&app.start_form(&[("currency", "USD"), ("installment", "3")]))
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&page.body).as_deref(), Some("KP-1019"));
    // Another currency: single payment, whatever the card, and no table at all.
    let id = app.start_payment(&[("currency", "USD")]).await;
    assert!(
        !app.card_page(&id)
            .await
            .body
            .contains("id=\"installments\"")
    );
    let got = app
        .return_to_merchant(&app.complete_3ds(app.submit_card(&id, WORLD).await).await)
        .await;
    assert_eq!(got.get("installment"), "1");
}

#[tokio::test]
async fn the_regulators_caps_cut_the_offers_but_not_for_commercial_cards() {
    let app = spawn_app_with(|s| {
        s.installments
            .category_limits
            .insert("electronics".into(), 3);
    })
    .await;
    let electronics = PLAN.replace("\"general\"", "\"electronics\"");
    with_plan(&app, &electronics).await;
    let id = app.start_payment(&[]).await;
    let counts = |html: &str| -> Vec<String> { rows(html).into_iter().map(|r| r.0).collect() };
    assert_eq!(
        counts(&table_for(&app, &id, "555555").await.body),
        ["1", "2", "3"]
    );
    // A company card (Bonus Business) is not bound by the category's cap.
    assert_eq!(
        counts(&table_for(&app, &id, "55260800").await.body),
        ["1", "2", "3", "6", "9"]
    );
    // Nor is a count above the cap accepted when posted by hand.
    let fields = app.card_fields(&id, WORLD, &[("installment", "6")]).await;
    let page = app.post_form(&format!("/checkout/{id}"), &fields).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.body
            .contains("Seçtiğiniz taksit sayısı bu kartla yapılamıyor"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("href=\"#installments\""),
        "the summary links the table"
    );
    let fields = app
        .card_fields(&id, COMMERCIAL, &[("installment", "9")])
        .await;
    let submit = app.post_form(&format!("/checkout/{id}"), &fields).await;
    let got = app
        .return_to_merchant(&app.complete_3ds(submit).await)
        .await;
    assert_eq!(got.get("installment"), "9");
}

#[tokio::test]
async fn a_count_the_merchant_fixed_is_left_to_the_bank_for_a_card_the_table_does_not_know() {
    let app = spawn_app().await;
    let order_id = random_id("FIXED");
    let id = app
        .start_payment(&[("installment", "6"), ("order_id", &order_id)])
        .await;
    let got = app
        .return_to_merchant(
            &app.complete_3ds(app.submit_card(&id, "4242 4242 4242 4242").await)
                .await,
        )
        .await;
    assert_eq!(got.get("status"), "approved");
    assert_eq!(got.get("installment"), "6");
    assert_eq!(app.bank_transactions(&order_id).await[0]["installment"], 6);
}

#[tokio::test]
async fn a_count_the_merchant_fixed_needs_a_card_that_allows_it() {
    // No plan: the bank-style `installment` field of the start form decides, no interest.
    let app = spawn_app().await;
    let id = app.start_payment(&[("installment", "3")]).await;
    let page = app.card_page(&id).await;
    assert!(!page.body.contains("id=\"installments\""));
    assert!(page.body.contains("3 taksit"));
    let refused = app.submit_card(&id, DEBIT).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.body.contains("taksit yapılabilen bir kredi kartı"),
        "{}",
        refused.body
    );
    let got = app
        .return_to_merchant(&app.complete_3ds(app.submit_card(&id, WORLD).await).await)
        .await;
    assert_eq!(got.get("installment"), "3");
    let (_, p) = app.get_json(&format!("/api/v1/payments/{id}")).await;
    assert_eq!(p["charged_amount"], "150.00");
}

#[tokio::test]
async fn the_table_lookup_takes_only_a_few_digits_from_this_payments_page() {
    let app = spawn_app().await;
    with_plan(&app, PLAN).await;
    let id = app.start_payment(&[]).await;
    for bad in ["4111", "4111111111111111", "41111a"] {
        let page = table_for(&app, &id, bad).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(error_code(&page.body).as_deref(), Some("KP-1004"));
    }
    // Without the page's token: refused like any form.
    let page = app
        .post_form(
            &format!("/checkout/{id}/installments"),
            &vec![("bin".into(), "411111".into())],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    // No plan, no table.
    let app = spawn_app().await;
    let id = app.start_payment(&[]).await;
    assert!(
        !app.card_page(&id)
            .await
            .body
            .contains("id=\"installments\"")
    );
    assert_eq!(
        table_for(&app, &id, "411111").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_plan_is_checked_before_it_is_stored() {
    let app = spawn_app().await;
    let file = app.data_dir.path().join("bad.json");
    std::fs::write(&file, r#"{"bearer": "shopper", "options": {"15": "1.00"}}"#).unwrap();
    let out = app
        .configure_merchant(&["--installment-plan", file.to_str().unwrap()])
        .await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`15` must be 2 to 12"), "{err}");
    let m = app
        .app_state
        .storage
        .merchants
        .get_merchant(&app.merchant_id)
        .await
        .unwrap()
        .unwrap();
    assert!(m.installment_plan.is_none());
}
