//! Merchant registration and the merchant's secret key.

use secrecy::{ExposeSecret, SecretString};

use crate::{
    crypto::vault::{Vault, VaultError},
    domain::{MerchantId, Origin, ids::random_token},
    storage::{MerchantRecord, Store, StoreError},
};

#[derive(Debug, Default, Clone)]
pub struct NewMerchant {
    pub id: Option<String>,
    pub name: String,
    pub legal_title: String,
    pub address: String,
    pub phone: String,
    pub email: String,
    pub mersis: String,
    pub website: String,
    pub return_origins: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum MerchantError {
    #[error("merchant name must be 1–128 characters")]
    Name,
    #[error("`{0}` is not an origin (scheme://host[:port], nothing else)")]
    Origin(String),
    #[error("at least one --return-origin is required")]
    NoOrigin,
    #[error("merchant id `{0}` is invalid or already taken")]
    Id(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Vault(#[from] VaultError),
}

/// Registers a merchant and returns its id and secret key; the key is stored only encrypted.
pub async fn register(
    store: &dyn Store,
    vault: &Vault,
    input: NewMerchant,
    now_ms: i64,
) -> Result<(MerchantId, SecretString), MerchantError> {
    let name = input.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 128 || name.chars().any(char::is_control) {
        return Err(MerchantError::Name);
    }
    if input.return_origins.is_empty() {
        return Err(MerchantError::NoOrigin);
    }
    let mut origins = Vec::new();
    for o in &input.return_origins {
        let origin = Origin::parse(o).ok_or_else(|| MerchantError::Origin(o.clone()))?;
        if !origins.contains(&origin.as_str().to_owned()) {
            origins.push(origin.as_str().to_owned());
        }
    }
    let id = match &input.id {
        Some(id) => MerchantId::parse(id).ok_or_else(|| MerchantError::Id(id.clone()))?,
        None => MerchantId::generate(),
    };
    if store.get_merchant(id.as_str()).await?.is_some() {
        return Err(MerchantError::Id(id.to_string()));
    }
    let secret = SecretString::from(format!("sk_{}", random_token(32)));
    let record = MerchantRecord {
        id: id.to_string(),
        legal_title: if input.legal_title.trim().is_empty() {
            name.clone()
        } else {
            input.legal_title.trim().to_owned()
        },
        name,
        address: input.address.trim().to_owned(),
        phone: input.phone.trim().to_owned(),
        email: input.email.trim().to_owned(),
        mersis: input.mersis.trim().to_owned(),
        website: input.website.trim().to_owned(),
        secret_key_enc: vault.encrypt(secret.expose_secret().as_bytes(), id.as_str())?,
        return_origins: serde_json::to_string(&origins).unwrap_or_else(|_| "[]".into()),
        created_at: now_ms,
    };
    store.insert_merchant(&record).await?;
    Ok((id, secret))
}

pub fn secret_key(vault: &Vault, merchant: &MerchantRecord) -> Result<SecretString, VaultError> {
    let plain = vault.decrypt(&merchant.secret_key_enc, &merchant.id)?;
    Ok(SecretString::from(
        String::from_utf8(plain.to_vec()).map_err(|_| VaultError::Malformed)?,
    ))
}

pub fn origin_registered(merchant: &MerchantRecord, origin: &Origin) -> bool {
    merchant.origins().iter().any(|o| o == origin.as_str())
}
