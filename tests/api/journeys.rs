//! Whole payments, from the merchant's form to the signed result the merchant receives.

use crate::helpers::*;

struct Case {
    card: &'static str,
    /// Whether the issuer asks for the SMS code.
    challenge: bool,
    path: &'static str,
    status: &'static str,
    proc_return_code: &'static str,
    md_status: &'static str,
    eci: &'static str,
    error_code: &'static str,
    brand: &'static str,
    masked: &'static str,
}

const CASES: &[Case] = &[
    Case {
        card: "4111 1111 1111 1111",
        challenge: true,
        path: "/ok",
        status: "approved",
        proc_return_code: "00",
        md_status: "1",
        eci: "05",
        error_code: "",
        brand: "visa",
        masked: "411111******1111",
    },
    Case {
        card: "5555 5555 5555 4444",
        challenge: false,
        path: "/ok",
        status: "approved",
        proc_return_code: "00",
        md_status: "1",
        eci: "02",
        error_code: "",
        brand: "mastercard",
        masked: "555555******4444",
    },
    Case {
        card: "9792 0000 0000 0003",
        challenge: true,
        path: "/ok",
        status: "approved",
        proc_return_code: "00",
        md_status: "1",
        eci: "05",
        error_code: "",
        brand: "troy",
        masked: "979200******0003",
    },
    Case {
        card: "3782 822463 10005",
        challenge: true,
        path: "/ok",
        status: "approved",
        proc_return_code: "00",
        md_status: "1",
        eci: "05",
        error_code: "",
        brand: "amex",
        masked: "378282*****0005",
    },
    Case {
        card: "4000 0000 0000 9995",
        challenge: true,
        path: "/fail",
        status: "declined",
        proc_return_code: "51",
        md_status: "1",
        eci: "05",
        error_code: "KP-4001",
        brand: "visa",
        masked: "400000******9995",
    },
    Case {
        card: "5100 0000 0000 0057",
        challenge: false,
        path: "/fail",
        status: "declined",
        proc_return_code: "54",
        md_status: "1",
        eci: "02",
        error_code: "KP-4001",
        brand: "mastercard",
        masked: "510000******0057",
    },
    Case {
        card: "4000 0000 0000 0002",
        challenge: true,
        path: "/fail",
        status: "declined",
        proc_return_code: "05",
        md_status: "1",
        eci: "05",
        error_code: "KP-4001",
        brand: "visa",
        masked: "400000******0002",
    },
    Case {
        card: "4000 0000 0000 0416",
        challenge: true,
        path: "/fail",
        status: "declined",
        proc_return_code: "41",
        md_status: "1",
        eci: "05",
        error_code: "KP-4001",
        brand: "visa",
        masked: "400000******0416",
    },
    Case {
        card: "4000 0000 0000 0432",
        challenge: true,
        path: "/fail",
        status: "declined",
        proc_return_code: "43",
        md_status: "1",
        eci: "05",
        error_code: "KP-4001",
        brand: "visa",
        masked: "400000******0432",
    },
    Case {
        card: "4000 0000 0000 3006",
        challenge: false,
        path: "/fail",
        status: "failed",
        proc_return_code: "",
        md_status: "0",
        eci: "07",
        error_code: "KP-3001",
        brand: "visa",
        masked: "400000******3006",
    },
    Case {
        card: "4000 0000 0000 3014",
        challenge: false,
        path: "/ok",
        status: "approved",
        proc_return_code: "00",
        md_status: "4",
        eci: "06",
        error_code: "",
        brand: "visa",
        masked: "400000******3014",
    },
    Case {
        card: "4000 0000 0000 0911",
        challenge: true,
        path: "/fail",
        status: "failed",
        proc_return_code: "91",
        md_status: "1",
        eci: "05",
        error_code: "KP-4091",
        brand: "visa",
        masked: "400000******0911",
    },
    // Numbers outside the table: challenge, then approved.
    Case {
        card: "4242 4242 4242 4242",
        challenge: true,
        path: "/ok",
        status: "approved",
        proc_return_code: "00",
        md_status: "1",
        eci: "05",
        error_code: "",
        brand: "visa",
        masked: "424242******4242",
    },
    Case {
        card: "2223 0000 4841 0010",
        challenge: true,
        path: "/ok",
        status: "approved",
        proc_return_code: "00",
        md_status: "1",
        eci: "02",
        error_code: "",
        brand: "mastercard",
        masked: "222300******0010",
    },
];

#[tokio::test]
async fn every_test_card_ends_as_documented() {
    let app = spawn_app().await;
    for case in CASES {
        let order_id = random_id("CARD");
        let sms_before = app.sms_count().await;
        let got = app.pay_with(case.card, &[("order_id", &order_id)]).await;
        let ctx = case.card;
        assert_eq!(
            app.sms_count().await - sms_before,
            usize::from(case.challenge),
            "{ctx}: an SMS code is sent exactly when there is a challenge"
        );
        assert!(got.signature_ok, "{ctx}: signature");
        assert_eq!(got.path, case.path, "{ctx}");
        assert_eq!(got.get("status"), case.status, "{ctx}");
        assert_eq!(got.get("proc_return_code"), case.proc_return_code, "{ctx}");
        assert_eq!(got.get("md_status"), case.md_status, "{ctx}");
        assert_eq!(got.get("eci"), case.eci, "{ctx}");
        assert_eq!(got.get("error_code"), case.error_code, "{ctx}");
        assert_eq!(got.get("card_brand"), case.brand, "{ctx}");
        assert_eq!(got.get("masked_pan"), case.masked, "{ctx}");
        assert_eq!(got.get("order_id"), order_id, "{ctx}");
        assert_eq!(got.get("amount"), "150.00", "{ctx}");
        assert_eq!(got.get("currency"), "TRY", "{ctx}");
        if case.status == "approved" {
            assert_eq!(got.get("auth_code").len(), 6, "{ctx}");
            assert_eq!(got.get("host_ref").len(), 12, "{ctx}");
            assert!(
                got.get("host_ref").bytes().all(|b| b.is_ascii_digit()),
                "{ctx}"
            );
            assert!(!got.get("transaction_id").is_empty(), "{ctx}");
            assert_eq!(got.get("error_message"), "", "{ctx}");
        } else {
            assert_eq!(got.get("auth_code"), "", "{ctx}");
            assert!(!got.get("error_message").is_empty(), "{ctx}");
        }
        // The server-to-server notification carries the same signed result.
        let cb = app.receiver.wait_callback(&order_id).await;
        assert!(cb.signature_ok, "{ctx}: callback signature");
        assert_eq!(
            cb.fields, got.fields,
            "{ctx}: callback differs from the browser post"
        );
    }
}

#[tokio::test]
async fn frictionless_card_is_approved_without_a_challenge() {
    let app = spawn_app().await;
    let id = app.start_payment(&[("amount", "1234.56")]).await;
    let submit = app.submit_card(&id, MC_FRICTIONLESS).await;
    // Straight to the result: no trip to the ACS.
    assert_eq!(submit.status, reqwest::StatusCode::SEE_OTHER);
    assert_eq!(
        submit.location.as_deref(),
        Some(format!("/checkout/{id}/result").as_str())
    );
    let result = app.get(&submit.location.unwrap()).await;
    assert!(result.body.contains("Ödemeniz onaylandı"));
    assert!(result.body.contains("1.234,56 TL"));
    let got = app.return_to_merchant(&result).await;
    assert_eq!(got.path, "/ok");
    assert!(got.signature_ok);
    assert_eq!(got.get("status"), "approved");
    assert_eq!(got.get("amount"), "1234.56");
    assert_eq!(got.get("payment_id"), id);
    assert_eq!(app.bank_transactions(got.get("order_id")).await.len(), 1);
}

#[tokio::test]
async fn challenge_card_is_approved_after_the_sms_code() {
    let app = spawn_app().await;
    let id = app.start_payment(&[]).await;
    let submit = app.submit_card(&id, VISA_CHALLENGE).await;
    assert_eq!(submit.status, reqwest::StatusCode::OK);
    // The browser is sent to the ACS with a creq and the session data.
    let to_acs = forms(&submit.body).into_iter().next().unwrap();
    assert!(to_acs.action.ends_with("/sim/acs/challenge"));
    assert!(!field(&to_acs.fields, "creq").is_empty());
    assert!(field(&to_acs.fields, "threeDSSessionData").starts_with(&id));
    let challenge = app.follow_post(&submit.body).await;
    assert!(challenge.body.contains("Örnek Mağaza"));
    assert!(challenge.body.contains("150,00 TL"));
    assert!(challenge.body.contains("+90 5** *** ** 11"));
    assert!(challenge.body.contains(r#"autocomplete="one-time-code""#));
    let sms: Vec<serde_json::Value> = app
        .client
        .get(app.url("/sim/sms"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let code = sms[0]["code"].as_str().unwrap();
    assert_eq!(code.len(), 6);
    assert_eq!(sms[0]["phone"], "+90 5** *** ** 11");
    assert!(!sms[0]["acs_trans_id"].as_str().unwrap().is_empty());
    let cres_page = app.acs_action(&challenge.body, "verify", code).await;
    assert!(!cres_page.body.contains("otp-input"), "{}", cres_page.body);
    // The return from the ACS is a cross-site POST: a browser does not send the Lax session
    // cookie with it, so it must work without one.
    let cres_form = forms(&cres_page.body).into_iter().next().unwrap();
    let cookieless = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let back = Page::from(
        cookieless
            .post(&cres_form.action)
            .form(&cres_form.fields)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(back.status, reqwest::StatusCode::SEE_OTHER, "{}", back.body);
    assert_eq!(
        back.location.as_deref(),
        Some(format!("/checkout/{id}/result").as_str())
    );
    let got = app
        .return_to_merchant(&app.get(&back.location.unwrap()).await)
        .await;
    assert_eq!(got.path, "/ok");
    assert!(got.signature_ok);
    assert_eq!(got.get("status"), "approved");
    assert_eq!(got.get("md_status"), "1");
}

#[tokio::test]
async fn insufficient_funds_goes_to_fail_url_with_the_turkish_message() {
    let app = spawn_app().await;
    let id = app.start_payment(&[]).await;
    let result = app
        .complete_3ds(app.submit_card(&id, "4000 0000 0000 9995").await)
        .await;
    assert!(
        result.body.contains("Limit yetersiz / Yetersiz bakiye"),
        "{}",
        result.body
    );
    let got = app.return_to_merchant(&result).await;
    assert_eq!(got.path, "/fail");
    assert!(got.signature_ok);
    assert_eq!(got.get("status"), "declined");
    assert_eq!(got.get("proc_return_code"), "51");
    assert_eq!(got.get("error_message"), "Limit yetersiz / Yetersiz bakiye");
}

#[tokio::test]
async fn english_payment_gets_english_messages() {
    let app = spawn_app().await;
    let got = app.pay_with("4000 0000 0000 9995", &[("lang", "en")]).await;
    assert_eq!(got.get("error_message"), "Insufficient funds");
}

#[tokio::test]
async fn double_submit_of_the_card_form_authorises_once() {
    let app = spawn_app().await;
    let order_id = random_id("DBL");
    let id = app.start_payment(&[("order_id", &order_id)]).await;
    let fields = app.card_fields(&id, MC_FRICTIONLESS, &[]).await;
    let path = format!("/checkout/{id}");
    let (a, b) = tokio::join!(app.post_form(&path, &fields), app.post_form(&path, &fields));
    // Both clicks land on the result page; only one reached the bank.
    for page in [&a, &b] {
        assert_eq!(page.status, reqwest::StatusCode::SEE_OTHER, "{}", page.body);
        assert_eq!(
            page.location.as_deref(),
            Some(format!("/checkout/{id}/result").as_str())
        );
    }
    let result = app.get(&format!("/checkout/{id}/result")).await;
    let got = app.return_to_merchant(&result).await;
    assert_eq!(got.get("status"), "approved");
    assert_eq!(app.bank_transactions(&order_id).await.len(), 1);
    // A third, late submit changes nothing either.
    let late = app.post_form(&path, &fields).await;
    assert_eq!(late.status, reqwest::StatusCode::SEE_OTHER);
    assert_eq!(app.bank_transactions(&order_id).await.len(), 1);
}

#[tokio::test]
async fn a_paid_order_cannot_be_started_again() {
    let app = spawn_app().await;
    let order_id = random_id("PAID");
    let got = app
        .pay_with(MC_FRICTIONLESS, &[("order_id", &order_id)])
        .await;
    assert_eq!(got.get("status"), "approved");
    let again = app.pay(&app.start_form(&[("order_id", &order_id)])).await;
    assert_eq!(again.status, reqwest::StatusCode::CONFLICT);
    assert_eq!(error_code(&again.body).as_deref(), Some("KP-1018"));
    assert!(again.location.is_none());
}

#[tokio::test]
async fn a_declined_order_can_be_paid_with_another_card() {
    let app = spawn_app().await;
    let order_id = random_id("RETRY");
    let first = app
        .pay_with("4000 0000 0000 9995", &[("order_id", &order_id)])
        .await;
    assert_eq!(first.get("status"), "declined");
    let second = app
        .pay_with(MC_FRICTIONLESS, &[("order_id", &order_id)])
        .await;
    assert_eq!(second.get("status"), "approved");
}

#[tokio::test]
async fn a_lost_authorisation_answer_is_found_by_inquiry() {
    let app = spawn_app().await;
    // The simulated bank approves amounts ending in .91 but the answer never arrives: Kapı asks
    // the bank what became of the attempt and reports what it booked.
    let order_id = random_id("LOST");
    let got = app
        .pay_with(
            MC_FRICTIONLESS,
            &[("order_id", &order_id), ("amount", "10.91")],
        )
        .await;
    assert_eq!(got.path, "/ok");
    assert_eq!(got.get("status"), "approved");
    assert_eq!(got.get("proc_return_code"), "00");
    let bank = app.bank_transactions(&order_id).await;
    let kinds: Vec<&str> = bank.iter().map(|t| t["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["authorisation"], "charged once, nothing reversed");
    assert_eq!(got.get("auth_code"), bank[0]["auth_code"].as_str().unwrap());
    assert_eq!(
        got.get("transaction_id"),
        bank[0]["transaction_id"].as_str().unwrap()
    );
}
