//! Merchants, cached: every step of a journey reads its merchant, and merchants change
//! rarely (an operator's command, a settings call).
//!
//! The rule: a merchant read through this cache is at most [`MERCHANT_TTL`] old. A change
//! made through this process's store empties the cache at once. A change made by a command on
//! the same data folder (`kapi merchant configure`, key rotation) is seen at once too: every
//! cache over that folder touches its signal file (`DATA_DIR/merchants.changed`) after a change,
//! and the server's cache empties itself when the file's time moves (one `stat` per read, no
//! database round trip). A change made elsewhere (another instance, a command with another data
//! folder on a shared database) is seen within the TTL. Only merchants found are cached (a new
//! key or a new merchant is never hidden by a cached miss); the logo is not.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime},
};

use async_trait::async_trait;

use super::{
    KeyRotation, MerchantLogo, MerchantRecord, MerchantStore, NestpayRecord, SealedStore,
    SellerDetails, StoreError, TerminalRecord,
};

/// How long a cached merchant is used before it is read again.
pub const MERCHANT_TTL: Duration = Duration::from_secs(2);

/// Entries kept at most; past that the cache starts again empty.
const MAX_ENTRIES: usize = 10_000;

/// The signal file's name in the data folder.
pub const SIGNAL_FILE: &str = "merchants.changed";

#[derive(Clone, PartialEq, Eq, Hash)]
enum Key {
    Id(String),
    ApiKey(String),
}

/// The cache, also the sealed-data view of the same store: re-encrypting a merchant's secret
/// (a master key rotation) is a change of the merchant too.
pub struct CachedMerchants {
    inner: Arc<dyn MerchantStore>,
    sealed: Arc<dyn SealedStore>,
    ttl: Duration,
    entries: Mutex<HashMap<Key, (Instant, MerchantRecord)>>,
    /// The signal file, and its time when the entries were last known good.
    signal: Option<(PathBuf, Mutex<Option<SystemTime>>)>,
}

impl CachedMerchants {
    /// A cache over `inner`; `signal`: the signal file of the data folder, if there is one.
    pub fn new(
        inner: Arc<dyn MerchantStore>,
        sealed: Arc<dyn SealedStore>,
        ttl: Duration,
        signal: Option<PathBuf>,
    ) -> Self {
        let signal = signal.map(|path| {
            let seen = modified(&path);
            (path, Mutex::new(seen))
        });
        Self {
            inner,
            sealed,
            ttl,
            entries: Mutex::new(HashMap::new()),
            signal,
        }
    }

    fn get(&self, key: &Key) -> Option<MerchantRecord> {
        // The file's time is read before taking the lock: no system call under it.
        let signalled = self
            .signal
            .as_ref()
            .map(|(path, seen)| (modified(path), seen));
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((now, seen)) = signalled {
            let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
            if *seen != now {
                entries.clear();
                *seen = now;
            }
        }
        entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, m)| m.clone())
    }

    fn put(&self, key: Key, m: &MerchantRecord) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, (Instant::now(), m.clone()));
    }

    fn forget_all(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    async fn read(
        &self,
        key: Key,
        load: impl Future<Output = Result<Option<MerchantRecord>, StoreError>>,
    ) -> Result<Option<MerchantRecord>, StoreError> {
        if let Some(m) = self.get(&key) {
            return Ok(Some(m));
        }
        let found = load.await?;
        if let Some(m) = &found {
            self.put(key, m);
        }
        Ok(found)
    }

    /// Runs a change, then empties the cache (after, so that no read in between caches the
    /// old merchant for a full TTL).
    async fn change<T>(
        &self,
        write: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let done = write.await;
        self.forget_all();
        if let Some((path, _)) = &self.signal {
            let stamp = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
                .to_string();
            if let Err(e) = std::fs::write(path, stamp) {
                tracing::warn!(error = %e, path = %path.display(), "cannot signal a merchant change");
            }
        }
        done
    }
}

#[async_trait]
impl SealedStore for CachedMerchants {
    async fn merchants_not_under(
        &self,
        prefix: &[u8],
        limit: i64,
    ) -> Result<Vec<MerchantRecord>, StoreError> {
        self.sealed.merchants_not_under(prefix, limit).await
    }

    async fn replace_merchant_secrets(
        &self,
        id: &str,
        old_enc: &[u8],
        new_enc: &[u8],
        new_prev_enc: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        self.change(
            self.sealed
                .replace_merchant_secrets(id, old_enc, new_enc, new_prev_enc),
        )
        .await
    }

    async fn cards_not_under(
        &self,
        prefix: &[u8],
        limit: i64,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.sealed.cards_not_under(prefix, limit).await
    }

    async fn replace_card(
        &self,
        payment_id: &str,
        old_enc: &[u8],
        new_enc: &[u8],
    ) -> Result<bool, StoreError> {
        self.sealed.replace_card(payment_id, old_enc, new_enc).await
    }

    async fn nestpay_not_under(
        &self,
        prefix: &[u8],
        limit: i64,
    ) -> Result<Vec<NestpayRecord>, StoreError> {
        self.sealed.nestpay_not_under(prefix, limit).await
    }

    async fn replace_nestpay_secrets(
        &self,
        merchant_id: &str,
        old_store_key_enc: &[u8],
        store_key_enc: &[u8],
        api_password_enc: &[u8],
    ) -> Result<bool, StoreError> {
        self.sealed
            .replace_nestpay_secrets(
                merchant_id,
                old_store_key_enc,
                store_key_enc,
                api_password_enc,
            )
            .await
    }

    async fn terminals_not_under(
        &self,
        prefix: &[u8],
        limit: i64,
    ) -> Result<Vec<TerminalRecord>, StoreError> {
        self.sealed.terminals_not_under(prefix, limit).await
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
        self.sealed
            .replace_terminal_secrets(
                id,
                old_password_enc,
                old_store_key_enc,
                old_refund_password_enc,
                password_enc,
                store_key_enc,
                refund_password_enc,
            )
            .await
    }

    async fn blobs_under(&self, prefix: &[u8]) -> Result<i64, StoreError> {
        self.sealed.blobs_under(prefix).await
    }
}

fn modified(path: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

#[async_trait]
impl MerchantStore for CachedMerchants {
    async fn insert_merchant(&self, merchant: &MerchantRecord) -> Result<(), StoreError> {
        self.change(self.inner.insert_merchant(merchant)).await
    }

    async fn get_merchant(&self, id: &str) -> Result<Option<MerchantRecord>, StoreError> {
        self.read(Key::Id(id.to_owned()), self.inner.get_merchant(id))
            .await
    }

    async fn list_merchants(&self) -> Result<Vec<MerchantRecord>, StoreError> {
        self.inner.list_merchants().await
    }

    async fn find_merchant_by_key(
        &self,
        lookup: &str,
    ) -> Result<Option<MerchantRecord>, StoreError> {
        self.read(
            Key::ApiKey(lookup.to_owned()),
            self.inner.find_merchant_by_key(lookup),
        )
        .await
    }

    async fn set_key_lookup(
        &self,
        id: &str,
        lookup: &str,
        prev_lookup: Option<&str>,
    ) -> Result<(), StoreError> {
        self.change(self.inner.set_key_lookup(id, lookup, prev_lookup))
            .await
    }

    async fn rotate_merchant_key(
        &self,
        id: &str,
        rotation: &KeyRotation<'_>,
    ) -> Result<(), StoreError> {
        self.change(self.inner.rotate_merchant_key(id, rotation))
            .await
    }

    async fn set_merchant_api_settings(
        &self,
        id: &str,
        webhook_url: Option<&str>,
        allowed_ips: &[String],
        frame_origins: &[String],
    ) -> Result<(), StoreError> {
        self.change(self.inner.set_merchant_api_settings(
            id,
            webhook_url,
            allowed_ips,
            frame_origins,
        ))
        .await
    }

    async fn set_merchant_installment_plan(
        &self,
        id: &str,
        plan: Option<&str>,
    ) -> Result<(), StoreError> {
        self.change(self.inner.set_merchant_installment_plan(id, plan))
            .await
    }

    async fn set_merchant_accent(&self, id: &str, colour: Option<&str>) -> Result<(), StoreError> {
        self.change(self.inner.set_merchant_accent(id, colour))
            .await
    }

    async fn set_merchant_logo(
        &self,
        id: &str,
        logo: Option<&MerchantLogo>,
    ) -> Result<(), StoreError> {
        self.change(self.inner.set_merchant_logo(id, logo)).await
    }

    async fn merchant_logo(&self, id: &str) -> Result<Option<MerchantLogo>, StoreError> {
        self.inner.merchant_logo(id).await
    }

    async fn set_merchant_origins(&self, id: &str, origins: &[String]) -> Result<(), StoreError> {
        self.change(self.inner.set_merchant_origins(id, origins))
            .await
    }

    async fn set_merchant_card_attempts(&self, id: &str, n: u8) -> Result<(), StoreError> {
        self.change(self.inner.set_merchant_card_attempts(id, n))
            .await
    }

    async fn set_merchant_prefer_on_us(&self, id: &str, on_us: bool) -> Result<(), StoreError> {
        self.change(self.inner.set_merchant_prefer_on_us(id, on_us))
            .await
    }

    async fn set_merchant_seller(
        &self,
        id: &str,
        seller: &SellerDetails,
    ) -> Result<(), StoreError> {
        self.change(self.inner.set_merchant_seller(id, seller))
            .await
    }

    // NestPay set-ups are read where they are needed (the gate, the XML API): not cached.
    async fn nestpay_of(&self, merchant_id: &str) -> Result<Option<NestpayRecord>, StoreError> {
        self.inner.nestpay_of(merchant_id).await
    }

    async fn nestpay_by_client_id(
        &self,
        client_id: &str,
    ) -> Result<Option<NestpayRecord>, StoreError> {
        self.inner.nestpay_by_client_id(client_id).await
    }

    async fn set_nestpay_shows_consents(
        &self,
        merchant_id: &str,
        shows: bool,
        at: i64,
    ) -> Result<bool, StoreError> {
        self.inner
            .set_nestpay_shows_consents(merchant_id, shows, at)
            .await
    }

    async fn set_nestpay(
        &self,
        merchant_id: &str,
        record: Option<&NestpayRecord>,
    ) -> Result<(), StoreError> {
        self.change(self.inner.set_nestpay(merchant_id, record))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::sql::SqlStore;

    async fn demo(store: &SqlStore) {
        let m = MerchantRecord {
            id: "m1".into(),
            name: "Örnek Mağaza".into(),
            legal_title: "Örnek Ticaret A.Ş.".into(),
            address: "Kadıköy, İstanbul".into(),
            phone: "+90 216 000 00 00".into(),
            email: "destek@ornek.example".into(),
            mersis: "0123456789012345".into(),
            website: "https://ornek.example".into(),
            secret_key_enc: vec![1, 0, 0, 0, 1, 0xAA],
            return_origins: r#"["https://ornek.example"]"#.into(),
            created_at: 1_000,
            key_lookup: Some("lookup-m1".into()),
            prev_secret_key_enc: None,
            prev_key_lookup: None,
            prev_key_expires_at: None,
            webhook_url: None,
            allowed_ips: "[]".into(),
            frame_origins: "[]".into(),
            installment_plan: None,
            accent_colour: None,
            logo_sha256: None,
            card_attempts: 1,
            prefer_on_us: 0,
        };
        store.insert_merchant(&m).await.unwrap();
    }

    #[tokio::test]
    async fn a_change_made_here_is_seen_at_once_one_made_elsewhere_within_the_ttl() {
        let store = SqlStore::open_in_memory().await.unwrap();
        demo(&store).await;
        let inner: Arc<dyn MerchantStore> = Arc::new(store.clone());
        let cached = CachedMerchants::new(
            inner,
            Arc::new(store.clone()),
            Duration::from_millis(300),
            None,
        );
        let accent = |m: Option<MerchantRecord>| m.unwrap().accent_colour;
        assert_eq!(accent(cached.get_merchant("m1").await.unwrap()), None);

        // Through the cache: seen at once.
        cached
            .set_merchant_accent("m1", Some("#112233"))
            .await
            .unwrap();
        assert_eq!(
            accent(cached.get_merchant("m1").await.unwrap()).as_deref(),
            Some("#112233")
        );

        // Behind its back (another process): the cached merchant until the TTL runs out.
        store
            .set_merchant_accent("m1", Some("#445566"))
            .await
            .unwrap();
        assert_eq!(
            accent(cached.get_merchant("m1").await.unwrap()).as_deref(),
            Some("#112233")
        );
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert_eq!(
            accent(cached.get_merchant("m1").await.unwrap()).as_deref(),
            Some("#445566")
        );
    }

    #[tokio::test]
    async fn a_miss_is_not_cached() {
        let store = SqlStore::open_in_memory().await.unwrap();
        let inner: Arc<dyn MerchantStore> = Arc::new(store.clone());
        let cached = CachedMerchants::new(
            inner,
            Arc::new(store.clone()),
            Duration::from_secs(60),
            None,
        );
        assert!(cached.get_merchant("m1").await.unwrap().is_none());
        assert!(
            cached
                .find_merchant_by_key("lookup-m1")
                .await
                .unwrap()
                .is_none()
        );
        demo(&store).await;
        assert!(cached.get_merchant("m1").await.unwrap().is_some());
        assert!(
            cached
                .find_merchant_by_key("lookup-m1")
                .await
                .unwrap()
                .is_some()
        );
    }

    #[tokio::test]
    async fn a_change_by_a_command_on_the_same_data_folder_is_seen_at_once() {
        let store = SqlStore::open_in_memory().await.unwrap();
        demo(&store).await;
        let signal = std::env::temp_dir().join(format!(
            "kapi-signal-{}",
            crate::domain::ids::random_token(6)
        ));
        let inner: Arc<dyn MerchantStore> = Arc::new(store.clone());
        let server = CachedMerchants::new(
            inner.clone(),
            Arc::new(store.clone()),
            Duration::from_secs(60),
            Some(signal.clone()),
        );
        let command = CachedMerchants::new(
            inner,
            Arc::new(store.clone()),
            Duration::from_secs(60),
            Some(signal.clone()),
        );
        assert_eq!(
            server
                .get_merchant("m1")
                .await
                .unwrap()
                .unwrap()
                .card_attempts,
            1
        );
        command.set_merchant_card_attempts("m1", 3).await.unwrap();
        assert_eq!(
            server
                .get_merchant("m1")
                .await
                .unwrap()
                .unwrap()
                .card_attempts,
            3
        );
        std::fs::remove_file(&signal).unwrap();
    }
}
