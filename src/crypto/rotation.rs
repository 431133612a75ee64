//! Re-encryption after a master key rotation: merchant secrets and pending card data sealed
//! with an older key are sealed again with the current one, a batch at a time, in the
//! background. Each row is replaced only if it did not change meanwhile.

use super::vault::{Vault, VaultError};
use crate::storage::{SealedStore, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Vault(#[from] VaultError),
}

/// Re-encrypts up to `batch` rows of each kind; returns how many it did.
pub async fn reencrypt_batch(
    store: &dyn SealedStore,
    vault: &Vault,
    batch: i64,
) -> Result<usize, RotationError> {
    let prefix = vault.current_prefix();
    let mut done = 0;
    for m in store.merchants_not_under(&prefix, batch).await? {
        let secret = vault.reencrypt(&m.secret_key_enc, &m.id)?;
        let prev = match &m.prev_secret_key_enc {
            Some(enc) => Some(vault.reencrypt(enc, &m.id)?),
            None => None,
        };
        if store
            .replace_merchant_secrets(&m.id, &m.secret_key_enc, &secret, prev.as_deref())
            .await?
        {
            done += 1;
        }
    }
    for n in store.nestpay_not_under(&prefix, batch).await? {
        let aad = |what| crate::merchants::nestpay_aad(&n.merchant_id, what);
        let store_key = vault.reencrypt(&n.store_key_enc, &aad("store-key"))?;
        let password = vault.reencrypt(&n.api_password_enc, &aad("api-password"))?;
        if store
            .replace_nestpay_secrets(&n.merchant_id, &n.store_key_enc, &store_key, &password)
            .await?
        {
            done += 1;
        }
    }
    for t in store.terminals_not_under(&prefix, batch).await? {
        let aad = |what| crate::terminals::sealed_aad(&t.id, what);
        let password = vault.reencrypt(&t.password_enc, &aad("password"))?;
        let store_key = vault.reencrypt(&t.store_key_enc, &aad("store-key"))?;
        let refund_password = match &t.refund_password_enc {
            Some(enc) => Some(vault.reencrypt(enc, &aad("refund-password"))?),
            None => None,
        };
        if store
            .replace_terminal_secrets(
                &t.id,
                &t.password_enc,
                &t.store_key_enc,
                t.refund_password_enc.as_deref(),
                &password,
                &store_key,
                refund_password.as_deref(),
            )
            .await?
        {
            done += 1;
        }
    }
    for (payment_id, blob) in store.cards_not_under(&prefix, batch).await? {
        let sealed = vault.reencrypt(&blob, &payment_id)?;
        // Gone meanwhile (authorised): nothing to do.
        if store.replace_card(&payment_id, &blob, &sealed).await? {
            done += 1;
        }
    }
    Ok(done)
}
