//! The short-lived half of a session kept in the kernel session keyring, for stores that are slow
//! to open (the Secret Service: a D-Bus connection and a key exchange per process, ~10 ms): the
//! access and ID tokens (and the last touch's time), never the refresh token, in one key whose
//! timeout is the tokens' expiry. `token`, the credential helper, then answers without the Secret
//! Service (README, "Trust model": what this changes).
//!
//! Every write of the session's secrets forgets the copy first (`Secrets::save`/`delete`), so the
//! cache never outlives what it copies; a copy that does not decode is ignored. Everything read
//! from it is verified again like the stored tokens — the cache grants nothing by itself.

use secrecy::ExposeSecret as _;

use super::{Secrets, SessionPaths};

fn description(paths: &SessionPaths) -> String {
    format!("cosmoscope-cache:{}", paths.session_entry())
}

#[cfg(target_os = "linux")]
fn ring() -> Option<linux_keyutils::KeyRing> {
    linux_keyutils::KeyRing::from_special_id(linux_keyutils::KeyRingIdentifier::Session, false).ok()
}

/// The cached tokens, if a copy is there (and still decodes).
#[must_use]
pub fn get(paths: &SessionPaths) -> Option<Secrets> {
    #[cfg(target_os = "linux")]
    {
        let key = ring()?.search(&description(paths)).ok()?;
        let bytes = zeroize::Zeroizing::new(key.read_to_vec().ok()?);
        let text = std::str::from_utf8(&bytes).ok()?;
        Secrets::decode(text).filter(|s| s.refresh.is_none())
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = paths;
        None
    }
}

/// Keeps a copy of `secrets` without the refresh token until `expires_at` (unix seconds).
pub fn put(paths: &SessionPaths, secrets: &Secrets, expires_at: u64) {
    #[cfg(target_os = "linux")]
    {
        let ttl = expires_at.saturating_sub(crate::clock::now_unix());
        let Ok(ttl) = usize::try_from(ttl) else {
            return;
        };
        if ttl == 0 {
            return;
        }
        let copy = Secrets {
            access: secrets.access.clone(),
            refresh: None,
            id: secrets.id.clone(),
            fido2_at: secrets.fido2_at,
        };
        let Some(ring) = ring() else { return };
        let text = copy.encode();
        if let Ok(key) = ring.add_key(&description(paths), text.expose_secret().as_bytes()) {
            // No timeout, no copy: a key that would outlive the tokens is removed at once.
            if key.set_timeout(ttl).is_err() {
                let _ = key.invalidate();
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (paths, secrets, expires_at);
    }
}

/// Drops the copy (the session's secrets are about to change or go).
pub fn forget(paths: &SessionPaths) {
    #[cfg(target_os = "linux")]
    if let Some(key) = ring().and_then(|r| r.search(&description(paths)).ok()) {
        let _ = key.invalidate();
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = paths;
    }
}
