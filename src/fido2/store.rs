//! The keys enrolled for a profile: public data only, in the config directory beside
//! `config.toml` (`fido2/<profile>.json`, 0600 like every file that names a user).
//!
//! Per profile: the relying party, the hmac-secret salt (random, one per profile: the salt is not
//! secret — the key's own per-credential secret is what makes the output secret), and per credential
//! its id, COSE public key, algorithm, signature counter, label and creation time.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::device::Algorithm;
use super::verify::PublicKey;

#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a valid key list: {detail}", path.display())]
    Invalid { path: PathBuf, detail: String },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One enrolled credential.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct EnrolledCredential {
    /// The credential id, base64url.
    pub credential_id: String,
    pub label: String,
    pub algorithm: Algorithm,
    /// The COSE_Key, base64url.
    pub public_key: String,
    pub sign_count: u32,
    pub rp_id: String,
    /// The authenticator model (hex AAGUID).
    pub aaguid: String,
    /// The person was verified (PIN or built-in) at enrollment.
    pub user_verified: bool,
    /// `packed (self)`, `packed (x5c)` or `none`.
    pub attestation: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339 of the last verified assertion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<String>,
}

impl EnrolledCredential {
    pub fn id_bytes(&self) -> Result<Vec<u8>, String> {
        B64.decode(&self.credential_id)
            .map_err(|e| format!("credential id: {e}"))
    }
    pub fn public_key(&self) -> Result<PublicKey, String> {
        let bytes = B64
            .decode(&self.public_key)
            .map_err(|e| format!("public key: {e}"))?;
        PublicKey::from_cose_bytes(&bytes).map_err(|e| e.to_string())
    }
    /// A short, stable handle for `key list` / `key remove`: 8 hex digits of SHA-256(credential id).
    #[must_use]
    pub fn short_id(&self) -> String {
        let id = self.id_bytes().unwrap_or_default();
        crate::fsutil::hex(&Sha256::digest(&id)[..4])
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysFile {
    pub version: u32,
    pub profile: String,
    pub rp_id: String,
    /// The hmac-secret salt (32 bytes, base64url).
    pub salt: String,
    pub credentials: Vec<EnrolledCredential>,
}

/// A profile's key list, loaded (or new) with where it lives.
#[derive(Debug, Clone)]
pub struct KeyStore {
    pub path: PathBuf,
    pub file: KeysFile,
}

impl KeyStore {
    /// `<config dir>/fido2/<profile>.json`.
    #[must_use]
    pub fn path_for(config_dir: &Path, profile: &str) -> PathBuf {
        config_dir.join("fido2").join(format!("{profile}.json"))
    }

    /// Loads the list; a missing file is an empty list with a fresh salt (written on first save).
    pub fn load(path: &Path, profile: &str, rp_id: &str) -> Result<Self, KeyStoreError> {
        match std::fs::read(path) {
            Ok(bytes) => {
                let file: KeysFile =
                    serde_json::from_slice(&bytes).map_err(|e| KeyStoreError::Invalid {
                        path: path.to_path_buf(),
                        detail: e.to_string(),
                    })?;
                let salt_ok = B64.decode(&file.salt).is_ok_and(|s| s.len() == 32);
                if !salt_ok {
                    return Err(KeyStoreError::Invalid {
                        path: path.to_path_buf(),
                        detail: "salt is not 32 bytes of base64url".into(),
                    });
                }
                Ok(Self {
                    path: path.to_path_buf(),
                    file,
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut salt = [0u8; 32];
                OsRng.fill_bytes(&mut salt);
                Ok(Self {
                    path: path.to_path_buf(),
                    file: KeysFile {
                        version: 1,
                        profile: profile.to_string(),
                        rp_id: rp_id.to_string(),
                        salt: B64.encode(salt),
                        credentials: Vec::new(),
                    },
                })
            }
            Err(source) => Err(KeyStoreError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    pub fn save(&self) -> Result<(), KeyStoreError> {
        let write_err = |source| KeyStoreError::Write {
            path: self.path.clone(),
            source,
        };
        let bytes = serde_json::to_vec_pretty(&self.file)
            .map_err(|e| write_err(std::io::Error::other(e)))?;
        crate::fsutil::write_private_atomic(&self.path, &bytes).map_err(write_err)
    }

    #[must_use]
    pub fn salt(&self) -> [u8; 32] {
        let mut salt = [0u8; 32];
        if let Ok(s) = B64.decode(&self.file.salt)
            && s.len() == 32
        {
            salt.copy_from_slice(&s);
        }
        salt
    }

    /// Every credential id, decoded (the allow list of an assertion).
    #[must_use]
    pub fn credential_ids(&self) -> Vec<Vec<u8>> {
        self.file
            .credentials
            .iter()
            .filter_map(|c| c.id_bytes().ok())
            .collect()
    }

    #[must_use]
    pub fn find_by_id(&self, id: &[u8]) -> Option<usize> {
        let wanted = B64.encode(id);
        self.file
            .credentials
            .iter()
            .position(|c| c.credential_id == wanted)
    }

    /// Finds credentials by label (exact), short id (prefix of at least 4) or full credential id.
    #[must_use]
    pub fn find(&self, id_or_label: &str) -> Vec<usize> {
        let by_label: Vec<usize> = self
            .file
            .credentials
            .iter()
            .enumerate()
            .filter(|(_, c)| c.label == id_or_label)
            .map(|(i, _)| i)
            .collect();
        if !by_label.is_empty() {
            return by_label;
        }
        let needle = id_or_label.to_ascii_lowercase();
        self.file
            .credentials
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                c.credential_id == id_or_label
                    || (needle.len() >= 4 && c.short_id().starts_with(&needle))
            })
            .map(|(i, _)| i)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_store_has_a_salt_and_round_trips() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = KeyStore::path_for(dir.path(), "dev");
        let mut store = KeyStore::load(&path, "dev", "cosmoscope").expect("new");
        assert_ne!(store.salt(), [0u8; 32]);
        store.file.credentials.push(EnrolledCredential {
            credential_id: B64.encode(b"id-1"),
            label: "blue key".into(),
            algorithm: Algorithm::Es256,
            public_key: String::new(),
            sign_count: 3,
            rp_id: "cosmoscope".into(),
            aaguid: String::new(),
            user_verified: false,
            attestation: "none".into(),
            created_at: "2025-01-01T00:00:00Z".into(),
            last_used_at: None,
        });
        store.save().expect("save");
        let again = KeyStore::load(&path, "dev", "cosmoscope").expect("load");
        assert_eq!(again.file.credentials, store.file.credentials);
        assert_eq!(again.salt(), store.salt());
        assert_eq!(again.find("blue key"), vec![0]);
        let short = again.file.credentials[0].short_id();
        assert_eq!(again.find(&short[..4]), vec![0]);
        assert!(
            again.find("abc").is_empty(),
            "too short a prefix matches nothing"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
