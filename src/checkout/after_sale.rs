//! After the sale: void (iptal: the same business day, full amount), refund (iade: full or
//! partial, several partials up to the charged amount), and for a pre-authorisation the
//! capture of the hold (the full amount or less, once) or its release (a void, at any time),
//! through the acquirer.
//!
//! The amount is reserved on the payment before the bank is asked, so two concurrent refunds
//! can never together exceed what was authorised, and a void cannot race a refund. What the
//! bank's answer does to the payment (counted, released, voided, refunded in full) is decided
//! here, on the payment as it is when the answer is recorded.

use super::{
    Status,
    payment::{AfterSaleOp, Payment, Transition},
    service::Checkout,
};
use crate::{
    acquirer::{AfterSaleRequest, AuthResponse},
    domain::ids::random_token,
    notify::{events, views::RefundView},
    storage::{Cas, IdempotencyLink, RefundKind, RefundRecord, RefundStatus, Settle, StoreError},
};

const ISTANBUL_OFFSET_MS: i64 = 3 * 3600 * 1000;
const DAY_MS: i64 = 24 * 3600 * 1000;
/// Moves lost to concurrent writers are recomputed this many times at most.
const RETRIES: usize = 20;

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

impl Checkout {
    /// The request for the bank of `terminal_id` (the terminal's id at its bank).
    fn after_sale_request(
        &self,
        p: &Payment,
        r: &RefundRecord,
        terminal_id: &str,
    ) -> AfterSaleRequest {
        let a = p.authorisation.as_ref();
        AfterSaleRequest {
            terminal_id: terminal_id.to_owned(),
            merchant_id: p.merchant_id.to_string(),
            order_id: p.order_id.to_string(),
            payment_id: p.id.to_string(),
            // The same reference on every try: the bank recognises a repeat.
            reference: r.id.clone(),
            original_transaction_id: a.and_then(|a| a.transaction_id.clone()).unwrap_or_default(),
            original_host_ref: a.and_then(|a| a.host_ref.clone()).unwrap_or_default(),
            original_reference: p.attempt_ref().unwrap_or_default().to_owned(),
            amount_minor: r.amount_minor,
            currency: p.currency().numeric().to_owned(),
            repeat: false,
            refunded_before_minor: p.refunded_minor,
        }
    }

    /// Voids an approved payment with nothing refunded, before its business day's cut-off, or
    /// releases the hold of an authorised pre-authorisation (at any time before its capture).
    /// `key`: the Idempotency-Key it was asked under, linked to it with its reservation.
    pub async fn void(
        &self,
        payment: &Payment,
        key: Option<&IdempotencyLink>,
    ) -> Result<Payment, AfterSaleError> {
        let authorised_at = payment.authorisation.as_ref().and_then(|a| a.authorised_at);
        if payment.status == Status::Approved {
            let Some(authorised_at) = authorised_at else {
                return Err(AfterSaleError::NotAllowed(
                    "of unknown authorisation time".to_owned(),
                ));
            };
            let cutoff = self.settings.api.void_cutoff_minutes().unwrap_or(23 * 60);
            if self.now_ms() >= void_deadline(authorised_at, cutoff) {
                return Err(AfterSaleError::CutoffPassed);
            }
        }
        let (_, after) = self
            .run_after_sale(payment, RefundKind::Void, None, key)
            .await?;
        Ok(after)
    }

    /// Captures `amount_minor` (the whole hold when `None`) of an authorised
    /// pre-authorisation: once, never more than was held.
    pub async fn capture(
        &self,
        payment: &Payment,
        amount_minor: Option<i64>,
        key: Option<&IdempotencyLink>,
    ) -> Result<(RefundRecord, Payment), AfterSaleError> {
        self.run_after_sale(payment, RefundKind::Capture, amount_minor, key)
            .await
    }

    /// Refunds `amount_minor` (all that is left when `None`) of an approved payment or a
    /// captured pre-authorisation.
    pub async fn refund(
        &self,
        payment: &Payment,
        amount_minor: Option<i64>,
        key: Option<&IdempotencyLink>,
    ) -> Result<(RefundRecord, Payment), AfterSaleError> {
        self.run_after_sale(payment, RefundKind::Refund, amount_minor, key)
            .await
    }

    /// Reserves, then asks the bank and settles. The second half runs in its own task: a
    /// merchant that hangs up must not leave a reservation half done.
    async fn run_after_sale(
        &self,
        payment: &Payment,
        kind: RefundKind,
        amount_minor: Option<i64>,
        key: Option<&IdempotencyLink>,
    ) -> Result<(RefundRecord, Payment), AfterSaleError> {
        let mut payment = payment.clone();
        let mut tries = 0;
        let record = loop {
            let allowed = match kind {
                RefundKind::Void => {
                    matches!(payment.status, Status::Approved | Status::Authorised)
                }
                RefundKind::Refund => payment.status.charged(),
                RefundKind::Capture => payment.status == Status::Authorised,
            };
            if !allowed {
                return Err(AfterSaleError::NotAllowed(
                    payment.status.as_str().to_owned(),
                ));
            }
            let most = match kind {
                RefundKind::Capture => payment.capturable_minor(),
                _ => payment.refundable_minor(),
            };
            let amount = match kind {
                RefundKind::Void if payment.refund_reserved_minor > 0 => {
                    let what = if payment.status == Status::Authorised {
                        "held, with a capture or void of it under way"
                    } else {
                        "partly refunded"
                    };
                    return Err(AfterSaleError::NotAllowed(what.to_owned()));
                }
                RefundKind::Capture if payment.refund_reserved_minor > 0 => {
                    return Err(AfterSaleError::NotAllowed(
                        "held, with a capture or void of it under way".to_owned(),
                    ));
                }
                RefundKind::Void => payment.charged_minor(),
                RefundKind::Refund | RefundKind::Capture => amount_minor.unwrap_or(most),
            };
            if amount <= 0 || (kind != RefundKind::Void && amount > most) {
                return Err(AfterSaleError::Exceeds {
                    refundable_minor: most,
                });
            }
            let now = self.now_ms();
            let record = RefundRecord {
                id: format!(
                    "{}_{}",
                    match kind {
                        RefundKind::Void => "vd",
                        RefundKind::Refund => "rf",
                        RefundKind::Capture => "cp",
                    },
                    random_token(12)
                ),
                payment_id: payment.id.to_string(),
                kind,
                amount_minor: amount,
                status: RefundStatus::Pending,
                proc_return_code: None,
                host_ref: None,
                transaction_id: None,
                created_at: now,
                updated_at: now,
            };
            let after = payment
                .apply(
                    Transition::Reserve {
                        amount_minor: amount,
                    },
                    now,
                )
                .map_err(|e| AfterSaleError::Internal(e.to_string()))?;
            match self
                .storage
                .payments
                .reserve_refund(&payment, &after, &record, key)
                .await?
            {
                Cas::Done => break record,
                // Someone else refunded or voided in the meantime: look again.
                _ if tries < RETRIES => {
                    tries += 1;
                    payment = self.reload(payment.id.as_str()).await?;
                }
                _ => {
                    return Err(AfterSaleError::Internal(
                        "the payment keeps changing".into(),
                    ));
                }
            }
        };
        let task = self.clone();
        self.tasks
            .spawn(async move { task.ask_bank(record, false).await })
            .await
            .map_err(|e| AfterSaleError::Internal(format!("after-sale task failed: {e}")))?
    }

    /// Sends a pending refund or void to the bank and settles it with the answer.
    async fn ask_bank(
        &self,
        mut record: RefundRecord,
        repeat: bool,
    ) -> Result<(RefundRecord, Payment), AfterSaleError> {
        let payment = self.reload(&record.payment_id).await?;
        // The terminal that authorised the payment, whatever routing would choose today.
        let terminal = payment
            .authorisation
            .as_ref()
            .map(|a| a.terminal_id.clone())
            .unwrap_or_default();
        let (acquirer, bank_terminal_id) = match self.acquirer_for(&terminal).await {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(payment_id = %record.payment_id, terminal_id = %terminal, code = e.code.code(), "no connector for the payment's terminal; kept pending");
                return Err(AfterSaleError::Pending {
                    refund: Box::new(record),
                });
            }
        };
        let mut req = self.after_sale_request(&payment, &record, &bank_terminal_id);
        req.repeat = repeat;
        let answer = match record.kind {
            RefundKind::Void => acquirer.void(&req).await,
            RefundKind::Refund => acquirer.refund(&req).await,
            RefundKind::Capture => acquirer.capture(&req).await,
        };
        let AuthResponse {
            proc_return_code,
            host_ref,
            transaction_id,
            ..
        } = match answer {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(payment_id = %record.payment_id, refund_id = %record.id, error = %e, "after-sale outcome unknown; kept pending");
                return Err(AfterSaleError::Pending {
                    refund: Box::new(record),
                });
            }
        };
        let ok = proc_return_code == "00";
        record.status = if ok {
            RefundStatus::Succeeded
        } else {
            RefundStatus::Failed
        };
        record.proc_return_code = Some(proc_return_code);
        record.host_ref = Some(host_ref).filter(|s| !s.is_empty());
        record.transaction_id = Some(transaction_id).filter(|s| !s.is_empty());
        record.updated_at = self.now_ms();
        let after = self.settle(&record).await?;
        if !ok {
            return Err(AfterSaleError::BankRefused {
                refund: Box::new(record),
            });
        }
        Ok((record, after))
    }

    /// Records the bank's answer: the refund settled, the payment moved as the answer implies
    /// (recomputed if it changed meanwhile), and, for a success, the event that reports it.
    /// Returns the payment afterwards.
    async fn settle(&self, record: &RefundRecord) -> Result<Payment, AfterSaleError> {
        let merchant = {
            let p = self.reload(&record.payment_id).await?;
            self.merchant_of(&p)
                .await
                .map_err(|e| AfterSaleError::Internal(e.to_string()))?
        };
        let succeeded = record.status == RefundStatus::Succeeded;
        let attempts = self.storage.payments.attempts(&record.payment_id).await?;
        for _ in 0..RETRIES {
            let before = self.reload(&record.payment_id).await?;
            let t = Transition::SettleAfterSale {
                op: match record.kind {
                    RefundKind::Void => AfterSaleOp::Void,
                    RefundKind::Refund => AfterSaleOp::Refund,
                    RefundKind::Capture => AfterSaleOp::Capture,
                },
                amount_minor: record.amount_minor,
                succeeded,
            };
            let after = before
                .apply(t, record.updated_at)
                .map_err(|e| AfterSaleError::Internal(e.to_string()))?;
            let event = succeeded.then(|| {
                let kind = match record.kind {
                    RefundKind::Void => "payment.voided",
                    RefundKind::Refund => "payment.refunded",
                    RefundKind::Capture => "payment.captured",
                };
                let view = RefundView::new(record, after.currency());
                events::new_event(
                    &merchant,
                    &after,
                    &attempts,
                    kind,
                    Some(view),
                    record.updated_at,
                )
            });
            match self
                .storage
                .payments
                .settle_refund(record, &before, &after, event.as_ref())
                .await?
            {
                Settle::Done => {
                    if succeeded {
                        self.notifier.outbox_written();
                    }
                    return Ok(after);
                }
                Settle::PaymentMoved => continue,
                // Settled meanwhile by the recovery job: report what it found.
                Settle::AlreadySettled => return self.reload(&record.payment_id).await,
            }
        }
        Err(AfterSaleError::Internal(
            "the payment keeps changing".into(),
        ))
    }

    /// Asks the bank again about refunds and voids left pending (it did not answer, or Kapı
    /// stopped in the middle) for longer than `older_than_ms`. The same reference makes the
    /// bank answer a repeat without doing it twice.
    pub async fn recover_pending_refunds(
        &self,
        older_than_ms: i64,
    ) -> Result<usize, AfterSaleError> {
        let before = self.now_ms().saturating_sub(older_than_ms);
        let pending = self.storage.payments.pending_refunds(before, 50).await?;
        let mut settled = 0;
        for record in pending {
            match self.ask_bank(record, true).await {
                Ok(_) | Err(AfterSaleError::BankRefused { .. }) => settled += 1,
                Err(AfterSaleError::Pending { .. }) => {}
                Err(e) => tracing::warn!(error = %e, "could not recover a pending refund"),
            }
        }
        Ok(settled)
    }

    async fn reload(&self, id: &str) -> Result<Payment, AfterSaleError> {
        self.storage
            .payments
            .get_payment(id)
            .await?
            .ok_or_else(|| AfterSaleError::Internal("payment vanished".into()))
    }
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
