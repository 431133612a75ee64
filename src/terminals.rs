//! A merchant's bank terminals (virtual POS agreements): which bank, which platform its
//! connector speaks, the bank's credentials (secrets sealed under the master key, never
//! printed) and what a platform needs besides (Garanti BBVA's terminal number and refund user,
//! PayFor's member id), the addresses of its 3-D Secure gate and API, the static IP the bank
//! expects, and the commission rates routing compares. Today's `[acquirer]` settings are every
//! merchant's default terminal (`default_terminal`), so a merchant without terminals pays as
//! before.

use std::{collections::BTreeMap, net::IpAddr};

use secrecy::{ExposeSecret, SecretString};

use crate::{
    config::AcquirerSettings,
    crypto::vault::{Vault, VaultError},
    domain::ids::random_token,
    installments::plan::Rate,
    storage::{MerchantStore, StoreError, TerminalRecord, TerminalStore},
};

/// How a merchant's own terminal's id begins (the default terminal's is the `[acquirer]` one).
pub const ID_PREFIX: &str = "trm_";

/// PayFor's member id of QNB Finansbank, a PayFor terminal's when none was given.
pub const DEFAULT_MBR_ID: &str = "5";

/// The protocol a terminal's connector speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Platform {
    /// NestPay (EST, Payten): Akbank, İşbank, Ziraat, Halkbank, TEB, ING, …
    Nestpay,
    /// Garanti BBVA's GVP.
    Garanti,
    /// QNB Finansbank's PayFor.
    Payfor,
    /// Kapı's own bank protocol (its bank simulator).
    Simulator,
}

impl Platform {
    pub const ALL: [Platform; 4] = [Self::Nestpay, Self::Garanti, Self::Payfor, Self::Simulator];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Nestpay => "nestpay",
            Self::Garanti => "garanti",
            Self::Payfor => "payfor",
            Self::Simulator => "simulator",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// A terminal as routing and the connectors see it: everything but its secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terminal {
    pub id: String,
    pub merchant_id: Option<String>,
    pub bank: String,
    pub platform: Platform,
    pub client_id: String,
    pub user: String,
    /// Garanti BBVA's terminal number (1–9 digits; required there).
    pub terminal_no: Option<String>,
    /// Garanti BBVA's refund user (`PROVRFN`), for voids and refunds; its password is read with
    /// `refund_password`.
    pub refund_user: Option<String>,
    /// PayFor's member id (`MbrId`): `5` QNB Finansbank (`DEFAULT_MBR_ID`), `12` Ziraat
    /// Katılım, …; `None` on other platforms.
    pub mbr_id: Option<String>,
    pub gate_url: String,
    pub api_url: String,
    pub static_ip: Option<IpAddr>,
    /// The commission of a single payment, and of an installment count without a rate of its
    /// own.
    pub commission: Option<Rate>,
    /// Commission by installment count.
    pub installment_commissions: BTreeMap<u8, Rate>,
    /// `mdStatus` 2, 3 and 4 (half 3-D Secure, attempts) are accepted, not only 1.
    pub accept_half_3d: bool,
    pub enabled: bool,
    /// Today's `[acquirer]` settings, every merchant's default terminal (not stored).
    pub is_default: bool,
}

impl Terminal {
    /// The commission for `count` installments: its own rate, else the terminal's.
    pub fn commission_for(&self, count: u8) -> Option<Rate> {
        self.installment_commissions
            .get(&count)
            .copied()
            .or(self.commission)
    }

    /// The JSON the operator sees (`kapi terminal list --json`): no secrets.
    pub fn to_json(&self) -> serde_json::Value {
        let rates: serde_json::Map<String, serde_json::Value> = self
            .installment_commissions
            .iter()
            .map(|(n, r)| (n.to_string(), r.to_decimal_string().into()))
            .collect();
        serde_json::json!({
            "id": self.id,
            "merchant_id": self.merchant_id,
            "bank": self.bank,
            "platform": self.platform.as_str(),
            "enabled": self.enabled,
            "default": self.is_default,
            "client_id": self.client_id,
            "user": self.user,
            "terminal_no": self.terminal_no,
            "refund_user": self.refund_user,
            "mbr_id": self.mbr_id,
            "gate_url": self.gate_url,
            "api_url": self.api_url,
            "static_ip": self.static_ip.map(|ip| ip.to_string()),
            "commission": self.commission.map(Rate::to_decimal_string),
            "installment_commissions": rates,
            "accept_half_3d": self.accept_half_3d,
        })
    }
}

/// Today's `[acquirer]` settings as the default terminal of every merchant: Kapı's bank
/// protocol at `acquirer.base_url`.
pub fn default_terminal(settings: &AcquirerSettings) -> Terminal {
    Terminal {
        id: settings.terminal_id.clone(),
        merchant_id: None,
        bank: settings.bank.clone(),
        platform: Platform::Simulator,
        client_id: settings.terminal_id.clone(),
        user: String::new(),
        terminal_no: None,
        refund_user: None,
        mbr_id: None,
        gate_url: String::new(),
        api_url: settings.base_url.clone().unwrap_or_default(),
        static_ip: None,
        commission: settings.commission.as_deref().and_then(Rate::parse),
        installment_commissions: BTreeMap::new(),
        accept_half_3d: false,
        enabled: true,
        is_default: true,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TerminalError {
    #[error("merchant `{0}` does not exist")]
    NoMerchant(String),
    #[error("terminal `{0}` does not exist")]
    NotFound(String),
    #[error("--bank must be 1–64 characters without control characters")]
    Bank,
    #[error("--{0} must be 1–128 characters without control characters")]
    Credential(&'static str),
    #[error("a Garanti BBVA terminal needs --terminal-no, its terminal number (1–9 digits)")]
    TerminalNoRequired,
    #[error("--terminal-no `{0}` is not a Garanti BBVA terminal number: 1–9 digits")]
    GarantiTerminalNo(String),
    #[error(
        "--refund-user and --refund-password (Garanti BBVA's PROVRFN user and its password) go together: give both"
    )]
    RefundPair,
    #[error(
        "--mbr-id `{0}` is not a PayFor member id: 1–3 digits (5 QNB Finansbank, 12 Ziraat Katılım)"
    )]
    MbrId(String),
    #[error("--{flag} is for `--platform {wanted}` terminals only; this one is `{platform}`")]
    WrongPlatform {
        flag: &'static str,
        wanted: &'static str,
        platform: String,
    },
    #[error(
        "--{0} `{1}` must be an https:// URL, or http:// on a loopback address (tests, simulators)"
    )]
    Url(&'static str, String),
    #[error("--static-ip `{0}` is not an IP address")]
    StaticIp(String),
    #[error("`{0}` is not a rate: a percent with at most two decimals, 0 to 100, e.g. 2.50")]
    Rate(String),
    #[error("`{0}` is not COUNT=RATE with a count of 2 to 12, e.g. 3=3.10")]
    InstallmentRate(String),
    #[error("the terminal was changed meanwhile; run the command again")]
    Changed,
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("terminal `{0}` is stored in a form Kapı cannot read: {1}")]
    Corrupt(String, String),
}

/// A new terminal, as the operator gives it.
pub struct NewTerminal {
    pub merchant_id: String,
    pub bank: String,
    pub platform: Platform,
    pub client_id: String,
    pub user: String,
    pub password: SecretString,
    /// Required on `garanti`.
    pub terminal_no: Option<String>,
    pub store_key: SecretString,
    pub gate_url: String,
    pub api_url: String,
    pub static_ip: Option<String>,
    pub commission: Option<String>,
    /// `COUNT=RATE`, e.g. `3=3.10`.
    pub installment_commissions: Vec<String>,
    pub accept_half_3d: bool,
    /// `garanti` only, with `refund_password`.
    pub refund_user: Option<String>,
    pub refund_password: Option<SecretString>,
    /// `payfor` only; `DEFAULT_MBR_ID` when left out.
    pub mbr_id: Option<String>,
}

/// What `kapi terminal configure` changes: `None` leaves a value as it is.
#[derive(Default)]
pub struct TerminalChange {
    pub bank: Option<String>,
    pub client_id: Option<String>,
    pub user: Option<String>,
    pub password: Option<SecretString>,
    /// `Some(None)` removes it.
    pub terminal_no: Option<Option<String>>,
    pub store_key: Option<SecretString>,
    pub gate_url: Option<String>,
    pub api_url: Option<String>,
    pub static_ip: Option<Option<String>>,
    pub commission: Option<Option<String>>,
    /// Replaces every installment rate.
    pub installment_commissions: Option<Vec<String>>,
    pub accept_half_3d: Option<bool>,
    /// `Some(None)` removes the refund user and its password.
    pub refund_user: Option<Option<String>>,
    pub refund_password: Option<SecretString>,
    pub mbr_id: Option<String>,
}

fn text_ok(value: &str, max: usize) -> bool {
    (1..=max).contains(&value.chars().count()) && !value.chars().any(char::is_control)
}

fn credential(name: &'static str, value: &str) -> Result<String, TerminalError> {
    let value = value.trim();
    if text_ok(value, 128) {
        Ok(value.to_owned())
    } else {
        Err(TerminalError::Credential(name))
    }
}

/// A secret as given (not trimmed: a space may be part of it).
fn secret(name: &'static str, value: &str) -> Result<String, TerminalError> {
    if text_ok(value, 128) && !value.trim().is_empty() {
        Ok(value.to_owned())
    } else {
        Err(TerminalError::Credential(name))
    }
}

/// A bank's gate or API address: `https://`, or `http://` on a loopback address. Bank calls go
/// to addresses the operator configured, so the merchant-callback SSRF guard is not theirs.
pub fn bank_url(name: &'static str, value: &str) -> Result<String, TerminalError> {
    // Never echo a password written into the URL.
    let shown = match value.rsplit_once('@') {
        Some((_, host)) => format!("…@{host}"),
        None => value.to_owned(),
    };
    let bad = || TerminalError::Url(name, shown.clone());
    let url = url::Url::parse(value.trim()).map_err(|_| bad())?;
    if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
        return Err(bad());
    }
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err(bad()),
    };
    match url.scheme() {
        "https" => Ok(url.to_string()),
        "http" if loopback => Ok(url.to_string()),
        _ => Err(bad()),
    }
}

fn digits(value: &str, max: usize) -> bool {
    (1..=max).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit())
}

/// A terminal number: Garanti BBVA's is 1–9 digits (its hash pads it to nine); others' as given.
fn terminal_no(platform: Option<Platform>, value: &str) -> Result<String, TerminalError> {
    if platform != Some(Platform::Garanti) {
        return credential("terminal-no", value);
    }
    let value = value.trim();
    if digits(value, 9) {
        Ok(value.to_owned())
    } else {
        Err(TerminalError::GarantiTerminalNo(value.to_owned()))
    }
}

fn mbr_id(value: &str) -> Result<String, TerminalError> {
    let value = value.trim();
    if digits(value, 3) {
        Ok(value.to_owned())
    } else {
        Err(TerminalError::MbrId(value.to_owned()))
    }
}

/// Refuses `--flag` on a terminal whose platform (`platform`, as stored) is not `wanted`.
fn only_for(flag: &'static str, wanted: Platform, platform: &str) -> Result<(), TerminalError> {
    if Platform::parse(platform) == Some(wanted) {
        Ok(())
    } else {
        Err(TerminalError::WrongPlatform {
            flag,
            wanted: wanted.as_str(),
            platform: platform.to_owned(),
        })
    }
}

fn rate(value: &str) -> Result<Rate, TerminalError> {
    Rate::parse(value.trim()).ok_or_else(|| TerminalError::Rate(value.to_owned()))
}

fn installment_rates(values: &[String]) -> Result<BTreeMap<u8, Rate>, TerminalError> {
    values
        .iter()
        .map(|v| {
            let bad = || TerminalError::InstallmentRate(v.clone());
            let (count, r) = v.split_once('=').ok_or_else(bad)?;
            let count: u8 = count.trim().parse().map_err(|_| bad())?;
            if !(2..=12).contains(&count) {
                return Err(bad());
            }
            Ok((count, Rate::parse(r.trim()).ok_or_else(bad)?))
        })
        .collect()
}

fn rates_json(rates: &BTreeMap<u8, Rate>) -> String {
    let map: BTreeMap<String, String> = rates
        .iter()
        .map(|(n, r)| (n.to_string(), r.to_decimal_string()))
        .collect();
    serde_json::to_string(&map).unwrap_or_else(|_| "{}".to_owned())
}

fn static_ip(value: Option<&str>) -> Result<Option<String>, TerminalError> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse::<IpAddr>()
                .map(|ip| ip.to_string())
                .map_err(|_| TerminalError::StaticIp(v.to_owned()))
        })
        .transpose()
}

fn aad(terminal_id: &str, what: &str) -> String {
    format!("terminal-{what}:{terminal_id}")
}

/// Adds a terminal to a merchant; returns its id.
pub async fn add(
    terminals: &dyn TerminalStore,
    merchants: &dyn MerchantStore,
    vault: &Vault,
    new: NewTerminal,
    now_ms: i64,
) -> Result<String, TerminalError> {
    if merchants.get_merchant(&new.merchant_id).await?.is_none() {
        return Err(TerminalError::NoMerchant(new.merchant_id));
    }
    let id = format!("{ID_PREFIX}{}", random_token(12));
    let bank = new.bank.trim().to_owned();
    if !text_ok(&bank, 64) {
        return Err(TerminalError::Bank);
    }
    let platform = new.platform.as_str();
    let password = secret("password", new.password.expose_secret())?;
    let store_key = secret("store-key", new.store_key.expose_secret())?;
    let terminal_no = new
        .terminal_no
        .as_deref()
        .map(|t| terminal_no(Some(new.platform), t))
        .transpose()?;
    if new.platform == Platform::Garanti && terminal_no.is_none() {
        return Err(TerminalError::TerminalNoRequired);
    }
    let (refund_user, refund_password_enc) = match (new.refund_user, new.refund_password) {
        (None, None) => (None, None),
        (Some(user), Some(refund_password)) => {
            only_for("refund-user", Platform::Garanti, platform)?;
            let refund_password = secret("refund-password", refund_password.expose_secret())?;
            (
                Some(credential("refund-user", &user)?),
                Some(vault.encrypt(refund_password.as_bytes(), &aad(&id, "refund-password"))?),
            )
        }
        (user, _) => {
            let flag = if user.is_some() {
                "refund-user"
            } else {
                "refund-password"
            };
            only_for(flag, Platform::Garanti, platform)?;
            return Err(TerminalError::RefundPair);
        }
    };
    let mbr_id = new
        .mbr_id
        .as_deref()
        .map(|m| {
            only_for("mbr-id", Platform::Payfor, platform)?;
            mbr_id(m)
        })
        .transpose()?;
    let record = TerminalRecord {
        id: id.clone(),
        merchant_id: new.merchant_id,
        bank,
        platform: platform.to_owned(),
        client_id: credential("client-id", &new.client_id)?,
        user_name: credential("user", &new.user)?,
        password_enc: vault.encrypt(password.as_bytes(), &aad(&id, "password"))?,
        terminal_no,
        store_key_enc: vault.encrypt(store_key.as_bytes(), &aad(&id, "store-key"))?,
        gate_url: bank_url("gate-url", &new.gate_url)?,
        api_url: bank_url("api-url", &new.api_url)?,
        static_ip: static_ip(new.static_ip.as_deref())?,
        commission: new
            .commission
            .as_deref()
            .map(|r| rate(r).map(Rate::to_decimal_string))
            .transpose()?,
        installment_commissions: rates_json(&installment_rates(&new.installment_commissions)?),
        accept_half_3d: i64::from(new.accept_half_3d),
        enabled: 1,
        created_at: now_ms,
        updated_at: now_ms,
        refund_user,
        refund_password_enc,
        mbr_id,
    };
    terminals.insert_terminal(&record).await?;
    Ok(id)
}

/// Changes a terminal's settings (and, with `enabled`, whether routing may choose it).
pub async fn configure(
    terminals: &dyn TerminalStore,
    vault: &Vault,
    id: &str,
    change: TerminalChange,
    enabled: Option<bool>,
    now_ms: i64,
) -> Result<(), TerminalError> {
    let before = terminals
        .terminal(id)
        .await?
        .ok_or_else(|| TerminalError::NotFound(id.to_owned()))?;
    let mut t = before.clone();
    if let Some(bank) = change.bank {
        t.bank = bank.trim().to_owned();
        if !text_ok(&t.bank, 64) {
            return Err(TerminalError::Bank);
        }
    }
    if let Some(v) = change.client_id {
        t.client_id = credential("client-id", &v)?;
    }
    if let Some(v) = change.user {
        t.user_name = credential("user", &v)?;
    }
    if let Some(v) = change.password {
        let password = secret("password", v.expose_secret())?;
        t.password_enc = vault.encrypt(password.as_bytes(), &aad(id, "password"))?;
    }
    if let Some(v) = change.store_key {
        let key = secret("store-key", v.expose_secret())?;
        t.store_key_enc = vault.encrypt(key.as_bytes(), &aad(id, "store-key"))?;
    }
    if let Some(v) = change.terminal_no {
        let platform = Platform::parse(&t.platform);
        t.terminal_no = v.as_deref().map(|n| terminal_no(platform, n)).transpose()?;
        if platform == Some(Platform::Garanti) && t.terminal_no.is_none() {
            return Err(TerminalError::TerminalNoRequired);
        }
    }
    match change.refund_user {
        Some(None) => {
            t.refund_user = None;
            t.refund_password_enc = None;
        }
        Some(Some(v)) => {
            only_for("refund-user", Platform::Garanti, &t.platform)?;
            t.refund_user = Some(credential("refund-user", &v)?);
        }
        None => {}
    }
    if let Some(v) = change.refund_password {
        only_for("refund-password", Platform::Garanti, &t.platform)?;
        let password = secret("refund-password", v.expose_secret())?;
        t.refund_password_enc =
            Some(vault.encrypt(password.as_bytes(), &aad(id, "refund-password"))?);
    }
    if t.refund_user.is_some() != t.refund_password_enc.is_some() {
        return Err(TerminalError::RefundPair);
    }
    if let Some(v) = change.mbr_id {
        only_for("mbr-id", Platform::Payfor, &t.platform)?;
        t.mbr_id = Some(mbr_id(&v)?);
    }
    if let Some(v) = change.gate_url {
        t.gate_url = bank_url("gate-url", &v)?;
    }
    if let Some(v) = change.api_url {
        t.api_url = bank_url("api-url", &v)?;
    }
    if let Some(v) = change.static_ip {
        t.static_ip = static_ip(v.as_deref())?;
    }
    if let Some(v) = change.commission {
        t.commission = v
            .as_deref()
            .map(|r| rate(r).map(Rate::to_decimal_string))
            .transpose()?;
    }
    if let Some(v) = change.installment_commissions {
        t.installment_commissions = rates_json(&installment_rates(&v)?);
    }
    if let Some(v) = change.accept_half_3d {
        t.accept_half_3d = i64::from(v);
    }
    if let Some(v) = enabled {
        t.enabled = i64::from(v);
    }
    t.updated_at = now_ms.max(before.updated_at.saturating_add(1));
    if terminals.update_terminal(&t, before.updated_at).await? {
        Ok(())
    } else {
        Err(TerminalError::Changed)
    }
}

/// A stored terminal, parsed.
pub fn parse(r: &TerminalRecord) -> Result<Terminal, TerminalError> {
    let corrupt = |what: &str| TerminalError::Corrupt(r.id.clone(), what.to_owned());
    let rates: BTreeMap<String, String> =
        serde_json::from_str(&r.installment_commissions).map_err(|_| corrupt("rates"))?;
    let installment_commissions = rates
        .iter()
        .map(|(n, v)| Some((n.parse::<u8>().ok()?, Rate::parse(v)?)))
        .collect::<Option<BTreeMap<u8, Rate>>>()
        .ok_or_else(|| corrupt("rates"))?;
    let platform = Platform::parse(&r.platform).ok_or_else(|| corrupt("platform"))?;
    Ok(Terminal {
        id: r.id.clone(),
        merchant_id: Some(r.merchant_id.clone()),
        bank: r.bank.clone(),
        platform,
        client_id: r.client_id.clone(),
        user: r.user_name.clone(),
        terminal_no: r.terminal_no.clone(),
        refund_user: r.refund_user.clone(),
        mbr_id: r
            .mbr_id
            .clone()
            .or_else(|| (platform == Platform::Payfor).then(|| DEFAULT_MBR_ID.to_owned())),
        gate_url: r.gate_url.clone(),
        api_url: r.api_url.clone(),
        static_ip: r
            .static_ip
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|_| corrupt("static_ip"))?,
        commission: r
            .commission
            .as_deref()
            .map(|c| Rate::parse(c).ok_or_else(|| corrupt("commission")))
            .transpose()?,
        installment_commissions,
        accept_half_3d: r.accept_half_3d != 0,
        enabled: r.enabled != 0,
        is_default: false,
    })
}

/// A merchant's own terminals that can be read, oldest first; a row that cannot (written by a
/// newer Kapı, damaged) is left out and logged, so one bad row never stops the checkout.
pub async fn readable_of_merchant(
    terminals: &dyn TerminalStore,
    merchant_id: &str,
) -> Result<Vec<Terminal>, TerminalError> {
    Ok(terminals
        .terminals_of(merchant_id)
        .await?
        .iter()
        .filter_map(|r| match parse(r) {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::error!(terminal_id = %r.id, error = %e, "terminal left out of routing");
                None
            }
        })
        .collect())
}

/// A merchant's own terminals, parsed, oldest first.
pub async fn of_merchant(
    terminals: &dyn TerminalStore,
    merchant_id: &str,
) -> Result<Vec<Terminal>, TerminalError> {
    terminals
        .terminals_of(merchant_id)
        .await?
        .iter()
        .map(parse)
        .collect()
}

fn open(
    vault: &Vault,
    terminal_id: &str,
    enc: &[u8],
    what: &str,
) -> Result<SecretString, VaultError> {
    let plain = vault.decrypt(enc, &aad(terminal_id, what))?;
    Ok(SecretString::from(
        String::from_utf8(plain.to_vec()).map_err(|_| VaultError::Malformed)?,
    ))
}

/// A terminal's password and store key.
pub fn secrets(
    vault: &Vault,
    r: &TerminalRecord,
) -> Result<(SecretString, SecretString), VaultError> {
    Ok((
        open(vault, &r.id, &r.password_enc, "password")?,
        open(vault, &r.id, &r.store_key_enc, "store-key")?,
    ))
}

/// The password of a Garanti BBVA terminal's refund user, if it has one.
pub fn refund_password(
    vault: &Vault,
    r: &TerminalRecord,
) -> Result<Option<SecretString>, TerminalError> {
    Ok(r.refund_password_enc
        .as_deref()
        .map(|enc| open(vault, &r.id, enc, "refund-password"))
        .transpose()?)
}

/// The AAD of a terminal's sealed `what` (`password`, `store-key`, `refund-password`), for
/// re-encryption.
pub fn sealed_aad(terminal_id: &str, what: &str) -> String {
    aad(terminal_id, what)
}

/// Bank names compared as people write them: letter case ignored, Turkish dotted and dotless
/// i alike (`İŞ BANKASI` = `iş bankası`), spaces collapsed.
pub fn same_bank(a: &str, b: &str) -> bool {
    let fold = |s: &str| -> String {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .map(|c| match c {
                'İ' | 'I' | 'ı' => 'i',
                other => other,
            })
            .flat_map(char::to_lowercase)
            .collect()
    };
    !a.trim().is_empty() && fold(a) == fold(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bank_names_match_as_people_write_them() {
        assert!(same_bank("Türkiye İş Bankası", "TÜRKIYE İŞ BANKASI"));
        assert!(same_bank("türkiye iş bankası", "Türkiye  İş Bankası"));
        assert!(same_bank("ING", "ing"));
        assert!(!same_bank("Garanti BBVA", "Garanti"));
        assert!(!same_bank("", ""));
    }

    #[test]
    fn bank_addresses_are_https_or_loopback_http() {
        assert!(bank_url("gate-url", "https://sanalpos.example.com.tr/fim/est3Dgate").is_ok());
        assert!(bank_url("api-url", "http://127.0.0.1:8080/fim/api").is_ok());
        assert!(bank_url("api-url", "http://localhost:9/x").is_ok());
        for bad in [
            "http://bank.example/fim/api",
            "ftp://127.0.0.1/x",
            "https://user:pw@bank.example/",
            "not a url",
        ] {
            assert!(bank_url("api-url", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn installment_rates_are_count_equals_percent() {
        let rates = installment_rates(&["3=3.10".into(), "6=4".into()]).unwrap();
        assert_eq!(
            rates.get(&3).map(|r| r.to_decimal_string()).as_deref(),
            Some("3.10")
        );
        assert_eq!(
            rates.get(&6).map(|r| r.to_decimal_string()).as_deref(),
            Some("4.00")
        );
        for bad in ["1=2.00", "13=2.00", "3:2.00", "3=2,50", "3=101"] {
            assert!(installment_rates(&[bad.into()]).is_err(), "{bad}");
        }
    }

    #[test]
    fn platform_settings_are_checked_for_their_platform() {
        let garanti = Some(Platform::Garanti);
        assert_eq!(terminal_no(garanti, " 30691297 ").unwrap(), "30691297");
        for bad in ["", "1234567890", "3069129A", "-1"] {
            assert!(terminal_no(garanti, bad).is_err(), "{bad}");
        }
        assert_eq!(
            terminal_no(Some(Platform::Nestpay), "T-01").unwrap(),
            "T-01"
        );
        assert_eq!(mbr_id("12").unwrap(), "12");
        for bad in ["", "1234", "5a", "+5"] {
            assert!(mbr_id(bad).is_err(), "{bad}");
        }
        assert!(only_for("mbr-id", Platform::Payfor, "payfor").is_ok());
        let refused = only_for("mbr-id", Platform::Payfor, "nestpay")
            .unwrap_err()
            .to_string();
        assert!(
            refused.contains("--mbr-id") && refused.contains("payfor"),
            "{refused}"
        );
    }

    fn record(platform: &str, mbr_id: Option<&str>) -> TerminalRecord {
        TerminalRecord {
            id: "trm_1".into(),
            merchant_id: "mrc_1".into(),
            bank: "QNB".into(),
            platform: platform.into(),
            client_id: "1".into(),
            user_name: "u".into(),
            password_enc: vec![],
            terminal_no: None,
            store_key_enc: vec![],
            gate_url: String::new(),
            api_url: String::new(),
            static_ip: None,
            commission: None,
            installment_commissions: "{}".into(),
            accept_half_3d: 0,
            enabled: 1,
            created_at: 0,
            updated_at: 0,
            refund_user: None,
            refund_password_enc: None,
            mbr_id: mbr_id.map(Into::into),
        }
    }

    #[test]
    fn a_payfor_terminal_without_a_member_id_is_qnb_finansbank() {
        let mbr = |platform, stored| parse(&record(platform, stored)).unwrap().mbr_id;
        assert_eq!(mbr("payfor", None).as_deref(), Some(DEFAULT_MBR_ID));
        assert_eq!(mbr("payfor", Some("12")).as_deref(), Some("12"));
        assert_eq!(mbr("nestpay", None), None);
    }
}
