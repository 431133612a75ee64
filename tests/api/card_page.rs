//! The card page: what the shopper sees, server-side validation, consent evidence, expiry,
//! cancel, and what happens to card data.

use reqwest::StatusCode;
use sha2::{Digest, Sha256};

use crate::helpers::*;

#[tokio::test]
async fn card_page_shows_the_order_the_documents_and_unticked_consents() {
    let app = spawn_app().await;
    let id = app
        .start_payment(&[("amount", "1234.56"), ("order_id", "ORD-TR-77")])
        .await;
    let page = app.card_page(&id).await;
    assert_eq!(page.status, StatusCode::OK);
    let body = &page.body;
    assert!(body.contains(r#"<html lang="tr">"#));
    assert_eq!(text_of(body, ".amount"), vec!["1.234,56 TL"]);
    assert_eq!(text_of(body, ".merchant-name"), vec!["Örnek Mağaza"]);
    assert!(body.contains("ORD-TR-77"));
    assert!(body.contains("Kırmızı kazak — beden M"));
    // Both documents, filled with the order and the seller's details.
    assert!(body.contains("Ön Bilgilendirme Formu"));
    assert!(body.contains("Mesafeli Satış Sözleşmesi"));
    assert!(body.contains("Örnek Mağazacılık Ltd. Şti."));
    assert!(body.contains("Bağdat Cad. No: 5, Kadıköy / İstanbul"));
    assert!(body.contains("0123456789012345"));
    assert!(body.contains("Ayşe Yılmaz"));
    // Consents are separate and not pre-ticked.
    let doc = scraper::Html::parse_document(body);
    for name in ["consent_preinfo", "consent_contract"] {
        let sel = scraper::Selector::parse(&format!("input[type=checkbox][name={name}]")).unwrap();
        let boxes: Vec<_> = doc.select(&sel).collect();
        assert_eq!(boxes.len(), 1, "{name}");
        assert!(
            boxes[0].value().attr("checked").is_none(),
            "{name} must start unticked"
        );
    }
    // Standard autocomplete hints for card fields.
    for ac in ["cc-name", "cc-number", "cc-exp", "cc-csc"] {
        assert!(body.contains(&format!(r#"autocomplete="{ac}""#)), "{ac}");
    }
    // Right before the button: the goods, the total and the right of withdrawal together,
    // and, said once, that pressing it is an order with an obligation to pay.
    let order_box = text_of(body, ".confirm li").join(" | ");
    assert!(order_box.contains("Kırmızı kazak — beden M"), "{order_box}");
    assert!(order_box.contains("Toplam: 1.234,56 TL"), "{order_box}");
    assert!(order_box.contains("Cayma hakkı: 14 gün"), "{order_box}");
    let note = text_of(body, "#obligation").join(" ");
    assert!(
        note.contains("ödeme yükümlülüğü altına girersiniz"),
        "{note}"
    );
    assert_eq!(text_of(body, "#pay-button"), vec!["1.234,56 TL öde"]);
    // Each document has a page of its own, linked from the card page.
    for slug in ["pre-information-form", "distance-sales-contract"] {
        assert!(
            body.contains(&format!(r#"href="/checkout/{id}/documents/{slug}""#)),
            "{slug}"
        );
    }
}

#[tokio::test]
async fn english_card_page() {
    let app = spawn_app().await;
    let id = app
        .start_payment(&[("lang", "en"), ("amount", "1234.56")])
        .await;
    let page = app.card_page(&id).await;
    assert!(page.body.contains(r#"<html lang="en">"#));
    assert_eq!(text_of(&page.body, ".amount"), vec!["TRY 1,234.56"]);
    assert!(page.body.contains("Pre-Information Form"));
    assert!(page.body.contains("Distance Sales Contract"));
    assert_eq!(text_of(&page.body, "#pay-button"), vec!["Pay TRY 1,234.56"]);
    assert!(text_of(&page.body, "#obligation")[0].contains("obliged to pay"));
}

#[tokio::test]
async fn missing_consent_shows_the_error_and_keeps_everything_but_card_number_and_cvv() {
    let app = spawn_app().await;
    let id = app.start_payment(&[]).await;
    let fields = app
        .card_fields(
            &id,
            VISA_CHALLENGE,
            &[("consent_contract", ""), ("card_holder", "Ayşe Yılmaz")],
        )
        .await;
    let page = app.post_form(&format!("/checkout/{id}"), &fields).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        text_of(&page.body, "#consent_contract-error"),
        vec!["Devam etmek için Mesafeli Satış Sözleşmesi'ni kabul edin."]
    );
    assert!(text_of(&page.body, "#consent_preinfo-error").is_empty());
    // Kept: holder, expiry, the consent already given. Not kept: card number and CVV.
    assert!(page.body.contains(r#"value="Ayşe Yılmaz""#));
    assert!(
        page.body.contains(r#"value="12/30""#),
        "the expiry, as MM/YY"
    );
    let doc = scraper::Html::parse_document(&page.body);
    let checked = |name: &str| {
        let sel = scraper::Selector::parse(&format!("input[name={name}]")).unwrap();
        doc.select(&sel)
            .next()
            .unwrap()
            .value()
            .attr("checked")
            .is_some()
    };
    assert!(checked("consent_preinfo"));
    assert!(!checked("consent_contract"));
    assert!(!page.body.contains("4111 1111 1111 1111") && !page.body.contains("4111111111111111"));
    assert!(!page.body.contains(r#"value="123""#));
    // Nothing moved: the payment still waits for the card.
    assert_eq!(app.card_page(&id).await.status, StatusCode::OK);
}

#[tokio::test]
async fn card_errors_are_shown_next_to_their_fields() {
    let app = spawn_app().await;
    let id = app.start_payment(&[]).await;
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: &[Case] = &[
        (
            &[("card_number", "4111 1111 1111 1112")],
            "#card_number-error",
            "Kart numarası hatalı",
        ),
        (
            &[("card_number", "6011 0000 0000 0004")],
            "#card_number-error",
            "kart türü kabul edilmiyor",
        ),
        (
            &[("exp_year", "2020")],
            "#exp-error",
            "son kullanma tarihi geçmiş",
        ),
        (&[("exp", "13/30")], "#exp-error", "ay/yıl olarak girin"),
        (&[("cvv", "12")], "#cvv-error", "3 ya da 4 haneli"),
        (
            &[("card_holder", "")],
            "#card_holder-error",
            "Kart üzerindeki adı girin",
        ),
    ];
    for (extra, selector, text) in cases {
        let fields = app.card_fields(&id, VISA_CHALLENGE, extra).await;
        let page = app.post_form(&format!("/checkout/{id}"), &fields).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{selector}");
        let shown = text_of(&page.body, selector).join(" ");
        assert!(shown.contains(text), "{selector}: {shown}");
        // Screen readers hear it: the invalid controls point at their message.
        let doc = scraper::Html::parse_document(&page.body);
        let invalid = scraper::Selector::parse("[aria-invalid=true]").unwrap();
        let controls: Vec<_> = doc.select(&invalid).collect();
        assert!(
            !controls.is_empty(),
            "{selector}: no control marked invalid"
        );
        for control in controls {
            let described = control.value().attr("aria-describedby").unwrap_or_default();
            assert!(
                described.split(' ').any(|id| format!("#{id}") == *selector),
                "{selector}: {:?} describes itself by {described:?}",
                control.value().attr("id")
            );
        }
    }
    // The summary at the top names every error and is announced.
    let fields = app
        .card_fields(
            &id,
            VISA_CHALLENGE,
            &[("cvv", "1"), ("consent_preinfo", "")],
        )
        .await;
    let page = app.post_form(&format!("/checkout/{id}"), &fields).await;
    assert!(page.body.contains("role=\"alert\" id=\"error-summary\""));
    assert_eq!(text_of(&page.body, "#error-summary li").len(), 2);
    // Amex needs four digits.
    let fields = app
        .card_fields(&id, "3782 822463 10005", &[("cvv", "123")])
        .await;
    let page = app.post_form(&format!("/checkout/{id}"), &fields).await;
    assert!(!text_of(&page.body, "#cvv-error").is_empty());
}

#[tokio::test]
async fn consent_evidence_is_recorded_for_the_exact_text_shown() {
    let app = spawn_app().await;
    let id = app.start_payment(&[]).await;
    let page = app.card_page(&id).await;
    // The documents as the page carried them, and their files: each file holds the text
    // shown, and its SHA-256 is what the consent records.
    let shown: Vec<&str> = page
        .body
        .match_indices(r#"<article class="legal-doc""#)
        .map(|(start, _)| {
            let end = start + page.body[start..].find("</article>").unwrap() + "</article>".len();
            &page.body[start..end]
        })
        .collect();
    assert_eq!(shown.len(), 2);
    let slugs = ["pre-information-form", "distance-sales-contract"];
    let mut before = Vec::new();
    for (slug, text) in slugs.iter().zip(&shown) {
        let copy = app
            .client
            .get(app.url(&format!("/checkout/{id}/documents/{slug}/copy")))
            .send()
            .await
            .unwrap();
        assert_eq!(copy.status(), StatusCode::OK);
        let disposition = copy.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            disposition.starts_with("attachment; filename="),
            "{disposition}"
        );
        let bytes = copy.bytes().await.unwrap();
        let file = std::str::from_utf8(&bytes).unwrap();
        assert!(file.starts_with("<!DOCTYPE html>") && file.contains(r#"<meta charset="utf-8">"#));
        assert!(file.contains(text), "{slug}: the file holds the text shown");
        before.push(hex::encode(Sha256::digest(&bytes)));
    }
    let result = app
        .complete_3ds(app.submit_card(&id, MC_FRICTIONLESS).await)
        .await;
    assert_eq!(result.status, StatusCode::OK);
    let consents = app.app_state.storage.payments.consents(&id).await.unwrap();
    assert_eq!(consents.len(), 2);
    assert_eq!(consents[0].document_kind, "pre_information_form");
    assert_eq!(consents[1].document_kind, "distance_sales_contract");
    for (c, hash) in consents.iter().zip(&before) {
        assert_eq!(&c.text_sha256, hash, "{}", c.document_kind);
        assert_eq!(c.client_ip, "127.0.0.1");
        assert_eq!(c.user_agent, "kapi-tests/1.0");
        assert_eq!(c.locale, "tr");
        assert!(!c.template_version.is_empty());
        assert!(c.accepted_at > 0);
    }
    // Afterwards, the files are rendered again from the consent: byte for byte the same, and
    // their pages say so.
    for (slug, hash) in slugs.iter().zip(&before) {
        let bytes = app
            .client
            .get(app.url(&format!("/checkout/{id}/documents/{slug}/copy")))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(&hex::encode(Sha256::digest(&bytes)), hash, "{slug}");
        let page = app.get(&format!("/checkout/{id}/documents/{slug}")).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            page.body.contains("onayladığınız metnin aynısıdır"),
            "{slug}"
        );
        assert!(
            page.body.contains(hash.as_str()),
            "{slug}: the digest is shown"
        );
    }
    let unknown = app.get(&format!("/checkout/{id}/documents/terms")).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    // The evidence cannot be edited or removed afterwards.
    let pool = app.db().await;
    assert!(
        sqlx::query("UPDATE consents SET locale = 'en'")
            .execute(&pool)
            .await
            .is_err()
    );
    assert!(
        sqlx::query("DELETE FROM consents")
            .execute(&pool)
            .await
            .is_err()
    );
    assert_eq!(
        app.app_state
            .storage
            .payments
            .consents(&id)
            .await
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn another_browser_cannot_open_the_payment() {
    let app = spawn_app().await;
    let id = app.start_payment(&[]).await;
    let stranger = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = stranger
        .get(app.url(&format!("/checkout/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        error_code(&resp.text().await.unwrap()).as_deref(),
        Some("KP-2004")
    );
    let missing = app
        .get("/checkout/pay_00000000000000000000000000000000")
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&missing.body).as_deref(), Some("KP-2001"));
    let junk = app.get("/checkout/..%2F..%2Fetc").await;
    assert_eq!(junk.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn card_form_without_the_csrf_token_is_refused() {
    let app = spawn_app().await;
    let id = app.start_payment(&[]).await;
    let mut fields = app.card_fields(&id, MC_FRICTIONLESS, &[]).await;
    fields.retain(|(k, _)| k != "csrf_token");
    let page = app.post_form(&format!("/checkout/{id}"), &fields).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert_eq!(error_code(&page.body).as_deref(), Some("KP-2005"));
}

#[tokio::test]
async fn payment_expires_after_fifteen_minutes_with_its_own_page() {
    let app = spawn_app().await;
    let order_id = random_id("EXP");
    let id = app.start_payment(&[("order_id", &order_id)]).await;
    let fields = app.card_fields(&id, MC_FRICTIONLESS, &[]).await;
    app.clock.advance(14 * 60);
    assert_eq!(app.card_page(&id).await.status, StatusCode::OK);
    app.clock.advance(61);
    let page = app.card_page(&id).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let result = app.get(&page.location.unwrap()).await;
    assert!(
        result.body.contains("Ödeme süresi doldu"),
        "{}",
        result.body
    );
    let got = app.return_to_merchant(&result).await;
    assert_eq!(got.path, "/fail");
    assert_eq!(got.get("status"), "expired");
    assert_eq!(got.get("error_code"), "KP-2002");
    assert!(got.signature_ok);
    // A late card submit does nothing.
    let late = app.post_form(&format!("/checkout/{id}"), &fields).await;
    assert_eq!(late.status, StatusCode::SEE_OTHER);
    assert!(app.bank_transactions(&order_id).await.is_empty());
}

#[tokio::test]
async fn expiry_is_configurable() {
    let app = spawn_app_with(|s| s.checkout.payment_ttl_secs = 120).await;
    let id = app.start_payment(&[]).await;
    app.clock.advance(121);
    let page = app.card_page(&id).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
}

#[tokio::test]
async fn shopper_can_cancel_and_the_merchant_hears_it() {
    let app = spawn_app().await;
    let id = app.start_payment(&[]).await;
    let page = app.card_page(&id).await;
    let cancel = forms(&page.body)
        .into_iter()
        .find(|f| f.action.ends_with("/cancel"))
        .unwrap();
    let resp = app.post_form(&cancel.action, &cancel.fields).await;
    assert_eq!(resp.status, StatusCode::SEE_OTHER);
    let result = app.get(&resp.location.unwrap()).await;
    let got = app.return_to_merchant(&result).await;
    assert_eq!(got.path, "/fail");
    assert_eq!(got.get("status"), "cancelled");
    assert!(got.signature_ok);
}

#[tokio::test]
async fn card_data_is_gone_after_authorisation_and_never_stored_in_plain() {
    let app = spawn_app().await;
    let mut ids = vec![];
    for card in [MC_FRICTIONLESS, VISA_CHALLENGE, "4000 0000 0000 9995"] {
        let got = app.pay_with(card, &[]).await;
        ids.push(got.get("payment_id").to_owned());
    }
    for id in &ids {
        assert!(
            app.app_state
                .storage
                .payments
                .load_card(id)
                .await
                .unwrap()
                .is_none(),
            "vault row left for {id}"
        );
        let p = app
            .app_state
            .storage
            .payments
            .get_payment(id)
            .await
            .unwrap()
            .unwrap();
        assert!(p.masked_pan().unwrap().contains("******"));
    }
    // Nothing stored holds a test PAN or the CVV context.
    let bytes: Vec<u8> = app
        .stored_bytes()
        .await
        .into_iter()
        .flat_map(|(_, b)| b)
        .collect();
    for pan in [
        "5555555555554444",
        "4111111111111111",
        "4000000000009995",
        "5555 5555 5555 4444",
    ] {
        assert!(
            !bytes.windows(pan.len()).any(|w| w == pan.as_bytes()),
            "{pan} found in the data folder"
        );
    }
}

#[tokio::test]
async fn a_payment_interrupted_before_the_bank_fails_and_drops_its_card() {
    let app = spawn_app_with(|s| s.checkout.sweep_interval_ms = 50).await;
    let id = app.start_payment(&[]).await;
    // As if Kapı stopped right after keeping the card: the payment waits in card_submitted.
    let sealed = app.app_state.vault.encrypt(b"{}", &id).unwrap();
    let now = kapi::clock::Clock::now_ms(&*app.clock);
    let payments = &app.app_state.storage.payments;
    let before = payments.get_payment(&id).await.unwrap().unwrap();
    let submit = kapi::checkout::payment::Transition::SubmitCard {
        card: kapi::checkout::payment::CardSummary {
            brand: kapi::domain::CardBrand::Mastercard,
            masked_pan: "555555******4444".into(),
            holder: "AYSE YILMAZ".into(),
            bank: None,
            program: None,
            kind: None,
        },
        threeds_server_trans_id: "interrupted-3ds".into(),
        client_ip: None,
        installment: kapi::domain::Installment::SINGLE,
        installment_fee_minor: 0,
        routing: None,
    };
    let after = before.apply(submit, now).unwrap();
    let effects = kapi::storage::Effects {
        card: Some(&sealed),
        ..Default::default()
    };
    let moved = payments.save(&before, &after, effects).await.unwrap();
    assert_eq!(moved, kapi::storage::Cas::Done);
    // Meanwhile the shopper waits on the processing page.
    let page = app.card_page(&id).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let waiting = app.get(page.location.as_deref().unwrap()).await;
    assert!(
        waiting.body.contains("http-equiv=\"refresh\""),
        "{}",
        waiting.body
    );
    // Once nothing has moved it for longer than the ACS and bank timeouts, the sweeper fails it.
    app.clock
        .advance(app.app_state.settings.recovery_after_ms() / 1000 + 1);
    let p = app.wait_final(&id).await;
    assert_eq!(p.status.as_str(), "failed");
    assert_eq!(p.error_code.map(|c| c.code()), Some("KP-5001"));
    assert!(
        app.app_state
            .storage
            .payments
            .load_card(&id)
            .await
            .unwrap()
            .is_none(),
        "the card data is gone"
    );
    let got = app
        .return_to_merchant(&app.get(page.location.as_deref().unwrap()).await)
        .await;
    assert_eq!(got.get("status"), "failed");
    assert_eq!(got.get("error_code"), "KP-5001");
    let event = app.receiver.wait_event(&id, "payment.failed").await;
    assert_eq!(event.json()["data"]["payment"]["error"]["code"], "KP-5001");
}
