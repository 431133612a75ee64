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

/// What a move writes besides the payment, in the same transaction.
#[derive(Debug, Clone, Copy, Default)]
pub struct Effects<'a> {
    /// The event that reports the move (the outbox).
    pub event: Option<&'a EventRecord>,
    /// A reversal to retry until the bank acknowledges it.
    pub reversal: Option<&'a ReversalRecord>,
}

impl<'a> Effects<'a> {
    pub fn event(event: Option<&'a EventRecord>) -> Self {
        Self {
            event,
            reversal: None,
        }
    }
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
    /// How many stored secrets and cards are encrypted with the key `prefix` marks.
    async fn blobs_under(&self, prefix: &[u8]) -> Result<i64, StoreError>;
    /// Installs a new secret; the old one keeps working until `prev_expires_at`.
    async fn rotate_merchant_key(
        &self,
        id: &str,
        new_enc: &[u8],
        new_lookup: &str,
        prev_enc: &[u8],
        prev_lookup: &str,
        prev_expires_at: i64,
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
    /// The shopper switched the page's language (only while the payment waits for a card).
    async fn set_payment_locale(&self, id: &str, locale: &str) -> Result<Cas, StoreError>;
    async fn list_payments(
        &self,
        merchant_id: &str,
        filter: &PaymentFilter,
    ) -> Result<Vec<PaymentRecord>, StoreError>;
    async fn find_payment_by_threeds_id(
        &self,
        threeds_server_trans_id: &str,
    ) -> Result<Option<PaymentRecord>, StoreError>;
    async fn order_is_paid(&self, merchant_id: &str, order_id: &str) -> Result<bool, StoreError>;
    /// Ids of open payments (`created`, `challenge`) whose deadline has passed.
    async fn due_for_expiry(&self, now: i64, limit: i64) -> Result<Vec<String>, StoreError>;
    /// Ids of payments in an in-between status (`card_submitted`, `authenticated`,
    /// `authorising`) whose last move was at or before `moved_before`: whatever carried them
    /// on has stopped.
    async fn interrupted(&self, moved_before: i64, limit: i64) -> Result<Vec<String>, StoreError>;

    /// Compare-and-set `from` → `to`, applying `update`, with the event that reports it (the
    /// outbox) and, when the outcome of an authorisation is unknown, the reversal that undoes
    /// it. A final `to` deletes the card data.
    async fn transition(
        &self,
        id: &str,
        from: Status,
        to: Status,
        update: &PaymentUpdate,
        effects: Effects<'_>,
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

    /// Reserves a refund's (or void's) amount against the payment (status `approved`, never
    /// beyond the authorised amount; a void needs nothing reserved yet) and writes it as
    /// `pending`, linked to the Idempotency-Key it was asked under. `Lost` when it does not
    /// fit.
    async fn reserve_refund(
        &self,
        refund: &RefundRecord,
        key: Option<&IdempotencyLink>,
    ) -> Result<Cas, StoreError>;
    async fn get_refund(&self, id: &str) -> Result<Option<RefundRecord>, StoreError>;
    /// Records the bank's final answer for a pending refund or void, in one transaction: a
    /// success counts the refund (moving the payment to `refunded` once everything is
    /// refunded, or to `voided`) and writes the event `event_for` builds from the payment as
    /// it is then; a failure releases the reservation. Returns the payment afterwards, or
    /// `None` when the refund was no longer pending (settled by someone else).
    async fn settle_refund(
        &self,
        refund: &RefundRecord,
        event_for: &(dyn for<'p> Fn(&'p PaymentRecord) -> EventRecord + Send + Sync),
        at: i64,
    ) -> Result<Option<PaymentRecord>, StoreError>;
    /// Refunds and voids still waiting for an answer, last touched before `before`.
    async fn pending_refunds(
        &self,
        before: i64,
        limit: i64,
    ) -> Result<Vec<RefundRecord>, StoreError>;
    async fn refunds(&self, payment_id: &str) -> Result<Vec<RefundRecord>, StoreError>;

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

    async fn record_security_event(&self, event: &SecurityEvent) -> Result<(), StoreError>;
    async fn security_events(&self, limit: i64) -> Result<Vec<SecurityEvent>, StoreError>;
    async fn callback_attempts(&self, payment_id: &str)
    -> Result<Vec<CallbackAttempt>, StoreError>;
}
