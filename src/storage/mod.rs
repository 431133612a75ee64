//! Storage behind focused traits, one implementation per backend (atuin's way): payments
//! (with their refunds and reversals), merchants, the events outbox, request records
//! (idempotency keys and nonces), security events, the sealed data re-encryption walks, the
//! browser sessions and the simulators' tables. SQLite is the embedded default.
//!
//! Every move of a payment is a compare-and-set on the version it was computed from, written
//! together with its history row and what it causes (an event, a reversal, the card data
//! and the consents); reaching a final status deletes the card data in the same transaction.
//! Decisions are the core's (`checkout::payment`); storage only writes them all or nothing.

pub mod cache;
pub(crate) mod columns;
pub mod guard;
mod models;
pub mod rows;
pub mod sessions;
pub mod sql;

use std::sync::Arc;

use async_trait::async_trait;

pub use models::*;
pub use rows::PaymentRow;
pub use sessions::SessionStore;

use crate::checkout::payment::{Attempt, Payment};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The write's transaction did not commit (the group commit it was part of failed, or the
    /// writer stopped): nothing of it was written.
    #[error("not written: {0}")]
    NotWritten(String),
}

/// The outcome of a compare-and-set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cas {
    Done,
    /// The payment was no longer as expected: someone else moved it first.
    Lost,
    /// Moving to `authorising` would make a second charging payment for the same order.
    OrderAlreadyPaid,
}

/// What a move writes besides the payment, in the same transaction.
#[derive(Debug, Clone, Copy, Default)]
pub struct Effects<'a> {
    /// The event that reports the move (the outbox).
    pub event: Option<&'a EventRecord>,
    /// A reversal to retry until the bank acknowledges it.
    pub reversal: Option<&'a ReversalRecord>,
    /// The card, encrypted, kept until the payment ends (at card submit; replaces a card the
    /// payment's start carried).
    pub card: Option<&'a [u8]>,
    /// NestPay's callback of the result (its own form and acknowledgement), through the outbox.
    pub callback: Option<&'a EventRecord>,
    /// The shopper's consents to the legal documents (at card submit).
    pub consents: &'a [ConsentRecord],
    /// The card attempt the move ended.
    pub attempt: Option<&'a Attempt>,
}

impl<'a> Effects<'a> {
    pub fn event(event: Option<&'a EventRecord>) -> Self {
        Self {
            event,
            ..Self::default()
        }
    }
}

/// The outcome of settling a refund or void.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    Done,
    /// The payment changed since it was read: read it again and recompute.
    PaymentMoved,
    /// The refund was no longer pending: someone else settled it.
    AlreadySettled,
}

/// Payments, their refunds and voids, and the reversals of lost authorisations.
#[async_trait]
pub trait PaymentStore: Send + Sync + 'static {
    /// A new payment (status `created`) and its first history row.
    async fn insert_payment(&self, payment: &Payment) -> Result<(), StoreError>;
    /// Inserts a new payment with the card its start carried (encrypted), kept until the
    /// payment ends.
    async fn insert_payment_holding(
        &self,
        payment: &Payment,
        card: Option<&[u8]>,
    ) -> Result<(), StoreError>;
    async fn get_payment(&self, id: &str) -> Result<Option<Payment>, StoreError>;
    async fn find_payment_by_threeds_id(
        &self,
        threeds_server_trans_id: &str,
    ) -> Result<Option<Payment>, StoreError>;
    /// A merchant's payments (every merchant's with `None`: the operator), newest first, by
    /// keyset.
    async fn list_payments(
        &self,
        merchant_id: Option<&str>,
        filter: &PaymentFilter,
    ) -> Result<Vec<Payment>, StoreError>;
    /// How many payments are in a status between card submit and a final status
    /// (`card_submitted`, `authenticated`, `authorising`) and last moved at or before
    /// `moved_before`.
    async fn count_in_between(&self, moved_before: i64) -> Result<i64, StoreError>;
    /// Whether one of the order's payments is being authorised or was approved.
    async fn order_is_paid(&self, merchant_id: &str, order_id: &str) -> Result<bool, StoreError>;
    /// Ids of payments waiting for the shopper (`created`, `challenge`, `awaiting_retry`) whose
    /// deadline has passed.
    async fn due_for_expiry(&self, now: i64, limit: i64) -> Result<Vec<String>, StoreError>;
    /// Ids of payments in an in-between status (`card_submitted`, `authenticated`,
    /// `authorising`, or `challenge` with the ACS's outcome recorded) whose last move was at or
    /// before `moved_before`.
    async fn interrupted(&self, moved_before: i64, limit: i64) -> Result<Vec<String>, StoreError>;
    /// Writes `after` if the stored payment is still `before` (same version), with a history
    /// row when the status changed, and `effects`, all or nothing. A status that holds no card
    /// (`Status::holds_card`) deletes the card data. `OrderAlreadyPaid` when another payment of the order is charging or charged.
    async fn save(
        &self,
        before: &Payment,
        after: &Payment,
        effects: Effects<'_>,
    ) -> Result<Cas, StoreError>;
    async fn load_card(&self, payment_id: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// The card attempts a payment's moves ended, first first.
    async fn attempts(&self, payment_id: &str) -> Result<Vec<Attempt>, StoreError>;
    async fn consents(&self, payment_id: &str) -> Result<Vec<ConsentRecord>, StoreError>;
    async fn history(&self, payment_id: &str) -> Result<Vec<HistoryRecord>, StoreError>;
    async fn record_callback_attempt(&self, attempt: &CallbackAttempt) -> Result<(), StoreError>;
    async fn callback_attempts(&self, payment_id: &str)
    -> Result<Vec<CallbackAttempt>, StoreError>;

    /// Writes the pending refund (or void) with the payment's reservation (`before` →
    /// `after`), linked to the Idempotency-Key it was asked under, all or nothing.
    async fn reserve_refund(
        &self,
        before: &Payment,
        after: &Payment,
        refund: &RefundRecord,
        key: Option<&IdempotencyLink>,
    ) -> Result<Cas, StoreError>;
    /// Records the bank's answer to a pending refund (`refund` as settled) with the payment's
    /// move (`before` → `after`) and the event that reports it, all or nothing.
    async fn settle_refund(
        &self,
        refund: &RefundRecord,
        before: &Payment,
        after: &Payment,
        event: Option<&EventRecord>,
    ) -> Result<Settle, StoreError>;
    async fn get_refund(&self, id: &str) -> Result<Option<RefundRecord>, StoreError>;
    async fn refunds(&self, payment_id: &str) -> Result<Vec<RefundRecord>, StoreError>;
    /// Payments (of one merchant, or all) that moved or were authorised in `[from, to)`: what
    /// a day's report counts.
    async fn payments_of_period(
        &self,
        merchant_id: Option<&str>,
        from: i64,
        to: i64,
    ) -> Result<Vec<Payment>, StoreError>;
    /// Voids, refunds and captures settled (answered) in `[from, to)`, with their payments.
    async fn after_sales_of_period(
        &self,
        merchant_id: Option<&str>,
        from: i64,
        to: i64,
    ) -> Result<Vec<(RefundRecord, Payment)>, StoreError>;
    /// Refunds and voids still waiting for an answer, last touched before `before`.
    async fn pending_refunds(
        &self,
        before: i64,
        limit: i64,
    ) -> Result<Vec<RefundRecord>, StoreError>;

    /// Leases up to `limit` pending reversals due by `now` until `lease_until`.
    async fn claim_due_reversals(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<ReversalRecord>, StoreError>;
    /// Records one try of a reversal, if `lease_until` is still its lease.
    async fn record_reversal(
        &self,
        id: &str,
        lease_until: Option<i64>,
        outcome: &ReversalOutcome,
        at: i64,
    ) -> Result<(), StoreError>;
    async fn reversals(&self, payment_id: &str) -> Result<Vec<ReversalRecord>, StoreError>;
}

/// Merchants: registration, keys, settings and branding.
#[async_trait]
pub trait MerchantStore: Send + Sync + 'static {
    async fn insert_merchant(&self, merchant: &MerchantRecord) -> Result<(), StoreError>;
    async fn get_merchant(&self, id: &str) -> Result<Option<MerchantRecord>, StoreError>;
    async fn list_merchants(&self) -> Result<Vec<MerchantRecord>, StoreError>;
    /// The merchant whose current or previous key has this lookup hash.
    async fn find_merchant_by_key(
        &self,
        lookup: &str,
    ) -> Result<Option<MerchantRecord>, StoreError>;
    async fn set_key_lookup(
        &self,
        id: &str,
        lookup: &str,
        prev_lookup: Option<&str>,
    ) -> Result<(), StoreError>;
    /// Installs a new secret; the old one keeps working until `prev_expires_at`.
    async fn rotate_merchant_key(
        &self,
        id: &str,
        rotation: &KeyRotation<'_>,
    ) -> Result<(), StoreError>;
    async fn set_merchant_api_settings(
        &self,
        id: &str,
        webhook_url: Option<&str>,
        allowed_ips: &[String],
        frame_origins: &[String],
    ) -> Result<(), StoreError>;
    /// Sets (or with `None` removes) the merchant's installment plan, as canonical JSON.
    async fn set_merchant_installment_plan(
        &self,
        id: &str,
        plan: Option<&str>,
    ) -> Result<(), StoreError>;
    /// Sets (or with `None` removes) the accent colour of the merchant's pages.
    async fn set_merchant_accent(&self, id: &str, colour: Option<&str>) -> Result<(), StoreError>;
    /// Sets (or with `None` removes) the merchant's logo, in one transaction with its hash.
    async fn set_merchant_logo(
        &self,
        id: &str,
        logo: Option<&MerchantLogo>,
    ) -> Result<(), StoreError>;
    async fn merchant_logo(&self, id: &str) -> Result<Option<MerchantLogo>, StoreError>;
    /// Replaces the registered return origins (used to keep the demo merchant current).
    async fn set_merchant_origins(&self, id: &str, origins: &[String]) -> Result<(), StoreError>;
    /// How many cards its shoppers may try on one payment (1 to 5).
    async fn set_merchant_card_attempts(&self, id: &str, n: u8) -> Result<(), StoreError>;
    /// Whether routing prefers a terminal of the card's own bank.
    async fn set_merchant_prefer_on_us(&self, id: &str, on_us: bool) -> Result<(), StoreError>;
    /// Replaces the seller's details the legal documents print.
    async fn set_merchant_seller(&self, id: &str, seller: &SellerDetails)
    -> Result<(), StoreError>;
    /// The merchant's NestPay set-up, if it has one.
    async fn nestpay_of(&self, merchant_id: &str) -> Result<Option<NestpayRecord>, StoreError>;
    /// The NestPay set-up with this client id.
    async fn nestpay_by_client_id(
        &self,
        client_id: &str,
    ) -> Result<Option<NestpayRecord>, StoreError>;
    /// Records whether the merchant shows the legal documents itself (its sealed secrets
    /// untouched).
    async fn set_nestpay_shows_consents(
        &self,
        merchant_id: &str,
        shows: bool,
        at: i64,
    ) -> Result<bool, StoreError>;
    /// Sets (or with `None` removes) a merchant's NestPay set-up.
    async fn set_nestpay(
        &self,
        merchant_id: &str,
        record: Option<&NestpayRecord>,
    ) -> Result<(), StoreError>;
}

/// The seller's details in the pre-information form and the distance sales contract.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SellerDetails {
    pub legal_title: String,
    pub address: String,
    pub phone: String,
    pub email: String,
    pub mersis: String,
    pub website: String,
}

/// A new merchant key and the previous one, valid until `prev_expires_at`.
#[derive(Debug, Clone)]
pub struct KeyRotation<'a> {
    pub new_enc: &'a [u8],
    pub new_lookup: &'a str,
    pub prev_enc: &'a [u8],
    pub prev_lookup: &'a str,
    pub prev_expires_at: i64,
}

/// What is sealed under the master keys, for re-encryption after a key rotation.
#[async_trait]
pub trait SealedStore: Send + Sync + 'static {
    /// Merchants with a secret not encrypted with the key `prefix` (version + key id) marks.
    async fn merchants_not_under(
        &self,
        prefix: &[u8],
        limit: i64,
    ) -> Result<Vec<MerchantRecord>, StoreError>;
    /// Replaces a merchant's encrypted secrets, if `old_enc` is still the current one.
    async fn replace_merchant_secrets(
        &self,
        id: &str,
        old_enc: &[u8],
        new_enc: &[u8],
        new_prev_enc: Option<&[u8]>,
    ) -> Result<bool, StoreError>;
    /// Pending card data not encrypted with the key `prefix` marks: (payment id, blob).
    async fn cards_not_under(
        &self,
        prefix: &[u8],
        limit: i64,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
    /// Replaces pending card data, if it is still there unchanged.
    async fn replace_card(
        &self,
        payment_id: &str,
        old_enc: &[u8],
        new_enc: &[u8],
    ) -> Result<bool, StoreError>;
    /// NestPay set-ups with a store key not encrypted with the key `prefix` marks.
    async fn nestpay_not_under(
        &self,
        prefix: &[u8],
        limit: i64,
    ) -> Result<Vec<NestpayRecord>, StoreError>;
    /// Replaces a NestPay set-up's sealed store key and API password, if `old_store_key_enc`
    /// is still the current one.
    async fn replace_nestpay_secrets(
        &self,
        merchant_id: &str,
        old_store_key_enc: &[u8],
        store_key_enc: &[u8],
        api_password_enc: &[u8],
    ) -> Result<bool, StoreError>;
    /// Terminals with a secret not encrypted with the key `prefix` marks.
    async fn terminals_not_under(
        &self,
        prefix: &[u8],
        limit: i64,
    ) -> Result<Vec<TerminalRecord>, StoreError>;
    /// Replaces a terminal's sealed password, store key and refund password, if all are still
    /// the ones read.
    #[allow(clippy::too_many_arguments)]
    async fn replace_terminal_secrets(
        &self,
        id: &str,
        old_password_enc: &[u8],
        old_store_key_enc: &[u8],
        old_refund_password_enc: Option<&[u8]>,
        password_enc: &[u8],
        store_key_enc: &[u8],
        refund_password_enc: Option<&[u8]>,
    ) -> Result<bool, StoreError>;
    /// How many stored secrets and cards are encrypted with the key `prefix` marks.
    async fn blobs_under(&self, prefix: &[u8]) -> Result<i64, StoreError>;
}

/// Merchants' bank terminals.
#[async_trait]
pub trait TerminalStore: Send + Sync + 'static {
    async fn insert_terminal(&self, t: &TerminalRecord) -> Result<(), StoreError>;
    /// Writes every column of the terminal `t.id`, if its `updated_at` is still
    /// `previous_updated_at` (a compare-and-set: two operators' changes never mix).
    async fn update_terminal(
        &self,
        t: &TerminalRecord,
        previous_updated_at: i64,
    ) -> Result<bool, StoreError>;
    async fn terminal(&self, id: &str) -> Result<Option<TerminalRecord>, StoreError>;
    /// A merchant's terminals, oldest first.
    async fn terminals_of(&self, merchant_id: &str) -> Result<Vec<TerminalRecord>, StoreError>;
    /// Replaces the reconciliation issues of a day and terminal with `issues`.
    async fn replace_reconciliation(
        &self,
        day: &str,
        terminal_id: &str,
        issues: &[ReconciliationIssue],
    ) -> Result<(), StoreError>;
    /// The reconciliation issues, newest day first.
    async fn reconciliation_issues(
        &self,
        limit: i64,
    ) -> Result<Vec<ReconciliationIssue>, StoreError>;
}

/// The outbox: events the merchants must hear about, leased to delivery workers.
#[async_trait]
pub trait OutboxStore: Send + Sync + 'static {
    /// Leases up to `limit` due events to this worker until `lease_until`.
    async fn claim_due_events(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<EventRecord>, StoreError>;
    /// Records an attempt. The outcome changes the event only while `lease_until` is still
    /// its lease: a resend in the meantime wins over the older delivery's outcome.
    async fn record_delivery(
        &self,
        attempt: &EventAttempt,
        outcome: DeliveryOutcome,
        lease_until: Option<i64>,
    ) -> Result<(), StoreError>;
    async fn list_events(
        &self,
        merchant_id: &str,
        filter: &EventFilter,
    ) -> Result<Vec<EventRecord>, StoreError>;
    async fn get_event(&self, id: &str) -> Result<Option<EventRecord>, StoreError>;
    async fn event_attempts(&self, event_id: &str) -> Result<Vec<EventAttempt>, StoreError>;
    /// Queues an event for delivery again now; `false` when it has no endpoint or is unknown.
    async fn resend_event(&self, id: &str, now: i64) -> Result<bool, StoreError>;
    /// The events waiting for delivery, and when the oldest of those due by `now` fell due.
    async fn backlog(&self, now: i64) -> Result<(i64, Option<i64>), StoreError>;
}

/// Whether the database is there and as this build expects it.
#[async_trait]
pub trait HealthStore: Send + Sync + 'static {
    /// One round trip to the database.
    async fn ping(&self) -> Result<(), StoreError>;
    /// The migrations this build knows that the database has not applied: (version, name).
    async fn pending_migrations(&self) -> Result<Vec<(i64, String)>, StoreError>;
    /// The connection pool right now.
    fn pool_usage(&self) -> PoolUsage;
}

/// Connections of a pool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolUsage {
    pub in_use: u32,
    pub idle: u32,
    pub max: u32,
}

/// How a command opens the data: a server and the commands that change data migrate the
/// schema first; read-only commands (and `kapi migrate --check`) never write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    ReadWrite,
    ReadOnly,
}

/// What requests leave behind: Idempotency-Keys and the nonces of signed forms.
#[async_trait]
pub trait RequestStore: Send + Sync + 'static {
    /// Records a nonce; `false` when the merchant used it before.
    async fn remember_nonce(
        &self,
        merchant_id: &str,
        nonce: &str,
        at: i64,
    ) -> Result<bool, StoreError>;
    /// Drops nonces seen before `before`: older forms fail the timestamp check anyway.
    async fn forget_nonces(&self, before: i64) -> Result<u64, StoreError>;
    /// Starts a request under an Idempotency-Key, held by `owner`. An in-flight entry older
    /// than `stale_before` (its request died) is taken over, unless it started a refund or
    /// void: then its refund is the answer.
    async fn idempotency_begin(
        &self,
        merchant_id: &str,
        key: &str,
        request_hash: &str,
        owner: &str,
        now: i64,
        stale_before: i64,
    ) -> Result<IdempotencyState, StoreError>;
    /// Stores the response, if `owner` still holds the key.
    async fn idempotency_finish(
        &self,
        merchant_id: &str,
        key: &str,
        owner: &str,
        status: u16,
        body: &str,
    ) -> Result<(), StoreError>;
    /// Ends an in-flight entry whose request failed: forgotten when it started nothing to
    /// keep; when it started a refund or void, kept to answer retries with that refund.
    async fn idempotency_abandon(
        &self,
        merchant_id: &str,
        key: &str,
        owner: &str,
    ) -> Result<(), StoreError>;
    /// Stores the answer of an entry whose refund or void has settled since its request ended.
    async fn idempotency_settle_refund(
        &self,
        merchant_id: &str,
        key: &str,
        refund_id: &str,
        status: u16,
        body: &str,
    ) -> Result<(), StoreError>;
    async fn idempotency_forget(&self, before: i64) -> Result<u64, StoreError>;
}

/// Records for the operator (card-testing blocks, reversals), and the card-testing guard's
/// counters and blocks (`crate::limits`), shared by every instance.
#[async_trait]
pub trait SecurityStore: Send + Sync + 'static {
    async fn record_security_event(&self, event: &SecurityEvent) -> Result<(), StoreError>;
    async fn security_events(&self, limit: i64) -> Result<Vec<SecurityEvent>, StoreError>;
    /// Adds `n` to `key`'s count in the window starting at `window_start` and returns the
    /// count (`n = 0` reads it). Atomic: concurrent adds never lose one.
    async fn guard_count(&self, key: &str, window_start: i64, n: u32) -> Result<u32, StoreError>;
    /// As `guard_count` for several keys, in one transaction (one commit): the counts in the
    /// same order. An `n` of 0 only reads.
    async fn guard_count_many(&self, items: &[(String, i64, u32)]) -> Result<Vec<u32>, StoreError>;
    /// Blocks `key` until `until` (unix seconds), or later if it already is.
    async fn guard_block(&self, key: &str, until: i64) -> Result<(), StoreError>;
    /// Until when `key` is blocked, if it is at `now`.
    async fn guard_blocked(&self, key: &str, now: i64) -> Result<Option<i64>, StoreError>;
    /// Lifts `key`'s block and forgets its counts (`key` and `key:…`); whether it was blocked.
    async fn guard_lift(&self, key: &str, now: i64) -> Result<bool, StoreError>;
    /// The blocks in force at `now`: (key, until).
    async fn guard_blocks(&self, now: i64) -> Result<Vec<(String, i64)>, StoreError>;
    /// Drops counts of windows that started before `before`, and blocks that ended by then.
    async fn guard_forget(&self, before: i64) -> Result<u64, StoreError>;
}

/// Everything a backend stores.
pub trait Store:
    PaymentStore
    + MerchantStore
    + TerminalStore
    + SealedStore
    + OutboxStore
    + RequestStore
    + SecurityStore
    + HealthStore
    + crate::simstore::SimStore
{
}

impl<T> Store for T where
    T: PaymentStore
        + MerchantStore
        + TerminalStore
        + SealedStore
        + OutboxStore
        + RequestStore
        + SecurityStore
        + HealthStore
        + crate::simstore::SimStore
{
}

/// The SQLite database's file in the data folder.
pub const SQLITE_FILE: &str = "kapi.db";

/// An opened backend, seen through each of its traits.
#[derive(Clone)]
pub struct Storage {
    pub payments: Arc<dyn PaymentStore>,
    pub merchants: Arc<dyn MerchantStore>,
    pub terminals: Arc<dyn TerminalStore>,
    pub sealed: Arc<dyn SealedStore>,
    pub outbox: Arc<dyn OutboxStore>,
    pub requests: Arc<dyn RequestStore>,
    pub security: Arc<dyn SecurityStore>,
    pub sim: Arc<dyn crate::simstore::SimStore>,
    pub health: Arc<dyn HealthStore>,
    /// The browser sessions, for tower-sessions.
    pub sessions: SessionStore,
    /// Several instances may share this store (PostgreSQL): whatever limits requests must
    /// then count in it too, not in one process's memory.
    pub shared: bool,
}

impl Storage {
    /// The views of one backend.
    pub fn of<S: Store>(backend: Arc<S>, sessions: SessionStore) -> Self {
        Self {
            payments: backend.clone(),
            merchants: backend.clone(),
            terminals: backend.clone(),
            sealed: backend.clone(),
            outbox: backend.clone(),
            requests: backend.clone(),
            security: backend.clone(),
            sim: backend.clone(),
            health: backend,
            sessions,
            shared: false,
        }
    }

    /// Opens the data of `settings`: PostgreSQL at `database.url` when it is set, else SQLite
    /// under the data folder; its schema brought up to date.
    pub async fn open(settings: &crate::config::Settings) -> Result<Self, StoreError> {
        Self::open_with(settings, Access::ReadWrite).await
    }

    /// As `open`; with `Access::ReadOnly` nothing is written, the schema is left as it is,
    /// and a SQLite database that does not exist is not created.
    pub async fn open_with(
        settings: &crate::config::Settings,
        access: Access,
    ) -> Result<Self, StoreError> {
        let store = match settings.database.url.as_ref() {
            Some(url) => {
                let url = secrecy::ExposeSecret::expose_secret(url);
                sql::SqlStore::open_postgres(url, settings.database.max_connections, access).await?
            }
            None => {
                sql::SqlStore::open_sqlite(
                    &settings.server.data_dir.join(SQLITE_FILE),
                    access,
                    settings.database.sqlite_synchronous,
                    settings.database.sqlite_connections,
                )
                .await?
            }
        };
        Ok(Self::from_store(store))
    }

    /// A fresh database in memory, for tests.
    pub async fn in_memory() -> Result<Self, StoreError> {
        Ok(Self::from_store(sql::SqlStore::open_in_memory().await?))
    }

    /// The views of an opened SQL store.
    pub fn from_store(store: sql::SqlStore) -> Self {
        let sessions = store.session_store();
        let shared = store.backend() == sql::Backend::Postgres;
        Self {
            shared,
            ..Self::of(Arc::new(store), sessions)
        }
    }
}
