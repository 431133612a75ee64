//! Nothing stays in between. A payment that a dropped request, a timeout or a crash left in
//! `card_submitted`, `authenticated` or `authorising` (or in `challenge` after the ACS
//! answered) is settled by the sweeper, and a reversal
//! of an authorisation whose outcome could not be learnt is retried until the bank
//! acknowledges it. Every step is a compare-and-set or a lease: several instances may run it
//! at the same time.
//!
//! The rule, documented in docs/PROTOCOL.md §5.5: once a payment has made no move for
//! `Settings::recovery_after_ms` (the longer of the ACS and bank timeouts plus
//! `checkout.recovery_margin_secs`),
//! - in `card_submitted` or `authenticated` nothing has reached the bank: it is failed
//!   (`KP-5001`);
//! - in `authorising` the bank is asked what became of the attempt (by its reference): the
//!   payment ends as the bank booked it, or, when the bank has no booking or cannot say, it is
//!   failed (`KP-4091`) and the attempt reversed;
//! - in `challenge` with the ACS's outcome (RReq) recorded, the shopper's browser never brought
//!   the CRes back: the challenge ends by its outcome, as it would have.

use super::{
    CheckoutError, Status,
    payment::{FailureDetail, Transition},
    service::Checkout,
};
use crate::{
    acquirer::AfterSaleRequest,
    error::ErrorCode,
    storage::{ReversalOutcome, ReversalRecord, ReversalStatus, SecurityEvent},
};

const BATCH: i64 = 50;
/// The longest wait between two tries of a reversal.
const MAX_REVERSAL_BACKOFF_MS: i64 = 10 * 60 * 1000;

/// Settles the payments that stopped in between. Returns how many it moved.
pub async fn recover_interrupted(cx: &Checkout) -> Result<usize, CheckoutError> {
    let moved_before = cx.now_ms().saturating_sub(cx.settings.recovery_after_ms());
    let ids = cx.storage.payments.interrupted(moved_before, BATCH).await?;
    let mut moved = 0;
    for id in ids {
        let Some(payment) = cx.storage.payments.get_payment(&id).await? else {
            continue;
        };
        let merchant_authorises = payment
            .gateway
            .as_ref()
            .is_some_and(crate::checkout::gateway::Gateway::merchant_authorises);
        match payment.status {
            // NestPay's `3d` model stopped between 3-D Secure and handing it to the merchant.
            Status::Authenticated if merchant_authorises => {
                cx.authorise(&id, payment.locale).await?;
                moved += 1;
            }
            status @ (Status::CardSubmitted | Status::Authenticated) => {
                tracing::warn!(payment_id = %id, status = status.as_str(), "payment interrupted before it reached the bank; failing it");
                let t = Transition::Fail {
                    code: ErrorCode::Interrupted,
                    detail: FailureDetail::default(),
                };
                if cx.finish(&payment, t).await? {
                    moved += 1;
                }
            }
            Status::Authorising => {
                tracing::warn!(payment_id = %id, "authorisation interrupted; asking the bank");
                cx.settle_unknown(&payment).await?;
                moved += 1;
            }
            // The ACS reported the outcome, but the shopper's browser never came back with it.
            Status::Challenge => {
                tracing::info!(payment_id = %id, "challenge answered without the shopper's return; finishing it");
                if cx.finish_challenge(&payment).await? {
                    moved += 1;
                }
            }
            // Moved on since it was listed.
            _ => {}
        }
    }
    Ok(moved)
}

/// Tries every reversal that is due, until none is left. Several callers at once share the
/// work: each reversal is leased to one of them.
pub async fn retry_reversals(cx: Checkout) {
    let lease_ms = i64::try_from(cx.settings.acquirer.timeout_secs.saturating_mul(2000))
        .unwrap_or(i64::MAX)
        .saturating_add(5000);
    loop {
        let now = cx.now_ms();
        let due = match cx
            .storage
            .payments
            .claim_due_reversals(now, now.saturating_add(lease_ms), BATCH)
            .await
        {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "could not claim reversals");
                return;
            }
        };
        let count = due.len();
        for reversal in due {
            reverse(&cx, reversal).await;
        }
        if i64::try_from(count).unwrap_or(0) < BATCH {
            return;
        }
    }
}

/// One try of one reversal.
async fn reverse(cx: &Checkout, r: ReversalRecord) {
    let payment = match cx.storage.payments.get_payment(&r.payment_id).await {
        Ok(Some(p)) => p,
        Ok(None) | Err(_) => return,
    };
    // The terminal that authorised it; unknown now (removed, unreadable): tried again later.
    let (acquirer, bank_terminal_id) = match cx.acquirer_for(&r.terminal_id).await {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(reversal_id = %r.id, terminal_id = %r.terminal_id, code = e.code.code(), "no connector for the reversal's terminal");
            return;
        }
    };
    let req = AfterSaleRequest {
        terminal_id: bank_terminal_id,
        merchant_id: payment.merchant_id.to_string(),
        order_id: payment.order_id.to_string(),
        payment_id: payment.id.to_string(),
        reference: r.id.clone(),
        original_transaction_id: String::new(),
        original_host_ref: String::new(),
        original_reference: r.attempt_ref.clone(),
        amount_minor: r.amount_minor,
        currency: r.currency.clone(),
        repeat: r.attempts > 0,
        refunded_before_minor: 0,
    };
    let now = cx.now_ms();
    let backoff = 1000_i64
        .saturating_mul(
            1_i64
                .checked_shl(u32::try_from(r.attempts).unwrap_or(30).min(30))
                .unwrap_or(i64::MAX),
        )
        .min(MAX_REVERSAL_BACKOFF_MS);
    let retry = |error: String| ReversalOutcome::RetryAt {
        at: now.saturating_add(backoff),
        error,
    };
    let outcome = match acquirer.reverse(&req).await {
        Ok(resp) if resp.proc_return_code == "00" => ReversalOutcome::Settled {
            status: ReversalStatus::Reversed,
            proc_return_code: resp.proc_return_code,
        },
        // "No such authorisation" is final once a lost authorisation can no longer arrive.
        Ok(resp) if resp.proc_return_code == "25" && now >= r.not_found_final_at => {
            ReversalOutcome::Settled {
                status: ReversalStatus::NothingToReverse,
                proc_return_code: resp.proc_return_code,
            }
        }
        // Not booked yet: again soon, and at the latest when "not found" becomes final.
        Ok(resp) if resp.proc_return_code == "25" => ReversalOutcome::RetryAt {
            at: now
                .saturating_add(backoff)
                .min(r.not_found_final_at.max(now.saturating_add(100))),
            error: "the bank has no such authorisation yet".to_owned(),
        },
        Ok(resp) => retry(format!("reversal refused with {}", resp.proc_return_code)),
        Err(e) => retry(e.to_string()),
    };
    match &outcome {
        ReversalOutcome::Settled { status, .. } => {
            tracing::info!(payment_id = %r.payment_id, reversal_id = %r.id, status = status.as_str(), "reversal settled");
            crate::observe::recovered("reversal", 1);
        }
        ReversalOutcome::RetryAt { error, .. } if r.attempts >= 5 => {
            tracing::error!(payment_id = %r.payment_id, reversal_id = %r.id, attempts = r.attempts + 1, %error, "reversal still not acknowledged; retrying");
        }
        ReversalOutcome::RetryAt { error, .. } => {
            tracing::warn!(payment_id = %r.payment_id, reversal_id = %r.id, %error, "reversal not acknowledged; retrying");
        }
    }
    if let Err(e) = cx
        .storage
        .payments
        .record_reversal(&r.id, r.lease_until, &outcome, now)
        .await
    {
        tracing::error!(reversal_id = %r.id, error = %e, "could not record a reversal");
        return;
    }
    if matches!(
        outcome,
        ReversalOutcome::Settled {
            status: ReversalStatus::Reversed,
            ..
        }
    ) {
        // The operator sees that money moved back for a payment reported as failed.
        let event = SecurityEvent {
            kind: "authorisation_reversal".into(),
            subject: format!("payment:{}", r.payment_id),
            detail: format!(
                "the answer to authorisation attempt {} was lost; reversed at the bank",
                r.attempt_ref
            ),
            at: now,
        };
        if let Err(e) = cx.storage.security.record_security_event(&event).await {
            tracing::error!(error = %e, "could not record the reversal");
        }
    }
}
