//! The embedded SQLite store: one file under the data folder (or memory, for tests), WAL
//! journal, foreign keys on, deleted content overwritten.

mod merchants;
mod outbox;
mod payments;
mod requests;
mod sim;

use std::{path::Path, time::Duration};

use sqlx::{
    Sqlite, SqlitePool, Transaction,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

use super::{EventRecord, SessionStore, StoreError};

#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) `path` and applies the migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal);
        Self::connect(options, 8).await
    }

    /// A private database in memory (tests of the core and of the storage contract).
    pub async fn open_in_memory() -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new().in_memory(true);
        // One connection: every connection to `:memory:` is a database of its own.
        Self::connect(options, 1).await
    }

    async fn connect(options: SqliteConnectOptions, max: u32) -> Result<Self, StoreError> {
        let options = options
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // Overwrite deleted content so removed card data does not linger in free pages.
            .pragma("secure_delete", "ON");
        let pool = SqlitePoolOptions::new()
            .max_connections(max)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self { pool })
    }

    /// The browser sessions' store, in this database.
    pub async fn session_store(&self) -> Result<SessionStore, StoreError> {
        let sessions = tower_sessions_sqlx_store::SqliteStore::new(self.pool.clone());
        sessions
            .migrate()
            .await
            .map_err(|e| StoreError::Corrupt(format!("session table: {e}")))?;
        Ok(SessionStore::new(sessions))
    }

    /// For tests that look at the database directly.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

async fn insert_event(
    tx: &mut Transaction<'_, Sqlite>,
    e: &EventRecord,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO events (id, merchant_id, payment_id, type, payload, url, status, attempts, \
         next_attempt_at, lease_until, created_at, delivered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The columns each record is read from, named: a newer schema may add columns (an upgrade
/// running while an older instance still serves) without changing what this build reads.
pub(super) mod columns {
    pub const MERCHANT: &str = "id, name, legal_title, address, phone, email, mersis, website, secret_key_enc, return_origins, created_at, key_lookup, prev_secret_key_enc, prev_key_lookup, prev_key_expires_at, webhook_url, allowed_ips, frame_origins, installment_plan, accent_colour, logo_sha256, card_attempts";
    pub const REFUND: &str = "id, payment_id, kind, amount_minor, status, proc_return_code, host_ref, transaction_id, created_at, updated_at";
    pub const REVERSAL: &str = "id, payment_id, attempt_ref, terminal_id, amount_minor, currency, status, attempts, next_attempt_at, lease_until, not_found_final_at, proc_return_code, last_error, created_at, updated_at";
    pub const EVENT: &str = "id, merchant_id, payment_id, type, payload, url, status, attempts, next_attempt_at, lease_until, created_at, delivered_at";
    pub const ATTEMPT: &str = "payment_id, number, card_brand, masked_pan, card_bank, status, error_code, proc_return_code, md_status, eci, at";

    /// Every column of `payments`, as `PaymentRow` lists them.
    pub fn payment() -> &'static str {
        static LIST: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            crate::storage::PaymentRow::FIXED
                .iter()
                .chain(crate::storage::PaymentRow::MOVING)
                .copied()
                .collect::<Vec<_>>()
                .join(", ")
        });
        &LIST
    }
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
    pool: &SqlitePool,
    leased: Leased,
    pending: &str,
    now: i64,
    lease_until: i64,
    limit: i64,
) -> Result<Vec<T>, sqlx::Error>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> + Send + Unpin,
{
    let (table, cols) = (leased.table(), leased.columns());
    let due = "status = ? AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until <= ?)";
    let count: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE {due}"))
        .bind(pending)
        .bind(now)
        .bind(now)
        .fetch_one(pool)
        .await?;
    if count == 0 {
        return Ok(Vec::new());
    }
    sqlx::query_as(&format!(
        "UPDATE {table} SET lease_until = ? WHERE id IN ( \
           SELECT id FROM {table} WHERE {due} ORDER BY next_attempt_at LIMIT ?) \
         RETURNING {cols}"
    ))
    .bind(lease_until)
    .bind(pending)
    .bind(now)
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_column_list_names_its_tables_columns() {
        let store = SqliteStore::open_in_memory().await.unwrap();
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
