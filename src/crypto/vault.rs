//! AES-256-GCM encryption at rest under the master key, and keys derived from it.
//!
//! Ciphertext layout: `[1][key id: u32 BE][nonce: 12][ciphertext+tag]`. The key id lets a
//! later key rotation decrypt old rows while writing new ones with a new key.

use std::{collections::HashMap, fmt, sync::Arc};

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
    id: u32,
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

/// Encrypts with the current key, decrypts with any known key.
#[derive(Clone)]
pub struct Vault {
    current: u32,
    keys: Arc<HashMap<u32, Aes256Gcm>>,
    derive_root: Arc<SecretBox<[u8; 32]>>,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Vault(current key id={})", self.current)
    }
}

impl Vault {
    pub fn new(current: MasterKey) -> Self {
        let mut keys = HashMap::new();
        let id = current.id;
        keys.insert(id, Aes256Gcm::new(current.bytes.expose_secret().into()));
        Self {
            current: id,
            keys: Arc::new(keys),
            derive_root: Arc::new(current.bytes),
        }
    }

    /// `aad` binds the ciphertext to its owner (a payment or merchant id): a blob copied to
    /// another row does not decrypt.
    pub fn encrypt(&self, plaintext: &[u8], aad: &str) -> Result<Vec<u8>, VaultError> {
        let cipher = self
            .keys
            .get(&self.current)
            .ok_or(VaultError::UnknownKey(self.current))?;
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
        out.extend_from_slice(&self.current.to_be_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    pub fn decrypt(
        &self,
        blob: &[u8],
        aad: &str,
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, VaultError> {
        if blob.len() < HEADER + 16 || blob[0] != VERSION {
            return Err(VaultError::Malformed);
        }
        let key_id = u32::from_be_bytes([blob[1], blob[2], blob[3], blob[4]]);
        let cipher = self
            .keys
            .get(&key_id)
            .ok_or(VaultError::UnknownKey(key_id))?;
        let nonce: [u8; 12] = blob[5..HEADER]
            .try_into()
            .map_err(|_| VaultError::Malformed)?;
        cipher
            .decrypt(
                (&nonce).into(),
                Payload {
                    msg: &blob[HEADER..],
                    aad: aad.as_bytes(),
                },
            )
            .map(zeroize::Zeroizing::new)
            .map_err(|_| VaultError::Decrypt)
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
    fn bad_master_keys_are_refused() {
        assert!(MasterKey::from_base64(1, &SecretString::from("c2hvcnQ=".to_owned())).is_err());
        assert!(MasterKey::from_base64(1, &SecretString::from("!!".to_owned())).is_err());
    }
}
