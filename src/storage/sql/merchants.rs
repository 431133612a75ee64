//! Merchants and the sealed data re-encryption walks, in SQLite.

use async_trait::async_trait;

use super::SqlStore;
use crate::storage::columns;
use crate::storage::*;

#[async_trait]
impl MerchantStore for SqlStore {
    async fn insert_merchant(&self, m: &MerchantRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO merchants (id, name, legal_title, address, phone, email, mersis, website, \
             secret_key_enc, return_origins, created_at, key_lookup, webhook_url, allowed_ips, frame_origins, \
             card_attempts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
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
        .bind(m.card_attempts)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn get_merchant(&self, id: &str) -> Result<Option<MerchantRecord>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {} FROM merchants WHERE id = $1",
            columns::MERCHANT
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn list_merchants(&self) -> Result<Vec<MerchantRecord>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {} FROM merchants ORDER BY created_at",
            columns::MERCHANT
        ))
        .fetch_all(&self.pool)
        .await?)
    }

    async fn find_merchant_by_key(
        &self,
        lookup: &str,
    ) -> Result<Option<MerchantRecord>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {} FROM merchants WHERE key_lookup = $1 OR prev_key_lookup = $2 LIMIT 1",
            columns::MERCHANT
        ))
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
        sqlx::query("UPDATE merchants SET key_lookup = $1, prev_key_lookup = $2 WHERE id = $3")
            .bind(lookup)
            .bind(prev_lookup)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn rotate_merchant_key(&self, id: &str, r: &KeyRotation<'_>) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE merchants SET secret_key_enc = $1, key_lookup = $2, prev_secret_key_enc = $3, \
             prev_key_lookup = $4, prev_key_expires_at = $5 WHERE id = $6",
        )
        .bind(r.new_enc)
        .bind(r.new_lookup)
        .bind(r.prev_enc)
        .bind(r.prev_lookup)
        .bind(r.prev_expires_at)
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
            "UPDATE merchants SET webhook_url = $1, allowed_ips = $2, frame_origins = $3 WHERE id = $4",
        )
        .bind(webhook_url)
        .bind(json(allowed_ips)?)
        .bind(json(frame_origins)?)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn set_merchant_installment_plan(
        &self,
        id: &str,
        plan: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE merchants SET installment_plan = $1 WHERE id = $2")
            .bind(plan)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn set_merchant_accent(&self, id: &str, colour: Option<&str>) -> Result<(), StoreError> {
        sqlx::query("UPDATE merchants SET accent_colour = $1 WHERE id = $2")
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
        sqlx::query("DELETE FROM merchant_logos WHERE merchant_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if let Some(logo) = logo {
            sqlx::query(
                "INSERT INTO merchant_logos (merchant_id, content_type, body, sha256) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(id)
            .bind(&logo.content_type)
            .bind(&logo.body)
            .bind(&logo.sha256)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("UPDATE merchants SET logo_sha256 = $1 WHERE id = $2")
            .bind(logo.map(|l| l.sha256.as_str()))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn merchant_logo(&self, id: &str) -> Result<Option<MerchantLogo>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT content_type, body, sha256 FROM merchant_logos WHERE merchant_id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn set_merchant_prefer_on_us(&self, id: &str, on_us: bool) -> Result<(), StoreError> {
        sqlx::query("UPDATE merchants SET prefer_on_us = $1 WHERE id = $2")
            .bind(i64::from(on_us))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn set_merchant_card_attempts(&self, id: &str, n: u8) -> Result<(), StoreError> {
        sqlx::query("UPDATE merchants SET card_attempts = $1 WHERE id = $2")
            .bind(i64::from(n))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn set_merchant_seller(&self, id: &str, s: &SellerDetails) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE merchants SET legal_title = $1, address = $2, phone = $3, email = $4, mersis = $5, \
             website = $6 WHERE id = $7",
        )
        .bind(&s.legal_title)
        .bind(&s.address)
        .bind(&s.phone)
        .bind(&s.email)
        .bind(&s.mersis)
        .bind(&s.website)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn set_merchant_origins(&self, id: &str, origins: &[String]) -> Result<(), StoreError> {
        let json =
            serde_json::to_string(origins).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query("UPDATE merchants SET return_origins = $1 WHERE id = $2")
            .bind(json)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn nestpay_of(&self, merchant_id: &str) -> Result<Option<NestpayRecord>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {} FROM nestpay_merchants WHERE merchant_id = $1",
            columns::NESTPAY
        ))
        .bind(merchant_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn nestpay_by_client_id(
        &self,
        client_id: &str,
    ) -> Result<Option<NestpayRecord>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {} FROM nestpay_merchants WHERE client_id = $1",
            columns::NESTPAY
        ))
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn set_nestpay_shows_consents(
        &self,
        merchant_id: &str,
        shows: bool,
        at: i64,
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE nestpay_merchants SET shows_consents = $1, updated_at = $2 WHERE merchant_id = $3",
        )
        .bind(i64::from(shows))
        .bind(at)
        .bind(merchant_id)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1)
    }

    async fn set_nestpay(
        &self,
        merchant_id: &str,
        record: Option<&NestpayRecord>,
    ) -> Result<(), StoreError> {
        match record {
            None => {
                sqlx::query("DELETE FROM nestpay_merchants WHERE merchant_id = $1")
                    .bind(merchant_id)
                    .execute(&self.pool)
                    .await?;
            }
            Some(r) => {
                sqlx::query(
                    "INSERT INTO nestpay_merchants (merchant_id, client_id, store_key_enc, api_user, \
                     api_password_enc, shows_consents, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (merchant_id) DO UPDATE SET client_id = excluded.client_id, \
                     store_key_enc = excluded.store_key_enc, api_user = excluded.api_user, \
                     api_password_enc = excluded.api_password_enc, \
                     shows_consents = excluded.shows_consents, updated_at = excluded.updated_at",
                )
                .bind(merchant_id)
                .bind(&r.client_id)
                .bind(&r.store_key_enc)
                .bind(&r.api_user)
                .bind(&r.api_password_enc)
                .bind(r.shows_consents)
                .bind(r.updated_at)
                .execute(&self.pool)
                .await?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl SealedStore for SqlStore {
    async fn merchants_not_under(
        &self,
        prefix: &[u8],
        limit: i64,
    ) -> Result<Vec<MerchantRecord>, StoreError> {
        Ok(sqlx::query_as(
            &format!("SELECT {} FROM merchants WHERE substr(secret_key_enc, 1, 5) != $1 \
             OR (prev_secret_key_enc IS NOT NULL AND substr(prev_secret_key_enc, 1, 5) != $2) LIMIT $3",
            columns::MERCHANT
        ))
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
            "UPDATE merchants SET secret_key_enc = $1, prev_secret_key_enc = COALESCE($2, prev_secret_key_enc) \
             WHERE id = $3 AND secret_key_enc = $4",
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
            "SELECT payment_id, data_enc FROM card_vault WHERE substr(data_enc, 1, 5) != $1 LIMIT $2",
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
        Ok(sqlx::query(
            "UPDATE card_vault SET data_enc = $1 WHERE payment_id = $2 AND data_enc = $3",
        )
        .bind(new_enc)
        .bind(payment_id)
        .bind(old_enc)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1)
    }

    async fn nestpay_not_under(
        &self,
        prefix: &[u8],
        limit: i64,
    ) -> Result<Vec<NestpayRecord>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {} FROM nestpay_merchants WHERE substr(store_key_enc, 1, 5) != $1 \
             OR substr(api_password_enc, 1, 5) != $2 LIMIT $3",
            columns::NESTPAY
        ))
        .bind(prefix)
        .bind(prefix)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn replace_nestpay_secrets(
        &self,
        merchant_id: &str,
        old_store_key_enc: &[u8],
        store_key_enc: &[u8],
        api_password_enc: &[u8],
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE nestpay_merchants SET store_key_enc = $1, api_password_enc = $2 \
             WHERE merchant_id = $3 AND store_key_enc = $4",
        )
        .bind(store_key_enc)
        .bind(api_password_enc)
        .bind(merchant_id)
        .bind(old_store_key_enc)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1)
    }

    async fn terminals_not_under(
        &self,
        prefix: &[u8],
        limit: i64,
    ) -> Result<Vec<TerminalRecord>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {} FROM terminals WHERE substr(password_enc, 1, 5) != $1 \
             OR substr(store_key_enc, 1, 5) != $2 OR substr(refund_password_enc, 1, 5) != $3 \
             LIMIT $4",
            columns::TERMINAL
        ))
        .bind(prefix)
        .bind(prefix)
        .bind(prefix)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn replace_terminal_secrets(
        &self,
        id: &str,
        old_password_enc: &[u8],
        old_store_key_enc: &[u8],
        old_refund_password_enc: Option<&[u8]>,
        password_enc: &[u8],
        store_key_enc: &[u8],
        refund_password_enc: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE terminals SET password_enc = $1, store_key_enc = $2, refund_password_enc = $3 \
             WHERE id = $4 AND password_enc = $5 AND store_key_enc = $6 \
             AND refund_password_enc IS NOT DISTINCT FROM $7",
        )
        .bind(password_enc)
        .bind(store_key_enc)
        .bind(refund_password_enc)
        .bind(id)
        .bind(old_password_enc)
        .bind(old_store_key_enc)
        .bind(old_refund_password_enc)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1)
    }

    async fn blobs_under(&self, prefix: &[u8]) -> Result<i64, StoreError> {
        let merchants: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM merchants WHERE substr(secret_key_enc, 1, 5) = $1 \
             OR (prev_secret_key_enc IS NOT NULL AND substr(prev_secret_key_enc, 1, 5) = $2)",
        )
        .bind(prefix)
        .bind(prefix)
        .fetch_one(&self.pool)
        .await?;
        let cards: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM card_vault WHERE substr(data_enc, 1, 5) = $1")
                .bind(prefix)
                .fetch_one(&self.pool)
                .await?;
        let nestpay: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM nestpay_merchants WHERE substr(store_key_enc, 1, 5) = $1 \
             OR substr(api_password_enc, 1, 5) = $2",
        )
        .bind(prefix)
        .bind(prefix)
        .fetch_one(&self.pool)
        .await?;
        let terminals: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM terminals WHERE substr(password_enc, 1, 5) = $1 \
             OR substr(store_key_enc, 1, 5) = $2 OR substr(refund_password_enc, 1, 5) = $3",
        )
        .bind(prefix)
        .bind(prefix)
        .bind(prefix)
        .fetch_one(&self.pool)
        .await?;
        Ok(merchants + cards + nestpay + terminals)
    }
}

#[async_trait]
impl TerminalStore for SqlStore {
    async fn insert_terminal(&self, t: &TerminalRecord) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "INSERT INTO terminals ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, \
             $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)",
            columns::TERMINAL
        ))
        .bind(&t.id)
        .bind(&t.merchant_id)
        .bind(&t.bank)
        .bind(&t.platform)
        .bind(&t.client_id)
        .bind(&t.user_name)
        .bind(&t.password_enc)
        .bind(&t.terminal_no)
        .bind(&t.store_key_enc)
        .bind(&t.gate_url)
        .bind(&t.api_url)
        .bind(&t.static_ip)
        .bind(&t.commission)
        .bind(&t.installment_commissions)
        .bind(t.accept_half_3d)
        .bind(t.enabled)
        .bind(t.created_at)
        .bind(t.updated_at)
        .bind(&t.refund_user)
        .bind(&t.refund_password_enc)
        .bind(&t.mbr_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn update_terminal(
        &self,
        t: &TerminalRecord,
        previous_updated_at: i64,
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE terminals SET bank = $1, platform = $2, client_id = $3, user_name = $4, \
             password_enc = $5, terminal_no = $6, store_key_enc = $7, gate_url = $8, \
             api_url = $9, static_ip = $10, commission = $11, installment_commissions = $12, \
             accept_half_3d = $13, enabled = $14, updated_at = $15, refund_user = $16, \
             refund_password_enc = $17, mbr_id = $18 WHERE id = $19 AND updated_at = $20",
        )
        .bind(&t.bank)
        .bind(&t.platform)
        .bind(&t.client_id)
        .bind(&t.user_name)
        .bind(&t.password_enc)
        .bind(&t.terminal_no)
        .bind(&t.store_key_enc)
        .bind(&t.gate_url)
        .bind(&t.api_url)
        .bind(&t.static_ip)
        .bind(&t.commission)
        .bind(&t.installment_commissions)
        .bind(t.accept_half_3d)
        .bind(t.enabled)
        .bind(t.updated_at)
        .bind(&t.refund_user)
        .bind(&t.refund_password_enc)
        .bind(&t.mbr_id)
        .bind(&t.id)
        .bind(previous_updated_at)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1)
    }

    async fn terminal(&self, id: &str) -> Result<Option<TerminalRecord>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {} FROM terminals WHERE id = $1",
            columns::TERMINAL
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn replace_reconciliation(
        &self,
        day: &str,
        terminal_id: &str,
        issues: &[ReconciliationIssue],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM reconciliation_issues WHERE day = $1 AND terminal_id = $2")
            .bind(day)
            .bind(terminal_id)
            .execute(&mut *tx)
            .await?;
        for i in issues {
            sqlx::query(
                "INSERT INTO reconciliation_issues (id, day, terminal_id, kind, transaction_id, \
                 bank_amount_minor, kapi_amount_minor, currency, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&i.id)
            .bind(&i.day)
            .bind(&i.terminal_id)
            .bind(&i.kind)
            .bind(&i.transaction_id)
            .bind(i.bank_amount_minor)
            .bind(i.kapi_amount_minor)
            .bind(&i.currency)
            .bind(i.created_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn reconciliation_issues(
        &self,
        limit: i64,
    ) -> Result<Vec<ReconciliationIssue>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, day, terminal_id, kind, transaction_id, bank_amount_minor, \
             kapi_amount_minor, currency, created_at FROM reconciliation_issues \
             ORDER BY day DESC, created_at DESC, id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn terminals_of(&self, merchant_id: &str) -> Result<Vec<TerminalRecord>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {} FROM terminals WHERE merchant_id = $1 ORDER BY created_at, id",
            columns::TERMINAL
        ))
        .bind(merchant_id)
        .fetch_all(&self.pool)
        .await?)
    }
}
