//! FIDO2 security keys for cosmoscope's own relying party (default rp id `cosmoscope`, per profile
//! `fido2_rp_id`): enrolling keys, step-up touches, and sealing secrets to a key.
//!
//! - [`device`]: the [`Authenticator`] trait and the `ctap-hid-fido2` adapter (USB HID).
//! - [`verify`]: our verification of every answer (rp, UP, UV, signature, counter).
//! - [`seal`]: hmac-secret output → HKDF → XChaCha20-Poly1305.
//! - [`store`]: the enrolled credentials, public data in the config directory.
//! - [`ceremony`]: enroll and assert over any authenticator.
//!
//! For integration (login/refresh, query step-up), use [`Fido2Context`] with [`sealing_key`]
//! and [`step_up`]; they open the key off the async
//! runtime, prompt for a PIN on stderr when the key has one, and verify everything.

pub mod ceremony;
pub mod device;
pub mod seal;
pub mod store;
pub mod verify;

use std::path::PathBuf;
use std::sync::Arc;

use secrecy::SecretString;

pub use ceremony::{AssertOptions, Ceremony, PinPrompt};
pub use device::{Algorithm, Authenticator, DeviceError, DeviceSelection, HidAuthenticator};
pub use seal::SealError;
pub use store::{KeyStore, KeyStoreError};
pub use verify::VerifyError;

#[derive(Debug, thiserror::Error)]
pub enum Fido2Error {
    #[error(transparent)]
    Device(#[from] DeviceError),
    #[error("the key's answer failed verification")]
    Verify(#[from] VerifyError),
    #[error(transparent)]
    Seal(#[from] SealError),
    #[error(transparent)]
    Store(#[from] KeyStoreError),
    #[error("the security key {device} does not support the hmac-secret extension")]
    NoHmacSecret { device: String },
    #[error("no security key is enrolled for profile {profile:?}")]
    NotEnrolled { profile: String },
    #[error(
        "the enrolled keys belong to relying party {stored:?}, but the profile now says {configured:?}"
    )]
    RpMismatch { stored: String, configured: String },
    #[error("a key labelled {0:?} is already enrolled")]
    LabelTaken(String),
    #[error("the key has a PIN, and no PIN can be asked for here")]
    PinNeeded,
    #[error(
        "this operation needs user verification, and the key has neither a PIN nor a built-in method"
    )]
    UvUnavailable,
    #[error("the enrolled key list is damaged: {detail}")]
    Corrupt { detail: String },
    #[error("the security key task failed: {0}")]
    Task(String),
}

/// Asks for the PIN with a hidden prompt on stderr; `COSMOSCOPE_FIDO2_PIN` serves automation.
pub struct TerminalPin {
    pub can_prompt: bool,
    pub preset: Option<SecretString>,
}

impl PinPrompt for TerminalPin {
    fn pin(&self, device: &str) -> Result<SecretString, Fido2Error> {
        if let Some(pin) = &self.preset {
            return Ok(pin.clone());
        }
        if !self.can_prompt {
            return Err(Fido2Error::PinNeeded);
        }
        dialoguer::Password::new()
            .with_prompt(format!("PIN of the security key {device}"))
            .interact()
            .map(SecretString::from)
            .map_err(|e| Fido2Error::Task(format!("cannot read the PIN: {e}")))
    }
}

/// Everything a FIDO2 operation needs for one profile, resolved once (see `App::fido2`).
#[derive(Clone)]
pub struct Fido2Context {
    pub profile: String,
    pub rp_id: String,
    pub store_path: PathBuf,
    pub selection: DeviceSelection,
    pub pin: Arc<dyn PinPrompt>,
    /// Where the digest of the key list as cosmoscope last wrote it is kept (the profile's
    /// keyring), so a key list edited by hand — a credential of someone else's added — is
    /// refused. `None` in unit tests of the ceremonies.
    pub integrity: Option<Arc<dyn DigestStore>>,
}

/// Keeps small values out of reach of a plain-file edit (the app gives the profile's keyring).
pub trait DigestStore: Send + Sync {
    fn get(&self, entry: &str) -> Option<String>;
    fn set(&self, entry: &str, value: &str);
}

impl Fido2Context {
    /// An exclusive lock on the key list (`<profile>.json.lock` beside it), held until dropped.
    fn lock_store(&self) -> Result<std::fs::File, Fido2Error> {
        let path = self.store_path.with_extension("json.lock");
        let write = |source| {
            Fido2Error::Store(store::KeyStoreError::Write {
                path: path.clone(),
                source,
            })
        };
        if let Some(dir) = path.parent() {
            crate::fsutil::create_private_dir(dir).map_err(write)?;
        }
        let file = crate::fsutil::private_options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(write)?;
        file.lock().map_err(write)?;
        Ok(file)
    }

    /// The entry holding the key list's digest, and the digest of the file as it is now; `None`
    /// when there is no file (most profiles: then the keyring is not even opened) or no store.
    fn integrity_entry(&self) -> Option<(&dyn DigestStore, String, String)> {
        use sha2::Digest as _;
        let store = self.integrity.as_deref()?;
        let bytes = std::fs::read(&self.store_path).ok()?;
        let digest = crate::fsutil::hex(&sha2::Sha256::digest(&bytes));
        let id = crate::fsutil::hex(
            &sha2::Sha256::digest(self.store_path.to_string_lossy().as_bytes())[..8],
        );
        Some((store, format!("{}:fido2-keys:{id}", self.profile), digest))
    }

    /// Records the key list's digest after cosmoscope wrote it.
    pub fn record_integrity(&self) {
        if let Some((store, entry, digest)) = self.integrity_entry() {
            store.set(&entry, &digest);
        }
    }

    /// Loads the profile's key list and checks it belongs to the configured relying party and is
    /// the list cosmoscope last wrote (a list without a recorded digest is taken as it is once).
    pub fn load_store(&self) -> Result<KeyStore, Fido2Error> {
        if let Some((store, entry, digest)) = self.integrity_entry() {
            match store.get(&entry) {
                Some(recorded) if recorded != digest => {
                    return Err(Fido2Error::Corrupt {
                        detail: format!(
                            "{} was changed outside cosmoscope (it no longer matches what cosmoscope wrote)",
                            self.store_path.display()
                        ),
                    });
                }
                None => store.set(&entry, &digest),
                Some(_) => {}
            }
        }
        let store = KeyStore::load(&self.store_path, &self.profile, &self.rp_id)?;
        if store.file.rp_id != self.rp_id {
            return Err(Fido2Error::RpMismatch {
                stored: store.file.rp_id.clone(),
                configured: self.rp_id.clone(),
            });
        }
        Ok(store)
    }

    /// Runs `f` with the opened key, off the async runtime (the key blocks while it waits for a
    /// touch). The key list is read, checked and written back under an exclusive lock, so two
    /// commands touching at once cannot put a signature counter back (a replayed assertion would
    /// then pass the counter check).
    pub async fn with_key<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Ceremony<'_>, &mut KeyStore) -> Result<T, Fido2Error> + Send + 'static,
    ) -> Result<T, Fido2Error> {
        let ctx = self.clone();
        tokio::task::spawn_blocking(move || {
            let _lock = ctx.lock_store()?;
            let mut store = ctx.load_store()?;
            let auth = HidAuthenticator::open(&ctx.selection)?;
            let result = f(
                &Ceremony {
                    auth: &auth,
                    pin: ctx.pin.as_ref(),
                },
                &mut store,
            );
            ctx.record_integrity();
            result
        })
        .await
        .map_err(|e| Fido2Error::Task(e.to_string()))?
    }
}

/// A verified step-up touch.
#[derive(Debug, Clone)]
pub struct StepUp {
    /// Unix seconds at which the verified assertion was received: compare with the profile's
    /// `fido2_window` to decide whether a grant with `require_fido2 = true` may run.
    pub at: u64,
    pub label: String,
    pub user_verified: bool,
}

/// A fresh, fully verified assertion from any enrolled key (step-up before a grant that says
/// `require_fido2 = true`). Returns when it happened; the caller keeps it (e.g. in the session
/// file) and asks again once `fido2_window` has passed.
pub async fn step_up(ctx: &Fido2Context) -> Result<StepUp, Fido2Error> {
    ctx.with_key(step_up_with).await
}

/// The key material of one verified touch with hmac-secret: it opens what that credential sealed
/// and seals anew, so a refresh (unseal the old refresh token, seal the rotated one) costs one touch.
/// It lives in memory only for the length of one command and is zeroized on drop.
pub struct SealingKey {
    output: zeroize::Zeroizing<[u8; 32]>,
    credential_id: Vec<u8>,
    user_verified: bool,
    profile: String,
    /// The touch also counts as a step-up.
    pub step_up: StepUp,
}

impl SealingKey {
    /// Seals `secret` for `slot` (what it is: a refresh token, an account key).
    #[must_use]
    pub fn seal(&self, slot: seal::Slot, secret: &SecretString) -> String {
        let ctx = seal::SealContext {
            profile: &self.profile,
            credential_id: &self.credential_id,
            user_verified: self.user_verified,
            slot,
        };
        seal::seal(&self.output, &ctx, secret)
    }

    /// Opens a value sealed for `slot`; one sealed for another slot does not open.
    pub fn unseal(&self, slot: seal::Slot, sealed: &str) -> Result<SecretString, Fido2Error> {
        Ok(seal::unseal(&self.output, &self.profile, slot, sealed)?)
    }
}

/// One touch of an enrolled key with hmac-secret. With `sealed`, the touch must come from the
/// credential (and in the verification mode) that sealed it.
pub fn sealing_key_with(
    c: &Ceremony<'_>,
    store: &mut KeyStore,
    profile: &str,
    sealed: Option<&str>,
) -> Result<SealingKey, Fido2Error> {
    let header = sealed.map(seal::header).transpose()?;
    if let Some(h) = &header
        && store.find_by_id(&h.credential_id).is_none()
    {
        return Err(Fido2Error::NotEnrolled {
            profile: profile.to_string(),
        });
    }
    let touch = ceremony::assert(
        c,
        store,
        AssertOptions {
            credential_id: header.as_ref().map(|h| h.credential_id.as_slice()),
            hmac_secret: true,
            user_verification: header.as_ref().map(|h| h.user_verified),
        },
    )?;
    let output = touch.hmac_output.ok_or(VerifyError::HmacSecretMissing)?;
    let credential = &store.file.credentials[touch.credential];
    let credential_id = credential
        .id_bytes()
        .map_err(|detail| Fido2Error::Corrupt { detail })?;
    Ok(SealingKey {
        output,
        credential_id,
        user_verified: touch.verified.user_verified,
        profile: profile.to_string(),
        step_up: StepUp {
            at: crate::clock::now_unix(),
            label: credential.label.clone(),
            user_verified: touch.verified.user_verified,
        },
    })
}

/// [`sealing_key_with`] on the profile's device, off the async runtime.
pub async fn sealing_key(
    ctx: &Fido2Context,
    sealed: Option<String>,
) -> Result<SealingKey, Fido2Error> {
    let profile = ctx.profile.clone();
    ctx.with_key(move |c, store| sealing_key_with(c, store, &profile, sealed.as_deref()))
        .await
}

/// Whether the profile has any enrolled key (then refresh tokens are sealed to it).
#[must_use]
pub fn has_keys(ctx: &Fido2Context) -> bool {
    ctx.load_store()
        .is_ok_and(|s| !s.file.credentials.is_empty())
}

/// Seals `secret` (a refresh token, an account key) with a given authenticator: one touch.
pub fn seal_with(
    c: &Ceremony<'_>,
    store: &mut KeyStore,
    profile: &str,
    slot: seal::Slot,
    secret: &SecretString,
) -> Result<String, Fido2Error> {
    Ok(sealing_key_with(c, store, profile, None)?.seal(slot, secret))
}

/// Opens a value made by [`seal_with`], with a given authenticator: one touch of the key that
/// sealed it.
pub fn unseal_with(
    c: &Ceremony<'_>,
    store: &mut KeyStore,
    profile: &str,
    slot: seal::Slot,
    sealed: &str,
) -> Result<SecretString, Fido2Error> {
    sealing_key_with(c, store, profile, Some(sealed))?.unseal(slot, sealed)
}

/// [`step_up`] with a given authenticator.
pub fn step_up_with(c: &Ceremony<'_>, store: &mut KeyStore) -> Result<StepUp, Fido2Error> {
    let touch = ceremony::assert(c, store, AssertOptions::default())?;
    Ok(StepUp {
        at: crate::clock::now_unix(),
        label: store.file.credentials[touch.credential].label.clone(),
        user_verified: touch.verified.user_verified,
    })
}

#[cfg(test)]
#[path = "../../tests/it/soft_authenticator.rs"]
pub(crate) mod soft;

#[cfg(test)]
mod tests;
