//! The checkout flow through `Checkout`'s methods, with fakes for the ACS, the bank and the
//! notifier: every status move, and the races and losses a real journey meets.

use kapi::{
    checkout::{
        Status,
        card_form::CardStep,
        flow::{Next, RreqError},
        recovery,
    },
    error::ErrorCode,
    storage::ReversalStatus,
};

use crate::{
    fixtures::{claim, frictionless, submit},
    world::*,
};

fn statuses(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn a_frictionless_payment_is_authorised_once_and_reported() {
    let w = World::new().await;
    let p = w.payment("ORD-1").await;
    assert_eq!(w.pay(&p).await, Next::Result);
    let p = w.reload(&p).await;
    assert_eq!(p.status, Status::Approved);
    assert_eq!(
        w.path(&p).await,
        statuses(&[
            "created",
            "card_submitted",
            "authenticated",
            "authorising",
            "approved"
        ])
    );
    // The bank got the 3-D Secure proof, once, under the attempt's reference.
    let calls = w.bank.books.lock().unwrap().authorise_calls.clone();
    let [call] = calls.as_slice() else {
        panic!("one authorisation, got {}", calls.len())
    };
    assert_eq!(
        (
            call.eci.as_str(),
            call.md_status.as_str(),
            call.amount_minor
        ),
        ("02", "1", 15_000)
    );
    assert_eq!(call.cavv.as_deref(), Some("AAABBBCCCDDD="));
    assert_eq!(Some(call.reference.as_str()), p.attempt_ref());
    assert_eq!(call.cvv_len, 3);
    // The card is gone; what is kept is masked.
    assert!(
        w.storage
            .payments
            .load_card(p.id.as_str())
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(p.masked_pan(), Some("555555******4444"));
    // The merchant hears: the signed result to the callback, the event in the outbox.
    assert_eq!(w.events(&p).await, ["payment.approved"]);
    assert!(*w.notifier.outbox_written.lock().unwrap() >= 1);
    let callbacks = w.notifier.callbacks.lock().unwrap().clone();
    let [(id, url, fields)] = callbacks.as_slice() else {
        panic!("one callback")
    };
    assert_eq!(
        (id.as_str(), url.as_str()),
        (p.id.as_str(), "https://ornek.example/callback")
    );
    assert_eq!(field(fields, "status"), "approved");
    assert_eq!(field(fields, "proc_return_code"), "00");
    assert_eq!(field(fields, "amount"), "150.00");
    assert_eq!(field(fields, "md_status"), "1");
    assert_eq!(field(fields, "signature").len(), 64);
    // Consent evidence was kept with the card submit.
    let consents = w.storage.payments.consents(p.id.as_str()).await.unwrap();
    assert_eq!(consents.len(), 2);
    assert!(consents.iter().all(|c| c.client_ip == SHOPPER_IP));
}

#[tokio::test]
async fn a_bank_decline_ends_declined_with_the_bank_s_code() {
    let w = World::new().await;
    w.bank(Bank::Answer("51"));
    let p = w.payment("ORD-1").await;
    w.pay(&p).await;
    let p = w.reload(&p).await;
    assert_eq!(p.status, Status::Declined);
    assert_eq!(p.error_code, Some(ErrorCode::Declined));
    assert_eq!(p.proc_return_code().map(|c| c.as_str()), Some("51"));
    assert_eq!(w.events(&p).await, ["payment.declined"]);
    let callbacks = w.notifier.callbacks.lock().unwrap();
    assert_eq!(field(&callbacks[0].2, "status"), "declined");
    assert_eq!(
        field(&callbacks[0].2, "error_code"),
        ErrorCode::Declined.code()
    );
}

#[tokio::test]
async fn an_acs_that_does_not_authenticate_fails_the_payment_before_the_bank() {
    for (mode, code) in [
        (Acs::Frictionless("N"), ErrorCode::AuthenticationFailed),
        (Acs::Frictionless("R"), ErrorCode::AuthenticationRejected),
        (Acs::Frictionless("U"), ErrorCode::AuthenticationUnavailable),
        (Acs::Down, ErrorCode::AcsUnreachable),
    ] {
        let w = World::new().await;
        w.acs(mode);
        let p = w.payment("ORD-1").await;
        w.pay(&p).await;
        let p = w.reload(&p).await;
        assert_eq!(
            (p.status, p.error_code),
            (Status::Failed, Some(code)),
            "{mode:?}"
        );
        assert_eq!(
            w.path(&p).await,
            statuses(&["created", "card_submitted", "failed"])
        );
        assert_eq!(w.authorise_calls(), 0, "{mode:?}: the bank is never asked");
        assert!(
            w.storage
                .payments
                .load_card(p.id.as_str())
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(w.events(&p).await, ["payment.failed"]);
    }
}

#[tokio::test]
async fn an_attempt_authenticated_frictionless_is_charged() {
    let w = World::new().await;
    w.acs(Acs::Frictionless("A"));
    let p = w.payment("ORD-1").await;
    w.pay(&p).await;
    let p = w.reload(&p).await;
    assert_eq!(p.status, Status::Approved);
    let books = w.bank.books.lock().unwrap();
    assert_eq!(
        books.authorise_calls[0].md_status, "4",
        "attempt: mdStatus 4"
    );
}

/// Takes a payment to the ACS: the card submit answers with the challenge to post.
async fn challenged(w: &World, order: &str) -> (kapi::checkout::payment::Payment, String) {
    w.acs(Acs::Challenge);
    let p = w.payment(order).await;
    let Next::Challenge {
        acs_url,
        creq,
        session_data,
    } = w.pay(&p).await
    else {
        panic!("a challenge")
    };
    assert_eq!(acs_url, "https://acs.example/challenge");
    assert!(!creq.is_empty());
    let p = w.reload(&p).await;
    assert_eq!(p.status, Status::Challenge);
    (p, session_data)
}

#[tokio::test]
async fn a_passed_challenge_is_authorised_with_the_rreq_s_outcome() {
    let w = World::new().await;
    let (p, session) = challenged(&w, "ORD-1").await;
    let (body, mac) = w.rreq(&p, "Y", None);
    let rres = w.checkout.record_rreq(&body, &mac).await.unwrap();
    assert_eq!(rres.results_status, "01");
    let id = w
        .checkout
        .complete_challenge(&w.cres(&p, "Y"), &session)
        .await
        .unwrap();
    assert_eq!(id, p.id);
    let p = w.reload(&p).await;
    assert_eq!(p.status, Status::Approved);
    assert_eq!(
        w.path(&p).await,
        statuses(&[
            "created",
            "card_submitted",
            "challenge",
            "authenticated",
            "authorising",
            "approved"
        ])
    );
    let books = w.bank.books.lock().unwrap();
    assert_eq!(books.authorise_calls.len(), 1);
    assert_eq!(
        books.authorise_calls[0].cavv.as_deref(),
        Some("AAACCCDDDEEE=")
    );
}

#[tokio::test]
async fn a_failed_or_cancelled_challenge_never_reaches_the_bank() {
    for (status, cancel, want_status, want_code) in [
        ("N", None, Status::Failed, ErrorCode::AuthenticationFailed),
        ("R", None, Status::Failed, ErrorCode::AuthenticationRejected),
        (
            "N",
            Some("01"),
            Status::Cancelled,
            ErrorCode::ChallengeCancelled,
        ),
    ] {
        let w = World::new().await;
        let (p, session) = challenged(&w, "ORD-1").await;
        let (body, mac) = w.rreq(&p, status, cancel);
        w.checkout.record_rreq(&body, &mac).await.unwrap();
        w.checkout
            .complete_challenge(&w.cres(&p, status), &session)
            .await
            .unwrap();
        let p = w.reload(&p).await;
        assert_eq!((p.status, p.error_code), (want_status, Some(want_code)));
        assert_eq!(w.authorise_calls(), 0);
    }
}

#[tokio::test]
async fn a_cres_that_contradicts_the_rreq_fails_the_payment() {
    let w = World::new().await;
    let (p, session) = challenged(&w, "ORD-1").await;
    let (body, mac) = w.rreq(&p, "N", None);
    w.checkout.record_rreq(&body, &mac).await.unwrap();
    // The browser claims success: the server-to-server outcome wins.
    w.checkout
        .complete_challenge(&w.cres(&p, "Y"), &session)
        .await
        .unwrap();
    let p = w.reload(&p).await;
    assert_eq!(
        (p.status, p.error_code),
        (Status::Failed, Some(ErrorCode::ChallengeInvalid))
    );
    assert_eq!(w.authorise_calls(), 0);
}

#[tokio::test]
async fn a_replayed_rreq_or_cres_changes_nothing() {
    let w = World::new().await;
    let (p, session) = challenged(&w, "ORD-1").await;
    let (body, mac) = w.rreq(&p, "Y", None);
    w.checkout.record_rreq(&body, &mac).await.unwrap();
    assert!(matches!(
        w.checkout.record_rreq(&body, &mac).await,
        Err(RreqError::AlreadyReceived)
    ));
    // A replay that says otherwise is refused too; the first outcome stands.
    let (other, other_mac) = w.rreq(&p, "N", None);
    assert!(matches!(
        w.checkout.record_rreq(&other, &other_mac).await,
        Err(RreqError::AlreadyReceived)
    ));
    // Forged or unknown RReqs never reach the payment.
    assert!(matches!(
        w.checkout.record_rreq(&other, &"0".repeat(64)).await,
        Err(RreqError::BadSignature)
    ));
    let cres = w.cres(&p, "Y");
    w.checkout
        .complete_challenge(&cres, &session)
        .await
        .unwrap();
    assert_eq!(w.reload(&p).await.status, Status::Approved);
    let replay = w.checkout.complete_challenge(&cres, &session).await;
    assert_eq!(replay.unwrap_err().code, ErrorCode::ChallengeReplayed);
    assert!(matches!(
        w.checkout.record_rreq(&body, &mac).await,
        Err(RreqError::NotAwaiting)
    ));
    assert_eq!(w.authorise_calls(), 1, "charged once");
    // A CRes whose session data was tampered with is refused.
    let forged = format!("{}.{}", p.id, "0".repeat(64));
    let refused = w.checkout.complete_challenge(&cres, &forged).await;
    assert_eq!(refused.unwrap_err().code, ErrorCode::ChallengeInvalid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_rreqs_record_one_outcome() {
    let w = World::new().await;
    let (p, _) = challenged(&w, "ORD-1").await;
    let (yes, yes_mac) = w.rreq(&p, "Y", None);
    let (no, no_mac) = w.rreq(&p, "N", None);
    let (a, b) = tokio::join!(
        w.checkout.record_rreq(&yes, &yes_mac),
        w.checkout.record_rreq(&no, &no_mac)
    );
    assert_eq!(
        usize::from(a.is_ok()) + usize::from(b.is_ok()),
        1,
        "one outcome is recorded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_double_submit_authenticates_and_charges_once() {
    let w = World::new().await;
    let p = w.payment("ORD-1").await;
    // Two tabs, or a double tap, with the same form: both read the payment as `created`.
    let (a, b) = tokio::join!(w.submit(&p), w.submit(&p));
    for step in [a, b] {
        assert!(matches!(step, CardStep::Next(Next::Result)));
    }
    assert_eq!(w.acs.areqs.lock().unwrap().len(), 1, "one AReq");
    assert_eq!(w.authorise_calls(), 1, "one authorisation");
    let p = w.reload(&p).await;
    assert_eq!(p.status, Status::Approved);
    // And the back button afterwards: nothing more.
    assert!(matches!(w.submit(&p).await, CardStep::Next(Next::Result)));
    assert_eq!(w.authorise_calls(), 1);
    assert_eq!(w.events(&p).await, ["payment.approved"]);
}

#[tokio::test]
async fn a_second_payment_of_a_paid_order_fails_without_charging() {
    let w = World::new().await;
    let first = w.payment("ORD-1").await;
    let second = w.payment("ORD-1").await;
    w.pay(&first).await;
    w.pay(&second).await;
    assert_eq!(w.reload(&first).await.status, Status::Approved);
    let second = w.reload(&second).await;
    assert_eq!(
        (second.status, second.error_code),
        (Status::Failed, Some(ErrorCode::OrderAlreadyPaid))
    );
    assert_eq!(w.authorise_calls(), 1);
}

#[tokio::test]
async fn a_lost_answer_is_found_by_inquiry_and_reported() {
    let w = World::new().await;
    w.bank(Bank::LoseApproval);
    let p = w.payment("ORD-1").await;
    w.pay(&p).await;
    let p = w.reload(&p).await;
    assert_eq!(p.status, Status::Approved, "the bank booked it: so do we");
    let (calls, inquiries, reversals) = {
        let books = w.bank.books.lock().unwrap();
        (
            books.authorise_calls.len(),
            books.inquiries,
            books.reversals.len(),
        )
    };
    assert_eq!((calls, inquiries, reversals), (1, 1, 0));
    assert!(
        w.storage
            .payments
            .reversals(p.id.as_str())
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn an_answer_nobody_can_find_fails_the_payment_and_reverses_the_attempt() {
    let w = World::new().await;
    w.bank(Bank::LoseApproval);
    *w.bank.inquiry_down.lock().unwrap() = true;
    let p = w.payment("ORD-1").await;
    w.pay(&p).await;
    let p = w.reload(&p).await;
    assert_eq!(
        (p.status, p.error_code),
        (Status::Failed, Some(ErrorCode::BankUnreachable))
    );
    assert_eq!(p.proc_return_code().map(|c| c.as_str()), Some("91"));
    let reversals = w.storage.payments.reversals(p.id.as_str()).await.unwrap();
    assert_eq!(reversals.len(), 1);
    assert_eq!(Some(reversals[0].attempt_ref.as_str()), p.attempt_ref());
    // The bank comes back: the sweep reverses what it had booked.
    *w.bank.inquiry_down.lock().unwrap() = false;
    w.clock.advance(600);
    recovery::retry_reversals(w.checkout.clone()).await;
    let reversals = w.storage.payments.reversals(p.id.as_str()).await.unwrap();
    assert_eq!(reversals[0].status, ReversalStatus::Reversed);
    let books = w.bank.books.lock().unwrap();
    let booked = books.auths.get(p.attempt_ref().unwrap()).unwrap();
    assert!(booked.1, "the shopper is not charged for a failed payment");
}

#[tokio::test]
async fn an_unbooked_attempt_fails_and_its_reversal_finds_nothing_to_undo() {
    let w = World::new().await;
    w.bank(Bank::Unreachable);
    let p = w.payment("ORD-1").await;
    w.pay(&p).await;
    let p = w.reload(&p).await;
    assert_eq!(p.status, Status::Failed);
    // "No such authorisation" is believed only once the bank could no longer book it.
    w.clock.advance(3_600);
    recovery::retry_reversals(w.checkout.clone()).await;
    let r = &w.storage.payments.reversals(p.id.as_str()).await.unwrap()[0];
    assert_eq!(r.status, ReversalStatus::NothingToReverse);
}

#[tokio::test]
async fn expiry_wins_over_a_late_challenge_outcome() {
    let w = World::new().await;
    let (p, session) = challenged(&w, "ORD-1").await;
    w.clock.advance(901);
    assert!(w.checkout.expire_if_due(&p).await.unwrap());
    let (body, mac) = w.rreq(&p, "Y", None);
    assert!(matches!(
        w.checkout.record_rreq(&body, &mac).await,
        Err(RreqError::NotAwaiting)
    ));
    let late = w
        .checkout
        .complete_challenge(&w.cres(&p, "Y"), &session)
        .await;
    assert_eq!(late.unwrap_err().code, ErrorCode::ChallengeReplayed);
    let p = w.reload(&p).await;
    assert_eq!(
        (p.status, p.error_code),
        (Status::Expired, Some(ErrorCode::PaymentExpired))
    );
    assert_eq!(w.authorise_calls(), 0);
    assert!(
        w.storage
            .payments
            .load_card(p.id.as_str())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_challenge_that_passed_first_is_not_expired() {
    let w = World::new().await;
    let (p, session) = challenged(&w, "ORD-1").await;
    let (body, mac) = w.rreq(&p, "Y", None);
    w.checkout.record_rreq(&body, &mac).await.unwrap();
    w.checkout
        .complete_challenge(&w.cres(&p, "Y"), &session)
        .await
        .unwrap();
    w.clock.advance(901);
    // The sweeper still holds the payment as it was in `challenge`: its move is lost.
    assert!(!w.checkout.expire_now(&p).await.unwrap());
    assert_eq!(w.reload(&p).await.status, Status::Approved);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_racing_the_challenge_leaves_one_consistent_outcome() {
    for _ in 0..10 {
        let w = World::new().await;
        let (p, session) = challenged(&w, "ORD-1").await;
        let (body, mac) = w.rreq(&p, "Y", None);
        w.checkout.record_rreq(&body, &mac).await.unwrap();
        let after_rreq = w.reload(&p).await;
        w.clock.advance(901);
        let cres = w.cres(&p, "Y");
        let (expired, completed) = tokio::join!(
            w.checkout.expire_now(&after_rreq),
            w.checkout.complete_challenge(&cres, &session)
        );
        let p = w.reload(&p).await;
        match p.status {
            Status::Expired => {
                assert!(expired.unwrap());
                assert_eq!(w.authorise_calls(), 0);
            }
            Status::Approved => {
                assert!(!expired.unwrap());
                assert!(completed.is_ok());
                assert_eq!(w.authorise_calls(), 1);
            }
            other => panic!("left in {other:?}"),
        }
        assert_eq!(w.events(&p).await.len(), 1, "one final event");
    }
}

#[tokio::test]
async fn an_open_payment_past_its_deadline_is_expired_when_opened() {
    let w = World::new().await;
    let p = w.payment("ORD-1").await;
    w.clock.advance(901);
    let (opened, _) = w.checkout.open(p.clone()).await.unwrap();
    assert_eq!(opened.status, Status::Expired);
    assert_eq!(w.events(&p).await, ["payment.expired"]);
    // A card submitted to it changes nothing.
    assert!(matches!(
        w.submit(&opened).await,
        CardStep::Next(Next::Result)
    ));
    assert_eq!(w.acs.areqs.lock().unwrap().len(), 0);
}

#[tokio::test]
async fn the_shopper_cancels_or_switches_language_only_while_the_page_waits() {
    let w = World::new().await;
    let p = w.payment("ORD-1").await;
    let english = w
        .checkout
        .switch_locale(&p, kapi::domain::Locale::En)
        .await
        .unwrap();
    assert_eq!(english.locale, kapi::domain::Locale::En);
    assert!(w.checkout.cancel(&english).await.unwrap());
    let p = w.reload(&p).await;
    assert_eq!(
        (p.status, p.error_code),
        (Status::Cancelled, Some(ErrorCode::CancelledByShopper))
    );
    let callbacks = w.notifier.callbacks.lock().unwrap().clone();
    assert_eq!(field(&callbacks[0].2, "status"), "cancelled");
    assert!(!w.checkout.cancel(&p).await.unwrap(), "once");
}

#[tokio::test]
async fn a_card_form_with_errors_is_shown_again_without_moving_the_payment() {
    let w = World::new().await;
    let p = w.payment("ORD-1").await;
    let fields = vec![
        ("card_holder".to_owned(), "AYSE YILMAZ".to_owned()),
        ("card_number".to_owned(), "5555555555554445".to_owned()),
        ("exp_month".to_owned(), "12".to_owned()),
        ("exp_year".to_owned(), "2030".to_owned()),
        ("cvv".to_owned(), "12".to_owned()),
    ];
    let client = kapi::checkout::flow::ClientInfo {
        ip: SHOPPER_IP.into(),
        ..Default::default()
    };
    let step = w
        .checkout
        .card_form(&p, &w.merchant, &fields, &client)
        .await
        .unwrap();
    let CardStep::Again { errors, .. } = step else {
        panic!("the form again")
    };
    let fields: Vec<_> = errors.iter().map(|(f, _)| *f).collect();
    for f in ["card_number", "cvv"] {
        assert!(fields.contains(&f), "{f} in {fields:?}");
    }
    assert_eq!(w.reload(&p).await.status, Status::Created);
    assert_eq!(w.acs.areqs.lock().unwrap().len(), 0);
}

#[tokio::test]
async fn recovery_settles_what_a_crash_left_in_between() {
    use kapi::clock::Clock;
    let w = World::new().await;
    // A crash right after the claim: the payment is `authorising`, the bank booked the
    // attempt, and nobody is left waiting for its answer.
    let p = w.payment("ORD-1").await;
    let now = w.clock.now_ms();
    let stuck = [submit, frictionless, claim]
        .iter()
        .fold(p.clone(), |before, m| m(&before, now));
    save_path(&w, &p, &stuck).await;
    w.bank.books.lock().unwrap().auths.insert(
        stuck.attempt_ref().unwrap().to_owned(),
        (
            kapi::acquirer::AuthResponse {
                proc_return_code: "00".into(),
                auth_code: "X1Y2Z3".into(),
                host_ref: "612345678901".into(),
                transaction_id: "26000002".into(),
            },
            false,
        ),
    );
    // Not yet: the request might still be waiting for the bank.
    assert_eq!(recovery::recover_interrupted(&w.checkout).await.unwrap(), 0);
    w.clock.advance(120);
    assert_eq!(recovery::recover_interrupted(&w.checkout).await.unwrap(), 1);
    let p = w.reload(&p).await;
    assert_eq!(p.status, Status::Approved);
    assert_eq!(
        p.authorisation.as_ref().unwrap().auth_code.as_deref(),
        Some("X1Y2Z3")
    );
    assert_eq!(w.authorise_calls(), 0, "asked, never charged again");
    assert_eq!(w.events(&p).await, ["payment.approved"]);
    // A payment stopped before the bank: failed as interrupted.
    let q = w.payment("ORD-2").await;
    let submitted = submit(&q, w.clock.now_ms());
    save_path(&w, &q, &submitted).await;
    w.clock.advance(120);
    assert_eq!(recovery::recover_interrupted(&w.checkout).await.unwrap(), 1);
    let q = w.reload(&q).await;
    assert_eq!(
        (q.status, q.error_code),
        (Status::Failed, Some(ErrorCode::Interrupted))
    );
    assert!(
        w.storage
            .payments
            .load_card(q.id.as_str())
            .await
            .unwrap()
            .is_none()
    );
}

/// Writes `to` over `from` in one move (as a crash would have left it after several).
async fn save_path(
    w: &World,
    from: &kapi::checkout::payment::Payment,
    to: &kapi::checkout::payment::Payment,
) {
    let mut to = to.clone();
    to.version = from.version + 1;
    let cas = w
        .storage
        .payments
        .save(from, &to, Default::default())
        .await
        .unwrap();
    assert_eq!(cas, kapi::storage::Cas::Done);
}

#[tokio::test]
async fn a_challenge_answered_but_never_brought_back_ends_by_its_outcome() {
    let w = World::new().await;
    let (p, _) = challenged(&w, "ORD-1").await;
    let (body, mac) = w.rreq(&p, "Y", None);
    w.checkout.record_rreq(&body, &mac).await.unwrap();
    // The browser never returns with the CRes: recovery ends the challenge by the RReq.
    assert_eq!(recovery::recover_interrupted(&w.checkout).await.unwrap(), 0);
    w.clock.advance(120);
    assert_eq!(recovery::recover_interrupted(&w.checkout).await.unwrap(), 1);
    let p = w.reload(&p).await;
    assert_eq!(p.status, Status::Approved);
    assert_eq!(w.authorise_calls(), 1);
    // A late CRes changes nothing.
    let late = w.checkout.complete_challenge(&w.cres(&p, "Y"), "x.y").await;
    assert!(late.is_err());
    assert_eq!(w.authorise_calls(), 1);
}

#[tokio::test]
async fn a_shopper_gives_up_a_challenge_that_cannot_continue() {
    let w = World::new().await;
    let (p, _) = challenged(&w, "ORD-1").await;
    assert!(w.checkout.cancel(&p).await.unwrap());
    let p = w.reload(&p).await;
    assert_eq!(
        (p.status, p.error_code),
        (Status::Cancelled, Some(ErrorCode::ChallengeCancelled))
    );
    assert_eq!(w.authorise_calls(), 0);
    assert_eq!(w.events(&p).await, ["payment.cancelled"]);
    let callbacks = w.notifier.callbacks.lock().unwrap().clone();
    assert_eq!(field(&callbacks[0].2, "status"), "cancelled");
    // An outcome that had already arrived decides instead of the shopper's give-up.
    let w = World::new().await;
    let (p, _) = challenged(&w, "ORD-2").await;
    let (body, mac) = w.rreq(&p, "Y", None);
    w.checkout.record_rreq(&body, &mac).await.unwrap();
    let answered = w.reload(&p).await;
    assert!(w.checkout.cancel(&answered).await.unwrap());
    assert_eq!(w.reload(&p).await.status, Status::Approved);
}

/// Declines `times` cards on a payment that allows `cards`, each from the card form.
async fn decline(w: &World, p: &kapi::checkout::payment::Payment, code: &'static str) {
    w.bank(Bank::Answer(code));
    let current = w.reload(p).await;
    w.pay(&current).await;
}

#[tokio::test]
async fn a_declined_shopper_tries_another_card_on_the_same_payment() {
    let w = World::new().await;
    let p = w.payment_with_attempts("ORD-1", 3).await;
    decline(&w, &p, "51").await;
    let waiting = w.reload(&p).await;
    assert_eq!(waiting.status, Status::AwaitingRetry);
    assert_eq!((waiting.attempt, waiting.card_attempts.count()), (1, 3));
    assert_eq!(waiting.error_code, Some(ErrorCode::Declined));
    // Nothing reached the merchant yet, and the card is gone.
    assert!(w.events(&p).await.is_empty());
    assert!(w.notifier.callbacks.lock().unwrap().is_empty());
    assert!(
        w.storage
            .payments
            .load_card(p.id.as_str())
            .await
            .unwrap()
            .is_none()
    );
    // The next card pays.
    w.bank(Bank::Answer("00"));
    assert_eq!(w.pay(&waiting).await, Next::Result);
    let p = w.reload(&p).await;
    assert_eq!(
        (p.status, p.attempt, p.error_code),
        (Status::Approved, 2, None)
    );
    assert_eq!(
        w.path(&p).await,
        statuses(&[
            "created",
            "card_submitted",
            "authenticated",
            "authorising",
            "awaiting_retry",
            "card_submitted",
            "authenticated",
            "authorising",
            "approved"
        ])
    );
    let attempts = w.storage.payments.attempts(p.id.as_str()).await.unwrap();
    let summary: Vec<_> = attempts
        .iter()
        .map(|a| {
            (
                a.number,
                a.status,
                a.proc_return_code.as_ref().map(|c| c.as_str().to_owned()),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (1, Status::AwaitingRetry, Some("51".to_owned())),
            (2, Status::Approved, Some("00".to_owned()))
        ]
    );
    assert_eq!(
        attempts[0].card.as_ref().unwrap().masked_pan,
        "555555******4444"
    );
    // One result, one event, when the payment ended.
    assert_eq!(w.events(&p).await, ["payment.approved"]);
    let callbacks = w.notifier.callbacks.lock().unwrap().clone();
    assert_eq!(callbacks.len(), 1);
    assert_eq!(field(&callbacks[0].2, "status"), "approved");
    assert_eq!(w.authorise_calls(), 2);
}

#[tokio::test]
async fn the_last_allowed_attempt_ends_the_payment() {
    let w = World::new().await;
    let p = w.payment_with_attempts("ORD-1", 2).await;
    decline(&w, &p, "51").await;
    assert_eq!(w.reload(&p).await.status, Status::AwaitingRetry);
    decline(&w, &p, "05").await;
    let p = w.reload(&p).await;
    assert_eq!((p.status, p.attempt), (Status::Declined, 2));
    assert_eq!(
        p.proc_return_code().map(|c| c.as_str()),
        Some("05"),
        "the last attempt's code"
    );
    assert_eq!(w.events(&p).await, ["payment.declined"]);
    // Without an opt-in, the first decline ends the payment as before.
    let q = w.payment("ORD-2").await;
    decline(&w, &q, "51").await;
    assert_eq!(w.reload(&q).await.status, Status::Declined);
}

#[tokio::test]
async fn a_shopper_who_gives_up_returns_with_the_last_attempts_codes() {
    let w = World::new().await;
    let p = w.payment_with_attempts("ORD-1", 3).await;
    decline(&w, &p, "51").await;
    let waiting = w.reload(&p).await;
    assert!(w.checkout.cancel(&waiting).await.unwrap());
    let p = w.reload(&p).await;
    assert_eq!(
        (p.status, p.error_code),
        (Status::Declined, Some(ErrorCode::Declined))
    );
    let callbacks = w.notifier.callbacks.lock().unwrap().clone();
    assert_eq!(field(&callbacks[0].2, "status"), "declined");
    assert_eq!(field(&callbacks[0].2, "proc_return_code"), "51");
    assert_eq!(w.events(&p).await, ["payment.declined"]);
    // The deadline during a retry ends it the same way.
    let q = w.payment_with_attempts("ORD-2", 3).await;
    decline(&w, &q, "54").await;
    w.clock.advance(901);
    let waiting = w.reload(&q).await;
    assert!(w.checkout.expire_if_due(&waiting).await.unwrap());
    let q = w.reload(&q).await;
    assert_eq!(q.status, Status::Declined);
    assert_eq!(q.proc_return_code().map(|c| c.as_str()), Some("54"));
}

#[tokio::test]
async fn a_lost_stolen_or_fraud_decline_ends_the_payment_at_once() {
    for code in ["41", "43", "04", "34"] {
        let w = World::new().await;
        let p = w.payment_with_attempts("ORD-1", 5).await;
        decline(&w, &p, code).await;
        let p = w.reload(&p).await;
        assert_eq!((p.status, p.attempt), (Status::Declined, 1), "{code}");
    }
    // 3-D Secure: a failed authentication may be another card's chance, a rejection not.
    let w = World::new().await;
    w.acs(Acs::Frictionless("N"));
    let p = w.payment_with_attempts("ORD-1", 3).await;
    w.pay(&p).await;
    assert_eq!(w.reload(&p).await.status, Status::AwaitingRetry);
    w.acs(Acs::Frictionless("R"));
    let p = w.payment_with_attempts("ORD-2", 3).await;
    w.pay(&p).await;
    assert_eq!(w.reload(&p).await.status, Status::Failed);
}

#[tokio::test]
async fn the_card_testing_guard_counts_every_attempt() {
    let mut settings = kapi::config::Settings::default();
    settings.limits.declines_per_ip = 2;
    let w = World::with_settings(settings).await;
    let p = w.payment_with_attempts("ORD-1", 5).await;
    decline(&w, &p, "51").await;
    decline(&w, &p, "51").await;
    // Two declines from this address, on one payment: the third card is refused.
    let waiting = w.reload(&p).await;
    assert_eq!(waiting.status, Status::AwaitingRetry);
    let refused = w.try_submit(&waiting).await.err().expect("blocked");
    assert_eq!(refused.code, ErrorCode::CardTestingBlocked);
    assert_eq!(w.authorise_calls(), 2);
}
