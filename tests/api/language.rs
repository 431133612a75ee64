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
    assert!(page.body.contains(r#"value="12/30""#), "the expiry is kept");
    assert!(
        page.body
            .contains(r#"id="consent_preinfo" name="consent_preinfo" value="yes" checked"#)
    );
    // (Not just "4111": a random token on the page may hold those four digits.)
    assert!(
        !page.body.contains("4111 1111 1111 1111") && !page.body.contains("4111111111111111"),
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
    assert!(
        page.contains("Sayfa bulunamadı"),
        "an unknown address is a missing page"
    );
    assert!(!page.contains("Ödeme bulunamadı"));
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

/// Every message key of the locale files (all `.ftl` files of both languages).
fn keys() -> Vec<String> {
    let mut keys = std::collections::BTreeSet::new();
    for lang in ["tr", "en"] {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("locales")
            .join(lang);
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "ftl") {
                continue;
            }
            let ftl = std::fs::read_to_string(path).unwrap();
            keys.extend(
                ftl.lines()
                    .filter(|l| l.chars().next().is_some_and(|c| c.is_ascii_alphabetic()))
                    .filter_map(|l| l.split_once(" =").map(|(k, _)| k.trim().to_owned()))
                    .filter(|k| k.contains('-')),
            );
        }
    }
    keys.into_iter().collect()
}

/// What a shopper sees or hears of a page: its text (title included) and the values of the
/// attributes that carry words (`title`, `aria-*`, `placeholder`, `alt`, `data-*`, a button's
/// `value`, …) — everything but the technical ones. Each with where it was found.
fn visible_strings(html: &str) -> Vec<(String, String)> {
    const TECHNICAL: &[&str] = &[
        "class",
        "id",
        "name",
        "for",
        "href",
        "src",
        "action",
        "method",
        "integrity",
        "type",
        "rel",
        "autocomplete",
        "inputmode",
        "pattern",
        "lang",
        "hreflang",
        "charset",
        "content",
        "role",
        "tabindex",
        "formaction",
        "enctype",
        "form",
    ];
    let doc = scraper::Html::parse_document(html);
    let mut out = vec![(
        "text".to_owned(),
        doc.root_element().text().collect::<Vec<_>>().join(" "),
    )];
    for element in doc
        .root_element()
        .descendants()
        .filter_map(scraper::ElementRef::wrap)
    {
        let hidden =
            element.value().name() == "input" && element.value().attr("type") == Some("hidden");
        for (name, value) in element.value().attrs() {
            if TECHNICAL.contains(&name) || (hidden && name == "value") {
                continue;
            }
            out.push((
                format!("<{} {name}>", element.value().name()),
                value.to_owned(),
            ));
        }
    }
    out
}

#[test]
fn raw_keys_in_attributes_are_found() {
    let strings = visible_strings(
        r#"<html><body><button aria-label="acs-cancel" data-msg="countdown-expired" class="pay-button" data-error-code="KP-1">x</button></body></html>"#,
    );
    let all = strings
        .iter()
        .map(|(_, value)| value.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    assert!(all.contains("acs-cancel") && all.contains("countdown-expired"));
    assert!(!all.contains("pay-button"), "class names are not text");
    assert!(!all.contains("error-code"), "attribute names are not text");
}

#[tokio::test]
async fn no_page_shows_a_raw_message_key() {
    let app = spawn_app_with(|s| s.server.demo = true).await;
    let keys = keys();
    assert!(keys.len() > 100);
    for key in [
        "preinfo-title",
        "contract-title",
        "demo-language-name",
        "month-11",
    ] {
        assert!(keys.iter().any(|k| k == key), "{key} is read");
    }
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

    // The demo shop in both languages, all the way to its result page.
    let shop = app.demo_url.clone().unwrap();
    for lang in ["tr", "en"] {
        let front = app.get(&format!("{shop}/?lang={lang}")).await;
        assert!(front.body.contains(&format!(r#"<html lang="{lang}">"#)));
        pages.push(front.body.clone());
        let buy = forms(&front.body).into_iter().next().unwrap();
        let signed = app
            .post_form(&format!("{shop}{}", buy.action), &buy.fields)
            .await;
        pages.push(signed.body.clone());
        let to_kapi = forms(&signed.body).into_iter().next().unwrap();
        let started = app.post_form(&to_kapi.action, &to_kapi.fields).await;
        let id = started
            .location
            .unwrap()
            .trim_start_matches("/checkout/")
            .to_owned();
        let card = app.card_page(&id).await;
        assert!(
            card.body
                .contains(&format!(r#"<article class="legal-doc" lang="{lang}">"#))
        );
        pages.push(card.body);
        let result = app
            .complete_3ds(app.submit_card(&id, MC_FRICTIONLESS).await)
            .await;
        let back = form_by_id(&result.body, "merchant-return").unwrap();
        let thanks = app.post_form(&back.action, &back.fields).await;
        assert!(thanks.body.contains(&format!(r#"<html lang="{lang}">"#)));
        pages.push(thanks.body);
    }
    // With the notifications table filled.
    pages.push(app.get(&format!("{shop}/?lang=en")).await.body);

    for page in &pages {
        for (place, shown) in visible_strings(page) {
            for key in &keys {
                assert!(
                    !shown.contains(key.as_str()),
                    "raw key {key} in {place} of a page: {shown}"
                );
            }
        }
    }
}

#[tokio::test]
async fn an_unknown_acs_transaction_follows_accept_language() {
    let app = spawn_app().await;
    let creq = kapi::threeds::messages::encode_b64url(&kapi::threeds::messages::CReq {
        three_ds_server_trans_id: "a7d2ec46-1a63-4c5e-9b65-1f3f8f0f3a11".into(),
        acs_trans_id: "0b1f5d4e-8a50-4c1f-a1f4-0d3e6f2c9b77".into(),
        challenge_window_size: "05".into(),
        message_type: "CReq".into(),
        message_version: "2.2.0".into(),
    });
    let post = |path: &str, language: &'static str, fields: Vec<(&'static str, String)>| {
        app.client
            .post(app.url(path))
            .header("accept-language", language)
            .form(&fields)
            .send()
    };
    for (language, lang, text) in [
        ("en-GB,en;q=0.9", "en", "This verification was not found."),
        (
            "tr-TR,tr;q=0.9,en;q=0.5",
            "tr",
            "Bu doğrulama işlemi bulunamadı.",
        ),
        ("de-DE", "tr", "Bu doğrulama işlemi bulunamadı."),
    ] {
        // The first CReq of a transaction the ACS does not know.
        let resp = post(
            "/sim/acs/challenge",
            language,
            vec![("creq", creq.clone()), ("threeDSSessionData", "x".into())],
        )
        .await
        .unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        let body = resp.text().await.unwrap();
        assert!(body.contains(&format!(r#"<html lang="{lang}">"#)), "{body}");
        assert!(body.contains(text), "{body}");
        // An OTP entry for one.
        let resp = post(
            "/sim/acs/challenge/0b1f5d4e-8a50-4c1f-a1f4-0d3e6f2c9b77",
            language,
            vec![
                ("form_token", "x".into()),
                ("action", "verify".into()),
                ("otp", "123456".into()),
            ],
        )
        .await
        .unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        let body = resp.text().await.unwrap();
        assert!(body.contains(&format!(r#"<html lang="{lang}">"#)), "{body}");
        assert!(body.contains(text), "{body}");
    }
    // A CReq that cannot be read at all.
    let resp = post("/sim/acs/challenge", "en", vec![("creq", "%%%".into())])
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("The verification request is not valid.")
    );
}

/// The title (`<h1>`) of a page.
fn heading(html: &str) -> String {
    let doc = scraper::Html::parse_document(html);
    let h1 = scraper::Selector::parse("h1").unwrap();
    doc.select(&h1)
        .map(|h| h.text().collect::<String>().trim().to_owned())
        .find(|t| !t.is_empty())
        .unwrap_or_default()
}

#[tokio::test]
async fn every_state_has_its_own_page_in_both_languages() {
    let app = spawn_app().await;
    for (lang, expired, paid, cancelled, failed, unreachable, not_found) in [
        (
            "tr",
            "Ödeme süresi doldu",
            "Bu sipariş zaten ödendi",
            "Ödeme iptal edildi",
            "Ödeme tamamlanamadı",
            "Kartın bankasına ulaşılamıyor",
            "Ödeme bulunamadı",
        ),
        (
            "en",
            "The payment has expired",
            "This order has already been paid",
            "Payment cancelled",
            "Payment not completed",
            "bank cannot be reached",
            "Payment not found",
        ),
    ] {
        // Expired: the deadline passed on the card page.
        let id = app.start_payment(&[("lang", lang)]).await;
        app.clock.advance(16 * 60);
        let page = app.get(&format!("/checkout/{id}")).await;
        let page = app.get(&page.location.expect("to the result")).await;
        assert_eq!(heading(&page.body), expired, "{lang}");
        // Already paid: the same order started again.
        let order = random_id("PAID");
        app.pay_with(MC_FRICTIONLESS, &[("order_id", &order), ("lang", lang)])
            .await;
        let again = app
            .pay(&app.start_form(&[("order_id", &order), ("lang", lang)]))
            .await;
        assert_eq!(again.status, StatusCode::CONFLICT);
        assert_eq!(heading(&again.body), paid, "{lang}");
        // Cancelled by the shopper.
        let id = app.start_payment(&[("lang", lang)]).await;
        let card = app.card_page(&id).await;
        let cancel = forms(&card.body)
            .into_iter()
            .find(|f| f.action.ends_with("/cancel"))
            .unwrap();
        let back = app.post_form(&cancel.action, &cancel.fields).await;
        let page = app.get(&back.location.unwrap()).await;
        assert_eq!(heading(&page.body), cancelled, "{lang}");
        // The bank could not be reached.
        let id = app.start_payment(&[("lang", lang)]).await;
        let page = app
            .complete_3ds(app.submit_card(&id, "4000 0000 0000 0911").await)
            .await;
        assert_eq!(heading(&page.body), failed, "{lang}");
        assert!(page.body.contains(unreachable), "{lang}: {}", page.body);
        // Not found, in the browser's language.
        let resp = app
            .client
            .get(app.url("/checkout/pay_00000000000000000000000000000000"))
            .header("accept-language", lang)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        assert_eq!(heading(&resp.text().await.unwrap()), not_found, "{lang}");
    }
}
