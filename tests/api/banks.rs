//! The Garanti BBVA and QNB PayFor connectors end to end, each against its bank simulator
//! over HTTP (`/sim/garanti`, `/sim/payfor`): the bank's own 3-D Secure gate (challenge and
//! frictionless), its signed return, the provision through its XML API, a decline, a 3-D
//! Secure failure, a bank whose API refuses connections (fallback to the default terminal), a
//! lost answer found by the bank's order inquiry, and voids and refunds at the terminal that
//! authorised.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Bank {
    Garanti,
    Payfor,
}

/// Adds `bank`'s simulator terminal to the test merchant, its API at `api_url` (the
/// simulator's unless given): cheaper than the default terminal.
async fn add_bank_terminal(app: &TestApp, bank: Bank, api_url: Option<&str>) -> String {
    use kapi::sim::{garanti, payfor};
    use kapi::terminals::{NewTerminal, Platform};
    let secret = |s: &str| secrecy::SecretString::from(s.to_owned());
    let new = match bank {
        Bank::Garanti => NewTerminal {
            merchant_id: app.merchant_id.clone(),
            bank: "Garanti BBVA".into(),
            platform: Platform::Garanti,
            client_id: garanti::MERCHANT_ID.into(),
            user: garanti::PROV_USER.into(),
            password: secret(garanti::PASSWORD),
            terminal_no: Some(garanti::TERMINAL_ID.into()),
            store_key: secret(garanti::STORE_KEY),
            gate_url: app.url("/sim/garanti/servlet/gt3dengine"),
            api_url: api_url
                .map(str::to_owned)
                .unwrap_or_else(|| app.url("/sim/garanti/VPServlet")),
            static_ip: None,
            commission: Some("1.10".into()),
            installment_commissions: vec![],
            accept_half_3d: false,
            refund_user: Some(garanti::REFUND_USER.into()),
            refund_password: Some(secret(garanti::PASSWORD)),
            mbr_id: None,
        },
        Bank::Payfor => NewTerminal {
            merchant_id: app.merchant_id.clone(),
            bank: "QNB".into(),
            platform: Platform::Payfor,
            client_id: payfor::MERCHANT_ID.into(),
            user: payfor::USER_CODE.into(),
            password: secret(payfor::USER_PASS),
            terminal_no: None,
            store_key: secret(payfor::STORE_KEY),
            gate_url: app.url("/sim/payfor/Gateway/Default.aspx"),
            api_url: api_url
                .map(str::to_owned)
                .unwrap_or_else(|| app.url("/sim/payfor/Gateway/XMLGate.aspx")),
            static_ip: None,
            commission: Some("1.10".into()),
            installment_commissions: vec![],
            accept_half_3d: false,
            refund_user: None,
            refund_password: None,
            mbr_id: Some(payfor::MBR_ID.into()),
        },
    };
    app.add_terminal(new).await
}

/// A payment of `card` (amount `amount`) the browser takes through the routed bank's gate,
/// its challenge and back, then on to the result page and the merchant. The payment id, the
/// fields the gate was posted, and what the merchant received.
async fn pay_through_gate(app: &TestApp, card: &str, amount: &str) -> (String, Fields, Received) {
    let id = app.start_payment(&[("amount", amount)]).await;
    let to_gate = app.submit_card(&id, card).await;
    assert_eq!(to_gate.status, StatusCode::OK, "{}", to_gate.body);
    assert_eq!(to_gate.header("cache-control").as_deref(), Some("no-store"));
    let gate = forms(&to_gate.body).into_iter().next().unwrap();
    let mut page = app.post_form(&gate.action, &gate.fields).await;
    let back = app.url("/bank/return");
    for _ in 0..6 {
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let form = forms(&page.body).into_iter().next().expect("a form");
        if form.action.starts_with(&back) {
            let returned = app.post_form(&form.action, &form.fields).await;
            assert_eq!(returned.status, StatusCode::SEE_OTHER, "{}", returned.body);
            let result = app.get(&returned.location.unwrap()).await;
            let result = app.through_to_result(&id, result).await;
            return (id, gate.fields, app.return_to_merchant(&result).await);
        }
        page = if form.action.ends_with("/challenge") {
            // The issuer's challenge, through the ACS simulator.
            let challenge = app.post_form(&form.action, &form.fields).await;
            let otp = app.latest_otp().await;
            app.acs_action(&challenge.body, "verify", &otp).await
        } else {
            app.post_form(&form.action, &form.fields).await
        };
    }
    panic!("the gate never posted back: {}", page.body);
}

async fn payment(app: &TestApp, id: &str) -> serde_json::Value {
    app.get_json(&format!("/api/v1/payments/{id}")).await.1
}

async fn journeys_through(bank: Bank) {
    let app = spawn_app_with(|s| s.acquirer.commission = Some("2.00".into())).await;
    let terminal = add_bank_terminal(&app, bank, None).await;
    let platform = match bank {
        Bank::Garanti => "garanti",
        Bank::Payfor => "payfor",
    };

    // A challenge at the bank's gate, then the provision: approved at the bank's terminal.
    let (id, gate, got) = pay_through_gate(&app, VISA_CHALLENGE, "150.00").await;
    assert_eq!(got.get("status"), "approved", "{bank:?} {:?}", got.fields);
    let p = payment(&app, &id).await;
    assert_eq!(p["terminal"]["id"], terminal.as_str(), "{p}");
    assert_eq!(p["terminal"]["platform"], platform);
    assert_eq!(p["three_d_secure"]["md_status"], "1");
    match bank {
        Bank::Garanti => {
            assert_eq!(field(&gate, "txnamount"), "15000", "kuruş");
            assert_eq!(field(&gate, "secure3dsecuritylevel"), "3D");
        }
        Bank::Payfor => {
            assert_eq!(field(&gate, "PurchAmount"), "150.00");
            assert_eq!(field(&gate, "SecureType"), "3DModel");
        }
    }
    // Its void goes to the bank that authorised it.
    let (code, void) = app
        .post_json(&format!("/api/v1/payments/{id}/void"), None, None)
        .await;
    assert_eq!(code, StatusCode::OK, "{bank:?} {void}");
    assert_eq!(payment(&app, &id).await["status"], "voided");
    let (code, again) = app
        .post_json(&format!("/api/v1/payments/{id}/void"), None, None)
        .await;
    assert_ne!(code, StatusCode::OK, "voided once: {again}");

    // Frictionless; a partial refund at the bank, then one beyond what is left is refused.
    let (id, _, got) = pay_through_gate(&app, MC_FRICTIONLESS, "150.00").await;
    assert_eq!(got.get("status"), "approved", "{bank:?} {:?}", got.fields);
    let (code, refund) = app
        .post_json(
            &format!("/api/v1/payments/{id}/refunds"),
            Some(json!({"amount": "100.00"})),
            None,
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{bank:?} {refund}");
    assert_eq!(refund["status"], "succeeded", "{refund}");
    let (code, refused) = app
        .post_json(
            &format!("/api/v1/payments/{id}/refunds"),
            Some(json!({"amount": "60.00"})),
            None,
        )
        .await;
    assert!(code.is_client_error(), "{bank:?} {refused}");

    // The issuer declines: the shopper's decline, with the bank's code.
    let (_, _, got) = pay_through_gate(&app, "4000 0000 0000 9995", "150.00").await;
    assert_eq!(
        (got.get("status"), got.get("proc_return_code")),
        ("declined", "51"),
        "{bank:?}"
    );
    // 3-D Secure failed at the bank's gate: failed, nothing provisioned.
    let (_, _, got) = pay_through_gate(&app, "4000 0000 0000 3006", "150.00").await;
    assert_eq!(
        (
            got.get("status"),
            got.get("error_code"),
            got.get("md_status")
        ),
        ("failed", "KP-3001", "0"),
        "{bank:?}"
    );
    // The provision's answer is lost (an amount ending in .91): the bank's order inquiry
    // finds the approval, and no other terminal is tried.
    let (id, _, got) = pay_through_gate(&app, MC_FRICTIONLESS, "150.91").await;
    assert_eq!(got.get("status"), "approved", "{bank:?} {:?}", got.fields);
    let p = payment(&app, &id).await;
    assert_eq!(p["terminal"]["id"], terminal.as_str());
    assert_ne!(p["routing"]["rule"], "fallback");
}

#[tokio::test]
async fn garanti_payments_run_3ds_at_its_gate_and_provision_void_refund_and_recover_there() {
    journeys_through(Bank::Garanti).await;
}

#[tokio::test]
async fn payfor_payments_run_3ds_at_its_gate_and_provision_void_refund_and_recover_there() {
    journeys_through(Bank::Payfor).await;
}

#[tokio::test]
async fn a_bank_api_refusing_connections_sends_the_payment_to_the_next_terminal() {
    for bank in [Bank::Garanti, Bank::Payfor] {
        let app = spawn_app_with(|s| s.acquirer.commission = Some("2.00".into())).await;
        let default_terminal = app.app_state.settings.acquirer.terminal_id.clone();
        let terminal = add_bank_terminal(&app, bank, Some(&refused_url())).await;
        let (id, _, got) = pay_through_gate(&app, MC_FRICTIONLESS, "150.00").await;
        assert_eq!(got.get("status"), "approved", "{bank:?} {:?}", got.fields);
        let p = payment(&app, &id).await;
        assert_eq!(
            p["terminal"]["id"],
            default_terminal.as_str(),
            "{bank:?} {p}"
        );
        assert_eq!(p["routing"]["rule"], "fallback");
        assert_eq!(p["routing"]["inputs"]["excluded"], json!([terminal]));
    }
}

#[tokio::test]
async fn a_forged_or_foreign_gate_return_changes_nothing() {
    let app = spawn_app_with(|s| s.acquirer.commission = Some("2.00".into())).await;
    add_bank_terminal(&app, Bank::Garanti, None).await;
    let id = app.start_payment(&[]).await;
    let to_gate = app.submit_card(&id, MC_FRICTIONLESS).await;
    let gate = forms(&to_gate.body).into_iter().next().unwrap();
    let page = app.post_form(&gate.action, &gate.fields).await;
    let back = forms(&page.body).into_iter().next().unwrap();
    // A changed status, a list of signed fields of the shopper's own, or another order is
    // refused.
    for (name, value) in [
        ("mdstatus", "4"),
        ("hashparams", "clientid:oid:"),
        ("oid", "other"),
    ] {
        let mut forged = back.fields.clone();
        for f in forged.iter_mut().filter(|(n, _)| n == name) {
            f.1 = value.to_owned();
        }
        let refused = app.post_form(&back.action, &forged).await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{name}: {}",
            refused.body
        );
        assert_eq!(payment(&app, &id).await["status"], "challenge");
    }
    // The gate refuses a form whose hash does not match.
    let mut tampered = gate.fields.clone();
    for f in tampered.iter_mut().filter(|(n, _)| n == "txnamount") {
        f.1 = "100".into();
    }
    let page = app.post_form(&gate.action, &tampered).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
}

#[tokio::test]
async fn a_garanti_return_re_split_across_its_unseparated_hash_is_refused() {
    // The return's hash joins the values without separators: a failed return whose
    // characters are moved across field boundaries hashes the same. Kapı pins the fields
    // around `mdstatus`, so the forgery is refused and the payment stays failed at 3-D Secure.
    let app = spawn_app_with(|s| s.acquirer.commission = Some("2.00".into())).await;
    add_bank_terminal(&app, Bank::Garanti, None).await;
    let id = app.start_payment(&[]).await;
    let to_gate = app.submit_card(&id, "4000 0000 0000 3006").await;
    let gate = forms(&to_gate.body).into_iter().next().unwrap();
    let page = app.post_form(&gate.action, &gate.fields).await;
    let back = forms(&page.body).into_iter().next().unwrap();
    assert_eq!(field(&back.fields, "mdstatus"), "0");
    let rnd = field(&back.fields, "rnd").to_owned();
    let mut forged = back.fields.clone();
    let set = |fields: &mut Fields, name: &str, value: String| {
        for f in fields.iter_mut().filter(|(n, _)| n == name) {
            f.1 = value.clone();
        }
    };
    // response+mdstatus+cavv+eci+md+rnd stays the same string: "0" + rnd.
    set(&mut forged, "response", "0".to_owned());
    set(&mut forged, "mdstatus", rnd[..1].to_owned());
    set(&mut forged, "md", rnd[1..4].to_owned());
    set(&mut forged, "rnd", rnd[4..].to_owned());
    let refused = app.post_form(&back.action, &forged).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert_eq!(payment(&app, &id).await["status"], "challenge");
    // The genuine return fails the payment, as 3-D Secure did.
    let returned = app.post_form(&back.action, &back.fields).await;
    assert_eq!(returned.status, StatusCode::SEE_OTHER, "{}", returned.body);
    let p = payment(&app, &id).await;
    assert_eq!(p["status"], "failed", "{p}");
    assert_eq!(p["error"]["code"], "KP-3001");
    assert_eq!(p["three_d_secure"]["md_status"], "0");
}
