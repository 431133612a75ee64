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
    storage::{Cas, PaymentRecord, RefundRecord, StoreError},
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
    #[error("the bank could not be reached")]
    BankUnreachable { refund: Box<RefundRecord> },
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

fn request(
    state: &AppState,
    p: &PaymentRecord,
    reference: &str,
    amount_minor: i64,
) -> AfterSaleRequest {
    AfterSaleRequest {
        terminal_id: p
            .terminal_id
            .clone()
            .unwrap_or_else(|| state.acquirer.terminal_id().to_owned()),
        merchant_id: p.merchant_id.clone(),
        order_id: p.order_id.clone(),
        payment_id: p.id.clone(),
        reference: reference.to_owned(),
        original_transaction_id: p.transaction_id.clone().unwrap_or_default(),
        original_host_ref: p.host_ref.clone().unwrap_or_default(),
        amount_minor,
        currency: p
            .money()
            .map(|m| m.currency().numeric().to_owned())
            .unwrap_or_default(),
    }
}

/// Voids an approved, unrefunded payment before its business day's cut-off.
pub async fn void(
    state: &AppState,
    payment: &PaymentRecord,
) -> Result<PaymentRecord, AfterSaleError> {
    if payment.status() != Status::Approved {
        return Err(AfterSaleError::NotAllowed(payment.status.clone()));
    }
    if payment.refunded_minor > 0 {
        return Err(AfterSaleError::NotAllowed("partly refunded".to_owned()));
    }
    let cutoff = state.settings.api.void_cutoff_minutes().unwrap_or(23 * 60);
    let authorised_at = payment.authorised_at.unwrap_or(payment.updated_at);
    if state.clock.now_ms() >= void_deadline(authorised_at, cutoff) {
        return Err(AfterSaleError::CutoffPassed);
    }
    let (_, after) = run(state, payment, "void", payment.amount_minor).await?;
    Ok(after)
}

/// Refunds `amount_minor` (all that is left when `None`) of an approved payment.
pub async fn refund(
    state: &AppState,
    payment: &PaymentRecord,
    amount_minor: Option<i64>,
) -> Result<(RefundRecord, PaymentRecord), AfterSaleError> {
    if payment.status() != Status::Approved {
        return Err(AfterSaleError::NotAllowed(payment.status.clone()));
    }
    let refundable = payment.amount_minor - payment.refunded_minor;
    let amount = amount_minor.unwrap_or(refundable);
    if amount <= 0 || amount > refundable {
        return Err(AfterSaleError::Exceeds {
            refundable_minor: refundable,
        });
    }
    run(state, payment, "refund", amount).await
}

/// Reserve, ask the bank, settle: the common path of voids and refunds.
async fn run(
    state: &AppState,
    payment: &PaymentRecord,
    kind: &str,
    amount: i64,
) -> Result<(RefundRecord, PaymentRecord), AfterSaleError> {
    let now = state.clock.now_ms();
    let mut record = RefundRecord {
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
    if state.store.reserve_refund(&record).await? != Cas::Done {
        // Someone else refunded or voided in the meantime.
        let fresh = reload(state, &payment.id).await?;
        return Err(if fresh.status() != Status::Approved {
            AfterSaleError::NotAllowed(fresh.status)
        } else if kind == "void" {
            AfterSaleError::NotAllowed("partly refunded".to_owned())
        } else {
            AfterSaleError::Exceeds {
                refundable_minor: fresh.amount_minor - fresh.refunded_minor,
            }
        });
    }
    let req = request(state, payment, &record.id, amount);
    let answer = if kind == "void" {
        state.acquirer.void(&req).await
    } else {
        state.acquirer.refund(&req).await
    };
    let settled_at = state.clock.now_ms();
    match answer {
        Ok(AuthResponse {
            proc_return_code,
            host_ref,
            transaction_id,
            ..
        }) => {
            let ok = proc_return_code == "00";
            record.status = if ok { "succeeded" } else { "failed" }.to_owned();
            record.proc_return_code = Some(proc_return_code);
            record.host_ref = Some(host_ref).filter(|s| !s.is_empty());
            record.transaction_id = Some(transaction_id).filter(|s| !s.is_empty());
            record.updated_at = settled_at;
            if !ok {
                state
                    .store
                    .settle_refund(&record, None, None, settled_at)
                    .await?;
                return Err(AfterSaleError::BankRefused {
                    refund: Box::new(record),
                });
            }
            let final_status = if kind == "void" {
                Some(Status::Voided)
            } else if payment.refunded_minor + amount >= payment.amount_minor {
                Some(Status::Refunded)
            } else {
                None
            };
            // The event shows the payment as it is after this refund.
            let mut after = reload(state, &payment.id).await?;
            if let Some(s) = final_status {
                after.status = s.as_str().to_owned();
            }
            after.updated_at = settled_at;
            let merchant = state
                .store
                .get_merchant(&payment.merchant_id)
                .await?
                .ok_or_else(|| AfterSaleError::Internal("merchant missing".into()))?;
            let kind_name = if kind == "void" {
                "payment.voided"
            } else {
                "payment.refunded"
            };
            let view = RefundView::new(&record, &payment.currency);
            let event = events::new_event(&merchant, &after, kind_name, Some(view), settled_at);
            state
                .store
                .settle_refund(&record, final_status, Some(&event), settled_at)
                .await?;
            state.events_wake.notify_one();
            Ok((record, reload(state, &payment.id).await?))
        }
        Err(e) => {
            tracing::warn!(payment_id = %payment.id, error = %e, kind, "after-sale request failed");
            record.status = "failed".to_owned();
            record.updated_at = settled_at;
            state
                .store
                .settle_refund(&record, None, None, settled_at)
                .await?;
            Err(AfterSaleError::BankUnreachable {
                refund: Box::new(record),
            })
        }
    }
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
