//! Languages: the payment's, switchable on the card page without losing what was typed, the
//! browser's for pages without a payment, and never a raw message key on a page.

use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn switching_language_keeps_everything_but_card_number_and_cvv() {
    let app = spawn_app().await;
    let id = app.start_payment(&[("amount", "1234.56")]).await;
    let mut fields = app
        .card_fields(
            &id,
            VISA_CHALLENGE,
            &[("consent_contract", ""), ("card_holder", "Ayşe Yılmaz")],
        )
        .await;
    fields.push(("switch_lang".into(), "en".into()));
    let page = app.post_form(&format!("/checkout/{id}"), &fields).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains(r#"<html lang="en">"#));
    assert_eq!(text_of(&page.body, ".amount"), vec!["TRY 1,234.56"]);
    assert!(page.body.contains("Pre-Information Form"));
    assert!(page.body.contains(r#"value="Ayşe Yılmaz""#));
    assert!(page.body.contains(r#"<option value="12" selected>"#));
    assert!(
        page.body
            .contains(r#"id="consent_preinfo" name="consent_preinfo" value="yes" checked"#)
    );
    assert!(
        !page.body.contains("4111"),
        "the card number is not sent back"
    );
    assert!(
        text_of(&page.body, ".field-error").is_empty(),
        "switching is not an error"
    );
    // And back again.
    let mut back = app.card_fields(&id, VISA_CHALLENGE, &[]).await;
    back.push(("switch_lang".into(), "tr".into()));
    let page = app.post_form(&format!("/checkout/{id}"), &back).await;
    assert!(page.body.contains(r#"<html lang="tr">"#));
    // The payment now speaks English to the shopper and in its result.
    let mut en = app.card_fields(&id, "4000 0000 0000 9995", &[]).await;
    en.push(("switch_lang".into(), "en".into()));
    app.post_form(&format!("/checkout/{id}"), &en).await;
    let result = app
        .complete_3ds(app.submit_card(&id, "4000 0000 0000 9995").await)
        .await;
    assert!(
        result.body.contains("Insufficient funds"),
        "{}",
        result.body
    );
    let got = app.return_to_merchant(&result).await;
    assert_eq!(got.get("error_message"), "Insufficient funds");
}

#[tokio::test]
async fn pages_without_a_payment_follow_accept_language() {
    let app = spawn_app().await;
    let english = |path: &str| {
        app.client
            .get(app.url(path))
            .header("accept-language", "en-GB,en;q=0.9,tr;q=0.5")
    };
    let page = english("/checkout/pay_00000000000000000000000000000000")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(r#"<html lang="en">"#));
    assert!(page.contains("Payment not found"));
    let page = app
        .client
        .get(app.url("/nowhere"))
        .header("accept-language", "tr-TR")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Ödeme bulunamadı"));
    // A start form that names no language, refused: the browser's language.
    let mut fields = app.start_form(&[]);
    fields.retain(|(k, _)| k != "lang" && k != "signature");
    let mut fields = app.sign(fields);
    fields.last_mut().unwrap().1 = "0".repeat(64);
    let resp = app
        .client
        .post(app.url("/pay"))
        .header("accept-language", "en")
        .form(&fields)
        .send()
        .await
        .unwrap();
    let body = resp.text().await.unwrap();
    assert!(body.contains("signature could not be verified"), "{body}");
    // The payment itself stays in the merchant's language (Turkish when none is given).
    let mut fields = app.start_form(&[]);
    fields.retain(|(k, _)| k != "lang" && k != "signature");
    let resp = app
        .client
        .post(app.url("/pay"))
        .header("accept-language", "en")
        .form(&app.sign(fields))
        .send()
        .await
        .unwrap();
    let card = app.get(resp.headers()["location"].to_str().unwrap()).await;
    assert!(card.body.contains(r#"<html lang="tr">"#));
}

/// Every message key of the locale files.
fn keys() -> Vec<String> {
    let ftl = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/locales/en/main.ftl"))
        .unwrap();
    ftl.lines()
        .filter(|l| l.chars().next().is_some_and(|c| c.is_ascii_alphabetic()))
        .filter_map(|l| l.split_once(" =").map(|(k, _)| k.trim().to_owned()))
        .filter(|k| k.contains('-'))
        .collect()
}

#[tokio::test]
async fn no_page_shows_a_raw_message_key() {
    let app = spawn_app_with(|s| s.server.demo = true).await;
    let keys = keys();
    assert!(keys.len() > 100);
    let mut pages = vec![];
    for lang in ["tr", "en"] {
        let id = app.start_payment(&[("lang", lang)]).await;
        pages.push(app.card_page(&id).await.body);
        let invalid = app
            .card_fields(&id, "4111 1111 1111 1112", &[("consent_preinfo", "")])
            .await;
        pages.push(
            app.post_form(&format!("/checkout/{id}"), &invalid)
                .await
                .body,
        );
        let submit = app.submit_card(&id, VISA_CHALLENGE).await;
        pages.push(submit.body.clone());
        let challenge = app.follow_post(&submit.body).await;
        pages.push(challenge.body.clone());
        let wrong = app.acs_action(&challenge.body, "verify", "000000").await;
        pages.push(wrong.body.clone());
        let cres = app
            .acs_action(&wrong.body, "verify", &app.latest_otp().await)
            .await;
        pages.push(cres.body.clone());
        let back = app.follow_post(&cres.body).await;
        pages.push(app.get(&back.location.unwrap()).await.body);
        let mut bad = app.start_form(&[("lang", lang)]);
        bad.last_mut().unwrap().1 = "0".repeat(64);
        pages.push(app.pay(&bad).await.body);
    }
    let shop = app.demo_url.clone().unwrap();
    pages.push(app.get(&format!("{shop}/")).await.body);
    for page in &pages {
        let text = text_of(page, "body").join(" ");
        for key in &keys {
            assert!(
                !text.contains(key.as_str()),
                "raw key {key} on a page: {text}"
            );
        }
    }
}
