//! The embedded SQLite store.

use std::{path::Path, time::Duration};

use async_trait::async_trait;
use sqlx::{
    Sqlite, SqlitePool, Transaction,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

use super::*;

/// Static SQL only (sqlx 0.9 refuses built strings): column lists are spliced by `concat!`.
macro_rules! payment_columns {
    () => {
        "id, merchant_id, order_id, amount_minor, currency, installment, locale, \
    description, customer_name, customer_email, customer_phone, ok_url, fail_url, callback_url, status, \
    created_at, updated_at, expires_at, card_brand, masked_pan, card_holder, threeds_server_trans_id, \
    acs_trans_id, ds_trans_id, acs_url, trans_status, trans_status_reason, challenge_cancel, eci, \
    authentication_value, md_status, rreq_received_at, terminal_id, proc_return_code, auth_code, \
    host_ref, transaction_id, error_code, result_fields, refunded_minor, refund_reserved_minor, authorised_at, \
    source, client_ip, installment_fee_minor, card_bank, card_program, card_kind, attempt_ref"
    };
}

macro_rules! cas_update_sql {
    ($guard:literal) => {
        concat!(
            "UPDATE payments SET status = ?, updated_at = ?, \
             card_brand = COALESCE(?, card_brand), masked_pan = COALESCE(?, masked_pan), \
             card_holder = COALESCE(?, card_holder), \
             threeds_server_trans_id = COALESCE(?, threeds_server_trans_id), \
             acs_trans_id = COALESCE(?, acs_trans_id), ds_trans_id = COALESCE(?, ds_trans_id), \
             acs_url = COALESCE(?, acs_url), trans_status = COALESCE(?, trans_status), \
             trans_status_reason = COALESCE(?, trans_status_reason), \
             challenge_cancel = COALESCE(?, challenge_cancel), eci = COALESCE(?, eci), \
             authentication_value = COALESCE(?, authentication_value), md_status = COALESCE(?, md_status), \
             rreq_received_at = COALESCE(?, rreq_received_at), terminal_id = COALESCE(?, terminal_id), \
             proc_return_code = COALESCE(?, proc_return_code), auth_code = COALESCE(?, auth_code), \
             host_ref = COALESCE(?, host_ref), transaction_id = COALESCE(?, transaction_id), \
             error_code = COALESCE(?, error_code), result_fields = COALESCE(?, result_fields), \
             authorised_at = COALESCE(?, authorised_at), client_ip = COALESCE(?, client_ip), \
             installment = COALESCE(?, installment), \
             installment_fee_minor = COALESCE(?, installment_fee_minor), \
             card_bank = COALESCE(?, card_bank), card_program = COALESCE(?, card_program), \
             card_kind = COALESCE(?, card_kind), attempt_ref = COALESCE(?, attempt_ref) \
             WHERE id = ? AND status = ?",
            $guard
        )
    };
}

/// Which extra condition a compare-and-set adds to `id` and `status`.
#[derive(Clone, Copy)]
enum Guard {
    StatusOnly,
    RreqNotYetReceived,
}

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
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // Overwrite deleted content so removed card data does not linger in free pages.
            .pragma("secure_delete", "ON");
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self { pool })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

async fn add_history(
    tx: &mut Transaction<'_, Sqlite>,
    id: &str,
    from: Option<Status>,
    to: Status,
    at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO payment_history (payment_id, from_status, to_status, at) VALUES (?, ?, ?, ?)",
    )
    .bind(id)
    .bind(from.map(Status::as_str))
    .bind(to.as_str())
    .bind(at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// `UPDATE … WHERE id = ? AND status = ?` with every optional column coalesced.
async fn cas_update(
    tx: &mut Transaction<'_, Sqlite>,
    id: &str,
    from: Status,
    to: Status,
    u: &PaymentUpdate,
    at: i64,
    guard: Guard,
) -> Result<bool, sqlx::Error> {
    let sql = match guard {
        Guard::StatusOnly => cas_update_sql!(""),
        Guard::RreqNotYetReceived => cas_update_sql!(" AND rreq_received_at IS NULL"),
    };
    let done = sqlx::query(sql)
        .bind(to.as_str())
        .bind(at)
        .bind(&u.card_brand)
        .bind(&u.masked_pan)
        .bind(&u.card_holder)
        .bind(&u.threeds_server_trans_id)
        .bind(&u.acs_trans_id)
        .bind(&u.ds_trans_id)
        .bind(&u.acs_url)
        .bind(&u.trans_status)
        .bind(&u.trans_status_reason)
        .bind(&u.challenge_cancel)
        .bind(&u.eci)
        .bind(&u.authentication_value)
        .bind(&u.md_status)
        .bind(u.rreq_received_at)
        .bind(&u.terminal_id)
        .bind(&u.proc_return_code)
        .bind(&u.auth_code)
        .bind(&u.host_ref)
        .bind(&u.transaction_id)
        .bind(&u.error_code)
        .bind(&u.result_fields)
        .bind(u.authorised_at)
        .bind(&u.client_ip)
        .bind(u.installment)
        .bind(u.installment_fee_minor)
        .bind(&u.card_bank)
        .bind(&u.card_program)
        .bind(&u.card_kind)
        .bind(&u.attempt_ref)
        .bind(id)
        .bind(from.as_str())
        .execute(&mut **tx)
        .await?
        .rows_affected()
        == 1;
    Ok(done)
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
    .bind(&e.status)
    .bind(e.attempts)
    .bind(e.next_attempt_at)
    .bind(e.lease_until)
    .bind(e.created_at)
    .bind(e.delivered_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert_reversal(
    tx: &mut Transaction<'_, Sqlite>,
    r: &ReversalRecord,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO reversals (id, payment_id, attempt_ref, terminal_id, amount_minor, currency, \
         status, attempts, next_attempt_at, lease_until, not_found_final_at, proc_return_code, \
         last_error, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&r.id)
    .bind(&r.payment_id)
    .bind(&r.attempt_ref)
    .bind(&r.terminal_id)
    .bind(r.amount_minor)
    .bind(&r.currency)
    .bind(&r.status)
    .bind(r.attempts)
    .bind(r.next_attempt_at)
    .bind(r.lease_until)
    .bind(r.not_found_final_at)
    .bind(&r.proc_return_code)
    .bind(&r.last_error)
    .bind(r.created_at)
    .bind(r.updated_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

#[async_trait]
impl Store for SqliteStore {
    async fn insert_merchant(&self, m: &MerchantRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO merchants (id, name, legal_title, address, phone, email, mersis, website, \
             secret_key_enc, return_origins, created_at, key_lookup, webhook_url, allowed_ips, frame_origins) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&m.id)
        .bind(&m.name)
        .bind(&m.legal_title)
        .bind(&m.address)
        .bind(&m.phone)
        .bind(&m.email)
        .bind(&m.mersis)
        .bind(&m.website)
        .bind(&m.secret_key_enc)
        .bind(&m.return_origins)
        .bind(m.created_at)
        .bind(&m.key_lookup)
        .bind(&m.webhook_url)
        .bind(&m.allowed_ips)
        .bind(&m.frame_origins)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn get_merchant(&self, id: &str) -> Result<Option<MerchantRecord>, StoreError> {
        Ok(sqlx::query_as("SELECT * FROM merchants WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn set_merchant_installment_plan(
        &self,
        id: &str,
        plan: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE merchants SET installment_plan = ? WHERE id = ?")
            .bind(plan)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn set_merchant_accent(&self, id: &str, colour: Option<&str>) -> Result<(), StoreError> {
        sqlx::query("UPDATE merchants SET accent_colour = ? WHERE id = ?")
            .bind(colour)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn set_merchant_logo(
        &self,
        id: &str,
        logo: Option<&MerchantLogo>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM merchant_logos WHERE merchant_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if let Some(logo) = logo {
            sqlx::query(
                "INSERT INTO merchant_logos (merchant_id, content_type, body, sha256) \
                 VALUES (?, ?, ?, ?)",
            )
            .bind(id)
            .bind(&logo.content_type)
            .bind(&logo.body)
            .bind(&logo.sha256)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("UPDATE merchants SET logo_sha256 = ? WHERE id = ?")
            .bind(logo.map(|l| l.sha256.as_str()))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn merchant_logo(&self, id: &str) -> Result<Option<MerchantLogo>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT content_type, body, sha256 FROM merchant_logos WHERE merchant_id = ?",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn set_merchant_origins(&self, id: &str, origins: &[String]) -> Result<(), StoreError> {
        let json =
            serde_json::to_string(origins).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query("UPDATE merchants SET return_origins = ? WHERE id = ?")
            .bind(json)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

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

    async fn insert_payment(&self, p: &PaymentRecord) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO payments (id, merchant_id, order_id, amount_minor, currency, installment, locale, \
             description, customer_name, customer_email, customer_phone, ok_url, fail_url, callback_url, \
             status, created_at, updated_at, expires_at, source) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&p.id)
        .bind(&p.merchant_id)
        .bind(&p.order_id)
        .bind(p.amount_minor)
        .bind(&p.currency)
        .bind(p.installment)
        .bind(&p.locale)
        .bind(&p.description)
        .bind(&p.customer_name)
        .bind(&p.customer_email)
        .bind(&p.customer_phone)
        .bind(&p.ok_url)
        .bind(&p.fail_url)
        .bind(&p.callback_url)
        .bind(&p.status)
        .bind(p.created_at)
        .bind(p.updated_at)
        .bind(p.expires_at)
        .bind(&p.source)
        .execute(&mut *tx)
        .await?;
        add_history(&mut tx, &p.id, None, p.status(), p.created_at).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_payment(&self, id: &str) -> Result<Option<PaymentRecord>, StoreError> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            payment_columns!(),
            " FROM payments WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn set_payment_locale(&self, id: &str, locale: &str) -> Result<Cas, StoreError> {
        let done =
            sqlx::query("UPDATE payments SET locale = ? WHERE id = ? AND status = 'created'")
                .bind(locale)
                .bind(id)
                .execute(&self.pool)
                .await?
                .rows_affected()
                == 1;
        Ok(if done { Cas::Done } else { Cas::Lost })
    }

    async fn find_payment_by_threeds_id(
        &self,
        tid: &str,
    ) -> Result<Option<PaymentRecord>, StoreError> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            payment_columns!(),
            " FROM payments WHERE threeds_server_trans_id = ?"
        ))
        .bind(tid)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn order_is_paid(&self, merchant_id: &str, order_id: &str) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM payments WHERE merchant_id = ? AND order_id = ? \
             AND status IN ('authorising', 'approved')",
        )
        .bind(merchant_id)
        .bind(order_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    async fn due_for_expiry(&self, now: i64, limit: i64) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM payments WHERE status IN (?, ?) AND expires_at <= ? LIMIT ?",
        )
        .bind(Status::Created.as_str())
        .bind(Status::Challenge.as_str())
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn interrupted(&self, moved_before: i64, limit: i64) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM payments WHERE status IN (?, ?, ?) AND updated_at <= ? \
             ORDER BY updated_at LIMIT ?",
        )
        .bind(Status::CardSubmitted.as_str())
        .bind(Status::Authenticated.as_str())
        .bind(Status::Authorising.as_str())
        .bind(moved_before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn transition(
        &self,
        id: &str,
        from: Status,
        to: Status,
        u: &PaymentUpdate,
        effects: Effects<'_>,
        at: i64,
    ) -> Result<Cas, StoreError> {
        if !from.can_move_to(to) {
            return Err(StoreError::IllegalMove(from.as_str(), to.as_str()));
        }
        let mut tx = self.pool.begin().await?;
        match cas_update(&mut tx, id, from, to, u, at, Guard::StatusOnly).await {
            Ok(true) => {}
            Ok(false) => {
                tx.rollback().await?;
                return Ok(Cas::Lost);
            }
            Err(e) if is_unique_violation(&e) => {
                tx.rollback().await?;
                return Ok(Cas::OrderAlreadyPaid);
            }
            Err(e) => return Err(e.into()),
        }
        add_history(&mut tx, id, Some(from), to, at).await?;
        if let Some(event) = effects.event {
            insert_event(&mut tx, event).await?;
        }
        if let Some(r) = effects.reversal {
            insert_reversal(&mut tx, r).await?;
        }
        if to.is_final() {
            sqlx::query("DELETE FROM card_vault WHERE payment_id = ?")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Cas::Done)
    }

    async fn submit_card(
        &self,
        id: &str,
        u: &PaymentUpdate,
        card_enc: &[u8],
        consents: &[ConsentRecord],
        at: i64,
    ) -> Result<Cas, StoreError> {
        let mut tx = self.pool.begin().await?;
        if !cas_update(
            &mut tx,
            id,
            Status::Created,
            Status::CardSubmitted,
            u,
            at,
            Guard::StatusOnly,
        )
        .await?
        {
            return Ok(Cas::Lost);
        }
        add_history(
            &mut tx,
            id,
            Some(Status::Created),
            Status::CardSubmitted,
            at,
        )
        .await?;
        sqlx::query("INSERT INTO card_vault (payment_id, data_enc, created_at) VALUES (?, ?, ?)")
            .bind(id)
            .bind(card_enc)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        for c in consents {
            sqlx::query(
                "INSERT INTO consents (payment_id, document_kind, template_version, text_sha256, \
                 accepted_at, client_ip, user_agent, locale) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&c.payment_id)
            .bind(&c.document_kind)
            .bind(&c.template_version)
            .bind(&c.text_sha256)
            .bind(c.accepted_at)
            .bind(&c.client_ip)
            .bind(&c.user_agent)
            .bind(&c.locale)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Cas::Done)
    }

    async fn record_rreq(&self, id: &str, u: &PaymentUpdate, at: i64) -> Result<Cas, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = cas_update(
            &mut tx,
            id,
            Status::Challenge,
            Status::Challenge,
            u,
            at,
            Guard::RreqNotYetReceived,
        )
        .await?;
        tx.commit().await?;
        Ok(if done { Cas::Done } else { Cas::Lost })
    }

    async fn load_card(&self, payment_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT data_enc FROM card_vault WHERE payment_id = ?")
                .bind(payment_id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn consents(&self, payment_id: &str) -> Result<Vec<ConsentRecord>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT payment_id, document_kind, template_version, text_sha256, accepted_at, client_ip, \
             user_agent, locale FROM consents WHERE payment_id = ? ORDER BY id",
        )
        .bind(payment_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn history(&self, payment_id: &str) -> Result<Vec<HistoryRecord>, StoreError> {
        Ok(sqlx::query_as("SELECT from_status, to_status, at FROM payment_history WHERE payment_id = ? ORDER BY id")
            .bind(payment_id)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn record_callback_attempt(&self, a: &CallbackAttempt) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO callback_attempts (payment_id, url, attempted_at, status_code, error, latency_ms) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&a.payment_id)
        .bind(&a.url)
        .bind(a.attempted_at)
        .bind(a.status_code)
        .bind(&a.error)
        .bind(a.latency_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn callback_attempts(
        &self,
        payment_id: &str,
    ) -> Result<Vec<CallbackAttempt>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT payment_id, url, attempted_at, status_code, error, latency_ms FROM callback_attempts \
             WHERE payment_id = ? ORDER BY id",
        )
        .bind(payment_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn list_merchants(&self) -> Result<Vec<MerchantRecord>, StoreError> {
        Ok(
            sqlx::query_as("SELECT * FROM merchants ORDER BY created_at")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn find_merchant_by_key(
        &self,
        lookup: &str,
    ) -> Result<Option<MerchantRecord>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT * FROM merchants WHERE key_lookup = ? OR prev_key_lookup = ? LIMIT 1",
        )
        .bind(lookup)
        .bind(lookup)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn set_key_lookup(
        &self,
        id: &str,
        lookup: &str,
        prev_lookup: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE merchants SET key_lookup = ?, prev_key_lookup = ? WHERE id = ?")
            .bind(lookup)
            .bind(prev_lookup)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn merchants_not_under(
        &self,
        prefix: &[u8],
        limit: i64,
    ) -> Result<Vec<MerchantRecord>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT * FROM merchants WHERE substr(secret_key_enc, 1, 5) != ? \
             OR (prev_secret_key_enc IS NOT NULL AND substr(prev_secret_key_enc, 1, 5) != ?) LIMIT ?",
        )
        .bind(prefix)
        .bind(prefix)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn replace_merchant_secrets(
        &self,
        id: &str,
        old_enc: &[u8],
        new_enc: &[u8],
        new_prev_enc: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE merchants SET secret_key_enc = ?, prev_secret_key_enc = COALESCE(?, prev_secret_key_enc) \
             WHERE id = ? AND secret_key_enc = ?",
        )
        .bind(new_enc)
        .bind(new_prev_enc)
        .bind(id)
        .bind(old_enc)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1)
    }

    async fn cards_not_under(
        &self,
        prefix: &[u8],
        limit: i64,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT payment_id, data_enc FROM card_vault WHERE substr(data_enc, 1, 5) != ? LIMIT ?",
        )
        .bind(prefix)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn replace_card(
        &self,
        payment_id: &str,
        old_enc: &[u8],
        new_enc: &[u8],
    ) -> Result<bool, StoreError> {
        Ok(
            sqlx::query("UPDATE card_vault SET data_enc = ? WHERE payment_id = ? AND data_enc = ?")
                .bind(new_enc)
                .bind(payment_id)
                .bind(old_enc)
                .execute(&self.pool)
                .await?
                .rows_affected()
                == 1,
        )
    }

    async fn blobs_under(&self, prefix: &[u8]) -> Result<i64, StoreError> {
        let merchants: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM merchants WHERE substr(secret_key_enc, 1, 5) = ? \
             OR (prev_secret_key_enc IS NOT NULL AND substr(prev_secret_key_enc, 1, 5) = ?)",
        )
        .bind(prefix)
        .bind(prefix)
        .fetch_one(&self.pool)
        .await?;
        let cards: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM card_vault WHERE substr(data_enc, 1, 5) = ?")
                .bind(prefix)
                .fetch_one(&self.pool)
                .await?;
        Ok(merchants + cards)
    }

    async fn rotate_merchant_key(
        &self,
        id: &str,
        new_enc: &[u8],
        new_lookup: &str,
        prev_enc: &[u8],
        prev_lookup: &str,
        prev_expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE merchants SET secret_key_enc = ?, key_lookup = ?, prev_secret_key_enc = ?, \
             prev_key_lookup = ?, prev_key_expires_at = ? WHERE id = ?",
        )
        .bind(new_enc)
        .bind(new_lookup)
        .bind(prev_enc)
        .bind(prev_lookup)
        .bind(prev_expires_at)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn set_merchant_api_settings(
        &self,
        id: &str,
        webhook_url: Option<&str>,
        allowed_ips: &[String],
        frame_origins: &[String],
    ) -> Result<(), StoreError> {
        let json =
            |v: &[String]| serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()));
        sqlx::query(
            "UPDATE merchants SET webhook_url = ?, allowed_ips = ?, frame_origins = ? WHERE id = ?",
        )
        .bind(webhook_url)
        .bind(json(allowed_ips)?)
        .bind(json(frame_origins)?)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn list_payments(
        &self,
        merchant_id: &str,
        f: &PaymentFilter,
    ) -> Result<Vec<PaymentRecord>, StoreError> {
        let (before_at, before_id) = f.before.clone().unwrap_or((i64::MAX, String::new()));
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            payment_columns!(),
            " FROM payments WHERE merchant_id = ? \
              AND (? IS NULL OR order_id = ?) AND (? IS NULL OR status = ?) \
              AND (? IS NULL OR created_at >= ?) AND (? IS NULL OR created_at < ?) \
              AND (created_at < ? OR (created_at = ? AND id < ?)) \
              ORDER BY created_at DESC, id DESC LIMIT ?"
        ))
        .bind(merchant_id)
        .bind(&f.order_id)
        .bind(&f.order_id)
        .bind(&f.status)
        .bind(&f.status)
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
        .fetch_all(&self.pool)
        .await?)
    }

    async fn get_refund(&self, id: &str) -> Result<Option<RefundRecord>, StoreError> {
        Ok(sqlx::query_as("SELECT * FROM refunds WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn reserve_refund(
        &self,
        r: &RefundRecord,
        key: Option<&IdempotencyLink>,
    ) -> Result<Cas, StoreError> {
        let mut tx = self.pool.begin().await?;
        let reserved = sqlx::query(
            "UPDATE payments SET refund_reserved_minor = refund_reserved_minor + ?, updated_at = ? \
             WHERE id = ? AND status = 'approved' \
             AND refund_reserved_minor + ? <= amount_minor + installment_fee_minor",
        )
        .bind(r.amount_minor)
        .bind(r.created_at)
        .bind(&r.payment_id)
        .bind(r.amount_minor)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !reserved {
            tx.rollback().await?;
            return Ok(Cas::Lost);
        }
        sqlx::query(
            "INSERT INTO refunds (id, payment_id, kind, amount_minor, status, proc_return_code, host_ref, \
             transaction_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&r.id)
        .bind(&r.payment_id)
        .bind(&r.kind)
        .bind(r.amount_minor)
        .bind(&r.status)
        .bind(&r.proc_return_code)
        .bind(&r.host_ref)
        .bind(&r.transaction_id)
        .bind(r.created_at)
        .bind(r.updated_at)
        .execute(&mut *tx)
        .await?;
        if let Some(k) = key {
            sqlx::query(
                "UPDATE idempotency_keys SET refund_id = ? \
                 WHERE merchant_id = ? AND key = ? AND owner = ?",
            )
            .bind(&r.id)
            .bind(&k.merchant_id)
            .bind(&k.key)
            .bind(&k.owner)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Cas::Done)
    }

    async fn settle_refund(
        &self,
        r: &RefundRecord,
        event_for: &(dyn for<'p> Fn(&'p PaymentRecord) -> EventRecord + Send + Sync),
        at: i64,
    ) -> Result<Option<PaymentRecord>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let settled = sqlx::query(
            "UPDATE refunds SET status = ?, proc_return_code = ?, host_ref = ?, transaction_id = ?, \
             updated_at = ? WHERE id = ? AND status = 'pending'",
        )
        .bind(&r.status)
        .bind(&r.proc_return_code)
        .bind(&r.host_ref)
        .bind(&r.transaction_id)
        .bind(at)
        .bind(&r.id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !settled {
            tx.rollback().await?;
            return Ok(None);
        }
        if r.status == "succeeded" {
            if r.kind == "refund" {
                sqlx::query("UPDATE payments SET refunded_minor = refunded_minor + ?, updated_at = ? WHERE id = ?")
                    .bind(r.amount_minor)
                    .bind(at)
                    .bind(&r.payment_id)
                    .execute(&mut *tx)
                    .await?;
            }
            // Decided here, on the row as it is now: whatever other refunds did meanwhile.
            let (refunded, amount): (i64, i64) = sqlx::query_as(
                "SELECT refunded_minor, amount_minor + installment_fee_minor FROM payments \
                     WHERE id = ?",
            )
            .bind(&r.payment_id)
            .fetch_one(&mut *tx)
            .await?;
            let to = if r.kind == "void" {
                Some(Status::Voided)
            } else if refunded >= amount {
                Some(Status::Refunded)
            } else {
                None
            };
            if let Some(to) = to {
                let moved = cas_update(
                    &mut tx,
                    &r.payment_id,
                    Status::Approved,
                    to,
                    &PaymentUpdate::default(),
                    at,
                    Guard::StatusOnly,
                )
                .await?;
                if moved {
                    add_history(&mut tx, &r.payment_id, Some(Status::Approved), to, at).await?;
                }
            }
        } else {
            sqlx::query(
                "UPDATE payments SET refund_reserved_minor = refund_reserved_minor - ?, updated_at = ? WHERE id = ?",
            )
            .bind(r.amount_minor)
            .bind(at)
            .bind(&r.payment_id)
            .execute(&mut *tx)
            .await?;
        }
        let payment: PaymentRecord = sqlx::query_as(concat!(
            "SELECT ",
            payment_columns!(),
            " FROM payments WHERE id = ?"
        ))
        .bind(&r.payment_id)
        .fetch_one(&mut *tx)
        .await?;
        if r.status == "succeeded" {
            insert_event(&mut tx, &event_for(&payment)).await?;
        }
        tx.commit().await?;
        Ok(Some(payment))
    }

    async fn pending_refunds(
        &self,
        before: i64,
        limit: i64,
    ) -> Result<Vec<RefundRecord>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT * FROM refunds WHERE status = 'pending' AND updated_at < ? ORDER BY updated_at LIMIT ?",
        )
        .bind(before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn refunds(&self, payment_id: &str) -> Result<Vec<RefundRecord>, StoreError> {
        Ok(
            sqlx::query_as("SELECT * FROM refunds WHERE payment_id = ? ORDER BY created_at, id")
                .bind(payment_id)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn claim_due_events(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<EventRecord>, StoreError> {
        // A read first: the worker polls often, and most polls find nothing; a write lock
        // taken on every poll would starve other writers (the CLI, another instance).
        let due: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM events WHERE status = 'pending' AND next_attempt_at <= ? \
             AND (lease_until IS NULL OR lease_until <= ?)",
        )
        .bind(now)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        if due == 0 {
            return Ok(Vec::new());
        }
        // One statement: claim and return, so two workers never hold the same event.
        Ok(sqlx::query_as(
            "UPDATE events SET lease_until = ? WHERE id IN ( \
               SELECT id FROM events WHERE status = 'pending' AND next_attempt_at <= ? \
               AND (lease_until IS NULL OR lease_until <= ?) ORDER BY next_attempt_at LIMIT ?) \
             RETURNING *",
        )
        .bind(lease_until)
        .bind(now)
        .bind(now)
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
        let due: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM reversals WHERE status = 'pending' AND next_attempt_at <= ? \
             AND (lease_until IS NULL OR lease_until <= ?)",
        )
        .bind(now)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        if due == 0 {
            return Ok(Vec::new());
        }
        Ok(sqlx::query_as(
            "UPDATE reversals SET lease_until = ? WHERE id IN ( \
               SELECT id FROM reversals WHERE status = 'pending' AND next_attempt_at <= ? \
               AND (lease_until IS NULL OR lease_until <= ?) ORDER BY next_attempt_at LIMIT ?) \
             RETURNING *",
        )
        .bind(lease_until)
        .bind(now)
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
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
            } => (*status, at, Some(proc_return_code.as_str()), None),
            ReversalOutcome::RetryAt { at: next, error } => {
                ("pending", *next, None, Some(error.as_str()))
            }
        };
        sqlx::query(
            "UPDATE reversals SET status = ?, next_attempt_at = ?, lease_until = NULL, \
             attempts = attempts + 1, proc_return_code = COALESCE(?, proc_return_code), \
             last_error = ?, updated_at = ? WHERE id = ? AND status = 'pending' AND lease_until IS ?",
        )
        .bind(status)
        .bind(next)
        .bind(code)
        .bind(error)
        .bind(at)
        .bind(id)
        .bind(lease_until)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn reversals(&self, payment_id: &str) -> Result<Vec<ReversalRecord>, StoreError> {
        Ok(
            sqlx::query_as("SELECT * FROM reversals WHERE payment_id = ? ORDER BY created_at")
                .bind(payment_id)
                .fetch_all(&self.pool)
                .await?,
        )
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
            DeliveryOutcome::Delivered => ("delivered", a.attempted_at, Some(a.attempted_at)),
            DeliveryOutcome::RetryAt(t) => ("pending", t, None),
            DeliveryOutcome::Dead => ("dead", a.attempted_at, None),
        };
        sqlx::query("UPDATE events SET attempts = attempts + 1 WHERE id = ?")
            .bind(&a.event_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE events SET status = ?, next_attempt_at = ?, lease_until = NULL, \
             delivered_at = COALESCE(?, delivered_at) WHERE id = ? AND lease_until IS ?",
        )
        .bind(status)
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
            "SELECT * FROM events WHERE merchant_id = ? \
              AND (? IS NULL OR payment_id = ?) AND (? IS NULL OR status = ?) AND (? IS NULL OR type = ?) \
              AND (created_at < ? OR (created_at = ? AND id < ?)) \
              ORDER BY created_at DESC, id DESC LIMIT ?",
        )
        .bind(merchant_id)
        .bind(&f.payment_id)
        .bind(&f.payment_id)
        .bind(&f.status)
        .bind(&f.status)
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
        Ok(sqlx::query_as("SELECT * FROM events WHERE id = ?")
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
            "UPDATE events SET status = 'pending', next_attempt_at = ?, lease_until = NULL \
             WHERE id = ? AND url IS NOT NULL",
        )
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1)
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
            "DELETE FROM idempotency_keys WHERE merchant_id = ? AND key = ? AND state = 'in_flight' \
             AND refund_id IS NULL AND created_at < ?",
        )
        .bind(merchant_id)
        .bind(key)
        .bind(stale_before)
        .execute(&mut *tx)
        .await?;
        let inserted = sqlx::query(
            "INSERT OR IGNORE INTO idempotency_keys (merchant_id, key, request_hash, owner, state, created_at) \
             VALUES (?, ?, ?, ?, 'in_flight', ?)",
        )
        .bind(merchant_id)
        .bind(key)
        .bind(request_hash)
        .bind(owner)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        let state = if inserted {
            IdempotencyState::Started
        } else {
            #[allow(clippy::type_complexity)]
            let (hash, state, status, body, created_at, refund_id): (
                String,
                String,
                Option<i64>,
                Option<String>,
                i64,
                Option<String>,
            ) = sqlx::query_as(
                "SELECT request_hash, state, response_status, response_body, created_at, refund_id \
                 FROM idempotency_keys WHERE merchant_id = ? AND key = ?",
            )
            .bind(merchant_id)
            .bind(key)
            .fetch_one(&mut *tx)
            .await?;
            if hash != request_hash {
                IdempotencyState::Mismatch
            } else if state == "in_flight" || state == "refund" {
                match refund_id {
                    Some(refund_id) if state == "refund" || created_at < stale_before => {
                        IdempotencyState::Refund { refund_id }
                    }
                    _ => IdempotencyState::InFlight,
                }
            } else {
                IdempotencyState::Done {
                    status: status.and_then(|s| u16::try_from(s).ok()).unwrap_or(200),
                    body: body.unwrap_or_default(),
                }
            }
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
            "UPDATE idempotency_keys SET state = 'done', response_status = ?, response_body = ? \
             WHERE merchant_id = ? AND key = ? AND owner = ?",
        )
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
             AND state = 'in_flight' AND refund_id IS NULL",
        )
        .bind(merchant_id)
        .bind(key)
        .bind(owner)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE idempotency_keys SET state = 'refund' WHERE merchant_id = ? AND key = ? \
             AND owner = ? AND state = 'in_flight' AND refund_id IS NOT NULL",
        )
        .bind(merchant_id)
        .bind(key)
        .bind(owner)
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
            "UPDATE idempotency_keys SET state = 'done', response_status = ?, response_body = ? \
             WHERE merchant_id = ? AND key = ? AND refund_id = ? AND state != 'done'",
        )
        .bind(i64::from(status))
        .bind(body)
        .bind(merchant_id)
        .bind(key)
        .bind(refund_id)
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
}
