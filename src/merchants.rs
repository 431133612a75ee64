//! Merchant registration and the merchant's secret key.

use secrecy::{ExposeSecret, SecretString};

use crate::{
    crypto::vault::{Vault, VaultError},
    domain::{AccentColour, Logo, MerchantId, Origin, ids::random_token},
    installments::InstallmentPlan,
    storage::{
        KeyRotation, MerchantLogo, MerchantRecord, MerchantStore, NestpayRecord, SellerDetails,
        StoreError,
    },
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
    /// Where events go for payments without a callback_url; must be on a return origin.
    pub webhook_url: Option<String>,
    /// IP addresses allowed to call the API; empty allows any.
    pub allowed_ips: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum MerchantError {
    #[error("merchant name must be 1–128 characters")]
    Name,
    #[error(
        "--{0} must be at most 256 characters, without line breaks, control or bidirectional control characters"
    )]
    Text(&'static str),
    #[error("`{0}` is not an origin (scheme://host[:port], nothing else)")]
    Origin(String),
    #[error("at least one --return-origin is required")]
    NoOrigin,
    #[error("merchant id `{0}` is invalid or already taken")]
    Id(String),
    #[error("merchant `{0}` does not exist")]
    NotFound(String),
    #[error("webhook URL `{0}` must be an http(s) URL on one of the return origins")]
    WebhookUrl(String),
    #[error("`{0}` is not an IP address")]
    Ip(String),
    #[error(
        "the previous key is still valid until {0}; rotating again now would cut it off (use --force)"
    )]
    RotationInProgress(String),
    #[error("the NestPay client id must be 1–20 digits")]
    NestpayClientId,
    #[error("NestPay client id {0} is already used by another merchant")]
    NestpayClientIdTaken(String),
    #[error(
        "the NestPay store key, API user and API password must be 1–128 characters, without line breaks or control characters"
    )]
    NestpayCredential,
    #[error(
        "{0} has no NestPay set-up yet: give --nestpay-client-id, --nestpay-store-key, --nestpay-api-user and --nestpay-api-password together"
    )]
    NoNestpay(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Vault(#[from] VaultError),
}

/// The merchant an API key belongs to: its current key, or its previous one while the
/// rotation's overlap lasts (compared in constant time).
pub async fn by_api_key(
    store: &dyn MerchantStore,
    key: &str,
    now_ms: i64,
) -> Result<Option<MerchantRecord>, StoreError> {
    let lookup = key_lookup(&SecretString::from(key.to_owned()));
    let Some(merchant) = store.find_merchant_by_key(&lookup).await? else {
        return Ok(None);
    };
    let same = |l: &Option<String>| {
        l.as_deref().is_some_and(|l| {
            bool::from(subtle::ConstantTimeEq::ct_eq(
                l.as_bytes(),
                lookup.as_bytes(),
            ))
        })
    };
    let current = same(&merchant.key_lookup);
    let previous = same(&merchant.prev_key_lookup) && merchant.previous_key(now_ms).is_some();
    Ok((current || previous).then_some(merchant))
}

/// Registers a merchant and returns its id and secret key; the key is stored only encrypted.
pub async fn register(
    store: &dyn MerchantStore,
    vault: &Vault,
    input: NewMerchant,
    now_ms: i64,
) -> Result<(MerchantId, SecretString), MerchantError> {
    let name = input.name.trim().to_owned();
    if name.is_empty() || !crate::domain::text::is_plain(&name, 128) {
        return Err(MerchantError::Name);
    }
    // The seller's details are printed in the legal documents the shopper accepts.
    check_seller(&SellerDetails {
        legal_title: input.legal_title.clone(),
        address: input.address.clone(),
        phone: input.phone.clone(),
        email: input.email.clone(),
        mersis: input.mersis.clone(),
        website: input.website.clone(),
    })?;
    if input.return_origins.is_empty() {
        return Err(MerchantError::NoOrigin);
    }
    let mut origins = Vec::new();
    for o in &input.return_origins {
        let origin = Origin::parse(o)
            .ok()
            .ok_or_else(|| MerchantError::Origin(o.clone()))?;
        if !origins.contains(&origin.as_str().to_owned()) {
            origins.push(origin.as_str().to_owned());
        }
    }
    let id = match &input.id {
        Some(id) => MerchantId::parse(id)
            .ok()
            .ok_or_else(|| MerchantError::Id(id.clone()))?,
        None => MerchantId::generate(),
    };
    if store.get_merchant(id.as_str()).await?.is_some() {
        return Err(MerchantError::Id(id.to_string()));
    }
    let webhook_url = match &input.webhook_url {
        Some(u) => Some(check_webhook_url(u, &origins)?),
        None => None,
    };
    let allowed_ips = parse_ips(&input.allowed_ips)?;
    let secret = new_secret();
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
        key_lookup: Some(key_lookup(&secret)),
        prev_secret_key_enc: None,
        prev_key_lookup: None,
        prev_key_expires_at: None,
        webhook_url,
        allowed_ips: serde_json::to_string(&allowed_ips).unwrap_or_else(|_| "[]".into()),
        frame_origins: "[]".into(),
        installment_plan: None,
        accent_colour: None,
        logo_sha256: None,
        card_attempts: 1,
        prefer_on_us: 0,
    };
    store.insert_merchant(&record).await?;
    Ok((id, secret))
}

fn new_secret() -> SecretString {
    SecretString::from(format!("sk_{}", random_token(32)))
}

fn decrypt_secret(
    vault: &Vault,
    enc: &[u8],
    merchant_id: &str,
) -> Result<SecretString, VaultError> {
    let plain = vault.decrypt(enc, merchant_id)?;
    Ok(SecretString::from(
        String::from_utf8(plain.to_vec()).map_err(|_| VaultError::Malformed)?,
    ))
}

/// The current secret: it signs everything Kapı sends.
pub fn secret_key(vault: &Vault, merchant: &MerchantRecord) -> Result<SecretString, VaultError> {
    decrypt_secret(vault, &merchant.secret_key_enc, &merchant.id)
}

/// Every secret valid now: the current one first, then the previous during its overlap.
pub fn active_secrets(
    vault: &Vault,
    merchant: &MerchantRecord,
    now_ms: i64,
) -> Result<Vec<SecretString>, VaultError> {
    let mut keys = vec![secret_key(vault, merchant)?];
    if let Some(prev) = merchant.previous_key(now_ms) {
        keys.push(decrypt_secret(vault, prev, &merchant.id)?);
    }
    Ok(keys)
}

/// The hash of a secret, to find its merchant without storing the secret in plain.
pub fn key_lookup(secret: &SecretString) -> String {
    // The secret is 256 random bits: a plain hash cannot be reversed, and unlike a keyed hash
    // it does not change when the master key is rotated.
    crate::crypto::sha256_hex(format!("kapi-api-key:{}", secret.expose_secret()).as_bytes())
}

/// Replaces the merchant's secret; the old one keeps working for `overlap`.
/// Returns the new secret and when the old one stops working.
pub async fn rotate_key(
    store: &dyn MerchantStore,
    vault: &Vault,
    merchant_id: &str,
    overlap: std::time::Duration,
    force: bool,
    now_ms: i64,
) -> Result<(SecretString, i64), MerchantError> {
    let merchant = store
        .get_merchant(merchant_id)
        .await?
        .ok_or_else(|| MerchantError::NotFound(merchant_id.to_owned()))?;
    if !force && merchant.previous_key(now_ms).is_some() {
        let until = merchant.prev_key_expires_at.unwrap_or_default();
        return Err(MerchantError::RotationInProgress(crate::clock::rfc3339(
            until,
        )));
    }
    let old = secret_key(vault, &merchant)?;
    let new = new_secret();
    let until = now_ms.saturating_add(i64::try_from(overlap.as_millis()).unwrap_or(i64::MAX));
    let new_enc = vault.encrypt(new.expose_secret().as_bytes(), merchant_id)?;
    let (new_lookup, prev_lookup) = (key_lookup(&new), key_lookup(&old));
    let rotation = KeyRotation {
        new_enc: &new_enc,
        new_lookup: &new_lookup,
        prev_enc: &merchant.secret_key_enc,
        prev_lookup: &prev_lookup,
        prev_expires_at: until,
    };
    store.rotate_merchant_key(merchant_id, &rotation).await?;
    Ok((new, until))
}

/// Each detail: at most 256 characters of plain text.
fn check_seller(s: &SellerDetails) -> Result<(), MerchantError> {
    for (flag, value) in [
        ("title", &s.legal_title),
        ("address", &s.address),
        ("phone", &s.phone),
        ("email", &s.email),
        ("mersis", &s.mersis),
        ("website", &s.website),
    ] {
        if !crate::domain::text::is_plain(value.trim(), 256) {
            return Err(MerchantError::Text(flag));
        }
    }
    Ok(())
}

/// The details the distance-sales law requires of the seller in the pre-information form
/// (Mesafeli Sözleşmeler Yönetmeliği art. 5: title, MERSİS number, address, phone, e-mail)
/// that a merchant lacks, as the flags of `kapi merchant configure` that set them. The
/// documents show "—" in their place.
pub fn missing_legal_details(m: &MerchantRecord) -> Vec<&'static str> {
    [
        ("--title", &m.legal_title),
        ("--address", &m.address),
        ("--phone", &m.phone),
        ("--email", &m.email),
        ("--mersis", &m.mersis),
    ]
    .into_iter()
    .filter(|(_, v)| v.trim().is_empty())
    .map(|(flag, _)| flag)
    .collect()
}

/// Changes to the seller's details; `None` leaves one as it is.
#[derive(Debug, Default, Clone)]
pub struct SellerChange {
    pub legal_title: Option<String>,
    pub address: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub mersis: Option<String>,
    pub website: Option<String>,
}

impl SellerChange {
    fn is_empty(&self) -> bool {
        [
            &self.legal_title,
            &self.address,
            &self.phone,
            &self.email,
            &self.mersis,
            &self.website,
        ]
        .iter()
        .all(|v| v.is_none())
    }
}

/// Changes to a merchant's settings; `None` leaves a setting as it is.
#[derive(Debug, Default, Clone)]
pub struct Settings {
    /// How many cards a shopper may try on one payment.
    pub card_attempts: Option<crate::domain::CardAttempts>,
    /// Routing prefers a terminal of the card's own bank.
    pub prefer_on_us: Option<bool>,
    /// The seller's details for the legal documents.
    pub seller: SellerChange,
    /// `Some(None)` removes the webhook URL.
    pub webhook_url: Option<Option<String>>,
    /// `Some(empty)` allows any address.
    pub allowed_ips: Option<Vec<String>>,
    /// `Some(empty)` forbids framing.
    pub frame_origins: Option<Vec<String>>,
    /// `Some(None)` removes the plan: single payment only.
    pub installment_plan: Option<Option<InstallmentPlan>>,
    /// `Some(None)` goes back to Kapı's colours.
    pub accent_colour: Option<Option<AccentColour>>,
    /// `Some(None)` removes the logo.
    pub logo: Option<Option<Logo>>,
}

/// Sets where events go, which addresses may call the API, and who may frame the pages.
pub async fn configure(
    store: &dyn MerchantStore,
    merchant_id: &str,
    change: Settings,
) -> Result<(), MerchantError> {
    let merchant = store
        .get_merchant(merchant_id)
        .await?
        .ok_or_else(|| MerchantError::NotFound(merchant_id.to_owned()))?;
    let webhook = match change.webhook_url {
        Some(Some(u)) => Some(check_webhook_url(&u, &merchant.origins())?),
        Some(None) => None,
        None => merchant.webhook_url.clone(),
    };
    let ips = match change.allowed_ips {
        Some(ips) => parse_ips(&ips)?,
        None => merchant.allowed_ips(),
    };
    let frames = match change.frame_origins {
        Some(origins) => origins
            .iter()
            .map(|o| {
                Origin::parse(o)
                    .map(|o| o.as_str().to_owned())
                    .map_err(|_| MerchantError::Origin(o.clone()))
            })
            .collect::<Result<Vec<_>, _>>()?,
        None => merchant.frame_origins(),
    };
    store
        .set_merchant_api_settings(merchant_id, webhook.as_deref(), &ips, &frames)
        .await?;
    if let Some(plan) = change.installment_plan {
        store
            .set_merchant_installment_plan(merchant_id, plan.map(|p| p.to_json()).as_deref())
            .await?;
    }
    if let Some(colour) = change.accent_colour {
        store
            .set_merchant_accent(merchant_id, colour.map(|c| c.as_str()).as_deref())
            .await?;
    }
    if let Some(n) = change.card_attempts {
        store
            .set_merchant_card_attempts(merchant_id, n.count())
            .await?;
    }
    if let Some(on_us) = change.prefer_on_us {
        store.set_merchant_prefer_on_us(merchant_id, on_us).await?;
    }
    if !change.seller.is_empty() {
        let c = change.seller;
        let keep = |new: Option<String>, old: &str| {
            new.map_or_else(|| old.to_owned(), |v| v.trim().to_owned())
        };
        let seller = SellerDetails {
            legal_title: keep(c.legal_title, &merchant.legal_title),
            address: keep(c.address, &merchant.address),
            phone: keep(c.phone, &merchant.phone),
            email: keep(c.email, &merchant.email),
            mersis: keep(c.mersis, &merchant.mersis),
            website: keep(c.website, &merchant.website),
        };
        check_seller(&seller)?;
        store.set_merchant_seller(merchant_id, &seller).await?;
    }
    if let Some(logo) = change.logo {
        let record = logo.map(|l| MerchantLogo {
            content_type: l.content_type().to_owned(),
            sha256: l.sha256(),
            body: l.into_bytes(),
        });
        store
            .set_merchant_logo(merchant_id, record.as_ref())
            .await?;
    }
    Ok(())
}

/// Brings every merchant's API-key lookup hashes up to date at start-up (merchants registered
/// before API keys existed, or by an older version).
pub async fn backfill_key_lookups(
    store: &dyn MerchantStore,
    vault: &Vault,
) -> Result<(), MerchantError> {
    for m in store.list_merchants().await? {
        let lookup = key_lookup(&secret_key(vault, &m)?);
        let prev_lookup = match &m.prev_secret_key_enc {
            Some(enc) => Some(key_lookup(&decrypt_secret(vault, enc, &m.id)?)),
            None => None,
        };
        if m.key_lookup.as_deref() != Some(lookup.as_str()) || m.prev_key_lookup != prev_lookup {
            store
                .set_key_lookup(&m.id, &lookup, prev_lookup.as_deref())
                .await?;
        }
    }
    Ok(())
}

fn check_webhook_url(url: &str, origins: &[String]) -> Result<String, MerchantError> {
    let parsed = crate::domain::ReturnUrl::parse(url)
        .ok()
        .ok_or_else(|| MerchantError::WebhookUrl(url.to_owned()))?;
    if !origins.iter().any(|o| o == parsed.origin().as_str()) {
        return Err(MerchantError::WebhookUrl(url.to_owned()));
    }
    Ok(parsed.as_str().to_owned())
}

fn parse_ips(ips: &[String]) -> Result<Vec<String>, MerchantError> {
    ips.iter()
        .map(|ip| {
            ip.trim()
                .parse::<std::net::IpAddr>()
                .map(|a| a.to_canonical().to_string())
                .map_err(|_| MerchantError::Ip(ip.clone()))
        })
        .collect()
}

pub fn origin_registered(merchant: &MerchantRecord, origin: &Origin) -> bool {
    merchant.origins().iter().any(|o| o == origin.as_str())
}

/// A merchant's NestPay credentials, as the operator gives them.
pub struct NestpayCredentials {
    pub client_id: String,
    pub store_key: SecretString,
    pub api_user: String,
    pub api_password: SecretString,
}

/// A change of a merchant's NestPay set-up.
pub enum NestpayChange {
    /// Installs (or replaces) the credentials; what the merchant declared about the consents
    /// stays as it was (Kapı shows them, for a new set-up).
    Set(NestpayCredentials),
    /// Whether the merchant shows the legal documents itself (`3d_pay` then skips Kapı's
    /// consent page).
    ShowsConsents(bool),
    /// Removes the set-up: the gate and the XML API no longer know the client id.
    Remove,
}

/// A NestPay client id as merchants are set up with one: 1–20 digits. Anything else is
/// nobody's, and is not looked up (PostgreSQL refuses a NUL in a text parameter).
pub fn is_nestpay_client_id(s: &str) -> bool {
    (1..=20).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// The associated data sealing a NestPay secret: bound to its merchant and its role.
pub fn nestpay_aad(merchant_id: &str, what: &str) -> String {
    format!("nestpay-{what}:{merchant_id}")
}

fn credential_ok(value: &str) -> bool {
    (1..=128).contains(&value.chars().count()) && !value.chars().any(char::is_control)
}

/// Changes a merchant's NestPay set-up.
pub async fn configure_nestpay(
    store: &dyn MerchantStore,
    vault: &Vault,
    merchant_id: &str,
    change: NestpayChange,
    now_ms: i64,
) -> Result<(), MerchantError> {
    if store.get_merchant(merchant_id).await?.is_none() {
        return Err(MerchantError::NotFound(merchant_id.to_owned()));
    }
    let current = store.nestpay_of(merchant_id).await?;
    let record = match change {
        NestpayChange::Remove => return Ok(store.set_nestpay(merchant_id, None).await?),
        NestpayChange::ShowsConsents(shows) => {
            if !store
                .set_nestpay_shows_consents(merchant_id, shows, now_ms)
                .await?
            {
                return Err(MerchantError::NoNestpay(merchant_id.to_owned()));
            }
            return Ok(());
        }
        NestpayChange::Set(c) => {
            let id = c.client_id.trim();
            if !is_nestpay_client_id(id) {
                return Err(MerchantError::NestpayClientId);
            }
            if let Some(other) = store.nestpay_by_client_id(id).await?
                && other.merchant_id != merchant_id
            {
                return Err(MerchantError::NestpayClientIdTaken(id.to_owned()));
            }
            let ok = credential_ok(c.store_key.expose_secret())
                && credential_ok(&c.api_user)
                && credential_ok(c.api_password.expose_secret());
            if !ok {
                return Err(MerchantError::NestpayCredential);
            }
            NestpayRecord {
                merchant_id: merchant_id.to_owned(),
                client_id: id.to_owned(),
                store_key_enc: vault.encrypt(
                    c.store_key.expose_secret().as_bytes(),
                    &nestpay_aad(merchant_id, "store-key"),
                )?,
                api_user: c.api_user,
                api_password_enc: vault.encrypt(
                    c.api_password.expose_secret().as_bytes(),
                    &nestpay_aad(merchant_id, "api-password"),
                )?,
                shows_consents: current.map_or(0, |r| r.shows_consents),
                updated_at: now_ms,
            }
        }
    };
    store.set_nestpay(merchant_id, Some(&record)).await?;
    Ok(())
}

/// The store key that signs a NestPay merchant's gate requests and results.
pub fn nestpay_store_key(vault: &Vault, r: &NestpayRecord) -> Result<SecretString, VaultError> {
    decrypt_secret(
        vault,
        &r.store_key_enc,
        &nestpay_aad(&r.merchant_id, "store-key"),
    )
}

/// The password of a NestPay merchant's XML API user.
pub fn nestpay_api_password(vault: &Vault, r: &NestpayRecord) -> Result<SecretString, VaultError> {
    decrypt_secret(
        vault,
        &r.api_password_enc,
        &nestpay_aad(&r.merchant_id, "api-password"),
    )
}
