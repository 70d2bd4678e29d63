//! The short-lived half of a session kept in the kernel session keyring, for stores that are slow
//! to open (the Secret Service: a D-Bus connection and a key exchange per process, ~10 ms): the
//! access and ID tokens, never the refresh token and never a security-key touch time, in one key
//! whose timeout is the tokens' verified expiry. `token`, the credential helper, then answers
//! without the Secret Service (README, "Trust model": what this changes).
//!
//! A copy is bound to the session it was taken from — its session file (by path), the login
//! (`logged_in_at`) and the refresh (`refresh_seq`) — and is ignored when the session file says
//! otherwise: another terminal's logout, new login or refresh makes every other keyring's copy
//! stale at once. Writes in this keyring forget the copy (`Secrets::save`/`delete`). What is read
//! is verified again like the stored tokens; the cache grants nothing by itself. Sessions with a
//! security-key touch on record are not copied (the touch time must come from the store).

use secrecy::ExposeSecret as _;
use serde::{Deserialize, Serialize};

use super::{Secrets, SessionInfo, SessionPaths};

/// What the copy is bound to.
#[derive(Serialize, Deserialize, PartialEq, Eq)]
struct Binding {
    l: u64,
    q: u64,
}

#[derive(Serialize, Deserialize)]
struct Copy {
    b: Binding,
    s: String,
}

fn binding(info: &SessionInfo) -> Binding {
    Binding {
        l: info.logged_in_at,
        q: info.refresh_seq,
    }
}

/// One key per user, session file and session entry.
fn description(paths: &SessionPaths) -> String {
    use sha2::Digest as _;
    let file = sha2::Sha256::digest(paths.info.to_string_lossy().as_bytes());
    #[cfg(unix)]
    let uid = rustix::process::getuid().as_raw();
    #[cfg(not(unix))]
    let uid = 0;
    let mut name = format!("cosmoscope-cache:{uid}:");
    for b in file.iter().take(8) {
        use std::fmt::Write as _;
        let _ = write!(name, "{b:02x}");
    }
    name.push(':');
    name.push_str(&paths.session_entry());
    name
}

#[cfg(target_os = "linux")]
fn ring() -> Option<linux_keyutils::KeyRing> {
    linux_keyutils::KeyRing::from_special_id(linux_keyutils::KeyRingIdentifier::Session, false).ok()
}

/// The cached tokens of the session `info` describes, if a copy of exactly that session is there.
#[must_use]
pub fn get(paths: &SessionPaths, info: &SessionInfo) -> Option<Secrets> {
    #[cfg(target_os = "linux")]
    {
        let key = ring()?.search(&description(paths)).ok()?;
        let bytes = zeroize::Zeroizing::new(key.read_to_vec().ok()?);
        let copy: Copy = serde_json::from_slice(&bytes).ok()?;
        if copy.b != binding(info) {
            let _ = key.invalidate();
            return None;
        }
        Secrets::decode(&zeroize::Zeroizing::new(copy.s))
            .filter(|s| s.refresh.is_none() && s.fido2_at.is_none())
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (paths, info);
        None
    }
}

/// Keeps a copy of `secrets` (without the refresh token) for the session `info` describes until
/// `expires_at` (unix seconds); nothing for a session with a security-key touch on record.
pub fn put(paths: &SessionPaths, info: &SessionInfo, secrets: &Secrets, expires_at: u64) {
    #[cfg(target_os = "linux")]
    {
        let ttl = expires_at.saturating_sub(crate::clock::now_unix());
        let Ok(ttl) = usize::try_from(ttl) else {
            return;
        };
        if ttl == 0 || secrets.fido2_at.is_some() {
            return;
        }
        let tokens = Secrets {
            access: secrets.access.clone(),
            refresh: None,
            id: secrets.id.clone(),
            fido2_at: None,
        };
        let copy = zeroize::Zeroizing::new(
            serde_json::to_string(&Copy {
                b: binding(info),
                s: tokens.encode().expose_secret().to_string(),
            })
            .unwrap_or_default(),
        );
        let Some(ring) = ring() else { return };
        if let Ok(key) = ring.add_key(&description(paths), copy.as_bytes()) {
            // No timeout, no copy: a key that would outlive the tokens is removed at once.
            if key.set_timeout(ttl).is_err() {
                let _ = key.invalidate();
                return;
            }
            // The session may have changed while the copy was taken (a refresh elsewhere): then
            // the copy describes the past and goes.
            if paths
                .read_info()
                .ok()
                .flatten()
                .is_none_or(|now| binding(&now) != binding(info))
            {
                let _ = key.invalidate();
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (paths, info, secrets, expires_at);
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
