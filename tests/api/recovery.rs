//! No payment stays in between, whatever interrupts its authorisation: a shopper who hangs up,
//! a bank that answers late or never, a bank that is down for a while. Each test ends with the
//! payment final, its card data gone, the merchant told, and the bank's books matching Kapı's.

use std::time::Duration;

use reqwest::StatusCode;

use crate::{
    bank::{Auth, Bank},
    helpers::*,
};

/// Kapı in front of a bank the test controls, with short timeouts so that recovery takes
/// seconds.
async fn app_with_bank(wait_ms: u64, bank_timeout_secs: u64) -> (TestApp, Bank) {
    let bank = Bank::start().await;
    let url = bank.url.clone();
    let app = spawn_app_with(move |s| {
        s.acquirer.base_url = Some(url);
        s.acquirer.timeout_secs = bank_timeout_secs;
        s.threeds.timeout_secs = Some(2);
        s.checkout.recovery_margin_secs = 1;
        s.checkout.sweep_interval_ms = 50;
        s.checkout.outcome_wait_ms = wait_ms;
    })
    .await;
    (app, bank)
}

async fn wait_status(app: &TestApp, id: &str, status: &str) {
    for _ in 0..200 {
        let p = app
            .app_state
            .storage
            .payments
            .get_payment(id)
            .await
            .unwrap()
            .unwrap();
        if p.status.as_str() == status {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("payment {id} never reached {status}");
}

/// What every interrupted payment must end with: final, no card data, the merchant told.
async fn assert_settled(app: &TestApp, id: &str, status: &str) -> kapi::checkout::payment::Payment {
    let p = app.wait_final(id).await;
    assert_eq!(p.status.as_str(), status, "{p:?}");
    assert!(
        app.app_state
            .storage
            .payments
            .load_card(id)
            .await
            .unwrap()
            .is_none(),
        "card data left for {id}"
    );
    let event = app
        .receiver
        .wait_event(id, &format!("payment.{status}"))
        .await;
    assert!(event.signature_ok);
    p
}

#[tokio::test]
async fn a_shopper_who_hangs_up_during_the_bank_call_still_gets_the_payment_finished() {
    let (app, bank) = app_with_bank(20_000, 10).await;
    bank.set_auth(Auth::Gate);
    let order_id = random_id("DROP");
    let id = app.start_payment(&[("order_id", &order_id)]).await;
    let fields = app.card_fields(&id, MC_FRICTIONLESS, &[]).await;
    // The shopper's connection goes away while the bank is still thinking.
    let dropped = app
        .client
        .post(app.url(&format!("/checkout/{id}")))
        .form(&fields)
        .timeout(Duration::from_millis(500))
        .send()
        .await;
    assert!(dropped.is_err(), "the request was cut off");
    wait_status(&app, &id, "authorising").await;
    bank.set_auth(Auth::Normal);
    bank.release();
    let p = assert_settled(&app, &id, "approved").await;
    let books = bank.books(Some(&order_id)).await;
    assert_eq!(books.len(), 1);
    assert_eq!(books[0]["proc_return_code"], "00");
    let auth = p.authorisation.as_ref().unwrap();
    assert_eq!(auth.auth_code.as_deref(), books[0]["auth_code"].as_str());
    // The shopper who comes back sees the result.
    let result = app.get(&format!("/checkout/{id}/result")).await;
    assert!(result.body.contains("Ödemeniz onaylandı"));
}

#[tokio::test]
async fn a_slow_bank_shows_the_processing_page_and_the_result_follows() {
    let (app, bank) = app_with_bank(300, 10).await;
    bank.set_auth(Auth::Gate);
    let id = app.start_payment(&[]).await;
    let submit = app.submit_card(&id, MC_FRICTIONLESS).await;
    // The request stops waiting well before the 30 s limit; the authorisation goes on.
    assert_eq!(submit.status, StatusCode::SEE_OTHER);
    let waiting = app.get(submit.location.as_deref().unwrap()).await;
    assert_eq!(waiting.status, StatusCode::OK);
    assert!(waiting.body.contains("http-equiv=\"refresh\""));
    assert!(form_by_id(&waiting.body, "merchant-return").is_none());
    bank.set_auth(Auth::Normal);
    bank.release();
    assert_settled(&app, &id, "approved").await;
    let done = app.get(submit.location.as_deref().unwrap()).await;
    let got = app.return_to_merchant(&done).await;
    assert_eq!(got.get("status"), "approved");
    assert!(got.signature_ok);
}

#[tokio::test]
async fn a_bank_that_never_answers_leaves_a_failed_payment_and_a_free_order() {
    let (app, bank) = app_with_bank(20_000, 1).await;
    bank.set_auth(Auth::Lost);
    let order_id = random_id("HANG");
    let id = app.start_payment(&[("order_id", &order_id)]).await;
    let submit = app.submit_card(&id, MC_FRICTIONLESS).await;
    assert_eq!(submit.status, StatusCode::SEE_OTHER);
    let p = assert_settled(&app, &id, "failed").await;
    assert_eq!(p.error_code.map(|c| c.code()), Some("KP-4091"));
    assert_eq!(p.proc_return_code().map(|c| c.as_str()), Some("91"));
    // The bank never booked it; the reversal Kapı kept finds nothing to undo once a late
    // authorisation can no longer arrive.
    app.clock.advance(60);
    let reversal = wait_reversal(&app, &id).await;
    assert_eq!(reversal.status.as_str(), "nothing_to_reverse");
    assert!(bank.books(Some(&order_id)).await.is_empty());
    // The order is free again.
    bank.set_auth(Auth::Normal);
    let again = app
        .pay_with(MC_FRICTIONLESS, &[("order_id", &order_id)])
        .await;
    assert_eq!(again.get("status"), "approved");
}

#[tokio::test]
async fn an_approval_whose_answer_never_comes_is_found_by_inquiry() {
    let (app, bank) = app_with_bank(20_000, 1).await;
    bank.set_auth(Auth::BookedAnswerLost);
    let order_id = random_id("FOUND");
    let id = app.start_payment(&[("order_id", &order_id)]).await;
    app.submit_card(&id, MC_FRICTIONLESS).await;
    let p = assert_settled(&app, &id, "approved").await;
    let books = bank.books(Some(&order_id)).await;
    assert_eq!(books.len(), 1, "{books:?}");
    let auth = p.authorisation.as_ref().unwrap();
    assert_eq!(
        auth.transaction_id.as_deref(),
        books[0]["transaction_id"].as_str()
    );
    assert_eq!(p.attempt_ref(), books[0]["reference"].as_str());
}

#[tokio::test]
async fn a_late_answer_is_reversed_when_it_finally_books() {
    let (app, bank) = app_with_bank(20_000, 1).await;
    // Kapı gives up after 1 s; the bank books the approval after 1.5 s, within the time a
    // lost authorisation may still arrive (the bank timeout and the recovery margin).
    bank.set_auth(Auth::Late(Duration::from_millis(1500)));
    let order_id = random_id("LATE");
    let id = app.start_payment(&[("order_id", &order_id)]).await;
    app.submit_card(&id, MC_FRICTIONLESS).await;
    let p = assert_settled(&app, &id, "failed").await;
    assert_eq!(p.error_code.map(|c| c.code()), Some("KP-4091"));
    // The reversal keeps asking until the late authorisation is booked, then undoes it.
    let mut kinds = vec![];
    for _ in 0..200 {
        let books = bank.books(Some(&order_id)).await;
        kinds = books
            .iter()
            .map(|t| t["kind"].as_str().unwrap().to_owned())
            .collect();
        if kinds.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(kinds, ["reversal", "authorisation"], "newest first");
    assert_eq!(wait_reversal(&app, &id).await.status.as_str(), "reversed");
}

#[tokio::test]
async fn a_reversal_is_retried_until_the_bank_is_back() {
    let (app, bank) = app_with_bank(20_000, 1).await;
    // Booked, answer lost, and the bank then refuses inquiries and reversals for a while.
    bank.set_auth(Auth::BookedAnswerLost);
    bank.set_down(true);
    let order_id = random_id("DOWN");
    let id = app.start_payment(&[("order_id", &order_id)]).await;
    app.submit_card(&id, MC_FRICTIONLESS).await;
    // Failed within the recovery window, although the bank cannot say what it did.
    let p = assert_settled(&app, &id, "failed").await;
    assert_eq!(p.error_code.map(|c| c.code()), Some("KP-4091"));
    let pending = app.app_state.storage.payments.reversals(&id).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].status.as_str(), "pending");
    // Tries go on, each later than the last.
    for _ in 0..100 {
        if app.app_state.storage.payments.reversals(&id).await.unwrap()[0].attempts >= 2 {
            break;
        }
        app.clock.advance(5);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let tried = app.app_state.storage.payments.reversals(&id).await.unwrap();
    assert!(tried[0].attempts >= 2, "{tried:?}");
    assert_eq!(tried[0].status.as_str(), "pending");
    // The bank is back: the charge is undone, and the operator can see it.
    bank.set_down(false);
    app.clock.advance(15 * 60);
    assert_eq!(wait_reversal(&app, &id).await.status.as_str(), "reversed");
    let kinds: Vec<String> = bank
        .books(Some(&order_id))
        .await
        .iter()
        .map(|t| t["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["reversal", "authorisation"]);
    let events = app
        .app_state
        .storage
        .security
        .security_events(5)
        .await
        .unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.kind == "authorisation_reversal" && e.subject == format!("payment:{id}"))
    );
}

/// Waits until the payment's reversal is settled, advancing Kapı's clock past its backoff.
async fn wait_reversal(app: &TestApp, id: &str) -> kapi::storage::ReversalRecord {
    for _ in 0..300 {
        let list = app.app_state.storage.payments.reversals(id).await.unwrap();
        if let Some(r) = list.first()
            && r.status != kapi::storage::ReversalStatus::Pending
        {
            return r.clone();
        }
        app.clock.advance(2);
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the reversal of {id} was never settled");
}
