//! The backend contract: what every storage backend must do, written against the storage
//! traits only. `suite!` runs each test on a fresh backend; a new backend adds one line (see
//! the bottom of this file) and must pass all of them.
//!
//! Every compare-and-set is raced here with concurrent writers, not only replayed: a backend
//! that checks and writes in two statements fails.

use kapi::{
    checkout::{
        Status,
        payment::{AfterSaleOp, Intent, Payment, Transition},
    },
    error::ErrorCode,
    simstore::SimRecord,
    storage::{
        Cas, DeliveryOutcome, Effects, EventAttempt, EventFilter, EventStatus, IdempotencyLink,
        IdempotencyState, KeyRotation, PaymentFilter, RefundKind, RefundStatus, ReversalOutcome,
        ReversalStatus, SecurityEvent, Settle, Storage,
    },
};

use crate::fixtures::*;

/// Runs every contract test against the backend `$fresh` opens (an expression giving a
/// future of a fresh, empty `Storage`).
macro_rules! suite {
    ($fresh:expr) => {
        suite!(@tests $fresh;
            a_payment_reads_back_as_written,
            a_move_is_a_compare_and_set_on_the_version,
            of_racing_moves_exactly_one_wins,
            an_order_is_charged_by_one_payment_at_a_time,
            a_hold_reads_back_and_keeps_its_order_paid,
            effects_are_written_with_their_move_or_not_at_all,
            a_final_status_deletes_the_card,
            payments_are_found_by_their_3ds_id_deadline_and_stall,
            payments_page_by_keyset_newest_first,
            an_event_is_leased_to_one_worker_at_a_time,
            a_delivery_outcome_counts_only_under_its_lease,
            events_page_by_keyset_and_filter,
            an_idempotency_key_runs_its_request_once,
            a_dead_request_s_key_is_taken_over_unless_it_started_a_refund,
            a_nonce_is_accepted_once_per_merchant,
            a_refund_reservation_is_a_compare_and_set,
            racing_refunds_never_reserve_more_than_was_charged,
            a_refund_is_settled_once_and_with_its_payment,
            a_reversal_is_leased_retried_and_settled,
            merchants_are_found_by_current_and_previous_key,
            merchant_settings_read_back,
            sealed_data_is_replaced_only_if_unchanged,
            security_events_read_newest_first,
            the_guard_counts_blocks_and_lifts,
            the_simulators_records_are_compare_and_set,
            the_operator_sees_every_merchant_and_what_is_waiting,
            the_store_reports_its_health,
            several_guard_counts_move_together,
        );
    };
    (@tests $fresh:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let storage: kapi::storage::Storage = $fresh.await;
                crate::contract::$name(&storage).await;
            }
        )*
    };
}

pub(crate) use suite;

const T0: i64 = 1_700_000_000_000;

pub async fn a_payment_reads_back_as_written(s: &Storage) {
    with_merchants(s).await;
    let p = created("mrc_a", "ORD-1", T0);
    s.payments.insert_payment(&p).await.unwrap();
    let got = s
        .payments
        .get_payment(p.id.as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.status, Status::Created);
    assert_eq!(got.amount, p.amount);
    assert_eq!(got.customer, p.customer);
    assert_eq!(got.description, p.description);
    assert_eq!((got.version, got.expires_at), (0, T0 + 900_000));
    assert!(got.card.is_none() && got.threeds.is_none() && got.authorisation.is_none());
    // Through the whole machine: every typed part comes back as it went in.
    let p = created("mrc_a", "ORD-2", T0);
    let approved = stored(s, p.clone(), &[submit, frictionless, claim, approve]).await;
    let got = s
        .payments
        .get_payment(p.id.as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.status, Status::Approved);
    assert_eq!(got.version, approved.version);
    assert_eq!(got.card, approved.card);
    assert_eq!(got.threeds, approved.threeds);
    assert_eq!(got.authorisation, approved.authorisation);
    assert_eq!(got.client_ip.as_deref(), Some("203.0.113.9"));
    let history: Vec<_> = s
        .payments
        .history(p.id.as_str())
        .await
        .unwrap()
        .into_iter()
        .map(|h| (h.from_status, h.to_status))
        .collect();
    let s = |v: &str| v.to_owned();
    assert_eq!(
        history,
        vec![
            (None, s("created")),
            (Some(s("created")), s("card_submitted")),
            (Some(s("card_submitted")), s("authenticated")),
            (Some(s("authenticated")), s("authorising")),
            (Some(s("authorising")), s("approved")),
        ]
    );
}

pub async fn a_move_is_a_compare_and_set_on_the_version(s: &Storage) {
    with_merchants(s).await;
    let p = stored(s, created("mrc_a", "ORD-1", T0), &[]).await;
    let cancelled = p
        .apply(Transition::Cancel(ErrorCode::CancelledByShopper), T0 + 1)
        .unwrap();
    let submitted = submit(&p, T0 + 1);
    assert_eq!(
        s.payments
            .save(&p, &cancelled, Effects::default())
            .await
            .unwrap(),
        Cas::Done
    );
    // Computed from the same state: too late.
    assert_eq!(
        s.payments
            .save(&p, &submitted, Effects::default())
            .await
            .unwrap(),
        Cas::Lost
    );
    let got = s
        .payments
        .get_payment(p.id.as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((got.status, got.version), (Status::Cancelled, 1));
    assert!(got.card.is_none(), "the lost move wrote nothing");
    assert_eq!(s.payments.history(p.id.as_str()).await.unwrap().len(), 2);
    // A move that keeps the status still takes the version.
    let p = stored(s, created("mrc_a", "ORD-2", T0), &[]).await;
    let english = p
        .apply(Transition::SwitchLocale(kapi::domain::Locale::En), T0 + 1)
        .unwrap();
    assert_eq!(
        s.payments
            .save(&p, &english, Effects::default())
            .await
            .unwrap(),
        Cas::Done
    );
    assert_eq!(
        s.payments
            .save(&p, &english, Effects::default())
            .await
            .unwrap(),
        Cas::Lost
    );
    assert_eq!(s.payments.history(p.id.as_str()).await.unwrap().len(), 1);
}

pub async fn of_racing_moves_exactly_one_wins(s: &Storage) {
    with_merchants(s).await;
    let p = stored(s, created("mrc_a", "ORD-1", T0), &[submit, frictionless]).await;
    let tries: Vec<_> = (0..8)
        .map(|_| {
            let s = s.clone();
            let before = p.clone();
            tokio::spawn(async move {
                let after = claim(&before, T0 + 10);
                s.payments
                    .save(&before, &after, Effects::default())
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut done = 0;
    for t in tries {
        match t.await.unwrap() {
            Cas::Done => done += 1,
            Cas::Lost => {}
            Cas::OrderAlreadyPaid => panic!("the same payment cannot block itself"),
        }
    }
    assert_eq!(done, 1, "exactly one claim talks to the bank");
}

pub async fn an_order_is_charged_by_one_payment_at_a_time(s: &Storage) {
    with_merchants(s).await;
    let first = stored(s, created("mrc_a", "ORD-1", T0), &[submit, frictionless]).await;
    let second = stored(
        s,
        created("mrc_a", "ORD-1", T0 + 1),
        &[submit, frictionless],
    )
    .await;
    // The same order id at another merchant is another order.
    let other = stored(
        s,
        created("mrc_b", "ORD-1", T0 + 2),
        &[submit, frictionless],
    )
    .await;
    assert!(!s.payments.order_is_paid("mrc_a", "ORD-1").await.unwrap());
    let first_claimed = claim(&first, T0 + 10);
    assert_eq!(
        s.payments
            .save(&first, &first_claimed, Effects::default())
            .await
            .unwrap(),
        Cas::Done
    );
    assert!(s.payments.order_is_paid("mrc_a", "ORD-1").await.unwrap());
    assert!(!s.payments.order_is_paid("mrc_b", "ORD-1").await.unwrap());
    assert!(!s.payments.order_is_paid("mrc_a", "ORD-2").await.unwrap());
    let second_claimed = claim(&second, T0 + 11);
    assert_eq!(
        s.payments
            .save(&second, &second_claimed, Effects::default())
            .await
            .unwrap(),
        Cas::OrderAlreadyPaid
    );
    let got = s
        .payments
        .get_payment(second.id.as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        got.status,
        Status::Authenticated,
        "the refused move wrote nothing"
    );
    let other_claimed = claim(&other, T0 + 12);
    assert_eq!(
        s.payments
            .save(&other, &other_claimed, Effects::default())
            .await
            .unwrap(),
        Cas::Done
    );
    // Once the first is declined, the order may be paid again; an approval holds it.
    let declined = decline(&first_claimed, T0 + 20);
    s.payments
        .save(&first_claimed, &declined, Effects::default())
        .await
        .unwrap();
    assert!(!s.payments.order_is_paid("mrc_a", "ORD-1").await.unwrap());
    assert_eq!(
        s.payments
            .save(&second, &second_claimed, Effects::default())
            .await
            .unwrap(),
        Cas::Done
    );
    let approved = approve(&second_claimed, T0 + 30);
    s.payments
        .save(&second_claimed, &approved, Effects::default())
        .await
        .unwrap();
    assert!(s.payments.order_is_paid("mrc_a", "ORD-1").await.unwrap());
    let third = stored(
        s,
        created("mrc_a", "ORD-1", T0 + 40),
        &[submit, frictionless],
    )
    .await;
    let third_claimed = claim(&third, T0 + 41);
    assert_eq!(
        s.payments
            .save(&third, &third_claimed, Effects::default())
            .await
            .unwrap(),
        Cas::OrderAlreadyPaid
    );
}

pub async fn a_hold_reads_back_and_keeps_its_order_paid(s: &Storage) {
    with_merchants(s).await;
    let mut p = created("mrc_a", "ORD-H", T0);
    p.intent = Intent::PreAuth;
    let held = stored(s, p.clone(), &[submit, frictionless, claim, approve]).await;
    let read = |id: String| async move { s.payments.get_payment(&id).await.unwrap().unwrap() };
    let got = read(p.id.to_string()).await;
    assert_eq!(
        (got.status, got.intent, got.captured_minor),
        (Status::Authorised, Intent::PreAuth, 0)
    );
    // A held order is paid: no second payment of it reaches the bank.
    assert!(s.payments.order_is_paid("mrc_a", "ORD-H").await.unwrap());
    let other = stored(
        s,
        created("mrc_a", "ORD-H", T0 + 1),
        &[submit, frictionless],
    )
    .await;
    assert_eq!(
        s.payments
            .save(&other, &claim(&other, T0 + 2), Effects::default())
            .await
            .unwrap(),
        Cas::OrderAlreadyPaid
    );
    // Captured for less: the amount reads back, and the order stays paid.
    let reserved = held
        .apply(
            Transition::Reserve {
                amount_minor: 12_000,
            },
            T0 + 3,
        )
        .unwrap();
    let captured = reserved
        .apply(
            Transition::SettleAfterSale {
                op: AfterSaleOp::Capture,
                amount_minor: 12_000,
                succeeded: true,
            },
            T0 + 4,
        )
        .unwrap();
    for (before, after) in [(&held, &reserved), (&reserved, &captured)] {
        let saved = s.payments.save(before, after, Effects::default()).await;
        assert_eq!(saved.unwrap(), Cas::Done);
    }
    let got = read(p.id.to_string()).await;
    assert_eq!(
        (got.status, got.captured_minor, got.refundable_minor()),
        (Status::Captured, 12_000, 12_000)
    );
    assert!(s.payments.order_is_paid("mrc_a", "ORD-H").await.unwrap());
}

pub async fn effects_are_written_with_their_move_or_not_at_all(s: &Storage) {
    with_merchants(s).await;
    let p = stored(s, created("mrc_a", "ORD-1", T0), &[]).await;
    let submitted = submit(&p, T0 + 1);
    let consents = [
        consent(&p, "pre_information", T0 + 1),
        consent(&p, "distance_sales", T0 + 1),
    ];
    let card = b"sealed card".to_vec();
    let effects = Effects {
        card: Some(&card),
        consents: &consents,
        ..Effects::default()
    };
    // Someone moved it first: the card, the consents and the event stay out.
    let cancelled = p
        .apply(Transition::Cancel(ErrorCode::CancelledByShopper), T0 + 1)
        .unwrap();
    let ev = event(&p, "evt_lost", T0 + 1, Some("https://ornek.example/hooks"));
    let other = stored(s, created("mrc_a", "ORD-2", T0), &[]).await;
    let other_cancelled = other
        .apply(Transition::Cancel(ErrorCode::CancelledByShopper), T0 + 1)
        .unwrap();
    s.payments
        .save(&other, &other_cancelled, Effects::default())
        .await
        .unwrap();
    let ev_other = event(&other, "evt_other", T0 + 1, None);
    assert_eq!(
        s.payments
            .save(&other, &other_cancelled, Effects::event(Some(&ev_other)))
            .await
            .unwrap(),
        Cas::Lost
    );
    assert!(s.outbox.get_event("evt_other").await.unwrap().is_none());
    // The winning move writes all of it.
    assert_eq!(
        s.payments.save(&p, &submitted, effects).await.unwrap(),
        Cas::Done
    );
    assert_eq!(
        s.payments.load_card(p.id.as_str()).await.unwrap(),
        Some(card)
    );
    let kept = s.payments.consents(p.id.as_str()).await.unwrap();
    assert_eq!(
        kept.iter()
            .map(|c| c.document_kind.as_str())
            .collect::<Vec<_>>(),
        ["pre_information", "distance_sales"]
    );
    assert_eq!(
        s.payments
            .save(&p, &cancelled, Effects::event(Some(&ev)))
            .await
            .unwrap(),
        Cas::Lost
    );
    assert!(s.outbox.get_event("evt_lost").await.unwrap().is_none());
    // A reversal and an event go in with the failure that causes them.
    let claimed = stored_moves(s, &submitted, &[frictionless, claim]).await;
    let failed = claimed
        .apply(
            Transition::Fail {
                code: ErrorCode::BankUnreachable,
                detail: Default::default(),
            },
            T0 + 50,
        )
        .unwrap();
    let rev = reversal(&claimed, "rev_1", T0 + 50);
    let ev = event(
        &claimed,
        "evt_failed",
        T0 + 50,
        Some("https://ornek.example/hooks"),
    );
    let effects = Effects {
        event: Some(&ev),
        reversal: Some(&rev),
        ..Effects::default()
    };
    assert_eq!(
        s.payments.save(&claimed, &failed, effects).await.unwrap(),
        Cas::Done
    );
    assert_eq!(s.payments.reversals(p.id.as_str()).await.unwrap().len(), 1);
    let stored_event = s.outbox.get_event("evt_failed").await.unwrap().unwrap();
    assert_eq!(stored_event.payment_id, p.id.to_string());
    assert_eq!(stored_event.status, EventStatus::Pending);
}

/// Applies `moves` to `p` (already stored), saving each.
async fn stored_moves(s: &Storage, p: &Payment, moves: &[fn(&Payment, i64) -> Payment]) -> Payment {
    let mut current = p.clone();
    for m in moves {
        let next = m(&current, current.updated_at + 1);
        assert_eq!(
            s.payments
                .save(&current, &next, Effects::default())
                .await
                .unwrap(),
            Cas::Done
        );
        current = next;
    }
    current
}

pub async fn a_final_status_deletes_the_card(s: &Storage) {
    with_merchants(s).await;
    let p = stored(s, created("mrc_a", "ORD-1", T0), &[]).await;
    let submitted = submit(&p, T0 + 1);
    let card = b"sealed".to_vec();
    s.payments
        .save(
            &p,
            &submitted,
            Effects {
                card: Some(&card),
                ..Effects::default()
            },
        )
        .await
        .unwrap();
    let challenged = stored_moves(s, &submitted, &[challenge]).await;
    assert!(
        s.payments.load_card(p.id.as_str()).await.unwrap().is_some(),
        "kept while the payment is open"
    );
    let expired = challenged.apply(Transition::Expire, T0 + 99).unwrap();
    s.payments
        .save(&challenged, &expired, Effects::default())
        .await
        .unwrap();
    assert_eq!(s.payments.load_card(p.id.as_str()).await.unwrap(), None);
}

pub async fn payments_are_found_by_their_3ds_id_deadline_and_stall(s: &Storage) {
    with_merchants(s).await;
    let open = stored(s, created("mrc_a", "ORD-1", T0), &[]).await;
    let challenged = stored(s, created("mrc_a", "ORD-2", T0), &[submit, challenge]).await;
    let stalled = stored(
        s,
        created("mrc_a", "ORD-3", T0),
        &[submit, frictionless, claim],
    )
    .await;
    let done = stored(
        s,
        created("mrc_a", "ORD-4", T0),
        &[submit, frictionless, claim, approve],
    )
    .await;
    let tid = challenged.threeds.as_ref().unwrap().server_trans_id.clone();
    let found = s
        .payments
        .find_payment_by_threeds_id(&tid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, challenged.id);
    assert!(
        s.payments
            .find_payment_by_threeds_id("no-such")
            .await
            .unwrap()
            .is_none()
    );
    let mut due = s.payments.due_for_expiry(T0 + 900_000, 10).await.unwrap();
    due.sort();
    let mut want = vec![open.id.to_string(), challenged.id.to_string()];
    want.sort();
    assert_eq!(due, want, "only open payments past their deadline");
    assert!(
        s.payments
            .due_for_expiry(T0 + 899_999, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.payments
            .interrupted(stalled.updated_at, 10)
            .await
            .unwrap(),
        vec![stalled.id.to_string()]
    );
    assert!(
        s.payments
            .interrupted(stalled.updated_at - 1, 10)
            .await
            .unwrap()
            .is_empty(),
        "a move more recent than the cut-off is still running"
    );
    assert!(done.status.is_final());
    // A challenge whose outcome the ACS reported is in between too (its shopper may never come
    // back); one still waiting for the shopper is not.
    let answered = challenged
        .apply(
            Transition::ChallengeOutcome {
                authentication: kapi::checkout::payment::Authentication {
                    trans_status: kapi::domain::threeds::TransStatus::Y,
                    trans_status_reason: None,
                    eci: None,
                    authentication_value: None,
                },
                challenge_cancel: None,
                ds_trans_id: "ds-1".into(),
                received_at: T0 + 100,
            },
            T0 + 100,
        )
        .unwrap();
    s.payments
        .save(&challenged, &answered, Effects::default())
        .await
        .unwrap();
    let mut stalled_ids = s.payments.interrupted(T0 + 100, 10).await.unwrap();
    stalled_ids.sort();
    let mut want = vec![stalled.id.to_string(), answered.id.to_string()];
    want.sort();
    assert_eq!(stalled_ids, want);
}

pub async fn payments_page_by_keyset_newest_first(s: &Storage) {
    with_merchants(s).await;
    // Seven payments, three of them in the same millisecond: the id breaks the tie.
    let mut ids = Vec::new();
    for (i, at) in [0, 1, 2, 2, 2, 3, 4].into_iter().enumerate() {
        let p = created("mrc_a", &format!("ORD-{i}"), T0 + at);
        ids.push((p.created_at, p.id.to_string()));
        s.payments.insert_payment(&p).await.unwrap();
    }
    s.payments
        .insert_payment(&created("mrc_b", "ORD-0", T0 + 3))
        .await
        .unwrap();
    ids.sort();
    ids.reverse();
    let mut seen = Vec::new();
    let mut filter = PaymentFilter {
        limit: 2,
        ..PaymentFilter::default()
    };
    loop {
        let page = s
            .payments
            .list_payments(Some("mrc_a"), &filter)
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 2);
        let last = page.last().unwrap();
        filter.before = Some((last.created_at, last.id.to_string()));
        seen.extend(page.iter().map(|p| (p.created_at, p.id.to_string())));
    }
    assert_eq!(seen, ids, "every payment once, newest first");
    // Filters: by order, by status, by creation time [from, to).
    let by_order = PaymentFilter {
        order_id: Some("ORD-3".into()),
        limit: 10,
        ..PaymentFilter::default()
    };
    assert_eq!(
        s.payments
            .list_payments(Some("mrc_a"), &by_order)
            .await
            .unwrap()
            .len(),
        1
    );
    let window = PaymentFilter {
        from: Some(T0 + 1),
        to: Some(T0 + 3),
        limit: 10,
        ..PaymentFilter::default()
    };
    assert_eq!(
        s.payments
            .list_payments(Some("mrc_a"), &window)
            .await
            .unwrap()
            .len(),
        4
    );
    let approved = PaymentFilter {
        status: Some(Status::Approved),
        limit: 10,
        ..PaymentFilter::default()
    };
    assert!(
        s.payments
            .list_payments(Some("mrc_a"), &approved)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn an_event_is_leased_to_one_worker_at_a_time(s: &Storage) {
    with_merchants(s).await;
    let p = stored(s, created("mrc_a", "ORD-1", T0), &[]).await;
    let q = stored(s, created("mrc_a", "ORD-2", T0), &[]).await;
    save_with_event(s, &p, event(&p, "evt_due", T0, Some("https://m.example/h"))).await;
    save_with_event(
        s,
        &q,
        event(&q, "evt_later", T0 + 5_000, Some("https://m.example/h")),
    )
    .await;
    let r = stored(s, created("mrc_a", "ORD-3", T0), &[]).await;
    save_with_event(s, &r, event(&r, "evt_nowhere", T0, None)).await;
    // Workers race for the due event: one gets it.
    let claims: Vec<_> = (0..4)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move {
                s.outbox
                    .claim_due_events(T0, T0 + 30_000, 10)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut got = Vec::new();
    for c in claims {
        got.extend(c.await.unwrap().into_iter().map(|e| e.id));
    }
    assert_eq!(got, ["evt_due"], "one worker holds it; the others, nothing");
    let leased = s.outbox.get_event("evt_due").await.unwrap().unwrap();
    assert_eq!(leased.lease_until, Some(T0 + 30_000));
    // Still leased: nobody else gets it (only what fell due since); once the lease ran out,
    // another worker may.
    let ids = |events: Vec<kapi::storage::EventRecord>| -> Vec<String> {
        events.into_iter().map(|e| e.id).collect()
    };
    assert_eq!(
        ids(s
            .outbox
            .claim_due_events(T0 + 29_999, T0 + 60_000, 10)
            .await
            .unwrap()),
        ["evt_later"]
    );
    assert_eq!(
        ids(s
            .outbox
            .claim_due_events(T0 + 30_000, T0 + 60_000, 10)
            .await
            .unwrap()),
        ["evt_due"]
    );
    assert!(
        s.outbox
            .claim_due_events(T0 + 59_999, T0 + 90_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn save_with_event(s: &Storage, p: &Payment, ev: kapi::storage::EventRecord) {
    let cancelled = p
        .apply(
            Transition::Cancel(ErrorCode::CancelledByShopper),
            p.updated_at + 1,
        )
        .unwrap();
    assert_eq!(
        s.payments
            .save(p, &cancelled, Effects::event(Some(&ev)))
            .await
            .unwrap(),
        Cas::Done
    );
}

fn attempt(event_id: &str, at: i64, status: Option<i64>) -> EventAttempt {
    EventAttempt {
        event_id: event_id.into(),
        attempted_at: at,
        status_code: status,
        latency_ms: 12,
        error: status.is_none().then(|| "connection refused".into()),
    }
}

pub async fn a_delivery_outcome_counts_only_under_its_lease(s: &Storage) {
    with_merchants(s).await;
    let p = stored(s, created("mrc_a", "ORD-1", T0), &[]).await;
    save_with_event(s, &p, event(&p, "evt_1", T0, Some("https://m.example/h"))).await;
    let first = T0 + 30_000;
    s.outbox.claim_due_events(T0, first, 10).await.unwrap();
    // The first worker stalls; its lease runs out and a second worker takes the event.
    let second = T0 + 90_000;
    let taken = s.outbox.claim_due_events(first, second, 10).await.unwrap();
    assert_eq!(taken.len(), 1);
    s.outbox
        .record_delivery(
            &attempt("evt_1", first + 1, Some(200)),
            DeliveryOutcome::Delivered,
            Some(first),
        )
        .await
        .unwrap();
    let e = s.outbox.get_event("evt_1").await.unwrap().unwrap();
    assert_eq!(
        (e.status, e.lease_until),
        (EventStatus::Pending, Some(second)),
        "the stale worker's outcome does not end the current lease"
    );
    s.outbox
        .record_delivery(
            &attempt("evt_1", first + 2, None),
            DeliveryOutcome::RetryAt(first + 60_000),
            Some(second),
        )
        .await
        .unwrap();
    let e = s.outbox.get_event("evt_1").await.unwrap().unwrap();
    assert_eq!(
        (e.status, e.next_attempt_at, e.lease_until, e.attempts),
        (EventStatus::Pending, first + 60_000, None, 2)
    );
    assert!(
        s.outbox
            .claim_due_events(first + 59_999, first + 99_999, 10)
            .await
            .unwrap()
            .is_empty(),
        "not due before its retry time"
    );
    let lease = first + 120_000;
    s.outbox
        .claim_due_events(first + 60_000, lease, 10)
        .await
        .unwrap();
    s.outbox
        .record_delivery(
            &attempt("evt_1", first + 60_001, Some(204)),
            DeliveryOutcome::Delivered,
            Some(lease),
        )
        .await
        .unwrap();
    let e = s.outbox.get_event("evt_1").await.unwrap().unwrap();
    assert_eq!(
        (e.status, e.delivered_at),
        (EventStatus::Delivered, Some(first + 60_001))
    );
    assert_eq!(s.outbox.event_attempts("evt_1").await.unwrap().len(), 3);
    assert!(
        s.outbox
            .claim_due_events(T0 + 999_999, T0 + 1_999_999, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // A resend queues it again; an event without an endpoint cannot be resent.
    assert!(
        s.outbox
            .resend_event("evt_1", T0 + 1_000_000)
            .await
            .unwrap()
    );
    let e = s.outbox.get_event("evt_1").await.unwrap().unwrap();
    assert_eq!(
        (e.status, e.next_attempt_at),
        (EventStatus::Pending, T0 + 1_000_000)
    );
    let q = stored(s, created("mrc_a", "ORD-2", T0), &[]).await;
    save_with_event(s, &q, event(&q, "evt_none", T0, None)).await;
    assert!(
        !s.outbox
            .resend_event("evt_none", T0 + 1_000_000)
            .await
            .unwrap()
    );
    assert!(
        !s.outbox
            .resend_event("evt_unknown", T0 + 1_000_000)
            .await
            .unwrap()
    );
    // Dead: never claimed again.
    let lease = T0 + 1_100_000;
    s.outbox
        .claim_due_events(T0 + 1_000_000, lease, 10)
        .await
        .unwrap();
    s.outbox
        .record_delivery(
            &attempt("evt_1", T0 + 1_000_001, Some(500)),
            DeliveryOutcome::Dead,
            Some(lease),
        )
        .await
        .unwrap();
    assert_eq!(
        s.outbox.get_event("evt_1").await.unwrap().unwrap().status,
        EventStatus::Dead
    );
    assert!(
        s.outbox
            .claim_due_events(T0 + 9_999_999, T0 + 19_999_999, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn events_page_by_keyset_and_filter(s: &Storage) {
    with_merchants(s).await;
    let mut ids = Vec::new();
    for (i, at) in [0, 1, 1, 1, 2].into_iter().enumerate() {
        let p = stored(s, created("mrc_a", &format!("ORD-{i}"), T0), &[]).await;
        let id = format!("evt_{i:02}");
        let url = (i % 2 == 0).then_some("https://m.example/h");
        save_with_event(s, &p, event(&p, &id, T0 + at, url)).await;
        ids.push((T0 + at, id));
    }
    ids.sort();
    ids.reverse();
    let mut seen = Vec::new();
    let mut f = EventFilter {
        limit: 2,
        ..EventFilter::default()
    };
    loop {
        let page = s.outbox.list_events("mrc_a", &f).await.unwrap();
        let Some(last) = page.last() else { break };
        f.before = Some((last.created_at, last.id.clone()));
        seen.extend(page.into_iter().map(|e| (e.created_at, e.id)));
    }
    assert_eq!(seen, ids);
    assert!(
        s.outbox
            .list_events(
                "mrc_b",
                &EventFilter {
                    limit: 10,
                    ..EventFilter::default()
                }
            )
            .await
            .unwrap()
            .is_empty()
    );
    let no_endpoint = EventFilter {
        status: Some(EventStatus::NoEndpoint),
        limit: 10,
        ..EventFilter::default()
    };
    assert_eq!(
        s.outbox
            .list_events("mrc_a", &no_endpoint)
            .await
            .unwrap()
            .len(),
        2
    );
    let by_kind = EventFilter {
        kind: Some("payment.failed".into()),
        limit: 10,
        ..EventFilter::default()
    };
    assert!(
        s.outbox
            .list_events("mrc_a", &by_kind)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn an_idempotency_key_runs_its_request_once(s: &Storage) {
    let r = &s.requests;
    let begin = |hash: &'static str, owner: &'static str, now: i64| async move {
        r.idempotency_begin("mrc_a", "key-1", hash, owner, now, now - 60_000)
            .await
            .unwrap()
    };
    assert_eq!(begin("h1", "w1", T0).await, IdempotencyState::Started);
    assert_eq!(begin("h1", "w2", T0 + 1).await, IdempotencyState::InFlight);
    assert_eq!(begin("h2", "w2", T0 + 1).await, IdempotencyState::Mismatch);
    // Another merchant's key of the same name is its own.
    assert_eq!(
        r.idempotency_begin("mrc_b", "key-1", "h9", "w9", T0, T0 - 60_000)
            .await
            .unwrap(),
        IdempotencyState::Started
    );
    // Only the holder stores the answer.
    r.idempotency_finish("mrc_a", "key-1", "w2", 201, "stolen")
        .await
        .unwrap();
    assert_eq!(begin("h1", "w3", T0 + 2).await, IdempotencyState::InFlight);
    r.idempotency_finish("mrc_a", "key-1", "w1", 201, r#"{"id":"pay_1"}"#)
        .await
        .unwrap();
    let done = IdempotencyState::Done {
        status: 201,
        body: r#"{"id":"pay_1"}"#.into(),
    };
    assert_eq!(begin("h1", "w4", T0 + 3).await, done);
    // Long after, still the same answer; a finished key is never taken over.
    assert_eq!(begin("h1", "w5", T0 + 10_000_000).await, done);
    assert_eq!(
        begin("h2", "w5", T0 + 10_000_000).await,
        IdempotencyState::Mismatch
    );
    // Forgotten keys start afresh.
    assert_eq!(r.idempotency_forget(T0 + 1).await.unwrap(), 2);
    assert_eq!(
        begin("h2", "w6", T0 + 10_000_001).await,
        IdempotencyState::Started
    );
}

pub async fn a_dead_request_s_key_is_taken_over_unless_it_started_a_refund(s: &Storage) {
    with_merchants(s).await;
    let r = &s.requests;
    // A request died in flight having started nothing: after the stale time, a retry runs.
    assert_eq!(
        r.idempotency_begin("mrc_a", "k-plain", "h", "w1", T0, T0 - 60_000)
            .await
            .unwrap(),
        IdempotencyState::Started
    );
    assert_eq!(
        r.idempotency_begin("mrc_a", "k-plain", "h", "w2", T0 + 59_999, T0 - 1)
            .await
            .unwrap(),
        IdempotencyState::InFlight
    );
    assert_eq!(
        r.idempotency_begin("mrc_a", "k-plain", "h", "w2", T0 + 60_001, T0 + 1)
            .await
            .unwrap(),
        IdempotencyState::Started
    );
    // The first holder lost its key: its late answer is not stored.
    r.idempotency_finish("mrc_a", "k-plain", "w1", 500, "late")
        .await
        .unwrap();
    assert_eq!(
        r.idempotency_begin("mrc_a", "k-plain", "h", "w3", T0 + 60_002, T0 + 1)
            .await
            .unwrap(),
        IdempotencyState::InFlight
    );
    // A request that reserved a refund and died: retries answer with that refund, never a
    // second one.
    let p = stored(
        s,
        created("mrc_a", "ORD-1", T0),
        &[submit, frictionless, claim, approve],
    )
    .await;
    assert_eq!(
        r.idempotency_begin("mrc_a", "k-refund", "h", "w1", T0, T0 - 60_000)
            .await
            .unwrap(),
        IdempotencyState::Started
    );
    let reserved = p
        .apply(
            Transition::Reserve {
                amount_minor: 5_000,
            },
            T0 + 10,
        )
        .unwrap();
    let link = IdempotencyLink {
        merchant_id: "mrc_a".into(),
        key: "k-refund".into(),
        owner: "w1".into(),
    };
    let rf = refund(&p, "rfd_1", RefundKind::Refund, 5_000, T0 + 10);
    assert_eq!(
        s.payments
            .reserve_refund(&p, &reserved, &rf, Some(&link))
            .await
            .unwrap(),
        Cas::Done
    );
    assert_eq!(
        r.idempotency_begin("mrc_a", "k-refund", "h", "w2", T0 + 1, T0 - 1)
            .await
            .unwrap(),
        IdempotencyState::InFlight,
        "still running"
    );
    assert_eq!(
        r.idempotency_begin("mrc_a", "k-refund", "h", "w2", T0 + 999_999, T0 + 1)
            .await
            .unwrap(),
        IdempotencyState::Refund {
            refund_id: "rfd_1".into()
        },
        "stale, but it started a refund"
    );
    // Its request ended in an error: abandoning keeps the link; a key with nothing started is
    // forgotten.
    r.idempotency_abandon("mrc_a", "k-refund", "w1")
        .await
        .unwrap();
    assert_eq!(
        r.idempotency_begin("mrc_a", "k-refund", "h", "w3", T0 + 2, T0 - 1)
            .await
            .unwrap(),
        IdempotencyState::Refund {
            refund_id: "rfd_1".into()
        }
    );
    r.idempotency_begin("mrc_a", "k-gone", "h", "w1", T0, T0 - 1)
        .await
        .unwrap();
    r.idempotency_abandon("mrc_a", "k-gone", "w1")
        .await
        .unwrap();
    assert_eq!(
        r.idempotency_begin("mrc_a", "k-gone", "h2", "w2", T0 + 1, T0 - 1)
            .await
            .unwrap(),
        IdempotencyState::Started
    );
    // The refund settles: the key answers with the stored response from then on.
    r.idempotency_settle_refund("mrc_a", "k-refund", "rfd_1", 201, r#"{"id":"rfd_1"}"#)
        .await
        .unwrap();
    assert_eq!(
        r.idempotency_begin("mrc_a", "k-refund", "h", "w4", T0 + 3, T0 - 1)
            .await
            .unwrap(),
        IdempotencyState::Done {
            status: 201,
            body: r#"{"id":"rfd_1"}"#.into()
        }
    );
}

pub async fn a_nonce_is_accepted_once_per_merchant(s: &Storage) {
    let r = &s.requests;
    assert!(r.remember_nonce("mrc_a", "n-1", T0).await.unwrap());
    assert!(!r.remember_nonce("mrc_a", "n-1", T0 + 1).await.unwrap());
    assert!(r.remember_nonce("mrc_b", "n-1", T0 + 1).await.unwrap());
    // Racing replays of one form: one wins.
    let tries: Vec<_> = (0..6)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(
                async move { s.requests.remember_nonce("mrc_a", "n-2", T0).await.unwrap() },
            )
        })
        .collect();
    let mut accepted = 0;
    for t in tries {
        accepted += usize::from(t.await.unwrap());
    }
    assert_eq!(accepted, 1);
    assert_eq!(r.forget_nonces(T0 + 1).await.unwrap(), 2);
    assert!(
        !r.remember_nonce("mrc_b", "n-1", T0 + 2).await.unwrap(),
        "not yet forgotten"
    );
}

pub async fn a_refund_reservation_is_a_compare_and_set(s: &Storage) {
    with_merchants(s).await;
    let p = stored(
        s,
        created("mrc_a", "ORD-1", T0),
        &[submit, frictionless, claim, approve],
    )
    .await;
    let first = p
        .apply(
            Transition::Reserve {
                amount_minor: 10_000,
            },
            T0 + 10,
        )
        .unwrap();
    let second = p
        .apply(
            Transition::Reserve {
                amount_minor: 10_000,
            },
            T0 + 10,
        )
        .unwrap();
    let r1 = refund(&p, "rfd_1", RefundKind::Refund, 10_000, T0 + 10);
    let r2 = refund(&p, "rfd_2", RefundKind::Refund, 10_000, T0 + 10);
    assert_eq!(
        s.payments
            .reserve_refund(&p, &first, &r1, None)
            .await
            .unwrap(),
        Cas::Done
    );
    assert_eq!(
        s.payments
            .reserve_refund(&p, &second, &r2, None)
            .await
            .unwrap(),
        Cas::Lost
    );
    assert!(
        s.payments.get_refund("rfd_2").await.unwrap().is_none(),
        "the lost reservation left no refund"
    );
    let got = s
        .payments
        .get_payment(p.id.as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (got.refund_reserved_minor, got.refundable_minor()),
        (10_000, 5_000)
    );
    // Recomputed from the stored payment, the core refuses what would exceed the charge.
    assert!(
        got.apply(
            Transition::Reserve {
                amount_minor: 5_001
            },
            T0 + 11
        )
        .is_err()
    );
    let pending = s.payments.pending_refunds(T0 + 11, 10).await.unwrap();
    assert_eq!(
        pending.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["rfd_1"]
    );
    assert!(
        s.payments
            .pending_refunds(T0 + 10, 10)
            .await
            .unwrap()
            .is_empty(),
        "touched since"
    );
}

pub async fn racing_refunds_never_reserve_more_than_was_charged(s: &Storage) {
    with_merchants(s).await;
    let p = stored(
        s,
        created("mrc_a", "ORD-1", T0),
        &[submit, frictionless, claim, approve],
    )
    .await;
    // Eight refunds of 40.00 against 150.00, each re-reading and retrying on a lost race as
    // the core does: three fit.
    let tries: Vec<_> = (0..8)
        .map(|i| {
            let s = s.clone();
            let id = p.id.to_string();
            tokio::spawn(async move {
                loop {
                    let now = s.payments.get_payment(&id).await.unwrap().unwrap();
                    let Ok(after) = now.apply(
                        Transition::Reserve {
                            amount_minor: 4_000,
                        },
                        T0 + 20,
                    ) else {
                        return false;
                    };
                    let r = refund(
                        &now,
                        &format!("rfd_{i}"),
                        RefundKind::Refund,
                        4_000,
                        T0 + 20,
                    );
                    match s
                        .payments
                        .reserve_refund(&now, &after, &r, None)
                        .await
                        .unwrap()
                    {
                        Cas::Done => return true,
                        Cas::Lost => continue,
                        Cas::OrderAlreadyPaid => panic!("not a claim"),
                    }
                }
            })
        })
        .collect();
    let mut reserved = 0;
    for t in tries {
        reserved += usize::from(t.await.unwrap());
    }
    assert_eq!(reserved, 3);
    let got = s
        .payments
        .get_payment(p.id.as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.refund_reserved_minor, 12_000);
    assert_eq!(s.payments.refunds(p.id.as_str()).await.unwrap().len(), 3);
}

pub async fn a_refund_is_settled_once_and_with_its_payment(s: &Storage) {
    with_merchants(s).await;
    let p = stored(
        s,
        created("mrc_a", "ORD-1", T0),
        &[submit, frictionless, claim, approve],
    )
    .await;
    let reserved = p
        .apply(
            Transition::Reserve {
                amount_minor: 15_000,
            },
            T0 + 10,
        )
        .unwrap();
    let pending = refund(&p, "rfd_1", RefundKind::Refund, 15_000, T0 + 10);
    s.payments
        .reserve_refund(&p, &reserved, &pending, None)
        .await
        .unwrap();
    let mut answered = pending.clone();
    answered.status = RefundStatus::Succeeded;
    answered.proc_return_code = Some("00".into());
    answered.updated_at = T0 + 20;
    let settled = reserved
        .apply(
            Transition::SettleAfterSale {
                op: AfterSaleOp::Refund,
                amount_minor: 15_000,
                succeeded: true,
            },
            T0 + 20,
        )
        .unwrap();
    assert_eq!(settled.status, Status::Refunded);
    // Computed from a stale payment: nothing is written, the refund stays pending.
    let stale = p
        .apply(Transition::Reserve { amount_minor: 1 }, T0 + 5)
        .unwrap();
    assert_eq!(
        s.payments
            .settle_refund(&answered, &p, &stale, None)
            .await
            .unwrap(),
        Settle::PaymentMoved
    );
    assert_eq!(
        s.payments
            .get_refund("rfd_1")
            .await
            .unwrap()
            .unwrap()
            .status,
        RefundStatus::Pending
    );
    let ev = event(&p, "evt_refunded", T0 + 20, Some("https://m.example/h"));
    assert_eq!(
        s.payments
            .settle_refund(&answered, &reserved, &settled, Some(&ev))
            .await
            .unwrap(),
        Settle::Done
    );
    let r = s.payments.get_refund("rfd_1").await.unwrap().unwrap();
    assert_eq!(
        (r.status, r.proc_return_code.as_deref()),
        (RefundStatus::Succeeded, Some("00"))
    );
    let got = s
        .payments
        .get_payment(p.id.as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((got.status, got.refunded_minor), (Status::Refunded, 15_000));
    assert!(s.outbox.get_event("evt_refunded").await.unwrap().is_some());
    // A second answer to the same refund (a retry that raced it) changes nothing.
    let mut refused = pending.clone();
    refused.status = RefundStatus::Failed;
    assert_eq!(
        s.payments
            .settle_refund(&refused, &settled, &settled.clone(), None)
            .await
            .unwrap(),
        Settle::AlreadySettled
    );
    assert_eq!(
        s.payments
            .get_refund("rfd_1")
            .await
            .unwrap()
            .unwrap()
            .status,
        RefundStatus::Succeeded
    );
    assert!(
        s.payments
            .pending_refunds(T0 + 999_999, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn a_reversal_is_leased_retried_and_settled(s: &Storage) {
    with_merchants(s).await;
    let claimed = stored(
        s,
        created("mrc_a", "ORD-1", T0),
        &[submit, frictionless, claim],
    )
    .await;
    let failed = claimed
        .apply(
            Transition::Fail {
                code: ErrorCode::BankUnreachable,
                detail: Default::default(),
            },
            T0 + 10,
        )
        .unwrap();
    let rev = reversal(&claimed, "rev_1", T0 + 10);
    let effects = Effects {
        reversal: Some(&rev),
        ..Effects::default()
    };
    s.payments.save(&claimed, &failed, effects).await.unwrap();
    let lease = T0 + 40_000;
    let claims: Vec<_> = (0..4)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move {
                s.payments
                    .claim_due_reversals(T0 + 10, lease, 10)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut got = 0;
    for c in claims {
        got += c.await.unwrap().len();
    }
    assert_eq!(got, 1, "one worker holds the reversal");
    // An outcome under a lease that is not the current one changes nothing.
    let retry = ReversalOutcome::RetryAt {
        at: T0 + 70_000,
        error: "timeout".into(),
    };
    s.payments
        .record_reversal("rev_1", Some(lease + 1), &retry, T0 + 20)
        .await
        .unwrap();
    assert_eq!(
        s.payments.reversals(claimed.id.as_str()).await.unwrap()[0].attempts,
        0
    );
    s.payments
        .record_reversal("rev_1", Some(lease), &retry, T0 + 20)
        .await
        .unwrap();
    let r = &s.payments.reversals(claimed.id.as_str()).await.unwrap()[0];
    assert_eq!(
        (
            r.status,
            r.attempts,
            r.next_attempt_at,
            r.lease_until,
            r.last_error.as_deref()
        ),
        (
            ReversalStatus::Pending,
            1,
            T0 + 70_000,
            None,
            Some("timeout")
        )
    );
    assert!(
        s.payments
            .claim_due_reversals(T0 + 69_999, T0 + 99_999, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let lease = T0 + 100_000;
    assert_eq!(
        s.payments
            .claim_due_reversals(T0 + 70_000, lease, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    let settled = ReversalOutcome::Settled {
        status: ReversalStatus::Reversed,
        proc_return_code: "00".into(),
    };
    s.payments
        .record_reversal("rev_1", Some(lease), &settled, T0 + 70_001)
        .await
        .unwrap();
    let r = &s.payments.reversals(claimed.id.as_str()).await.unwrap()[0];
    assert_eq!(
        (r.status, r.attempts, r.proc_return_code.as_deref()),
        (ReversalStatus::Reversed, 2, Some("00"))
    );
    assert!(
        s.payments
            .claim_due_reversals(T0 + 9_999_999, T0 + 19_999_999, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn merchants_are_found_by_current_and_previous_key(s: &Storage) {
    with_merchants(s).await;
    let m = &s.merchants;
    assert_eq!(
        m.find_merchant_by_key("lookup-mrc_a")
            .await
            .unwrap()
            .unwrap()
            .id,
        "mrc_a"
    );
    assert!(m.find_merchant_by_key("nothing").await.unwrap().is_none());
    let rotation = KeyRotation {
        new_enc: b"new",
        new_lookup: "lookup-new",
        prev_enc: SECRET_ENC,
        prev_lookup: "lookup-mrc_a",
        prev_expires_at: T0 + 3_600_000,
    };
    m.rotate_merchant_key("mrc_a", &rotation).await.unwrap();
    let got = m.get_merchant("mrc_a").await.unwrap().unwrap();
    assert_eq!(got.secret_key_enc, b"new");
    assert_eq!(got.previous_key(T0), Some(SECRET_ENC));
    assert_eq!(got.previous_key(T0 + 3_600_000), None);
    assert_eq!(
        m.find_merchant_by_key("lookup-new")
            .await
            .unwrap()
            .unwrap()
            .id,
        "mrc_a"
    );
    assert_eq!(
        m.find_merchant_by_key("lookup-mrc_a")
            .await
            .unwrap()
            .unwrap()
            .id,
        "mrc_a"
    );
    assert_eq!(m.list_merchants().await.unwrap().len(), 2);
    // A lookup is one merchant's only.
    assert!(
        m.insert_merchant(&{
            let mut c = merchant("mrc_c");
            c.key_lookup = Some("lookup-new".into());
            c
        })
        .await
        .is_err()
    );
}

pub async fn merchant_settings_read_back(s: &Storage) {
    with_merchants(s).await;
    let m = &s.merchants;
    m.set_merchant_api_settings(
        "mrc_a",
        Some("https://ornek.example/new-hooks"),
        &["203.0.113.7".to_owned()],
        &["https://ornek.example".to_owned()],
    )
    .await
    .unwrap();
    m.set_merchant_installment_plan("mrc_a", Some(r#"{"max":6}"#))
        .await
        .unwrap();
    m.set_merchant_accent("mrc_a", Some("#0a7f3f"))
        .await
        .unwrap();
    m.set_merchant_origins(
        "mrc_a",
        &[
            "https://a.example".to_owned(),
            "https://b.example".to_owned(),
        ],
    )
    .await
    .unwrap();
    let logo = kapi::storage::MerchantLogo {
        content_type: "image/png".into(),
        body: vec![0x89, b'P', b'N', b'G'],
        sha256: "cd".repeat(32),
    };
    m.set_merchant_logo("mrc_a", Some(&logo)).await.unwrap();
    let got = m.get_merchant("mrc_a").await.unwrap().unwrap();
    assert_eq!(
        got.webhook_url.as_deref(),
        Some("https://ornek.example/new-hooks")
    );
    assert_eq!(got.allowed_ips(), ["203.0.113.7"]);
    assert_eq!(got.frame_origins(), ["https://ornek.example"]);
    assert_eq!(got.installment_plan.as_deref(), Some(r#"{"max":6}"#));
    assert_eq!(got.accent_colour.as_deref(), Some("#0a7f3f"));
    assert_eq!(got.origins(), ["https://a.example", "https://b.example"]);
    assert_eq!(got.logo_sha256, Some("cd".repeat(32)));
    assert_eq!(
        m.merchant_logo("mrc_a").await.unwrap().unwrap().body,
        logo.body
    );
    m.set_merchant_logo("mrc_a", None).await.unwrap();
    m.set_merchant_accent("mrc_a", None).await.unwrap();
    m.set_merchant_installment_plan("mrc_a", None)
        .await
        .unwrap();
    let got = m.get_merchant("mrc_a").await.unwrap().unwrap();
    assert!(
        got.logo_sha256.is_none() && got.accent_colour.is_none() && got.installment_plan.is_none()
    );
    assert!(m.merchant_logo("mrc_a").await.unwrap().is_none());
    let seller = kapi::storage::SellerDetails {
        legal_title: "Yeni Unvan A.Ş.".into(),
        address: "Yeni adres".into(),
        phone: "+90 1".into(),
        email: "yeni@ornek.example".into(),
        mersis: "9999999999999999".into(),
        website: "https://yeni.example".into(),
    };
    m.set_merchant_seller("mrc_a", &seller).await.unwrap();
    let got = m.get_merchant("mrc_a").await.unwrap().unwrap();
    assert_eq!(
        (
            got.legal_title.as_str(),
            got.address.as_str(),
            got.mersis.as_str(),
            got.website.as_str()
        ),
        (
            "Yeni Unvan A.Ş.",
            "Yeni adres",
            "9999999999999999",
            "https://yeni.example"
        )
    );
    assert_eq!(
        (got.phone.as_str(), got.email.as_str()),
        ("+90 1", "yeni@ornek.example")
    );
    let other = m.get_merchant("mrc_b").await.unwrap().unwrap();
    assert_eq!(
        other.webhook_url.as_deref(),
        Some("https://ornek.example/hooks"),
        "only mrc_a changed"
    );
}

pub async fn sealed_data_is_replaced_only_if_unchanged(s: &Storage) {
    with_merchants(s).await;
    // Sealed blobs start with the version and id of their key: five bytes.
    let prefix_old: &[u8] = &[1, 0, 0, 0, 1];
    let prefix_new: &[u8] = &[1, 0, 0, 0, 2];
    let stale = s.sealed.merchants_not_under(prefix_new, 10).await.unwrap();
    assert_eq!(stale.len(), 2);
    let old = SECRET_ENC;
    assert!(
        s.sealed
            .replace_merchant_secrets("mrc_a", old, &[1, 0, 0, 0, 2, 1], None)
            .await
            .unwrap()
    );
    assert!(
        !s.sealed
            .replace_merchant_secrets("mrc_a", old, &[1, 0, 0, 0, 2, 2], None)
            .await
            .unwrap(),
        "someone re-encrypted it first"
    );
    assert_eq!(
        s.sealed
            .merchants_not_under(prefix_new, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    let p = stored(s, created("mrc_a", "ORD-1", T0), &[]).await;
    let submitted = submit(&p, T0 + 1);
    let card = [1u8, 0, 0, 0, 1, 7];
    s.payments
        .save(
            &p,
            &submitted,
            Effects {
                card: Some(&card),
                ..Effects::default()
            },
        )
        .await
        .unwrap();
    let cards = s.sealed.cards_not_under(prefix_new, 10).await.unwrap();
    assert_eq!(cards, vec![(p.id.to_string(), card.to_vec())]);
    let resealed = [1u8, 0, 0, 0, 2, 7];
    assert!(
        s.sealed
            .replace_card(p.id.as_str(), &card, &resealed)
            .await
            .unwrap()
    );
    assert!(
        !s.sealed
            .replace_card(p.id.as_str(), &card, &[1, 0, 0, 0, 2, 8])
            .await
            .unwrap()
    );
    assert_eq!(
        s.payments.load_card(p.id.as_str()).await.unwrap(),
        Some(resealed.to_vec())
    );
    assert_eq!(s.sealed.blobs_under(prefix_new).await.unwrap(), 2);
    assert_eq!(s.sealed.blobs_under(prefix_old).await.unwrap(), 1);
}

pub async fn security_events_read_newest_first(s: &Storage) {
    for (i, kind) in ["card_testing_block", "card_testing_block", "key_rotated"]
        .iter()
        .enumerate()
    {
        s.security
            .record_security_event(&SecurityEvent {
                kind: (*kind).into(),
                subject: format!("ip:203.0.113.{i}"),
                detail: "12 declines in 60 s".into(),
                at: T0 + i64::try_from(i).unwrap(),
            })
            .await
            .unwrap();
    }
    let got = s.security.security_events(2).await.unwrap();
    assert_eq!(
        got.iter().map(|e| e.at).collect::<Vec<_>>(),
        [T0 + 2, T0 + 1]
    );
}

pub async fn the_guard_counts_blocks_and_lifts(s: &Storage) {
    let sec = &s.security;
    let key = "declines-ip:203.0.113.9";
    // Concurrent counts of one window never lose an add.
    let adds: Vec<_> = (0..8)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move {
                s.security
                    .guard_count("declines-ip:203.0.113.9:count", 600, 1)
                    .await
                    .unwrap()
            })
        })
        .collect();
    for a in adds {
        a.await.unwrap();
    }
    assert_eq!(
        sec.guard_count(&format!("{key}:count"), 600, 0)
            .await
            .unwrap(),
        8
    );
    assert_eq!(
        sec.guard_count(&format!("{key}:count"), 1200, 0)
            .await
            .unwrap(),
        0,
        "a new window"
    );
    assert_eq!(sec.guard_blocked(key, 1000).await.unwrap(), None);
    sec.guard_block(key, 2000).await.unwrap();
    sec.guard_block(key, 1500).await.unwrap();
    assert_eq!(
        sec.guard_blocked(key, 1000).await.unwrap(),
        Some(2000),
        "never shortened"
    );
    assert_eq!(sec.guard_blocked(key, 2000).await.unwrap(), None, "ended");
    sec.guard_block("declines-merchant:mrc_a", 3000)
        .await
        .unwrap();
    let blocks = sec.guard_blocks(1000).await.unwrap();
    assert_eq!(blocks.len(), 2);
    // Lifting a block forgets its counts, not others'.
    sec.guard_count("declines-ip:203.0.113.99:count", 600, 3)
        .await
        .unwrap();
    assert!(sec.guard_lift(key, 1000).await.unwrap());
    assert!(
        !sec.guard_lift(key, 1000).await.unwrap(),
        "nothing left to lift"
    );
    assert_eq!(sec.guard_blocked(key, 1000).await.unwrap(), None);
    assert_eq!(
        sec.guard_count(&format!("{key}:count"), 600, 0)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        sec.guard_count("declines-ip:203.0.113.99:count", 600, 0)
            .await
            .unwrap(),
        3,
        "a key that merely starts the same is not touched"
    );
    assert_eq!(sec.guard_blocks(1000).await.unwrap().len(), 1);
    // Old windows and ended blocks are forgotten.
    assert!(sec.guard_forget(3001).await.unwrap() >= 2);
    assert!(sec.guard_blocks(0).await.unwrap().is_empty());
}

pub async fn the_simulators_records_are_compare_and_set(s: &Storage) {
    let rec = |key: &str, tag: Option<&str>, value: &str, at: i64| SimRecord {
        kind: "sms".into(),
        key: key.into(),
        tag: tag.map(str::to_owned),
        value: value.into(),
        at,
    };
    assert!(
        s.sim
            .sim_insert(&rec("m1", Some("acs-1"), "a", T0))
            .await
            .unwrap()
    );
    assert!(
        !s.sim
            .sim_insert(&rec("m1", Some("acs-1"), "b", T0))
            .await
            .unwrap()
    );
    assert!(
        s.sim
            .sim_insert(&rec("m2", Some("acs-2"), "c", T0 + 1))
            .await
            .unwrap()
    );
    assert!(
        s.sim
            .sim_insert(&rec("m3", Some("acs-1"), "d", T0 + 2))
            .await
            .unwrap()
    );
    let other_kind = SimRecord {
        kind: "txn".into(),
        ..rec("m1", None, "x", T0)
    };
    assert!(
        s.sim.sim_insert(&other_kind).await.unwrap(),
        "keys are per kind"
    );
    assert_eq!(
        s.sim.sim_get("sms", "m1").await.unwrap().unwrap().value,
        "a"
    );
    assert!(
        s.sim
            .sim_replace("sms", "m1", "a", "a2", T0 + 3)
            .await
            .unwrap()
    );
    assert!(
        !s.sim
            .sim_replace("sms", "m1", "a", "a3", T0 + 4)
            .await
            .unwrap(),
        "compare-and-set"
    );
    assert_eq!(
        s.sim.sim_get("sms", "m1").await.unwrap().unwrap().value,
        "a2"
    );
    let newest: Vec<_> = s
        .sim
        .sim_list("sms", None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.key)
        .collect();
    assert_eq!(newest, ["m3", "m2", "m1"], "newest written first");
    let tagged: Vec<_> = s
        .sim
        .sim_list("sms", Some("acs-1"), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.key)
        .collect();
    assert_eq!(tagged, ["m3", "m1"]);
    assert_eq!(s.sim.sim_forget("sms", T0 + 3).await.unwrap(), 2);
    assert!(s.sim.sim_get("sms", "m2").await.unwrap().is_none());
    assert!(
        s.sim.sim_get("txn", "m1").await.unwrap().is_some(),
        "other kinds stay"
    );
}

mod sqlite {
    super::suite!(async { kapi::storage::Storage::in_memory().await.unwrap() });
}

/// The same suite on PostgreSQL, each test in a fresh schema, when `KAPI_TEST_POSTGRES` names
/// the server (CI does; `cargo test` alone needs nothing installed and runs it on SQLite only).
mod postgres {
    super::suite!(async {
        match super::postgres_store().await {
            Some(storage) => storage,
            None => {
                eprintln!("KAPI_TEST_POSTGRES unset: the PostgreSQL contract runs in CI");
                kapi::storage::Storage::in_memory().await.unwrap()
            }
        }
    });
}

/// A fresh PostgreSQL schema, opened as Kapı opens its database.
async fn postgres_store() -> Option<Storage> {
    let base = std::env::var("KAPI_TEST_POSTGRES")
        .ok()
        .filter(|s| !s.is_empty())?;
    let schema = format!("c_{}", kapi::domain::ids::random_token(8));
    let mut conn: sqlx::PgConnection = sqlx::Connection::connect(&base).await.unwrap();
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
    let store =
        kapi::storage::sql::SqlStore::open_postgres(&url, 4, kapi::storage::Access::ReadWrite)
            .await
            .unwrap();
    assert_eq!(store.backend(), kapi::storage::sql::Backend::Postgres);
    Some(Storage::from_store(store))
}

pub async fn the_operator_sees_every_merchant_and_what_is_waiting(s: &Storage) {
    with_merchants(s).await;
    stored(s, created("mrc_a", "ORD-1", T0), &[]).await;
    let b = stored(s, created("mrc_b", "ORD-1", T0 + 1), &[submit]).await;
    let all = PaymentFilter {
        limit: 10,
        ..PaymentFilter::default()
    };
    assert_eq!(s.payments.list_payments(None, &all).await.unwrap().len(), 2);
    assert_eq!(
        s.payments
            .list_payments(Some("mrc_b"), &all)
            .await
            .unwrap()
            .len(),
        1
    );
    // In between: `b` since its submit (T0 + 2); `created` is not in between.
    assert_eq!(s.payments.count_in_between(T0 + 10).await.unwrap(), 1);
    assert_eq!(
        s.payments.count_in_between(b.updated_at - 1).await.unwrap(),
        0
    );
    // The outbox: one event due since T0 + 5, one due later, one delivered.
    assert_eq!(s.outbox.backlog(T0).await.unwrap(), (0, None));
    let p = stored(s, created("mrc_a", "ORD-2", T0), &[]).await;
    save_with_event(
        s,
        &p,
        event(&p, "evt_due", T0 + 5, Some("https://m.example/h")),
    )
    .await;
    let q = stored(s, created("mrc_a", "ORD-3", T0), &[]).await;
    save_with_event(
        s,
        &q,
        event(&q, "evt_later", T0 + 50, Some("https://m.example/h")),
    )
    .await;
    assert_eq!(s.outbox.backlog(T0 + 10).await.unwrap(), (2, Some(T0 + 5)));
    assert_eq!(s.outbox.backlog(T0).await.unwrap(), (2, None));
}

pub async fn the_store_reports_its_health(s: &Storage) {
    s.health.ping().await.unwrap();
    assert_eq!(s.health.pending_migrations().await.unwrap(), vec![]);
    let pool = s.health.pool_usage();
    assert!(
        pool.max >= 1 && pool.in_use + pool.idle <= pool.max,
        "{pool:?}"
    );
}

pub async fn several_guard_counts_move_together(s: &Storage) {
    let items = |n: u32| {
        vec![
            ("declines-merchant:m:all".to_owned(), 100, 1),
            ("declines-merchant:m:count".to_owned(), 100, n),
            ("declines-ip:1.2.3.4:count".to_owned(), 100, n),
        ]
    };
    assert_eq!(
        s.security.guard_count_many(&items(0)).await.unwrap(),
        [1, 0, 0]
    );
    assert_eq!(
        s.security.guard_count_many(&items(1)).await.unwrap(),
        [2, 1, 1]
    );
    // The same counters as one at a time; another window is apart.
    assert_eq!(
        s.security
            .guard_count("declines-merchant:m:count", 100, 0)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        s.security
            .guard_count_many(&[("declines-merchant:m:all".to_owned(), 200, 0)])
            .await
            .unwrap(),
        [0]
    );
    // Racing batches lose nothing.
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.security.guard_count_many(&items(1)).await.unwrap() })
        })
        .collect();
    for r in racers {
        r.await.unwrap();
    }
    assert_eq!(
        s.security.guard_count_many(&items(0)).await.unwrap(),
        [11, 9, 9]
    );
}
