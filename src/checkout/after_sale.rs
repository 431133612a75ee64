//! After the sale: void (iptal: the same business day, full amount) and refund (iade: full or
//! partial, several partials up to the authorised amount), through the acquirer.
//!
//! The amount is reserved on the payment before the bank is asked, so two concurrent refunds
//! can never together exceed what was authorised, and a void cannot race a refund.

use crate::{
    acquirer::{AfterSaleRequest, AuthResponse},
    api::resources::RefundView,
    domain::ids::random_token,
    notify::events,
    state::AppState,
    storage::{Cas, IdempotencyLink, PaymentRecord, RefundRecord, StoreError},
};

use super::Status;

const ISTANBUL_OFFSET_MS: i64 = 3 * 3600 * 1000;
const DAY_MS: i64 = 24 * 3600 * 1000;

#[derive(Debug, thiserror::Error)]
pub enum AfterSaleError {
    #[error("the payment is {0}")]
    NotAllowed(String),
    #[error("the void cut-off of the authorisation's business day has passed")]
    CutoffPassed,
    #[error("at most {refundable_minor} (minor units) can be refunded")]
    Exceeds { refundable_minor: i64 },
    #[error("the bank refused with code {}", .refund.proc_return_code.clone().unwrap_or_default())]
    BankRefused { refund: Box<RefundRecord> },
    /// The bank did not answer: it may or may not have done it. The request stays pending
    /// (and its amount reserved) until `recover_pending` learns the outcome.
    #[error("the bank did not answer; the request is pending")]
    Pending { refund: Box<RefundRecord> },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

/// Until when an authorisation at `authorised_at` can be voided: the next cut-off (Istanbul
/// local time, `cutoff_minutes` after midnight) after it.
pub fn void_deadline(authorised_at: i64, cutoff_minutes: u32) -> i64 {
    let local = authorised_at + ISTANBUL_OFFSET_MS;
    let day_start = local - local.rem_euclid(DAY_MS);
    let cutoff = day_start + i64::from(cutoff_minutes) * 60_000;
    let deadline_local = if local < cutoff {
        cutoff
    } else {
        cutoff + DAY_MS
    };
    deadline_local - ISTANBUL_OFFSET_MS
}

fn request(state: &AppState, p: &PaymentRecord, r: &RefundRecord) -> AfterSaleRequest {
    AfterSaleRequest {
        terminal_id: p
            .terminal_id
            .clone()
            .unwrap_or_else(|| state.acquirer.terminal_id().to_owned()),
        merchant_id: p.merchant_id.clone(),
        order_id: p.order_id.clone(),
        payment_id: p.id.clone(),
        // The same reference on every try: the bank recognises a repeat.
        reference: r.id.clone(),
        original_transaction_id: p.transaction_id.clone().unwrap_or_default(),
        original_host_ref: p.host_ref.clone().unwrap_or_default(),
        original_reference: p.attempt_ref.clone().unwrap_or_default(),
        amount_minor: r.amount_minor,
        currency: p
            .money()
            .map(|m| m.currency().numeric().to_owned())
            .unwrap_or_default(),
    }
}

/// Voids an approved payment with nothing refunded, before its business day's cut-off.
/// `key`: the Idempotency-Key it was asked under, linked to it with its reservation.
pub async fn void(
    state: &AppState,
    payment: &PaymentRecord,
    key: Option<&IdempotencyLink>,
) -> Result<PaymentRecord, AfterSaleError> {
    if payment.status() != Status::Approved {
        return Err(AfterSaleError::NotAllowed(payment.status.clone()));
    }
    if payment.refund_reserved_minor > 0 {
        return Err(AfterSaleError::NotAllowed("partly refunded".to_owned()));
    }
    let Some(authorised_at) = payment.authorised_at else {
        return Err(AfterSaleError::NotAllowed(
            "of unknown authorisation time".to_owned(),
        ));
    };
    let cutoff = state.settings.api.void_cutoff_minutes().unwrap_or(23 * 60);
    if state.clock.now_ms() >= void_deadline(authorised_at, cutoff) {
        return Err(AfterSaleError::CutoffPassed);
    }
    let (_, after) = run(state, payment, "void", payment.charged_minor(), key).await?;
    Ok(after)
}

/// Refunds `amount_minor` (all that is left when `None`) of an approved payment.
pub async fn refund(
    state: &AppState,
    payment: &PaymentRecord,
    amount_minor: Option<i64>,
    key: Option<&IdempotencyLink>,
) -> Result<(RefundRecord, PaymentRecord), AfterSaleError> {
    if payment.status() != Status::Approved {
        return Err(AfterSaleError::NotAllowed(payment.status.clone()));
    }
    let refundable = payment.charged_minor() - payment.refund_reserved_minor;
    let amount = amount_minor.unwrap_or(refundable);
    if amount <= 0 || amount > refundable {
        return Err(AfterSaleError::Exceeds {
            refundable_minor: refundable,
        });
    }
    run(state, payment, "refund", amount, key).await
}

/// Reserve, then ask the bank and settle. The second half runs in its own task: a merchant
/// that hangs up must not leave a reservation half done.
async fn run(
    state: &AppState,
    payment: &PaymentRecord,
    kind: &str,
    amount: i64,
    key: Option<&IdempotencyLink>,
) -> Result<(RefundRecord, PaymentRecord), AfterSaleError> {
    let now = state.clock.now_ms();
    let record = RefundRecord {
        id: format!(
            "{}_{}",
            if kind == "void" { "vd" } else { "rf" },
            random_token(12)
        ),
        payment_id: payment.id.clone(),
        kind: kind.to_owned(),
        amount_minor: amount,
        status: "pending".to_owned(),
        proc_return_code: None,
        host_ref: None,
        transaction_id: None,
        created_at: now,
        updated_at: now,
    };
    if state.store.reserve_refund(&record, key).await? != Cas::Done {
        // Someone else refunded or voided in the meantime.
        let fresh = reload(state, &payment.id).await?;
        return Err(if fresh.status() != Status::Approved {
            AfterSaleError::NotAllowed(fresh.status)
        } else if kind == "void" {
            AfterSaleError::NotAllowed("partly refunded".to_owned())
        } else {
            AfterSaleError::Exceeds {
                refundable_minor: fresh.charged_minor() - fresh.refund_reserved_minor,
            }
        });
    }
    let task_state = state.clone();
    let task_payment = payment.clone();
    tokio::spawn(async move { ask_bank(&task_state, &task_payment, record).await })
        .await
        .map_err(|e| AfterSaleError::Internal(format!("after-sale task failed: {e}")))?
}

/// Sends a pending refund or void to the bank and settles it with the answer.
async fn ask_bank(
    state: &AppState,
    payment: &PaymentRecord,
    mut record: RefundRecord,
) -> Result<(RefundRecord, PaymentRecord), AfterSaleError> {
    let req = request(state, payment, &record);
    let answer = if record.kind == "void" {
        state.acquirer.void(&req).await
    } else {
        state.acquirer.refund(&req).await
    };
    let AuthResponse {
        proc_return_code,
        host_ref,
        transaction_id,
        ..
    } = match answer {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(payment_id = %payment.id, refund_id = %record.id, error = %e, "after-sale outcome unknown; kept pending");
            return Err(AfterSaleError::Pending {
                refund: Box::new(record),
            });
        }
    };
    let ok = proc_return_code == "00";
    let settled_at = state.clock.now_ms();
    record.status = if ok { "succeeded" } else { "failed" }.to_owned();
    record.proc_return_code = Some(proc_return_code);
    record.host_ref = Some(host_ref).filter(|s| !s.is_empty());
    record.transaction_id = Some(transaction_id).filter(|s| !s.is_empty());
    record.updated_at = settled_at;
    let merchant = state
        .store
        .get_merchant(&payment.merchant_id)
        .await?
        .ok_or_else(|| AfterSaleError::Internal("merchant missing".into()))?;
    let kind_name = if record.kind == "void" {
        "payment.voided"
    } else {
        "payment.refunded"
    };
    let view = RefundView::new(&record, &payment.currency);
    let event_for = |p: &PaymentRecord| {
        events::new_event(&merchant, p, kind_name, Some(view.clone()), settled_at)
    };
    let after = state
        .store
        .settle_refund(&record, &event_for, settled_at)
        .await?;
    if ok {
        state.events_wake.notify_one();
    }
    let after = match after {
        Some(p) => p,
        // Settled meanwhile by the recovery job: report what it found.
        None => reload(state, &payment.id).await?,
    };
    if !ok {
        return Err(AfterSaleError::BankRefused {
            refund: Box::new(record),
        });
    }
    Ok((record, after))
}

/// Asks the bank again about refunds and voids left pending (it did not answer, or Kapı
/// stopped in the middle) for longer than `older_than_ms`. The same reference makes the bank
/// answer a repeat without doing it twice.
pub async fn recover_pending(
    state: &AppState,
    older_than_ms: i64,
) -> Result<usize, AfterSaleError> {
    let before = state.clock.now_ms().saturating_sub(older_than_ms);
    let pending = state.store.pending_refunds(before, 50).await?;
    let mut settled = 0;
    for record in pending {
        let payment = reload(state, &record.payment_id).await?;
        match ask_bank(state, &payment, record).await {
            Ok(_) | Err(AfterSaleError::BankRefused { .. }) => settled += 1,
            Err(AfterSaleError::Pending { .. }) => {}
            Err(e) => tracing::warn!(error = %e, "could not recover a pending refund"),
        }
    }
    Ok(settled)
}

async fn reload(state: &AppState, id: &str) -> Result<PaymentRecord, AfterSaleError> {
    state
        .store
        .get_payment(id)
        .await?
        .ok_or_else(|| AfterSaleError::Internal("payment vanished".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3600 * 1000;

    #[test]
    fn void_deadline_is_the_next_istanbul_cutoff() {
        // 2026-11-22 09:00 UTC = 12:00 Istanbul; cut-off 23:00 Istanbul = 20:00 UTC.
        let noon_ist = 1_795_338_000_000;
        let d = void_deadline(noon_ist, 23 * 60);
        assert_eq!(d - noon_ist, 11 * H);
        // Authorised at 23:30 Istanbul: that business day ends at tomorrow's cut-off.
        let late = noon_ist + 11 * H + 30 * 60 * 1000;
        assert_eq!(void_deadline(late, 23 * 60) - late, 23 * H + 30 * 60 * 1000);
    }
}
