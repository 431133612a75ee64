//! Browser sessions on SQLite, written through the group-commit writer.
//!
//! tower-sessions' SQLite store writes on a pool of its own; beside Kapı's writer, which holds
//! SQLite's write lock almost all the time under load, its writes would wait in SQLite's busy
//! handler (sleeps of up to 100 ms). So the writes go through the writer, into the same table
//! in the same encoding (MessagePack records, RFC 3339 expiry), and reads stay with
//! tower-sessions' store.

use async_trait::async_trait;
use time::format_description::well_known::Rfc3339;
use tower_sessions::{
    ExpiredDeletion, SessionStore as TowerStore,
    session::{Id, Record},
    session_store,
};

use super::writer::{Unit, Writer};
use crate::storage::StoreError;

#[derive(Clone)]
pub(super) struct SqliteSessions {
    pub(super) writer: Writer,
    pub(super) reader: tower_sessions_sqlx_store::SqliteStore,
}

impl std::fmt::Debug for SqliteSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteSessions")
    }
}

fn backend(e: StoreError) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

/// A record as its row holds it: id, MessagePack data, expiry.
fn row(record: &Record) -> session_store::Result<(String, Vec<u8>, String)> {
    let data =
        rmp_serde::to_vec(record).map_err(|e| session_store::Error::Encode(e.to_string()))?;
    let expiry = record
        .expiry_date
        .format(&Rfc3339)
        .map_err(|e| session_store::Error::Encode(e.to_string()))?;
    Ok((record.id.to_string(), data, expiry))
}

impl SqliteSessions {
    async fn write(&self, sql: &'static str, record: &Record) -> session_store::Result<bool> {
        let (id, data, expiry) = row(record)?;
        self.writer
            .write(move |tx| {
                Box::pin(async move {
                    let n = sqlx::query(sql)
                        .bind(id)
                        .bind(data)
                        .bind(expiry)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    Ok(Unit::Keep(n == 1))
                })
            })
            .await
            .map_err(backend)
    }
}

#[async_trait]
impl TowerStore for SqliteSessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // Ids are 128 random bits: a clash is only theoretical, but it must not overwrite.
        while !self
            .write(
                "INSERT INTO tower_sessions (id, data, expiry_date) VALUES ($1, $2, $3) \
                 ON CONFLICT (id) DO NOTHING",
                record,
            )
            .await?
        {
            record.id = Id::default();
        }
        Ok(())
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.write(
            "INSERT INTO tower_sessions (id, data, expiry_date) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET data = excluded.data, expiry_date = excluded.expiry_date",
            record,
        )
        .await?;
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        self.reader.load(id).await
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        let id = id.to_string();
        self.writer
            .write(move |tx| {
                Box::pin(async move {
                    sqlx::query("DELETE FROM tower_sessions WHERE id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    Ok(Unit::Keep(()))
                })
            })
            .await
            .map_err(backend)
    }
}

#[async_trait]
impl ExpiredDeletion for SqliteSessions {
    async fn delete_expired(&self) -> session_store::Result<()> {
        self.writer
            .write(|tx| {
                Box::pin(async move {
                    sqlx::query(
                        "DELETE FROM tower_sessions WHERE datetime(expiry_date) < datetime('now')",
                    )
                    .execute(&mut *tx)
                    .await?;
                    Ok(Unit::Keep(()))
                })
            })
            .await
            .map_err(backend)
    }
}

#[cfg(test)]
mod tests {
    use super::super::SqlStore;
    use tower_sessions::SessionStore as _;

    use super::*;

    #[tokio::test]
    async fn sessions_written_through_the_writer_read_back_as_tower_sessions_wrote_them() {
        let dir = std::env::temp_dir().join(format!(
            "kapi-sessions-{}",
            crate::domain::ids::random_token(6)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("kapi.db");
        let store = SqlStore::open_sqlite(
            &path,
            crate::storage::Access::ReadWrite,
            crate::config::SqliteSync::Full,
            2,
        )
        .await
        .unwrap();
        // tower-sessions' own store on the same file: what it reads, it could have written.
        let tower = tower_sessions_sqlx_store::SqliteStore::new(
            sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
                .await
                .unwrap(),
        );
        let sessions = SqliteSessions {
            writer: store.writer.clone().unwrap(),
            reader: tower.clone(),
        };
        let mut record = Record {
            id: Id::default(),
            data: [("payment".to_owned(), serde_json::json!("pay_1"))].into(),
            expiry_date: time::OffsetDateTime::now_utc() + time::Duration::minutes(10),
        };
        sessions.create(&mut record).await.unwrap();
        let loaded = tower.load(&record.id).await.unwrap().unwrap();
        assert_eq!(loaded.data, record.data);

        record.data.insert("csrf".into(), serde_json::json!("t"));
        sessions.save(&record).await.unwrap();
        assert_eq!(
            tower.load(&record.id).await.unwrap().unwrap().data,
            record.data
        );

        // An expired one is not loaded, and the clean-up removes it.
        let mut old = Record {
            id: Id::default(),
            data: Default::default(),
            expiry_date: time::OffsetDateTime::now_utc() - time::Duration::minutes(1),
        };
        sessions.create(&mut old).await.unwrap();
        assert!(sessions.load(&old.id).await.unwrap().is_none());
        let rows = || async {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM tower_sessions")
                .fetch_one(store.pool())
                .await
                .unwrap()
        };
        assert_eq!(rows().await, 2);
        sessions.delete_expired().await.unwrap();
        assert_eq!(rows().await, 1);

        sessions.delete(&record.id).await.unwrap();
        assert!(sessions.load(&record.id).await.unwrap().is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
