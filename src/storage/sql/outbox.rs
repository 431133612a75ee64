//! The events outbox in SQLite: claimed with leases, one statement per claim.

use async_trait::async_trait;

use super::{SqlStore, Unit};
use crate::storage::columns;
use crate::storage::*;

#[async_trait]
impl OutboxStore for SqlStore {
    async fn claim_due_events(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<EventRecord>, StoreError> {
        let pending = EventStatus::Pending.as_str();
        super::claim_due(
            self,
            super::Leased::Events,
            pending,
            now,
            lease_until,
            limit,
        )
        .await
    }

    async fn record_delivery(
        &self,
        a: &EventAttempt,
        outcome: DeliveryOutcome,
        lease_until: Option<i64>,
    ) -> Result<(), StoreError> {
        let a = a.clone();
        let (status, next, delivered) = match outcome {
            DeliveryOutcome::Delivered => {
                (EventStatus::Delivered, a.attempted_at, Some(a.attempted_at))
            }
            DeliveryOutcome::RetryAt(t) => (EventStatus::Pending, t, None),
            DeliveryOutcome::Dead => (EventStatus::Dead, a.attempted_at, None),
        };
        self.write(move |tx| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO event_attempts (event_id, attempted_at, status_code, latency_ms, error) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&a.event_id)
                .bind(a.attempted_at)
                .bind(a.status_code)
                .bind(a.latency_ms)
                .bind(&a.error)
                .execute(&mut *tx)
                .await?;
                sqlx::query("UPDATE events SET attempts = attempts + 1 WHERE id = $1")
                    .bind(&a.event_id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "UPDATE events SET status = $1, next_attempt_at = $2, lease_until = NULL, \
                     delivered_at = COALESCE($3, delivered_at) WHERE id = $4 AND lease_until IS NOT DISTINCT FROM $5",
                )
                .bind(status.as_str())
                .bind(next)
                .bind(delivered)
                .bind(&a.event_id)
                .bind(lease_until)
                .execute(&mut *tx)
                .await?;
                Ok(Unit::Keep(()))
            })
        })
        .await
    }

    async fn list_events(
        &self,
        merchant_id: &str,
        f: &EventFilter,
    ) -> Result<Vec<EventRecord>, StoreError> {
        let (before_at, before_id) = f.before.clone().unwrap_or((i64::MAX, String::new()));
        Ok(sqlx::query_as(
            &format!("SELECT {} FROM events WHERE merchant_id = $1 \
              AND ($2 IS NULL OR payment_id = $3) AND ($4 IS NULL OR status = $5) AND ($6 IS NULL OR type = $7) \
              AND (created_at < $8 OR (created_at = $9 AND id < $10)) \
              ORDER BY created_at DESC, id DESC LIMIT $11",
            columns::EVENT
        ))
        .bind(merchant_id)
        .bind(&f.payment_id)
        .bind(&f.payment_id)
        .bind(f.status.map(EventStatus::as_str))
        .bind(f.status.map(EventStatus::as_str))
        .bind(&f.kind)
        .bind(&f.kind)
        .bind(before_at)
        .bind(before_at)
        .bind(if f.before.is_some() { before_id } else { "\u{10FFFF}".to_owned() })
        .bind(f.limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn get_event(&self, id: &str) -> Result<Option<EventRecord>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {} FROM events WHERE id = $1",
            columns::EVENT
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn event_attempts(&self, event_id: &str) -> Result<Vec<EventAttempt>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT event_id, attempted_at, status_code, latency_ms, error FROM event_attempts \
             WHERE event_id = $1 ORDER BY id",
        )
        .bind(event_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn resend_event(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.write_one(move |tx| {
            Box::pin(async move {
                let resent = sqlx::query(
                    "UPDATE events SET status = $1, next_attempt_at = $2, lease_until = NULL \
                     WHERE id = $3 AND url IS NOT NULL",
                )
                .bind(EventStatus::Pending.as_str())
                .bind(now)
                .bind(&id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                Ok(Unit::Keep(resent))
            })
        })
        .await
    }

    async fn backlog(&self, now: i64) -> Result<(i64, Option<i64>), StoreError> {
        let (count, oldest): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MIN(CASE WHEN next_attempt_at <= $1 THEN next_attempt_at END) \
             FROM events WHERE status = $2",
        )
        .bind(now)
        .bind(EventStatus::Pending.as_str())
        .fetch_one(&self.pool)
        .await?;
        Ok((count, oldest))
    }
}
