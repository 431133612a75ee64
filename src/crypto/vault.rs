//! AES-256-GCM encryption at rest under the master key, and keys derived from it.
//!
//! Ciphertext layout: `[1][key id: u32 BE][nonce: 12][ciphertext+tag]`. The key id lets a
//! later key rotation decrypt old rows while writing new ones with a new key.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, RwLock},
};

use aes_gcm::{
    Aes256Gcm, KeyInit,
    aead::{Aead, Payload},
};
use base64::Engine;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretBox, SecretString};

const VERSION: u8 = 1;
const HEADER: usize = 1 + 4 + 12;

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("master key must be 32 bytes, base64-encoded")]
    BadKey,
    #[error("ciphertext is malformed")]
    Malformed,
    #[error("no key with id {0}")]
    UnknownKey(u32),
    #[error("decryption failed")]
    Decrypt,
    #[error("encryption failed")]
    Encrypt,
}

pub struct MasterKey {
    pub id: u32,
    bytes: SecretBox<[u8; 32]>,
}

impl MasterKey {
    pub fn from_base64(id: u32, b64: &SecretString) -> Result<Self, VaultError> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64.expose_secret().trim())
            .map_err(|_| VaultError::BadKey)?;
        let bytes: [u8; 32] = raw.as_slice().try_into().map_err(|_| VaultError::BadKey)?;
        Ok(Self {
            id,
            bytes: SecretBox::new(Box::new(bytes)),
        })
    }

    pub fn generate_base64() -> SecretString {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        SecretString::from(base64::engine::general_purpose::STANDARD.encode(bytes))
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey(id={}, ***)", self.id)
    }
}

struct Keys {
    current: u32,
    ciphers: HashMap<u32, Aes256Gcm>,
}

/// Encrypts with the current key, decrypts with any known key. The key set can be replaced
/// while running (a key rotation); the derivation root stays the one the process started
/// with, so keys derived from it (MAC keys, API key lookups) stay stable until a restart.
#[derive(Clone)]
pub struct Vault {
    keys: Arc<RwLock<Keys>>,
    derive_root: Arc<SecretBox<[u8; 32]>>,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Vault(current key id={})", self.current_key_id())
    }
}

impl Vault {
    pub fn new(current: MasterKey) -> Self {
        Self::with_keys(current, Vec::new())
    }

    /// `current` encrypts; `older` only decrypt (until they are retired).
    pub fn with_keys(current: MasterKey, older: Vec<MasterKey>) -> Self {
        let id = current.id;
        let derive_root = Arc::new(SecretBox::new(Box::new(*current.bytes.expose_secret())));
        let vault = Self {
            keys: Arc::new(RwLock::new(Keys {
                current: id,
                ciphers: HashMap::new(),
            })),
            derive_root,
        };
        vault.replace_keys(current, older);
        vault
    }

    /// Installs a new key set, e.g. after `kapi keys rotate`.
    pub fn replace_keys(&self, current: MasterKey, older: Vec<MasterKey>) {
        let mut ciphers = HashMap::new();
        for k in older.iter().chain(std::iter::once(&current)) {
            ciphers.insert(k.id, Aes256Gcm::new(k.bytes.expose_secret().into()));
        }
        if let Ok(mut keys) = self.keys.write() {
            *keys = Keys {
                current: current.id,
                ciphers,
            };
        }
    }

    pub fn current_key_id(&self) -> u32 {
        self.keys.read().map(|k| k.current).unwrap_or(0)
    }

    /// The id of the key a blob was encrypted with.
    pub fn key_id_of(blob: &[u8]) -> Option<u32> {
        match blob {
            [VERSION, a, b, c, d, ..] if blob.len() >= HEADER => {
                Some(u32::from_be_bytes([*a, *b, *c, *d]))
            }
            _ => None,
        }
    }

    /// The header bytes that mark a blob as encrypted with the current key.
    pub fn current_prefix(&self) -> Vec<u8> {
        let mut p = vec![VERSION];
        p.extend_from_slice(&self.current_key_id().to_be_bytes());
        p
    }

    /// `aad` binds the ciphertext to its owner (a payment or merchant id): a blob copied to
    /// another row does not decrypt.
    pub fn encrypt(&self, plaintext: &[u8], aad: &str) -> Result<Vec<u8>, VaultError> {
        let keys = self.keys.read().map_err(|_| VaultError::Encrypt)?;
        let current = keys.current;
        let cipher = keys
            .ciphers
            .get(&current)
            .ok_or(VaultError::UnknownKey(current))?;
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let ct = cipher
            .encrypt(
                (&nonce).into(),
                Payload {
                    msg: plaintext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| VaultError::Encrypt)?;
        let mut out = Vec::with_capacity(HEADER + ct.len());
        out.push(VERSION);
        out.extend_from_slice(&current.to_be_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    pub fn decrypt(
        &self,
        blob: &[u8],
        aad: &str,
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, VaultError> {
        if blob.len() < HEADER + 16 {
            return Err(VaultError::Malformed);
        }
        let key_id = Self::key_id_of(blob).ok_or(VaultError::Malformed)?;
        let keys = self.keys.read().map_err(|_| VaultError::Decrypt)?;
        let cipher = keys
            .ciphers
            .get(&key_id)
            .ok_or(VaultError::UnknownKey(key_id))?;
        let (header, msg) = blob.split_at_checked(HEADER).ok_or(VaultError::Malformed)?;
        let nonce: [u8; 12] = header
            .get(5..)
            .and_then(|n| n.try_into().ok())
            .ok_or(VaultError::Malformed)?;
        cipher
            .decrypt(
                (&nonce).into(),
                Payload {
                    msg,
                    aad: aad.as_bytes(),
                },
            )
            .map(zeroize::Zeroizing::new)
            .map_err(|_| VaultError::Decrypt)
    }

    /// Decrypts with whatever key sealed it and seals again with the current key.
    pub fn reencrypt(&self, blob: &[u8], aad: &str) -> Result<Vec<u8>, VaultError> {
        let plain = self.decrypt(blob, aad)?;
        self.encrypt(&plain, aad)
    }

    /// A purpose-bound subkey (HMAC of the label under the master key), so one secret never
    /// serves two purposes.
    pub fn derive_key(&self, label: &str) -> SecretBox<Vec<u8>> {
        SecretBox::new(Box::new(super::hmac_bytes(
            self.derive_root.expose_secret(),
            format!("kapi/derive/{label}").as_bytes(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vault() -> Vault {
        Vault::new(MasterKey::from_base64(1, &MasterKey::generate_base64()).unwrap())
    }

    #[test]
    fn round_trip_and_binding() {
        let v = vault();
        let blob = v.encrypt(b"4111111111111111", "pay_1").unwrap();
        assert!(!blob.windows(16).any(|w| w == b"4111111111111111"));
        assert_eq!(&v.decrypt(&blob, "pay_1").unwrap()[..], b"4111111111111111");
        assert!(matches!(
            v.decrypt(&blob, "pay_2"),
            Err(VaultError::Decrypt)
        ));
        let mut tampered = blob.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(v.decrypt(&tampered, "pay_1").is_err());
        assert!(v.decrypt(b"short", "pay_1").is_err());
    }

    #[test]
    fn other_key_cannot_decrypt() {
        let blob = vault().encrypt(b"x", "a").unwrap();
        assert!(vault().decrypt(&blob, "a").is_err());
    }

    #[test]
    fn rotation_keeps_old_blobs_readable_and_reencrypts() {
        let k1 = MasterKey::generate_base64();
        let k2 = MasterKey::generate_base64();
        let v = Vault::new(MasterKey::from_base64(1, &k1).unwrap());
        let old = v.encrypt(b"secret", "m").unwrap();
        assert_eq!(Vault::key_id_of(&old), Some(1));
        v.replace_keys(
            MasterKey::from_base64(2, &k2).unwrap(),
            vec![MasterKey::from_base64(1, &k1).unwrap()],
        );
        assert_eq!(&v.decrypt(&old, "m").unwrap()[..], b"secret");
        let new = v.reencrypt(&old, "m").unwrap();
        assert_eq!(Vault::key_id_of(&new), Some(2));
        assert_eq!(v.current_prefix(), vec![1, 0, 0, 0, 2]);
        // Retired: key 1 is gone, its blobs no longer open.
        v.replace_keys(MasterKey::from_base64(2, &k2).unwrap(), vec![]);
        assert!(v.decrypt(&old, "m").is_err());
        assert_eq!(&v.decrypt(&new, "m").unwrap()[..], b"secret");
    }

    #[test]
    fn bad_master_keys_are_refused() {
        assert!(MasterKey::from_base64(1, &SecretString::from("c2hvcnQ=".to_owned())).is_err());
        assert!(MasterKey::from_base64(1, &SecretString::from("!!".to_owned())).is_err());
    }
}
