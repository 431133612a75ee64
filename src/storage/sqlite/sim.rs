//! The simulators' records in SQLite (`sim_records`).

use async_trait::async_trait;

use super::SqliteStore;
use crate::simstore::{SimRecord, SimStore, SimStoreError};

fn err(e: sqlx::Error) -> SimStoreError {
    SimStoreError(e.to_string())
}

#[derive(sqlx::FromRow)]
struct Row {
    kind: String,
    key: String,
    tag: Option<String>,
    value: String,
    at: i64,
}

impl From<Row> for SimRecord {
    fn from(r: Row) -> Self {
        Self {
            kind: r.kind,
            key: r.key,
            tag: r.tag,
            value: r.value,
            at: r.at,
        }
    }
}

#[async_trait]
impl SimStore for SqliteStore {
    async fn sim_insert(&self, r: &SimRecord) -> Result<bool, SimStoreError> {
        let inserted = sqlx::query(
            "INSERT OR IGNORE INTO sim_records (kind, key, tag, value, at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&r.kind)
        .bind(&r.key)
        .bind(&r.tag)
        .bind(&r.value)
        .bind(r.at)
        .execute(&self.pool)
        .await
        .map_err(err)?
        .rows_affected();
        Ok(inserted == 1)
    }

    async fn sim_get(&self, kind: &str, key: &str) -> Result<Option<SimRecord>, SimStoreError> {
        let row: Option<Row> = sqlx::query_as(
            "SELECT kind, key, tag, value, at FROM sim_records WHERE kind = ? AND key = ?",
        )
        .bind(kind)
        .bind(key)
        .fetch_optional(&self.pool)
        .await
        .map_err(err)?;
        Ok(row.map(SimRecord::from))
    }

    async fn sim_replace(
        &self,
        kind: &str,
        key: &str,
        expected: &str,
        value: &str,
        at: i64,
    ) -> Result<bool, SimStoreError> {
        let done = sqlx::query(
            "UPDATE sim_records SET value = ?, at = ? WHERE kind = ? AND key = ? AND value = ?",
        )
        .bind(value)
        .bind(at)
        .bind(kind)
        .bind(key)
        .bind(expected)
        .execute(&self.pool)
        .await
        .map_err(err)?
        .rows_affected();
        Ok(done == 1)
    }

    async fn sim_list(
        &self,
        kind: &str,
        tag: Option<&str>,
        limit: i64,
    ) -> Result<Vec<SimRecord>, SimStoreError> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT kind, key, tag, value, at FROM sim_records \
             WHERE kind = ? AND (? IS NULL OR tag = ?) ORDER BY seq DESC LIMIT ?",
        )
        .bind(kind)
        .bind(tag)
        .bind(tag)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        Ok(rows.into_iter().map(SimRecord::from).collect())
    }

    async fn sim_forget(&self, kind: &str, before: i64) -> Result<u64, SimStoreError> {
        Ok(
            sqlx::query("DELETE FROM sim_records WHERE kind = ? AND at < ?")
                .bind(kind)
                .bind(before)
                .execute(&self.pool)
                .await
                .map_err(err)?
                .rows_affected(),
        )
    }
}
