//! Payments, refunds and reversals in SQLite. A move is one transaction: the compare-and-set
//! on the version, the history row, and what the move causes.

use std::sync::LazyLock;

use async_trait::async_trait;
use sqlx::AnyConnection as Conn;

use super::{SqlStore, Unit, is_unique_violation};
use crate::storage::columns;
use crate::storage::rows::{AttemptRow, Value};
use crate::{
    checkout::{
        Status,
        payment::{Attempt, Payment},
    },
    storage::*,
};

/// `INSERT` of every column of a payment.
static INSERT: LazyLock<String> = LazyLock::new(|| {
    let names: Vec<&str> = PaymentRow::FIXED
        .iter()
        .chain(PaymentRow::MOVING)
        .copied()
        .collect();
    format!(
        "INSERT INTO payments ({}) VALUES ({})",
        names.join(", "),
        (1..=names.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ")
    )
});

/// `UPDATE` of the columns a move may change, as a compare-and-set on the version.
static UPDATE: LazyLock<String> = LazyLock::new(|| {
    let set: Vec<String> = PaymentRow::MOVING
        .iter()
        .enumerate()
        .map(|(i, name)| format!("{name} = ${}", i + 1))
        .collect();
    let n = set.len();
    format!(
        "UPDATE payments SET {} WHERE id = ${} AND version = ${}",
        set.join(", "),
        n + 1,
        n + 2
    )
});

type Query<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

fn bind<'q>(q: Query<'q>, values: impl IntoIterator<Item = Value<'q>>) -> Query<'q> {
    values.into_iter().fold(q, |q, v| match v {
        Value::Text(t) => q.bind(t),
        Value::Int(i) => q.bind(i),
    })
}

async fn insert_row(tx: &mut Conn, r: &PaymentRow) -> Result<(), sqlx::Error> {
    bind(
        sqlx::query(&INSERT),
        r.fixed().into_iter().chain(r.moving()),
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Writes every column a move may change, if the row is still at `expected_version`.
async fn write_row(
    tx: &mut Conn,
    r: &PaymentRow,
    expected_version: i64,
) -> Result<bool, sqlx::Error> {
    let done = bind(sqlx::query(&UPDATE), r.moving())
        .bind(&r.id)
        .bind(expected_version)
        .execute(&mut *tx)
        .await?
        .rows_affected()
        == 1;
    Ok(done)
}

async fn add_history(
    tx: &mut Conn,
    id: &str,
    from: Option<Status>,
    to: Status,
    at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO payment_history (payment_id, from_status, to_status, at) VALUES ($1, $2, $3, $4)",
    )
    .bind(id)
    .bind(from.map(Status::as_str))
    .bind(to.as_str())
    .bind(at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// A move, owned (a unit of work outlives the call that sent it): what the compare-and-set
/// needs of the payment before, and the payment after as its row.
struct Move {
    version: i64,
    from: Status,
    to: Status,
    row: PaymentRow,
}

impl Move {
    fn new(before: &Payment, after: &Payment) -> Self {
        Self {
            version: before.version,
            from: before.status,
            to: after.status,
            row: PaymentRow::from(after),
        }
    }
}

/// The move inside `tx`: `Ok(None)` when it was written.
async fn move_payment(tx: &mut Conn, m: &Move) -> Result<Option<Cas>, sqlx::Error> {
    match write_row(tx, &m.row, m.version).await {
        Ok(true) => {}
        Ok(false) => return Ok(Some(Cas::Lost)),
        Err(e) if is_unique_violation(&e) => return Ok(Some(Cas::OrderAlreadyPaid)),
        Err(e) => return Err(e),
    }
    if m.from != m.to {
        add_history(tx, &m.row.id, Some(m.from), m.to, m.row.updated_at).await?;
    }
    // A payment waiting for its shopper may hold the card its start carried (NestPay `3d_pay`).
    if !m.to.holds_card() && m.to != Status::Created {
        sqlx::query("DELETE FROM card_vault WHERE payment_id = $1")
            .bind(&m.row.id)
            .execute(&mut *tx)
            .await?;
    }
    Ok(None)
}

/// Keeps a payment's card (encrypted), replacing one kept before.
async fn keep_card(
    tx: &mut Conn,
    payment_id: &str,
    card: &[u8],
    at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO card_vault (payment_id, data_enc, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (payment_id) DO UPDATE SET data_enc = excluded.data_enc, created_at = excluded.created_at",
    )
    .bind(payment_id)
    .bind(card)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn insert_consent(tx: &mut Conn, c: &ConsentRecord) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO consents (payment_id, document_kind, template_version, text_sha256, \
         accepted_at, client_ip, user_agent, locale, document_data) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&c.payment_id)
    .bind(&c.document_kind)
    .bind(&c.template_version)
    .bind(&c.text_sha256)
    .bind(c.accepted_at)
    .bind(&c.client_ip)
    .bind(&c.user_agent)
    .bind(&c.locale)
    .bind(&c.document_data)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn insert_reversal(tx: &mut Conn, r: &ReversalRecord) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO reversals (id, payment_id, attempt_ref, terminal_id, amount_minor, currency, \
         status, attempts, next_attempt_at, lease_until, not_found_final_at, proc_return_code, \
         last_error, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(&r.id)
    .bind(&r.payment_id)
    .bind(&r.attempt_ref)
    .bind(&r.terminal_id)
    .bind(r.amount_minor)
    .bind(&r.currency)
    .bind(r.status.as_str())
    .bind(r.attempts)
    .bind(r.next_attempt_at)
    .bind(r.lease_until)
    .bind(r.not_found_final_at)
    .bind(&r.proc_return_code)
    .bind(&r.last_error)
    .bind(r.created_at)
    .bind(r.updated_at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn insert_attempt(tx: &mut Conn, a: &AttemptRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO payment_attempts (payment_id, number, card_brand, masked_pan, card_bank, \
         status, error_code, proc_return_code, md_status, eci, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&a.payment_id)
    .bind(a.number)
    .bind(&a.card_brand)
    .bind(&a.masked_pan)
    .bind(&a.card_bank)
    .bind(&a.status)
    .bind(&a.error_code)
    .bind(&a.proc_return_code)
    .bind(&a.md_status)
    .bind(&a.eci)
    .bind(a.at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// A move's effects, owned: a unit of work outlives the call that sent it.
struct OwnedEffects {
    event: Option<EventRecord>,
    callback: Option<EventRecord>,
    reversal: Option<ReversalRecord>,
    card: Option<Vec<u8>>,
    consents: Vec<ConsentRecord>,
    attempt: Option<AttemptRow>,
}

impl From<Effects<'_>> for OwnedEffects {
    fn from(e: Effects<'_>) -> Self {
        Self {
            event: e.event.cloned(),
            callback: e.callback.cloned(),
            reversal: e.reversal.cloned(),
            card: e.card.map(<[u8]>::to_vec),
            consents: e.consents.to_vec(),
            attempt: e.attempt.map(AttemptRow::from),
        }
    }
}

fn payment(row: Option<PaymentRow>) -> Result<Option<Payment>, StoreError> {
    row.map(Payment::try_from).transpose()
}

#[async_trait]
impl PaymentStore for SqlStore {
    async fn insert_payment(&self, p: &Payment) -> Result<(), StoreError> {
        self.insert_payment_holding(p, None).await
    }

    async fn insert_payment_holding(
        &self,
        p: &Payment,
        card: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        let row = PaymentRow::from(p);
        let (status, at) = (p.status, p.created_at);
        let card = card.map(<[u8]>::to_vec);
        self.write(move |tx| {
            Box::pin(async move {
                insert_row(tx, &row).await?;
                add_history(tx, &row.id, None, status, at).await?;
                if let Some(card) = &card {
                    keep_card(tx, &row.id, card, at).await?;
                }
                Ok(Unit::Keep(()))
            })
        })
        .await
    }

    async fn get_payment(&self, id: &str) -> Result<Option<Payment>, StoreError> {
        payment(
            sqlx::query_as(&format!(
                "SELECT {} FROM payments WHERE id = $1",
                columns::payment()
            ))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?,
        )
    }

    async fn find_payment_by_threeds_id(&self, tid: &str) -> Result<Option<Payment>, StoreError> {
        payment(
            sqlx::query_as(&format!(
                "SELECT {} FROM payments WHERE threeds_server_trans_id = $1",
                columns::payment()
            ))
            .bind(tid)
            .fetch_optional(&self.pool)
            .await?,
        )
    }

    async fn list_payments(
        &self,
        merchant_id: Option<&str>,
        f: &PaymentFilter,
    ) -> Result<Vec<Payment>, StoreError> {
        let (before_at, before_id) = f.before.clone().unwrap_or((i64::MAX, String::new()));
        let status = f.status.map(Status::as_str);
        let rows: Vec<PaymentRow> = sqlx::query_as(&format!(
            "SELECT {} FROM payments WHERE ($14 IS NULL OR merchant_id = $1) \
              AND ($2 IS NULL OR order_id = $3) AND ($4 IS NULL OR status = $5) \
              AND ($6 IS NULL OR created_at >= $7) AND ($8 IS NULL OR created_at < $9) \
              AND (created_at < $10 OR (created_at = $11 AND id < $12)) \
              ORDER BY created_at DESC, id DESC LIMIT $13",
            columns::payment()
        ))
        .bind(merchant_id)
        .bind(&f.order_id)
        .bind(&f.order_id)
        .bind(status)
        .bind(status)
        .bind(f.from)
        .bind(f.from)
        .bind(f.to)
        .bind(f.to)
        .bind(before_at)
        .bind(before_at)
        .bind(if f.before.is_some() {
            before_id
        } else {
            "\u{10FFFF}".to_owned()
        })
        .bind(f.limit)
        .bind(merchant_id)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(Payment::try_from).collect()
    }

    async fn count_in_between(&self, moved_before: i64) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM payments WHERE status IN ($1, $2, $3) AND updated_at <= $4",
        )
        .bind(Status::CardSubmitted.as_str())
        .bind(Status::Authenticated.as_str())
        .bind(Status::Authorising.as_str())
        .bind(moved_before)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn save(
        &self,
        before: &Payment,
        after: &Payment,
        effects: Effects<'_>,
    ) -> Result<Cas, StoreError> {
        let m = Move::new(before, after);
        let effects = OwnedEffects::from(effects);
        self.write(move |tx| {
            Box::pin(async move {
                if let Some(refused) = move_payment(tx, &m).await? {
                    return Ok(Unit::Discard(refused));
                }
                if let Some(card) = &effects.card {
                    keep_card(tx, &m.row.id, card, m.row.updated_at).await?;
                }
                for c in &effects.consents {
                    insert_consent(tx, c).await?;
                }
                if let Some(event) = &effects.event {
                    super::insert_event(tx, event).await?;
                }
                if let Some(event) = &effects.callback {
                    super::insert_event(tx, event).await?;
                }
                if let Some(r) = &effects.reversal {
                    insert_reversal(tx, r).await?;
                }
                if let Some(a) = &effects.attempt {
                    insert_attempt(tx, a).await?;
                }
                Ok(Unit::Keep(Cas::Done))
            })
        })
        .await
    }

    async fn reserve_refund(
        &self,
        before: &Payment,
        after: &Payment,
        r: &RefundRecord,
        key: Option<&IdempotencyLink>,
    ) -> Result<Cas, StoreError> {
        let (m, r, key) = (Move::new(before, after), r.clone(), key.cloned());
        self.write(move |tx| {
            Box::pin(async move {
                if let Some(refused) = move_payment(tx, &m).await? {
                    return Ok(Unit::Discard(refused));
                }
                sqlx::query(
                    "INSERT INTO refunds (id, payment_id, kind, amount_minor, status, proc_return_code, \
                     host_ref, transaction_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(&r.id)
                .bind(&r.payment_id)
                .bind(r.kind.as_str())
                .bind(r.amount_minor)
                .bind(r.status.as_str())
                .bind(&r.proc_return_code)
                .bind(&r.host_ref)
                .bind(&r.transaction_id)
                .bind(r.created_at)
                .bind(r.updated_at)
                .execute(&mut *tx)
                .await?;
                if let Some(k) = &key {
                    sqlx::query(
                        "UPDATE idempotency_keys SET refund_id = $1 \
                         WHERE merchant_id = $2 AND key = $3 AND owner = $4",
                    )
                    .bind(&r.id)
                    .bind(&k.merchant_id)
                    .bind(&k.key)
                    .bind(&k.owner)
                    .execute(&mut *tx)
                    .await?;
                }
                Ok(Unit::Keep(Cas::Done))
            })
        })
        .await
    }

    async fn settle_refund(
        &self,
        r: &RefundRecord,
        before: &Payment,
        after: &Payment,
        event: Option<&EventRecord>,
    ) -> Result<Settle, StoreError> {
        let (r, m, event) = (r.clone(), Move::new(before, after), event.cloned());
        self.write(move |tx| {
            Box::pin(async move {
                let settled = sqlx::query(
                    "UPDATE refunds SET status = $1, proc_return_code = $2, host_ref = $3, \
                     transaction_id = $4, updated_at = $5 WHERE id = $6 AND status = $7",
                )
                .bind(r.status.as_str())
                .bind(&r.proc_return_code)
                .bind(&r.host_ref)
                .bind(&r.transaction_id)
                .bind(r.updated_at)
                .bind(&r.id)
                .bind(RefundStatus::Pending.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if !settled {
                    return Ok(Unit::Discard(Settle::AlreadySettled));
                }
                if move_payment(tx, &m).await?.is_some() {
                    return Ok(Unit::Discard(Settle::PaymentMoved));
                }
                if let Some(event) = &event {
                    super::insert_event(tx, event).await?;
                }
                Ok(Unit::Keep(Settle::Done))
            })
        })
        .await
    }

    async fn load_card(&self, payment_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT data_enc FROM card_vault WHERE payment_id = $1")
                .bind(payment_id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn attempts(&self, payment_id: &str) -> Result<Vec<Attempt>, StoreError> {
        let rows: Vec<AttemptRow> = sqlx::query_as(&format!(
            "SELECT {} FROM payment_attempts WHERE payment_id = $1 ORDER BY number",
            columns::ATTEMPT
        ))
        .bind(payment_id)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(Attempt::try_from).collect()
    }

    async fn consents(&self, payment_id: &str) -> Result<Vec<ConsentRecord>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT payment_id, document_kind, template_version, text_sha256, accepted_at, client_ip, \
             user_agent, locale, document_data FROM consents WHERE payment_id = $1 ORDER BY id",
        )
        .bind(payment_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn history(&self, payment_id: &str) -> Result<Vec<HistoryRecord>, StoreError> {
        Ok(sqlx::query_as("SELECT from_status, to_status, at FROM payment_history WHERE payment_id = $1 ORDER BY id")
            .bind(payment_id)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn record_callback_attempt(&self, a: &CallbackAttempt) -> Result<(), StoreError> {
        let a = a.clone();
        self.write_one(move |tx| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO callback_attempts (payment_id, url, attempted_at, status_code, error, latency_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&a.payment_id)
                .bind(&a.url)
                .bind(a.attempted_at)
                .bind(a.status_code)
                .bind(&a.error)
                .bind(a.latency_ms)
                .execute(&mut *tx)
                .await?;
                Ok(Unit::Keep(()))
            })
        })
        .await
    }

    async fn callback_attempts(
        &self,
        payment_id: &str,
    ) -> Result<Vec<CallbackAttempt>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT payment_id, url, attempted_at, status_code, error, latency_ms FROM callback_attempts \
             WHERE payment_id = $1 ORDER BY id",
        )
        .bind(payment_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn get_refund(&self, id: &str) -> Result<Option<RefundRecord>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {} FROM refunds WHERE id = $1",
            columns::REFUND
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn payments_of_period(
        &self,
        merchant_id: Option<&str>,
        from: i64,
        to: i64,
    ) -> Result<Vec<Payment>, StoreError> {
        let rows: Vec<PaymentRow> = sqlx::query_as(&format!(
            "SELECT {} FROM payments WHERE ($1 IS NULL OR merchant_id = $2) \
              AND ((updated_at >= $3 AND updated_at < $4) \
                OR (authorised_at >= $5 AND authorised_at < $6)) \
              ORDER BY created_at, id",
            columns::payment()
        ))
        .bind(merchant_id)
        .bind(merchant_id)
        .bind(from)
        .bind(to)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(Payment::try_from).collect()
    }

    async fn after_sales_of_period(
        &self,
        merchant_id: Option<&str>,
        from: i64,
        to: i64,
    ) -> Result<Vec<(RefundRecord, Payment)>, StoreError> {
        let records: Vec<RefundRecord> = sqlx::query_as(&format!(
            "SELECT {} FROM refunds r WHERE r.status = $1 AND r.updated_at >= $2 \
              AND r.updated_at < $3 AND ($4 IS NULL OR EXISTS (SELECT 1 FROM payments p \
              WHERE p.id = r.payment_id AND p.merchant_id = $5)) ORDER BY r.updated_at, r.id",
            columns::REFUND
                .split(", ")
                .map(|c| format!("r.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .bind(RefundStatus::Succeeded.as_str())
        .bind(from)
        .bind(to)
        .bind(merchant_id)
        .bind(merchant_id)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(records.len());
        for r in records {
            if let Some(p) = self.get_payment(&r.payment_id).await? {
                out.push((r, p));
            }
        }
        Ok(out)
    }

    async fn refunds(&self, payment_id: &str) -> Result<Vec<RefundRecord>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {} FROM refunds WHERE payment_id = $1 ORDER BY created_at, id",
            columns::REFUND
        ))
        .bind(payment_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn pending_refunds(
        &self,
        before: i64,
        limit: i64,
    ) -> Result<Vec<RefundRecord>, StoreError> {
        Ok(sqlx::query_as(
            &format!("SELECT {} FROM refunds WHERE status = $1 AND updated_at < $2 ORDER BY updated_at LIMIT $3", columns::REFUND),
        )
        .bind(RefundStatus::Pending.as_str())
        .bind(before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn claim_due_reversals(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<ReversalRecord>, StoreError> {
        let pending = ReversalStatus::Pending.as_str();
        let leased = super::Leased::Reversals;
        super::claim_due(self, leased, pending, now, lease_until, limit).await
    }

    async fn record_reversal(
        &self,
        id: &str,
        lease_until: Option<i64>,
        outcome: &ReversalOutcome,
        at: i64,
    ) -> Result<(), StoreError> {
        let (status, next, code, error) = match outcome {
            ReversalOutcome::Settled {
                status,
                proc_return_code,
            } => (*status, at, Some(proc_return_code.clone()), None),
            ReversalOutcome::RetryAt { at: next, error } => {
                (ReversalStatus::Pending, *next, None, Some(error.clone()))
            }
        };
        let id = id.to_owned();
        self.write_one(move |tx| {
            Box::pin(async move {
                sqlx::query(
                    "UPDATE reversals SET status = $1, next_attempt_at = $2, lease_until = NULL, \
                     attempts = attempts + 1, proc_return_code = COALESCE($3, proc_return_code), \
                     last_error = $4, updated_at = $5 WHERE id = $6 AND status = $7 AND lease_until IS NOT DISTINCT FROM $8",
                )
                .bind(status.as_str())
                .bind(next)
                .bind(code)
                .bind(error)
                .bind(at)
                .bind(&id)
                .bind(ReversalStatus::Pending.as_str())
                .bind(lease_until)
                .execute(&mut *tx)
                .await?;
                Ok(Unit::Keep(()))
            })
        })
        .await
    }

    async fn reversals(&self, payment_id: &str) -> Result<Vec<ReversalRecord>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {} FROM reversals WHERE payment_id = $1 ORDER BY created_at",
            columns::REVERSAL
        ))
        .bind(payment_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn due_for_expiry(&self, now: i64, limit: i64) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM payments WHERE status IN ($1, $2, $3, $4) AND expires_at <= $5 LIMIT $6",
        )
        .bind(Status::Created.as_str())
        .bind(Status::Challenge.as_str())
        .bind(Status::AwaitingRetry.as_str())
        .bind(Status::AwaitingAuthorisation.as_str())
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn interrupted(&self, moved_before: i64, limit: i64) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM payments WHERE (status IN ($1, $2, $3) \
             OR (status = $4 AND rreq_received_at IS NOT NULL)) AND updated_at <= $5 \
             ORDER BY updated_at LIMIT $6",
        )
        .bind(Status::CardSubmitted.as_str())
        .bind(Status::Authenticated.as_str())
        .bind(Status::Authorising.as_str())
        .bind(Status::Challenge.as_str())
        .bind(moved_before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn order_is_paid(&self, merchant_id: &str, order_id: &str) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM payments WHERE merchant_id = $1 AND order_id = $2 \
             AND status IN ($3, $4, $5, $6)",
        )
        .bind(merchant_id)
        .bind(order_id)
        .bind(Status::Authorising.as_str())
        .bind(Status::Approved.as_str())
        .bind(Status::Authorised.as_str())
        .bind(Status::Captured.as_str())
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_column_list_names_every_column_of_the_table_once() {
        let store = SqlStore::open_in_memory().await.unwrap();
        let mut table: Vec<String> =
            sqlx::query_scalar("SELECT name FROM pragma_table_info('payments')")
                .fetch_all(store.pool())
                .await
                .unwrap();
        table.sort();
        let mut listed: Vec<String> = PaymentRow::FIXED
            .iter()
            .chain(PaymentRow::MOVING)
            .map(|s| (*s).to_owned())
            .collect();
        listed.sort();
        assert_eq!(listed, table);
    }
}
