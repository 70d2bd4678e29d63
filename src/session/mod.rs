//! Sessions: tokens in the OS keyring, public facts about them in a small state file, and a
//! single-flight refresh across processes.
//!
//! Layout, per profile:
//! - one keyring entry `cosmoscope` / `<profile>:session:<id>` with the access, refresh and ID
//!   tokens and the last security-key touch ([`Secrets`]; `<id>` ties it to the issuer and client,
//!   so two configs never read each other's tokens);
//! - `$XDG_STATE_HOME/cosmoscope/sessions/<profile>.json` (0600): what `status` displays (subject,
//!   roles, expiry, which store holds the secrets) — never a token, and never trusted: every
//!   decision uses the claims of the stored tokens, verified again with the provider's keys.
//! - `$XDG_STATE_HOME/cosmoscope/locks/<profile>.lock`: held while refreshing, so a rotated refresh
//!   token is never spent twice.

pub mod cache;
pub mod lock;
pub mod manager;
pub mod store;

use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
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
    /// What `status` shows beside the subject (email, preferred username or name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Verified claims of the ID token and (when ours to verify) the access token, merged. Never
    /// written to or read from the session file: filled by verifying the stored tokens.
    #[serde(skip)]
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
    /// Unix seconds of the last verified security-key touch (step-up for `require_fido2` grants),
    /// from the keyring entry; never written to or read from the session file.
    #[serde(skip)]
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

    /// The keyring entry holding every secret of the session ([`Secrets`]).
    #[must_use]
    pub fn session_entry(&self) -> String {
        format!("{}:session:{}", self.profile, self.entry_id)
    }

    /// An entry of the earlier layout (one per token), deleted on logout so nothing is left.
    #[must_use]
    pub fn entry(&self, kind: TokenKind) -> String {
        format!("{}:{}:{}", self.profile, kind.as_str(), self.entry_id)
    }

    /// Reads the session file; `Ok(None)` when there is none.
    pub fn read_info(&self) -> std::io::Result<Option<SessionInfo>> {
        if let Some(dir) = self.info.parent()
            && dir.exists()
        {
            crate::fsutil::check_private_dir(dir)?;
        }
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

/// The secrets of a session, as stored: one keyring entry `<profile>:session:<id>` holding every
/// token and the time of the last verified security-key touch. One entry means one keyring read per
/// command, one key of the kernel's per-user quota, and nothing superseded left behind; the touch
/// time lives here, not in the session file, so an edit of a plain file cannot fake a step-up.
pub struct Secrets {
    pub access: SecretString,
    pub refresh: Option<SecretString>,
    pub id: Option<SecretString>,
    /// Unix seconds of the last verified security-key touch (`require_fido2` grants).
    pub fido2_at: Option<u64>,
}

/// The stored form: short keys, nothing but what later commands need.
#[derive(Serialize)]
struct StoredRef<'a> {
    v: u8,
    a: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    r: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    i: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    f: Option<u64>,
}

#[derive(Deserialize)]
struct Stored {
    v: u8,
    a: String,
    r: Option<String>,
    i: Option<String>,
    f: Option<u64>,
}

const STORED_VERSION: u8 = 1;

impl Secrets {
    /// Reads the session's entry; `Ok(None)` when there is none (or one this build cannot read).
    pub fn load(store: &SecretStore, paths: &SessionPaths) -> Result<Option<Secrets>, StoreError> {
        let Some(raw) = store.get(&paths.session_entry())? else {
            return Ok(None);
        };
        Ok(Self::decode(raw.expose_secret()))
    }

    /// The stored form read back; `None` for anything this build did not write.
    #[must_use]
    pub fn decode(text: &str) -> Option<Secrets> {
        let stored = serde_json::from_str::<Stored>(text).ok()?;
        if stored.v != STORED_VERSION || stored.a.is_empty() {
            return None;
        }
        Some(Secrets {
            access: SecretString::from(stored.a),
            refresh: stored.r.map(SecretString::from),
            id: stored.i.map(SecretString::from),
            fido2_at: stored.f,
        })
    }

    /// The stored form: one short JSON object.
    #[must_use]
    pub fn encode(&self) -> SecretString {
        let stored = StoredRef {
            v: STORED_VERSION,
            a: self.access.expose_secret(),
            r: self.refresh.as_ref().map(ExposeSecret::expose_secret),
            i: self.id.as_ref().map(ExposeSecret::expose_secret),
            f: self.fido2_at,
        };
        // Strings and a number always serialise.
        SecretString::from(serde_json::to_string(&stored).unwrap_or_default())
    }

    /// Writes the session's one entry (replacing the previous one in place).
    pub fn save(&self, store: &SecretStore, paths: &SessionPaths) -> Result<(), StoreError> {
        cache::forget(paths);
        store.set(&paths.session_entry(), &self.encode())
    }

    /// Deletes the session's entry, and the three entries of the layout before it; returns how
    /// many existed.
    pub fn delete(store: &SecretStore, paths: &SessionPaths) -> Result<usize, StoreError> {
        cache::forget(paths);
        let mut n = usize::from(store.delete(&paths.session_entry())?);
        for kind in [TokenKind::Access, TokenKind::Refresh, TokenKind::Id] {
            n += usize::from(store.delete(&paths.entry(kind))?);
        }
        Ok(n)
    }
}
