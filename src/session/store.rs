//! The OS keyring, through `keyring-core` and one store crate per platform, chosen explicitly so
//! that `store = …` in a profile means what it says (docs/testing.md: the `keyring` crate's default store
//! hides the real cause when none is reachable).

use std::sync::Arc;

use keyring_core::{CredentialStore, Entry};
use secrecy::{ExposeSecret, SecretString};

use crate::settings::StoreKind;

const SERVICE: &str = "cosmoscope";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no OS keyring is available{}", if tried.is_empty() { String::new() } else { format!(" (tried: {tried})") })]
    Unavailable { tried: String },
    #[error("the {store} store is not supported on this platform")]
    Unsupported { store: &'static str },
    #[error("the {store} store is locked and cannot ask to be unlocked here ({detail})")]
    Locked { store: &'static str, detail: String },
    #[error("the {store} store failed: {detail}")]
    Failed { store: &'static str, detail: String },
    #[error(
        "the {store} store is full: the kernel's key quota for your user is used up (QuotaExceeded)"
    )]
    QuotaExceeded { store: &'static str },
}

/// Where secret stores come from. The composition root (`App`) holds one and every command and the
/// session manager open stores through it: the OS keyring in the shipped binary, one in-memory
/// store (keyring-core's mock) in unit tests, so the session manager and commands are tested
/// without a D-Bus or a kernel keyring. The real stores keep their own integration tests.
#[derive(Clone, Default)]
pub enum Keyring {
    /// The platform's stores, as `store = …` in the profile names them.
    #[default]
    Os,
    /// One store in memory for every kind (unit tests).
    #[cfg(test)]
    Memory(Arc<CredentialStore>),
}

impl Keyring {
    /// A fresh, empty in-memory keyring.
    #[cfg(test)]
    #[must_use]
    pub fn memory() -> Self {
        let store: Arc<CredentialStore> =
            keyring_core::mock::Store::new().expect("the mock store builds");
        Keyring::Memory(store)
    }

    /// The platform's stores (not a unit test's memory).
    #[must_use]
    pub fn is_os(&self) -> bool {
        matches!(self, Keyring::Os)
    }

    /// Opens the store `kind` names; `Auto` picks the platform's first reachable one.
    pub fn open(&self, kind: StoreKind) -> Result<SecretStore, StoreError> {
        match self {
            Keyring::Os => SecretStore::open(kind),
            #[cfg(test)]
            Keyring::Memory(store) => Ok(SecretStore {
                kind: if kind == StoreKind::Auto {
                    StoreKind::Keyutils
                } else {
                    kind
                },
                inner: store.clone(),
            }),
        }
    }
}

/// A reachable secret store.
pub struct SecretStore {
    kind: StoreKind,
    inner: Arc<CredentialStore>,
}

impl SecretStore {
    /// Opens the OS store `kind` names; `Auto` picks the platform's first reachable one.
    fn open(kind: StoreKind) -> Result<Self, StoreError> {
        match kind {
            StoreKind::Auto => Self::open_auto(),
            other => open_kind(other).map(|inner| Self { kind: other, inner }),
        }
    }

    fn open_auto() -> Result<Self, StoreError> {
        let candidates: &[StoreKind] = if cfg!(target_os = "linux") {
            &[StoreKind::SecretService, StoreKind::Keyutils]
        } else if cfg!(target_os = "macos") {
            &[StoreKind::MacosKeychain]
        } else if cfg!(target_os = "windows") {
            &[StoreKind::WindowsCredential]
        } else {
            &[]
        };
        let mut tried = Vec::new();
        for &kind in candidates {
            match open_kind(kind) {
                Ok(inner) => return Ok(Self { kind, inner }),
                Err(e) => tried.push(format!("{}: {e}", kind.as_str())),
            }
        }
        Err(StoreError::Unavailable {
            tried: tried.join("; "),
        })
    }

    #[must_use]
    pub fn kind(&self) -> StoreKind {
        self.kind
    }

    fn entry(&self, user: &str) -> Result<Entry, StoreError> {
        self.inner
            .build(SERVICE, user, None)
            .map_err(|e| self.failed(&e))
    }

    fn failed(&self, e: &keyring_core::Error) -> StoreError {
        let (store, detail) = (self.kind.as_str(), describe(e));
        if is_quota_exceeded(e) {
            return StoreError::QuotaExceeded { store };
        }
        if is_locked(e) {
            StoreError::Locked { store, detail }
        } else {
            StoreError::Failed { store, detail }
        }
    }

    pub fn get(&self, user: &str) -> Result<Option<SecretString>, StoreError> {
        match self.entry(user)?.get_password() {
            Ok(s) => Ok(Some(SecretString::from(s))),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(self.failed(&e)),
        }
    }

    pub fn set(&self, user: &str, secret: &SecretString) -> Result<(), StoreError> {
        self.entry(user)?
            .set_password(secret.expose_secret())
            .map_err(|e| self.failed(&e))
    }

    /// Deletes an entry; `Ok(false)` when there was none.
    pub fn delete(&self, user: &str) -> Result<bool, StoreError> {
        match self.entry(user)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring_core::Error::NoEntry) => Ok(false),
            Err(e) => Err(self.failed(&e)),
        }
    }
}

/// keyring-core's errors can carry platform detail; keep it, but never a secret (they hold none:
/// `BadEncoding` holds bytes of a stored value, so it is named, not printed).
fn describe(e: &keyring_core::Error) -> String {
    match e {
        keyring_core::Error::BadEncoding(_) => "a stored value is not valid UTF-8".to_string(),
        keyring_core::Error::BadDataFormat(_, inner) => {
            format!("a stored value has a bad format: {inner}")
        }
        other => other.to_string(),
    }
}

/// A locked Secret Service collection answers with an unlock prompt; with no prompter (a terminal,
/// CI, a locked screen) the `secret-service` crate reports it dismissed or the object locked.
/// keyring-core boxes that error, so its two fixed texts are what there is to match.
fn is_locked(e: &keyring_core::Error) -> bool {
    match e {
        keyring_core::Error::NoStorageAccess(inner) => {
            let text = inner.to_string();
            text.contains("prompt dismissed") || text.contains("object locked")
        }
        _ => false,
    }
}

/// The kernel refused a key because the user's key quota (`/proc/sys/kernel/keys/maxkeys`,
/// `maxbytes`) is used up.
fn is_quota_exceeded(e: &keyring_core::Error) -> bool {
    #[cfg(target_os = "linux")]
    if let keyring_core::Error::PlatformFailure(inner) = e {
        return matches!(
            inner.downcast_ref::<linux_keyutils::KeyError>(),
            Some(linux_keyutils::KeyError::QuotaExceeded)
        );
    }
    let _ = e;
    false
}

#[allow(clippy::unnecessary_wraps)] // the non-Linux arms are fallible too
fn open_kind(kind: StoreKind) -> Result<Arc<CredentialStore>, StoreError> {
    let unsupported = || StoreError::Unsupported {
        store: kind.as_str(),
    };
    let failed = |e: keyring_core::Error| StoreError::Failed {
        store: kind.as_str(),
        detail: describe(&e),
    };
    match kind {
        StoreKind::Auto => Err(unsupported()),
        #[cfg(target_os = "linux")]
        StoreKind::SecretService => {
            let store: Arc<CredentialStore> =
                zbus_secret_service_keyring_store::Store::new().map_err(failed)?;
            Ok(store)
        }
        #[cfg(target_os = "linux")]
        StoreKind::Keyutils => {
            // Building an entry needs the session keyring; fail here, before any write, if absent.
            let store: Arc<CredentialStore> =
                linux_keyutils_keyring_store::Store::new().map_err(failed)?;
            store.build(SERVICE, "probe", None).map_err(failed)?;
            Ok(store)
        }
        #[cfg(target_os = "macos")]
        StoreKind::MacosKeychain => {
            let store: Arc<CredentialStore> =
                apple_native_keyring_store::keychain::Store::new().map_err(failed)?;
            Ok(store)
        }
        #[cfg(target_os = "windows")]
        StoreKind::WindowsCredential => {
            let store: Arc<CredentialStore> =
                windows_native_keyring_store::Store::new().map_err(failed)?;
            Ok(store)
        }
        #[allow(unreachable_patterns)]
        _ => {
            let _ = failed;
            Err(unsupported())
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// Issue 13: the kernel's QuotaExceeded is its own error, not "Platform failure".
    #[test]
    fn a_full_kernel_key_quota_is_named() {
        let store = Keyring::memory().open(StoreKind::Keyutils).expect("store");
        let quota =
            keyring_core::Error::PlatformFailure(Box::new(linux_keyutils::KeyError::QuotaExceeded));
        assert!(matches!(
            store.failed(&quota),
            StoreError::QuotaExceeded { store: "keyutils" }
        ));
        let other =
            keyring_core::Error::PlatformFailure(Box::new(linux_keyutils::KeyError::BadAddress));
        assert!(matches!(store.failed(&other), StoreError::Failed { .. }));
    }
}
