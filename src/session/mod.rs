//! Sessions: tokens in the OS keyring, public facts about them in a small state file, and a
//! single-flight refresh across processes.
//!
//! Layout, per profile:
//! - keyring entries `cosmoscope` / `<profile>:<kind>:<id>` for the access, refresh and ID tokens
//!   (`<id>` ties them to the issuer and client, so two configs never read each other's tokens);
//! - `$XDG_STATE_HOME/cosmoscope/sessions/<profile>.json` (0600): subject, roles, verified claims,
//!   expiries, which store holds the secrets — never a token. `status` reads only this file.
//! - `$XDG_STATE_HOME/cosmoscope/locks/<profile>.lock`: held while refreshing, so a rotated refresh
//!   token is never spent twice.

pub mod lock;
pub mod manager;
pub mod store;

use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::identity::Claims;
use crate::settings::{Profile, StoreKind};
pub use manager::{SessionError, Sessions};
pub use store::{Keyring, SecretStore, StoreError};

/// Refresh this long before the access token expires.
pub const REFRESH_MARGIN_SECS: u64 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Access,
    Refresh,
    Id,
}

impl TokenKind {
    fn as_str(self) -> &'static str {
        match self {
            TokenKind::Access => "access",
            TokenKind::Refresh => "refresh",
            TokenKind::Id => "id",
        }
    }
}

/// What is known about a session without reading a secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionInfo {
    pub profile: String,
    pub issuer: String,
    pub client_id: String,
    pub subject: String,
    pub roles: Vec<String>,
    /// Verified claims of the ID token and (when a JWT) the access token, merged.
    pub claims: Claims,
    /// Unix seconds.
    pub expires_at: u64,
    pub refreshable: bool,
    /// The resolved store holding the secrets (never `auto`).
    pub store: StoreKind,
    pub logged_in_at: u64,
    pub refreshed_at: Option<u64>,
    /// Counts refreshes, so a process can tell that another refreshed while it waited.
    #[serde(default)]
    pub refresh_seq: u64,
    /// How the session was obtained: `device_code`, `client_credentials`, …
    pub method: String,
    /// The refresh token in the keyring is sealed to a security key (renewing needs a touch).
    #[serde(default)]
    pub sealed: bool,
    /// Unix seconds of the last verified security-key touch (step-up for `require_fido2` grants).
    #[serde(default)]
    pub fido2_at: Option<u64>,
}

impl SessionInfo {
    #[must_use]
    pub fn belongs_to(&self, profile: &Profile) -> bool {
        self.issuer == profile.issuer && self.client_id == profile.client_id
    }

    #[must_use]
    pub fn is_fresh(&self, now: u64, min_ttl: u64) -> bool {
        self.expires_at > now.saturating_add(min_ttl.max(REFRESH_MARGIN_SECS))
    }
}

/// Where a profile's session lives.
pub struct SessionPaths {
    pub info: PathBuf,
    pub lock: PathBuf,
    /// The provider's JWKS, cached (public keys only).
    pub jwks: PathBuf,
    entry_id: String,
    profile: String,
}

impl SessionPaths {
    #[must_use]
    pub fn new(state_dir: &Path, profile: &Profile) -> Self {
        Self::for_identity(
            state_dir,
            &profile.name,
            &profile.issuer,
            &profile.client_id,
        )
    }

    /// The paths of a session made for `issuer`/`client_id` (which a changed profile may no longer name).
    #[must_use]
    pub fn for_identity(state_dir: &Path, profile: &str, issuer: &str, client_id: &str) -> Self {
        let digest = Sha256::digest(format!("{issuer}\n{client_id}").as_bytes());
        let entry_id = crate::fsutil::hex(&digest[..8]);
        Self {
            info: state_dir.join("sessions").join(format!("{profile}.json")),
            lock: state_dir.join("locks").join(format!("{profile}.lock")),
            jwks: state_dir.join("jwks").join(format!("{entry_id}.json")),
            entry_id,
            profile: profile.to_string(),
        }
    }

    #[must_use]
    pub fn entry(&self, kind: TokenKind) -> String {
        format!("{}:{}:{}", self.profile, kind.as_str(), self.entry_id)
    }

    /// Reads the session file; `Ok(None)` when there is none.
    pub fn read_info(&self) -> std::io::Result<Option<SessionInfo>> {
        match std::fs::read(&self.info) {
            Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn write_info(&self, info: &SessionInfo) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(info).map_err(std::io::Error::other)?;
        crate::fsutil::write_private_atomic(&self.info, &bytes)
    }

    pub fn remove_info(&self) -> std::io::Result<bool> {
        match std::fs::remove_file(&self.info) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// The secrets of a session, as stored.
pub struct Secrets {
    pub access: SecretString,
    pub refresh: Option<SecretString>,
    pub id: Option<SecretString>,
}

impl Secrets {
    /// Writes every token (one entry each: keyutils quotas are per key and small), deleting a stale
    /// refresh or ID token that the new set no longer has.
    pub fn save(&self, store: &SecretStore, paths: &SessionPaths) -> Result<(), StoreError> {
        store.set(&paths.entry(TokenKind::Access), &self.access)?;
        for (kind, value) in [
            (TokenKind::Refresh, &self.refresh),
            (TokenKind::Id, &self.id),
        ] {
            match value {
                Some(v) => store.set(&paths.entry(kind), v)?,
                None => {
                    store.delete(&paths.entry(kind))?;
                }
            }
        }
        Ok(())
    }

    /// Deletes every entry of the session; returns how many existed.
    pub fn delete(store: &SecretStore, paths: &SessionPaths) -> Result<usize, StoreError> {
        let mut n = 0;
        for kind in [TokenKind::Access, TokenKind::Refresh, TokenKind::Id] {
            n += usize::from(store.delete(&paths.entry(kind))?);
        }
        Ok(n)
    }
}
