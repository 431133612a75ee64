//! Idempotency keys, nonces and security events in SQLite.

use async_trait::async_trait;

use super::SqliteStore;
use crate::storage::*;

/// An Idempotency-Key as stored.
#[derive(sqlx::FromRow)]
struct KeyRow {
    request_hash: String,
    #[sqlx(try_from = "String")]
    state: KeyState,
    response_status: Option<i64>,
    response_body: Option<String>,
    created_at: i64,
    refund_id: Option<String>,
}

impl KeyRow {
    /// What a request with `request_hash` under this key must do.
    fn state_for(self, request_hash: &str, stale_before: i64) -> IdempotencyState {
        if self.request_hash != request_hash {
            return IdempotencyState::Mismatch;
        }
        match (self.state, self.refund_id) {
            (KeyState::Done, _) => IdempotencyState::Done {
                status: self
                    .response_status
                    .and_then(|s| u16::try_from(s).ok())
                    .unwrap_or(200),
                body: self.response_body.unwrap_or_default(),
            },
            (KeyState::Refund, Some(refund_id)) => IdempotencyState::Refund { refund_id },
            (KeyState::InFlight, Some(refund_id)) if self.created_at < stale_before => {
                IdempotencyState::Refund { refund_id }
            }
            _ => IdempotencyState::InFlight,
        }
    }
}

#[async_trait]
impl RequestStore for SqliteStore {
    async fn remember_nonce(
        &self,
        merchant_id: &str,
        nonce: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT OR IGNORE INTO nonces (merchant_id, nonce, seen_at) VALUES (?, ?, ?)",
        )
        .bind(merchant_id)
        .bind(nonce)
        .bind(at)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }

    async fn forget_nonces(&self, before: i64) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM nonces WHERE seen_at < ?")
            .bind(before)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    async fn idempotency_begin(
        &self,
        merchant_id: &str,
        key: &str,
        request_hash: &str,
        owner: &str,
        now: i64,
        stale_before: i64,
    ) -> Result<IdempotencyState, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Take over an entry whose request died while in flight before it started anything
        // to keep: one that reserved a refund or void answers with it instead.
        sqlx::query(
            "DELETE FROM idempotency_keys WHERE merchant_id = ? AND key = ? AND state = ? \
             AND refund_id IS NULL AND created_at < ?",
        )
        .bind(merchant_id)
        .bind(key)
        .bind(KeyState::InFlight.as_str())
        .bind(stale_before)
        .execute(&mut *tx)
        .await?;
        let inserted = sqlx::query(
            "INSERT OR IGNORE INTO idempotency_keys \
             (merchant_id, key, request_hash, owner, state, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(merchant_id)
        .bind(key)
        .bind(request_hash)
        .bind(owner)
        .bind(KeyState::InFlight.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        let state = if inserted {
            IdempotencyState::Started
        } else {
            let row: KeyRow = sqlx::query_as(
                "SELECT request_hash, state, response_status, response_body, created_at, refund_id \
                 FROM idempotency_keys WHERE merchant_id = ? AND key = ?",
            )
            .bind(merchant_id)
            .bind(key)
            .fetch_one(&mut *tx)
            .await?;
            row.state_for(request_hash, stale_before)
        };
        tx.commit().await?;
        Ok(state)
    }

    async fn idempotency_finish(
        &self,
        merchant_id: &str,
        key: &str,
        owner: &str,
        status: u16,
        body: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE idempotency_keys SET state = ?, response_status = ?, response_body = ? \
             WHERE merchant_id = ? AND key = ? AND owner = ?",
        )
        .bind(KeyState::Done.as_str())
        .bind(i64::from(status))
        .bind(body)
        .bind(merchant_id)
        .bind(key)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn idempotency_abandon(
        &self,
        merchant_id: &str,
        key: &str,
        owner: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "DELETE FROM idempotency_keys WHERE merchant_id = ? AND key = ? AND owner = ? \
             AND state = ? AND refund_id IS NULL",
        )
        .bind(merchant_id)
        .bind(key)
        .bind(owner)
        .bind(KeyState::InFlight.as_str())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE idempotency_keys SET state = ? WHERE merchant_id = ? AND key = ? \
             AND owner = ? AND state = ? AND refund_id IS NOT NULL",
        )
        .bind(KeyState::Refund.as_str())
        .bind(merchant_id)
        .bind(key)
        .bind(owner)
        .bind(KeyState::InFlight.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn idempotency_settle_refund(
        &self,
        merchant_id: &str,
        key: &str,
        refund_id: &str,
        status: u16,
        body: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE idempotency_keys SET state = ?, response_status = ?, response_body = ? \
             WHERE merchant_id = ? AND key = ? AND refund_id = ? AND state != ?",
        )
        .bind(KeyState::Done.as_str())
        .bind(i64::from(status))
        .bind(body)
        .bind(merchant_id)
        .bind(key)
        .bind(refund_id)
        .bind(KeyState::Done.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn idempotency_forget(&self, before: i64) -> Result<u64, StoreError> {
        Ok(
            sqlx::query("DELETE FROM idempotency_keys WHERE created_at < ?")
                .bind(before)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }
}

#[async_trait]
impl SecurityStore for SqliteStore {
    async fn record_security_event(&self, e: &SecurityEvent) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO security_events (kind, subject, detail, at) VALUES (?, ?, ?, ?)")
            .bind(&e.kind)
            .bind(&e.subject)
            .bind(&e.detail)
            .bind(e.at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn security_events(&self, limit: i64) -> Result<Vec<SecurityEvent>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT kind, subject, detail, at FROM security_events ORDER BY id DESC LIMIT ?",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn guard_count(&self, key: &str, window_start: i64, n: u32) -> Result<u32, StoreError> {
        let count: i64 = sqlx::query_scalar(
            "INSERT INTO guard_counters (key, window_start, count) VALUES (?, ?, ?) \
             ON CONFLICT (key, window_start) DO UPDATE SET count = count + excluded.count \
             RETURNING count",
        )
        .bind(key)
        .bind(window_start)
        .bind(i64::from(n))
        .fetch_one(&self.pool)
        .await?;
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    async fn guard_block(&self, key: &str, until: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO guard_blocks (key, until) VALUES (?, ?) \
             ON CONFLICT (key) DO UPDATE SET until = MAX(until, excluded.until)",
        )
        .bind(key)
        .bind(until)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn guard_blocked(&self, key: &str, now: i64) -> Result<Option<i64>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT until FROM guard_blocks WHERE key = ? AND until > ?")
                .bind(key)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn guard_lift(&self, key: &str, now: i64) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let lifted = sqlx::query("DELETE FROM guard_blocks WHERE key = ? AND until > ?")
            .bind(key)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            > 0;
        sqlx::query("DELETE FROM guard_blocks WHERE key = ?")
            .bind(key)
            .execute(&mut *tx)
            .await?;
        // The counts go too, or the next decline would block again at once. `key:` prefixes
        // are compared as text, not LIKE patterns.
        let prefix = format!("{key}:");
        sqlx::query("DELETE FROM guard_counters WHERE key = ? OR substr(key, 1, length(?)) = ?")
            .bind(key)
            .bind(&prefix)
            .bind(&prefix)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(lifted)
    }

    async fn guard_blocks(&self, now: i64) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT key, until FROM guard_blocks WHERE until > ? ORDER BY until DESC, key",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn guard_forget(&self, before: i64) -> Result<u64, StoreError> {
        let counts = sqlx::query("DELETE FROM guard_counters WHERE window_start < ?")
            .bind(before)
            .execute(&self.pool)
            .await?
            .rows_affected();
        let blocks = sqlx::query("DELETE FROM guard_blocks WHERE until <= ?")
            .bind(before)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(counts + blocks)
    }
}
