//! The simulators' records in SQLite (`sim_records`).

use async_trait::async_trait;

use super::{SqlStore, Unit};
use crate::simstore::{SimRecord, SimStore, SimStoreError};

fn err(e: impl std::fmt::Display) -> SimStoreError {
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
impl SimStore for SqlStore {
    async fn sim_insert(&self, r: &SimRecord) -> Result<bool, SimStoreError> {
        let r = r.clone();
        self.write_one(move |tx| {
            Box::pin(async move {
                let inserted = sqlx::query(
                    "INSERT INTO sim_records (kind, key, tag, value, at) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(&r.kind)
                .bind(&r.key)
                .bind(&r.tag)
                .bind(&r.value)
                .bind(r.at)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                Ok(Unit::Keep(inserted == 1))
            })
        })
        .await
        .map_err(err)
    }

    async fn sim_get(&self, kind: &str, key: &str) -> Result<Option<SimRecord>, SimStoreError> {
        let row: Option<Row> = sqlx::query_as(
            "SELECT kind, key, tag, value, at FROM sim_records WHERE kind = $1 AND key = $2",
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
        let (kind, key) = (kind.to_owned(), key.to_owned());
        let (expected, value) = (expected.to_owned(), value.to_owned());
        self.write_one(move |tx| {
            Box::pin(async move {
                let done = sqlx::query(
                    "UPDATE sim_records SET value = $1, at = $2 WHERE kind = $3 AND key = $4 AND value = $5",
                )
                .bind(&value)
                .bind(at)
                .bind(&kind)
                .bind(&key)
                .bind(&expected)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                Ok(Unit::Keep(done == 1))
            })
        })
        .await
        .map_err(err)
    }

    async fn sim_list(
        &self,
        kind: &str,
        tag: Option<&str>,
        limit: i64,
    ) -> Result<Vec<SimRecord>, SimStoreError> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT kind, key, tag, value, at FROM sim_records \
             WHERE kind = $1 AND ($2 IS NULL OR tag = $3) ORDER BY seq DESC LIMIT $4",
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
        let kind = kind.to_owned();
        self.write_one(move |tx| {
            Box::pin(async move {
                let gone = sqlx::query("DELETE FROM sim_records WHERE kind = $1 AND at < $2")
                    .bind(&kind)
                    .bind(before)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                Ok(Unit::Keep(gone))
            })
        })
        .await
        .map_err(err)
    }
}
