//! The events outbox in SQLite: claimed with leases, one statement per claim.

use async_trait::async_trait;

use super::{SqliteStore, columns};
use crate::storage::*;

#[async_trait]
impl OutboxStore for SqliteStore {
    async fn claim_due_events(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<EventRecord>, StoreError> {
        let pending = EventStatus::Pending.as_str();
        Ok(super::claim_due(
            &self.pool,
            super::Leased::Events,
            pending,
            now,
            lease_until,
            limit,
        )
        .await?)
    }

    async fn record_delivery(
        &self,
        a: &EventAttempt,
        outcome: DeliveryOutcome,
        lease_until: Option<i64>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO event_attempts (event_id, attempted_at, status_code, latency_ms, error) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&a.event_id)
        .bind(a.attempted_at)
        .bind(a.status_code)
        .bind(a.latency_ms)
        .bind(&a.error)
        .execute(&mut *tx)
        .await?;
        let (status, next, delivered) = match outcome {
            DeliveryOutcome::Delivered => {
                (EventStatus::Delivered, a.attempted_at, Some(a.attempted_at))
            }
            DeliveryOutcome::RetryAt(t) => (EventStatus::Pending, t, None),
            DeliveryOutcome::Dead => (EventStatus::Dead, a.attempted_at, None),
        };
        sqlx::query("UPDATE events SET attempts = attempts + 1 WHERE id = ?")
            .bind(&a.event_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE events SET status = ?, next_attempt_at = ?, lease_until = NULL, \
             delivered_at = COALESCE(?, delivered_at) WHERE id = ? AND lease_until IS ?",
        )
        .bind(status.as_str())
        .bind(next)
        .bind(delivered)
        .bind(&a.event_id)
        .bind(lease_until)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_events(
        &self,
        merchant_id: &str,
        f: &EventFilter,
    ) -> Result<Vec<EventRecord>, StoreError> {
        let (before_at, before_id) = f.before.clone().unwrap_or((i64::MAX, String::new()));
        Ok(sqlx::query_as(
            &format!("SELECT {} FROM events WHERE merchant_id = ? \
              AND (? IS NULL OR payment_id = ?) AND (? IS NULL OR status = ?) AND (? IS NULL OR type = ?) \
              AND (created_at < ? OR (created_at = ? AND id < ?)) \
              ORDER BY created_at DESC, id DESC LIMIT ?",
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
            "SELECT {} FROM events WHERE id = ?",
            columns::EVENT
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn event_attempts(&self, event_id: &str) -> Result<Vec<EventAttempt>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT event_id, attempted_at, status_code, latency_ms, error FROM event_attempts \
             WHERE event_id = ? ORDER BY id",
        )
        .bind(event_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn resend_event(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE events SET status = ?, next_attempt_at = ?, lease_until = NULL \
             WHERE id = ? AND url IS NOT NULL",
        )
        .bind(EventStatus::Pending.as_str())
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1)
    }
}
