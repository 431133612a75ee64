//! Idempotency keys, nonces and security events in SQLite.

use async_trait::async_trait;

use super::{SqlStore, Unit};
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
impl RequestStore for SqlStore {
    async fn remember_nonce(
        &self,
        merchant_id: &str,
        nonce: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        let (merchant_id, nonce) = (merchant_id.to_owned(), nonce.to_owned());
        self.write_one(move |tx| {
            Box::pin(async move {
                let inserted = sqlx::query(
                    "INSERT INTO nonces (merchant_id, nonce, seen_at) VALUES ($1, $2, $3) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(&merchant_id)
                .bind(&nonce)
                .bind(at)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                Ok(Unit::Keep(inserted == 1))
            })
        })
        .await
    }

    async fn forget_nonces(&self, before: i64) -> Result<u64, StoreError> {
        self.forget(&["DELETE FROM nonces WHERE seen_at < $1"], before)
            .await
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
        let (merchant_id, key) = (merchant_id.to_owned(), key.to_owned());
        let (request_hash, owner) = (request_hash.to_owned(), owner.to_owned());
        self.write(move |tx| {
            Box::pin(async move {
                // Take over an entry whose request died while in flight before it started
                // anything to keep: one that reserved a refund or void answers with it instead.
                sqlx::query(
                    "DELETE FROM idempotency_keys WHERE merchant_id = $1 AND key = $2 AND state = $3 \
                     AND refund_id IS NULL AND created_at < $4",
                )
                .bind(&merchant_id)
                .bind(&key)
                .bind(KeyState::InFlight.as_str())
                .bind(stale_before)
                .execute(&mut *tx)
                .await?;
                let inserted = sqlx::query(
                    "INSERT INTO idempotency_keys \
                     (merchant_id, key, request_hash, owner, state, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(&merchant_id)
                .bind(&key)
                .bind(&request_hash)
                .bind(&owner)
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
                         FROM idempotency_keys WHERE merchant_id = $1 AND key = $2",
                    )
                    .bind(&merchant_id)
                    .bind(&key)
                    .fetch_one(&mut *tx)
                    .await?;
                    row.state_for(&request_hash, stale_before)
                };
                Ok(Unit::Keep(state))
            })
        })
        .await
    }

    async fn idempotency_finish(
        &self,
        merchant_id: &str,
        key: &str,
        owner: &str,
        status: u16,
        body: &str,
    ) -> Result<(), StoreError> {
        let (merchant_id, key) = (merchant_id.to_owned(), key.to_owned());
        let (owner, body) = (owner.to_owned(), body.to_owned());
        self.write_one(move |tx| {
            Box::pin(async move {
                sqlx::query(
                    "UPDATE idempotency_keys SET state = $1, response_status = $2, response_body = $3 \
                     WHERE merchant_id = $4 AND key = $5 AND owner = $6",
                )
                .bind(KeyState::Done.as_str())
                .bind(i64::from(status))
                .bind(&body)
                .bind(&merchant_id)
                .bind(&key)
                .bind(&owner)
                .execute(&mut *tx)
                .await?;
                Ok(Unit::Keep(()))
            })
        })
        .await
    }

    async fn idempotency_abandon(
        &self,
        merchant_id: &str,
        key: &str,
        owner: &str,
    ) -> Result<(), StoreError> {
        let (merchant_id, key, owner) = (merchant_id.to_owned(), key.to_owned(), owner.to_owned());
        self.write(move |tx| {
            Box::pin(async move {
                sqlx::query(
                    "DELETE FROM idempotency_keys WHERE merchant_id = $1 AND key = $2 AND owner = $3 \
                     AND state = $4 AND refund_id IS NULL",
                )
                .bind(&merchant_id)
                .bind(&key)
                .bind(&owner)
                .bind(KeyState::InFlight.as_str())
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE idempotency_keys SET state = $1 WHERE merchant_id = $2 AND key = $3 \
                     AND owner = $4 AND state = $5 AND refund_id IS NOT NULL",
                )
                .bind(KeyState::Refund.as_str())
                .bind(&merchant_id)
                .bind(&key)
                .bind(&owner)
                .bind(KeyState::InFlight.as_str())
                .execute(&mut *tx)
                .await?;
                Ok(Unit::Keep(()))
            })
        })
        .await
    }

    async fn idempotency_settle_refund(
        &self,
        merchant_id: &str,
        key: &str,
        refund_id: &str,
        status: u16,
        body: &str,
    ) -> Result<(), StoreError> {
        let (merchant_id, key) = (merchant_id.to_owned(), key.to_owned());
        let (refund_id, body) = (refund_id.to_owned(), body.to_owned());
        self.write_one(move |tx| {
            Box::pin(async move {
                sqlx::query(
                    "UPDATE idempotency_keys SET state = $1, response_status = $2, response_body = $3 \
                     WHERE merchant_id = $4 AND key = $5 AND refund_id = $6 AND state != $7",
                )
                .bind(KeyState::Done.as_str())
                .bind(i64::from(status))
                .bind(&body)
                .bind(&merchant_id)
                .bind(&key)
                .bind(&refund_id)
                .bind(KeyState::Done.as_str())
                .execute(&mut *tx)
                .await?;
                Ok(Unit::Keep(()))
            })
        })
        .await
    }

    async fn idempotency_forget(&self, before: i64) -> Result<u64, StoreError> {
        self.forget(
            &["DELETE FROM idempotency_keys WHERE created_at < $1"],
            before,
        )
        .await
    }
}

#[async_trait]
impl SecurityStore for SqlStore {
    async fn record_security_event(&self, e: &SecurityEvent) -> Result<(), StoreError> {
        let e = e.clone();
        self.write_one(move |tx| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO security_events (kind, subject, detail, at) VALUES ($1, $2, $3, $4)",
                )
                .bind(&e.kind)
                .bind(&e.subject)
                .bind(&e.detail)
                .bind(e.at)
                .execute(&mut *tx)
                .await?;
                Ok(Unit::Keep(()))
            })
        })
        .await
    }

    async fn security_events(&self, limit: i64) -> Result<Vec<SecurityEvent>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT kind, subject, detail, at FROM security_events ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn guard_count(&self, key: &str, window_start: i64, n: u32) -> Result<u32, StoreError> {
        let counts = self
            .guard_count_many(&[(key.to_owned(), window_start, n)])
            .await?;
        Ok(counts.into_iter().next().unwrap_or(0))
    }

    async fn guard_count_many(&self, items: &[(String, i64, u32)]) -> Result<Vec<u32>, StoreError> {
        let items = items.to_vec();
        self.write(move |tx| {
            Box::pin(async move {
                let mut counts = Vec::with_capacity(items.len());
                for (key, window_start, n) in &items {
                    let count: i64 = if *n == 0 {
                        sqlx::query_scalar::<_, i64>(
                            "SELECT count FROM guard_counters WHERE key = $1 AND window_start = $2",
                        )
                        .bind(key)
                        .bind(*window_start)
                        .fetch_optional(&mut *tx)
                        .await?
                        .unwrap_or(0)
                    } else {
                        sqlx::query_scalar(
                            "INSERT INTO guard_counters (key, window_start, count) VALUES ($1, $2, $3) \
                             ON CONFLICT (key, window_start) DO UPDATE SET count = guard_counters.count + excluded.count \
                             RETURNING count",
                        )
                        .bind(key)
                        .bind(*window_start)
                        .bind(i64::from(*n))
                        .fetch_one(&mut *tx)
                        .await?
                    };
                    counts.push(u32::try_from(count).unwrap_or(u32::MAX));
                }
                Ok(Unit::Keep(counts))
            })
        })
        .await
    }

    async fn guard_block(&self, key: &str, until: i64) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.write_one(move |tx| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO guard_blocks (key, until) VALUES ($1, $2) \
                     ON CONFLICT (key) DO UPDATE SET until = CASE WHEN excluded.until > guard_blocks.until \
                     THEN excluded.until ELSE guard_blocks.until END",
                )
                .bind(&key)
                .bind(until)
                .execute(&mut *tx)
                .await?;
                Ok(Unit::Keep(()))
            })
        })
        .await
    }

    async fn guard_blocked(&self, key: &str, now: i64) -> Result<Option<i64>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT until FROM guard_blocks WHERE key = $1 AND until > $2")
                .bind(key)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn guard_lift(&self, key: &str, now: i64) -> Result<bool, StoreError> {
        let key = key.to_owned();
        self.write(move |tx| {
            Box::pin(async move {
                let lifted = sqlx::query("DELETE FROM guard_blocks WHERE key = $1 AND until > $2")
                    .bind(&key)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                    > 0;
                sqlx::query("DELETE FROM guard_blocks WHERE key = $1")
                    .bind(&key)
                    .execute(&mut *tx)
                    .await?;
                // The counts go too, or the next decline would block again at once. `key:`
                // prefixes are compared as text, not LIKE patterns.
                let prefix = format!("{key}:");
                sqlx::query(
                    "DELETE FROM guard_counters WHERE key = $1 OR substr(key, 1, length($2)) = $3",
                )
                .bind(&key)
                .bind(&prefix)
                .bind(&prefix)
                .execute(&mut *tx)
                .await?;
                Ok(Unit::Keep(lifted))
            })
        })
        .await
    }

    async fn guard_blocks(&self, now: i64) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT key, until FROM guard_blocks WHERE until > $1 ORDER BY until DESC, key",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn guard_forget(&self, before: i64) -> Result<u64, StoreError> {
        self.forget(
            &[
                "DELETE FROM guard_counters WHERE window_start < $1",
                "DELETE FROM guard_blocks WHERE until <= $1",
            ],
            before,
        )
        .await
    }
}
