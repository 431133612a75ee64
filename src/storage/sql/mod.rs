//! The SQL store: one implementation of every storage trait over sqlx's `Any` driver, for
//! both backends. SQLite is the embedded default (one file under the data folder, or memory
//! for tests: WAL journal, foreign keys on, deleted content overwritten); PostgreSQL serves
//! several instances. Every statement is written once, in SQL both understand: `$1`-style
//! parameters (SQLite reads `$N` as the N-th argument), `ON CONFLICT`, `IS NOT DISTINCT FROM`;
//! the one PostgreSQL-only clause (`FOR UPDATE SKIP LOCKED`) is added by `Backend`.
//!
//! Times are integer Unix milliseconds and money integer minor units in both (`BIGINT` on
//! PostgreSQL). Each backend has its own migrations folder; the migrator ignores versions it
//! does not know, so an older instance keeps serving while a newer one has migrated (the
//! migrations add before they remove).

mod merchants;
mod outbox;
mod payments;
mod requests;
mod sessions;
mod sim;
mod writer;

use std::{str::FromStr, sync::Once, time::Duration};

use sqlx::{
    AnyPool,
    any::AnyPoolOptions,
    migrate::Migrator,
    postgres::PgConnectOptions,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

use super::{Access, EventRecord, SessionStore, StoreError, columns};
use writer::{Fut, Unit, Writer};

/// Which database a store speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// What a claim of rows adds to its `SELECT … FOR` part: PostgreSQL locks the rows it
    /// claims and skips those another instance is claiming; SQLite has one writer anyway.
    fn skip_locked(self) -> &'static str {
        match self {
            Self::Sqlite => "",
            Self::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }
}

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Clone)]
pub struct SqlStore {
    pool: AnyPool,
    backend: Backend,
    /// Where the browser sessions go (tower-sessions takes a concrete pool).
    sessions: SessionStore,
    /// SQLite's group-commit writer; `None` on PostgreSQL and read-only.
    writer: Option<Writer>,
}

fn install_drivers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(sqlx::any::install_default_drivers);
}

/// SQLite's settings, run on every connection: durable (every commit synced before it
/// returns, in WAL mode), or `normal` when the operator chose speed over the last commits.
const SQLITE_PRAGMAS_FULL: &str = "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
     PRAGMA secure_delete = ON; PRAGMA synchronous = FULL;";
const SQLITE_PRAGMAS_NORMAL: &str = "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
     PRAGMA secure_delete = ON; PRAGMA synchronous = NORMAL;";

impl SqlStore {
    /// Opens the SQLite file at `path` (created if needed) and brings its schema up to date;
    /// read-only, opens an existing file without writing to it.
    pub async fn open_sqlite(
        path: &std::path::Path,
        access: Access,
        sync: crate::config::SqliteSync,
        connections: u32,
    ) -> Result<Self, StoreError> {
        let synchronous = match sync {
            crate::config::SqliteSync::Full => SqliteSynchronous::Full,
            crate::config::SqliteSync::Normal => SqliteSynchronous::Normal,
        };
        let options = SqliteConnectOptions::new()
            .filename(path)
            .busy_timeout(Duration::from_secs(10));
        let (url, options) = match access {
            // WAL is a property of the file: set once, before the pool opens it.
            Access::ReadWrite => (
                format!("sqlite://{}?mode=rwc", path.display()),
                options
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(synchronous),
            ),
            Access::ReadOnly => (
                format!("sqlite://{}?mode=ro", path.display()),
                options.read_only(true),
            ),
        };
        let sessions_pool = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await?;
        Self::sqlite(&url, connections.clamp(1, 64), sessions_pool, access, sync).await
    }

    /// A private SQLite database in memory (tests of the core and of the storage contract).
    pub async fn open_in_memory() -> Result<Self, StoreError> {
        // A named in-memory database lives as long as one connection to it is open. The
        // sessions' pool holds one for good (no idle timeout, no lifetime): a connection the
        // main pool closes and reopens (after a cancelled query, say) finds the same tables,
        // not an empty database of its own.
        let name = format!(
            "file:kapi-{}?mode=memory&cache=shared",
            crate::domain::ids::random_token(12)
        );
        let sessions_pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(SqliteConnectOptions::from_str(&format!("sqlite:{name}"))?)
            .await?;
        Self::sqlite(
            &format!("sqlite:{name}"),
            1,
            sessions_pool,
            Access::ReadWrite,
            crate::config::SqliteSync::Normal,
        )
        .await
    }

    async fn sqlite(
        url: &str,
        max: u32,
        sessions_pool: sqlx::SqlitePool,
        access: Access,
        sync: crate::config::SqliteSync,
    ) -> Result<Self, StoreError> {
        install_drivers();
        let pragmas = match sync {
            crate::config::SqliteSync::Full => SQLITE_PRAGMAS_FULL,
            crate::config::SqliteSync::Normal => SQLITE_PRAGMAS_NORMAL,
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .idle_timeout(None)
            .max_lifetime(None)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    sqlx::Executor::execute(conn, pragmas).await?;
                    Ok(())
                })
            })
            .connect(url)
            .await?;
        let tower = tower_sessions_sqlx_store::SqliteStore::new(sessions_pool);
        if access == Access::ReadWrite {
            migrate(&SQLITE_MIGRATIONS, &pool).await?;
            tower
                .migrate()
                .await
                .map_err(|e| StoreError::Corrupt(format!("session table: {e}")))?;
        }
        let writer = (access == Access::ReadWrite).then(|| Writer::start(pool.clone()));
        let sessions = match &writer {
            Some(writer) => SessionStore::new(sessions::SqliteSessions {
                writer: writer.clone(),
                reader: tower,
            }),
            None => SessionStore::new(tower),
        };
        Ok(Self {
            pool,
            backend: Backend::Sqlite,
            sessions,
            writer,
        })
    }

    /// Connects to the PostgreSQL database at `url` (`postgres://USER@HOST:PORT/DB`, with
    /// `?options=-c search_path=…` for a schema of its own) and brings its schema up to date.
    /// Read-only, every transaction is: PostgreSQL refuses any write.
    pub async fn open_postgres(url: &str, max: u32, access: Access) -> Result<Self, StoreError> {
        install_drivers();
        let read_only = access == Access::ReadOnly;
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if read_only {
                        sqlx::Executor::execute(conn, "SET default_transaction_read_only = on")
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await?;
        if access == Access::ReadWrite {
            migrate(&POSTGRES_MIGRATIONS, &pool).await?;
        }
        // The sessions' table is one of Kapı's own (see the migration), in the same schema.
        let mut options = PgConnectOptions::from_str(url)?;
        if read_only {
            options = options.options([("default_transaction_read_only", "on")]);
        }
        let sessions_pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(max.clamp(1, 4))
            .connect_with(options)
            .await?;
        let schema: String = sqlx::query_scalar("SELECT current_schema()")
            .fetch_one(&sessions_pool)
            .await?;
        let sessions = tower_sessions_sqlx_store::PostgresStore::new(sessions_pool)
            .with_schema_name(&schema)
            .and_then(|s| s.with_table_name("sessions"))
            .map_err(StoreError::Corrupt)?;
        Ok(Self {
            pool,
            backend: Backend::Postgres,
            sessions: SessionStore::new(sessions),
            writer: None,
        })
    }

    /// The browser sessions' store, beside this database.
    pub fn session_store(&self) -> SessionStore {
        self.sessions.clone()
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Runs a unit of work (see `writer`): in SQLite's next group commit, or as a transaction
    /// of its own on PostgreSQL. Answers once what it kept is durable.
    async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut sqlx::AnyConnection) -> Fut<'c, Result<Unit<T>, StoreError>>
            + Send
            + 'static,
    {
        match &self.writer {
            Some(writer) => writer.write(work).await,
            None => writer::write_alone(&self.pool, work).await,
        }
    }

    /// As `write`, for a unit of exactly one statement that keeps what it wrote. On
    /// PostgreSQL it runs without `BEGIN`/`COMMIT` (a statement is atomic by itself: one round
    /// trip instead of three); on SQLite it joins the group commit like any unit.
    async fn write_one<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut sqlx::AnyConnection) -> Fut<'c, Result<Unit<T>, StoreError>>
            + Send
            + 'static,
    {
        match &self.writer {
            Some(writer) => writer.write(work).await,
            None => writer::write_statement(&self.pool, work).await,
        }
    }

    /// Runs each of `statements` (deletes whose only parameter, `$1`, is `before`) in one
    /// unit; the rows they removed.
    async fn forget(
        &self,
        statements: &'static [&'static str],
        before: i64,
    ) -> Result<u64, StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                let mut gone = 0;
                for sql in statements {
                    gone += sqlx::query(sql)
                        .bind(before)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                }
                Ok(Unit::Keep(gone))
            })
        })
        .await
    }

    /// For tests that look at the database directly.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

#[async_trait::async_trait]
impl super::HealthStore for SqlStore {
    async fn ping(&self) -> Result<(), StoreError> {
        let _: i64 = sqlx::query_scalar("SELECT CAST(1 AS BIGINT)")
            .fetch_one(&self.pool)
            .await?;
        Ok(())
    }

    async fn pending_migrations(&self) -> Result<Vec<(i64, String)>, StoreError> {
        let (known, exists) = match self.backend {
            Backend::Sqlite => (
                &SQLITE_MIGRATIONS,
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' \
                 AND name = '_sqlx_migrations'",
            ),
            Backend::Postgres => (
                &POSTGRES_MIGRATIONS,
                "SELECT COUNT(*) FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_name = '_sqlx_migrations'",
            ),
        };
        let tables: i64 = sqlx::query_scalar(exists).fetch_one(&self.pool).await?;
        let applied: Vec<i64> = if tables > 0 {
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success = TRUE")
                .fetch_all(&self.pool)
                .await?
        } else {
            Vec::new()
        };
        Ok(known
            .iter()
            .filter(|m| !applied.contains(&m.version))
            .map(|m| (m.version, m.description.to_string()))
            .collect())
    }

    fn pool_usage(&self) -> super::PoolUsage {
        let size = self.pool.size();
        // Read a moment apart while the writer takes and returns connections: never more idle
        // than open (sqlx's idle count can run ahead of its size for a moment).
        let idle = u32::try_from(self.pool.num_idle())
            .unwrap_or(u32::MAX)
            .min(size);
        super::PoolUsage {
            in_use: size.saturating_sub(idle),
            idle,
            max: self.pool.options().get_max_connections(),
        }
    }
}

/// Applies the migrations this build knows. Versions it does not know (a newer instance
/// migrated the shared database first) are left alone: migrations add before they remove, so
/// both versions work on the schema in between.
async fn migrate(migrations: &Migrator, pool: &AnyPool) -> Result<(), StoreError> {
    let mut migrator = Migrator {
        migrations: migrations.migrations.clone(),
        ..Migrator::DEFAULT
    };
    migrator.set_ignore_missing(true);
    migrator.run(pool).await?;
    Ok(())
}

async fn insert_event(tx: &mut sqlx::AnyConnection, e: &EventRecord) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO events (id, merchant_id, payment_id, type, payload, url, status, attempts, \
         next_attempt_at, lease_until, created_at, delivered_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&e.id)
    .bind(&e.merchant_id)
    .bind(&e.payment_id)
    .bind(&e.kind)
    .bind(&e.payload)
    .bind(&e.url)
    .bind(e.status.as_str())
    .bind(e.attempts)
    .bind(e.next_attempt_at)
    .bind(e.lease_until)
    .bind(e.created_at)
    .bind(e.delivered_at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Tables whose rows are retried by workers under a lease: the outbox and the reversals.
#[derive(Debug, Clone, Copy)]
enum Leased {
    Events,
    Reversals,
}

impl Leased {
    fn table(self) -> &'static str {
        match self {
            Self::Events => "events",
            Self::Reversals => "reversals",
        }
    }

    fn columns(self) -> &'static str {
        match self {
            Self::Events => columns::EVENT,
            Self::Reversals => columns::REVERSAL,
        }
    }
}

/// Leases up to `limit` rows of `leased` that are `pending`, due by `now` and not leased (or
/// whose lease ran out) until `lease_until`, and returns them. One statement claims and
/// returns, so two workers never hold the same row. A read comes first: workers poll often and
/// most polls find nothing, and a write lock on every poll would starve other writers (the
/// CLI, another instance).
async fn claim_due<T>(
    store: &SqlStore,
    leased: Leased,
    pending: &'static str,
    now: i64,
    lease_until: i64,
    limit: i64,
) -> Result<Vec<T>, StoreError>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin + 'static,
{
    let (table, cols) = (leased.table(), leased.columns());
    let count: i64 = sqlx::query_scalar(&format!(
        "SELECT COUNT(*) FROM {table} WHERE status = $1 AND next_attempt_at <= $2 \
         AND (lease_until IS NULL OR lease_until <= $2)"
    ))
    .bind(pending)
    .bind(now)
    .fetch_one(&store.pool)
    .await?;
    if count == 0 {
        return Ok(Vec::new());
    }
    let lock = store.backend.skip_locked();
    let claim = format!(
        "UPDATE {table} SET lease_until = $1 WHERE id IN ( \
           SELECT id FROM {table} WHERE status = $2 AND next_attempt_at <= $3 \
           AND (lease_until IS NULL OR lease_until <= $3) ORDER BY next_attempt_at LIMIT $4{lock}) \
         RETURNING {cols}"
    );
    store
        .write_one(move |tx| {
            Box::pin(async move {
                let claimed = sqlx::query_as(&claim)
                    .bind(lease_until)
                    .bind(pending)
                    .bind(now)
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await?;
                Ok(Unit::Keep(claimed))
            })
        })
        .await
}

/// A PostgreSQL schema of its own inside the database at `url` (for `kapi bench`): creates it
/// and returns the URL whose connections use it. Drop it with [`drop_scratch_schema`].
pub async fn scratch_schema(url: &str, name: &str) -> Result<String, StoreError> {
    install_drivers();
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await?;
    sqlx::query(&format!("CREATE SCHEMA {name}"))
        .execute(&pool)
        .await?;
    pool.close().await;
    let sep = if url.contains('?') { '&' } else { '?' };
    Ok(format!("{url}{sep}options=-c%20search_path%3D{name}"))
}

/// Drops a schema [`scratch_schema`] made, with everything in it.
pub async fn drop_scratch_schema(url: &str, name: &str) -> Result<(), StoreError> {
    install_drivers();
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await?;
    sqlx::query(&format!("DROP SCHEMA {name} CASCADE"))
        .execute(&pool)
        .await?;
    pool.close().await;
    Ok(())
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sqlite_commits_are_synced_unless_the_operator_chose_otherwise() {
        let dir =
            std::env::temp_dir().join(format!("kapi-sync-{}", crate::domain::ids::random_token(6)));
        std::fs::create_dir_all(&dir).unwrap();
        for (sync, expected) in [
            (crate::config::SqliteSync::Full, 2),
            (crate::config::SqliteSync::Normal, 1),
        ] {
            let path = dir.join(format!("{sync:?}.db"));
            let store = SqlStore::open_sqlite(&path, Access::ReadWrite, sync, 2)
                .await
                .unwrap();
            let got: i64 = sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(store.pool())
                .await
                .unwrap();
            assert_eq!(got, expected, "{sync:?}");
            let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(store.pool())
                .await
                .unwrap();
            assert_eq!(journal, "wal");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn every_column_list_names_its_tables_columns() {
        let store = SqlStore::open_in_memory().await.unwrap();
        for (table, list) in [
            ("merchants", columns::MERCHANT),
            ("refunds", columns::REFUND),
            ("reversals", columns::REVERSAL),
            ("events", columns::EVENT),
            ("payment_attempts", columns::ATTEMPT),
            ("payments", columns::payment()),
        ] {
            let mut have: Vec<String> =
                sqlx::query_scalar(&format!("SELECT name FROM pragma_table_info('{table}')"))
                    .fetch_all(store.pool())
                    .await
                    .unwrap();
            have.sort();
            let mut listed: Vec<String> = list.split(", ").map(str::to_owned).collect();
            listed.sort();
            assert_eq!(listed, have, "{table}");
        }
    }
}
