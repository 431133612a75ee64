//! Master keys. Either from configuration (`security.master_key` plus, during a rotation,
//! `security.previous_master_keys`), or from `DATA_DIR/keyring.json` (mode 0600), which
//! `kapi keys rotate` and `kapi keys retire` change and a running server reloads.

use std::path::{Path, PathBuf};

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::vault::MasterKey;
use crate::config::Settings;

#[derive(Serialize, Deserialize)]
struct KeyEntry {
    id: u32,
    key: String,
    created_at: String,
}

#[derive(Serialize, Deserialize)]
pub struct Keyring {
    current: u32,
    keys: Vec<KeyEntry>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<u32> = self.keys.iter().map(|k| k.id).collect();
        write!(f, "Keyring(current={}, ids={ids:?})", self.current)
    }
}

pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("keyring.json")
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl Keyring {
    /// The current key and the older ones (decrypt only).
    pub fn keys(&self) -> anyhow::Result<(MasterKey, Vec<MasterKey>)> {
        let mut current = None;
        let mut older = Vec::new();
        for k in &self.keys {
            let key = MasterKey::from_base64(k.id, &SecretString::from(k.key.clone()))
                .with_context(|| format!("key {} in the keyring is not valid", k.id))?;
            if k.id == self.current {
                current = Some(key);
            } else {
                older.push(key);
            }
        }
        let current = current.context("the keyring's current key is missing")?;
        Ok((current, older))
    }

    pub fn current(&self) -> u32 {
        self.current
    }

    pub fn ids(&self) -> Vec<u32> {
        self.keys.iter().map(|k| k.id).collect()
    }

    fn save(&self, data_dir: &Path) -> anyhow::Result<()> {
        let json = serde_json::to_string_pretty(self)?;
        let target = path(data_dir);
        let tmp = data_dir.join("keyring.json.tmp");
        let _ = std::fs::remove_file(&tmp);
        crate::files::write_private(&tmp, &json)?;
        std::fs::rename(&tmp, &target)
            .with_context(|| format!("cannot write {}", target.display()))?;
        Ok(())
    }

    fn load(data_dir: &Path) -> anyhow::Result<Option<Self>> {
        let p = path(data_dir);
        if !p.exists() {
            return Ok(None);
        }
        let text =
            std::fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))?;
        Ok(Some(serde_json::from_str(&text).with_context(|| {
            format!("{} is not a keyring", p.display())
        })?))
    }

    /// The keyring of the data folder, made on first use (taking over an older
    /// `master.key` file as key 1).
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<Self> {
        if let Some(ring) = Self::load(data_dir)? {
            return Ok(ring);
        }
        let legacy = data_dir.join("master.key");
        let key = if legacy.exists() {
            std::fs::read_to_string(&legacy)?.trim().to_owned()
        } else {
            tracing::warn!(path = %path(data_dir).display(), "created a master key in the data folder; in production pass KAPI__SECURITY__MASTER_KEY");
            MasterKey::generate_base64().expose_secret().to_owned()
        };
        let ring = Self {
            current: 1,
            keys: vec![KeyEntry {
                id: 1,
                key,
                created_at: now(),
            }],
        };
        ring.save(data_dir)?;
        Ok(ring)
    }
}

/// Adds a new current key; the old ones keep decrypting. Returns the new key's id.
pub fn rotate(data_dir: &Path) -> anyhow::Result<u32> {
    let mut ring = Keyring::load_or_create(data_dir)?;
    let id = ring.keys.iter().map(|k| k.id).max().unwrap_or(0) + 1;
    ring.keys.push(KeyEntry {
        id,
        key: MasterKey::generate_base64().expose_secret().to_owned(),
        created_at: now(),
    });
    ring.current = id;
    ring.save(data_dir)?;
    Ok(id)
}

/// Removes an old key. The caller checks first that nothing is encrypted with it.
pub fn retire(data_dir: &Path, id: u32) -> anyhow::Result<()> {
    let mut ring = Keyring::load(data_dir)?.context("this data folder has no keyring")?;
    anyhow::ensure!(id != ring.current, "key {id} is the current key");
    let before = ring.keys.len();
    ring.keys.retain(|k| k.id != id);
    anyhow::ensure!(ring.keys.len() < before, "there is no key {id}");
    ring.save(data_dir)
}

/// Where the master keys come from.
pub enum Source {
    Config,
    File(PathBuf),
}

/// The keys to start with, and where they come from.
pub fn initial_keys(settings: &Settings) -> anyhow::Result<(MasterKey, Vec<MasterKey>, Source)> {
    let dir = &settings.server.data_dir;
    match &settings.security.master_key {
        Some(key) => {
            let current = MasterKey::from_base64(settings.security.master_key_id, key)
                .context("security.master_key is not valid (base64 of 32 bytes)")?;
            let mut older = Vec::new();
            for entry in &settings.security.previous_master_keys {
                let text = entry.expose_secret();
                let (id, b64) = text
                    .split_once(':')
                    .context("security.previous_master_keys entries are ID:BASE64")?;
                let id: u32 = id
                    .trim()
                    .parse()
                    .context("a previous master key id is not a number")?;
                anyhow::ensure!(
                    id != current.id,
                    "previous master key {id} has the current key's id"
                );
                older.push(
                    MasterKey::from_base64(id, &SecretString::from(b64.trim().to_owned()))
                        .with_context(|| format!("previous master key {id} is not valid"))?,
                );
            }
            Ok((current, older, Source::Config))
        }
        None => {
            let ring = Keyring::load_or_create(dir)?;
            let (current, older) = ring.keys()?;
            Ok((current, older, Source::File(path(dir))))
        }
    }
}
