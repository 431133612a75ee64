//! Storage behind the `Store` trait. SQLite is the embedded default; a PostgreSQL backend
//! implements the same trait for running several instances.
//!
//! Every status change is a compare-and-set on the previous status, written together with its
//! history row; reaching a final status deletes the encrypted card data in the same transaction.

mod models;
pub mod sqlite;

use async_trait::async_trait;

pub use models::*;

use crate::checkout::Status;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("the status machine has no move from {0} to {1}")]
    IllegalMove(&'static str, &'static str),
}

/// The outcome of a compare-and-set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cas {
    Done,
    /// The payment was not in the expected status: someone else moved it first.
    Lost,
    /// Moving to `authorising` would make a second charging payment for the same order.
    OrderAlreadyPaid,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn insert_merchant(&self, merchant: &MerchantRecord) -> Result<(), StoreError>;
    async fn get_merchant(&self, id: &str) -> Result<Option<MerchantRecord>, StoreError>;
    /// Replaces the registered return origins (used to keep the demo merchant current).
    async fn set_merchant_origins(&self, id: &str, origins: &[String]) -> Result<(), StoreError>;

    /// Records a nonce; `false` when the merchant used it before.
    async fn remember_nonce(
        &self,
        merchant_id: &str,
        nonce: &str,
        at: i64,
    ) -> Result<bool, StoreError>;

    /// Drops nonces seen before `before`: older forms fail the timestamp check anyway.
    async fn forget_nonces(&self, before: i64) -> Result<u64, StoreError>;

    async fn insert_payment(&self, payment: &PaymentRecord) -> Result<(), StoreError>;
    async fn get_payment(&self, id: &str) -> Result<Option<PaymentRecord>, StoreError>;
    async fn find_payment_by_threeds_id(
        &self,
        threeds_server_trans_id: &str,
    ) -> Result<Option<PaymentRecord>, StoreError>;
    async fn order_is_paid(&self, merchant_id: &str, order_id: &str) -> Result<bool, StoreError>;
    /// Ids of open payments whose deadline has passed.
    async fn due_for_expiry(&self, now: i64, limit: i64) -> Result<Vec<String>, StoreError>;

    /// Compare-and-set `from` → `to`, applying `update`. A final `to` deletes the card data.
    async fn transition(
        &self,
        id: &str,
        from: Status,
        to: Status,
        update: &PaymentUpdate,
        at: i64,
    ) -> Result<Cas, StoreError>;

    /// `created` → `card_submitted` together with the encrypted card and the consent evidence,
    /// all or nothing.
    async fn submit_card(
        &self,
        id: &str,
        update: &PaymentUpdate,
        card_enc: &[u8],
        consents: &[ConsentRecord],
        at: i64,
    ) -> Result<Cas, StoreError>;

    /// Stores the RReq result once, while the payment is in `challenge`.
    async fn record_rreq(
        &self,
        id: &str,
        update: &PaymentUpdate,
        at: i64,
    ) -> Result<Cas, StoreError>;

    async fn load_card(&self, payment_id: &str) -> Result<Option<Vec<u8>>, StoreError>;

    async fn consents(&self, payment_id: &str) -> Result<Vec<ConsentRecord>, StoreError>;
    async fn history(&self, payment_id: &str) -> Result<Vec<HistoryRecord>, StoreError>;
    async fn record_callback_attempt(&self, attempt: &CallbackAttempt) -> Result<(), StoreError>;
    async fn callback_attempts(&self, payment_id: &str)
    -> Result<Vec<CallbackAttempt>, StoreError>;
}
