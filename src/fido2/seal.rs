//! Sealing a secret (a refresh token, a Cosmos account key) to a security key before it goes into
//! the OS keyring, so that a copy of the keyring alone opens nothing.
//!
//! key = HKDF-SHA-256(ikm = hmac-secret output, salt = "cosmoscope/fido2-seal/v1",
//!                    info = profile ‖ 0 ‖ credential id)
//! sealed = "cs2." base64url(credential id) "." uv "." base64url(nonce) "." base64url(ciphertext)
//!
//! The AEAD is XChaCha20-Poly1305 (RustCrypto `chacha20poly1305`): constant-time in software on every
//! CPU (AES-GCM is only safe and fast with AES instructions), and its 192-bit nonce can be drawn at
//! random for every seal without a counter to keep. The associated data binds the format version,
//! the profile, the credential and the slot (`refresh` token or `account-key`), so a sealed value
//! moved to another profile, or an account key moved into the refresh-token slot (and so sent to
//! the provider), does not open. Values of the earlier format (`cs1`, no slot) are recognised as
//! sealed but not opened: they must be sealed again.
//! Key material lives in `Zeroizing` buffers and is wiped when dropped.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand_core::{OsRng, RngCore};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use zeroize::Zeroizing;

const PREFIX: &str = "cs2";
/// The format before the slot was bound: still recognised as sealed, never opened.
const OLD_PREFIX: &str = "cs1";

/// What a sealed value is, bound into its associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// A session's refresh token (sent to the identity provider).
    Refresh,
    /// A Cosmos DB account key (signs requests to the account).
    AccountKey,
}

impl Slot {
    fn as_str(self) -> &'static str {
        match self {
            Slot::Refresh => "refresh",
            Slot::AccountKey => "account-key",
        }
    }
}
const HKDF_SALT: &[u8] = b"cosmoscope/fido2-seal/v1";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("the sealed value is not in cosmoscope's format")]
    Format,
    #[error(
        "the sealed value does not open with this key's secret (another key, another profile, or tampered)"
    )]
    Open,
    #[error("the opened secret is not text")]
    NotText,
    #[error(
        "the value was sealed by an earlier cosmoscope, which did not bind what it holds; seal it again"
    )]
    Outdated,
}

/// Who a secret is sealed for: the profile and the credential whose hmac-secret made the key.
#[derive(Debug, Clone, Copy)]
pub struct SealContext<'a> {
    pub profile: &'a str,
    pub credential_id: &'a [u8],
    /// Whether the hmac-secret output came from a user-verified assertion (CTAP keeps a separate
    /// secret for each: opening needs the same mode).
    pub user_verified: bool,
    /// What the secret is.
    pub slot: Slot,
}

fn derive_key(hmac_output: &[u8; 32], ctx: &SealContext<'_>) -> Zeroizing<[u8; 32]> {
    let hk = hkdf::Hkdf::<Sha256>::new(Some(HKDF_SALT), hmac_output);
    let mut info = ctx.profile.as_bytes().to_vec();
    info.push(0);
    info.extend_from_slice(ctx.credential_id);
    let mut key = Zeroizing::new([0u8; 32]);
    // 32 bytes is always a valid HKDF-SHA-256 output length.
    let _ = hk.expand(&info, key.as_mut());
    key
}

fn aad(ctx: &SealContext<'_>) -> Vec<u8> {
    let mut aad = format!(
        "{PREFIX}\0{}\0{}\0{}\0",
        ctx.profile,
        ctx.slot.as_str(),
        u8::from(ctx.user_verified)
    )
    .into_bytes();
    aad.extend_from_slice(ctx.credential_id);
    aad
}

/// Seals `secret` with the key derived from a hmac-secret output.
#[must_use]
pub fn seal(hmac_output: &[u8; 32], ctx: &SealContext<'_>, secret: &SecretString) -> String {
    let key = derive_key(hmac_output, ctx);
    let cipher = XChaCha20Poly1305::new(key.as_ref().into());
    let mut nonce = [0u8; 24];
    OsRng.fill_bytes(&mut nonce);
    let ciphertext = cipher
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: secret.expose_secret().as_bytes(),
                aad: &aad(ctx),
            },
        )
        // Encryption fails only for messages beyond 256 GiB.
        .unwrap_or_default();
    format!(
        "{PREFIX}.{}.{}.{}.{}",
        B64.encode(ctx.credential_id),
        u8::from(ctx.user_verified),
        B64.encode(nonce),
        B64.encode(ciphertext)
    )
}

/// The parts of a sealed value needed before the key is touched: which credential, which mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedHeader {
    pub credential_id: Vec<u8>,
    pub user_verified: bool,
}

struct Parsed {
    header: SealedHeader,
    nonce: [u8; 24],
    ciphertext: Vec<u8>,
}

fn parse(sealed: &str) -> Result<Parsed, SealError> {
    if sealed.starts_with(&format!("{OLD_PREFIX}.")) {
        return Err(SealError::Outdated);
    }
    let mut parts = sealed.split('.');
    let (Some(PREFIX), Some(id), Some(uv), Some(nonce), Some(ct), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(SealError::Format);
    };
    let user_verified = match uv {
        "0" => false,
        "1" => true,
        _ => return Err(SealError::Format),
    };
    Ok(Parsed {
        header: SealedHeader {
            credential_id: B64.decode(id).map_err(|_| SealError::Format)?,
            user_verified,
        },
        nonce: B64
            .decode(nonce)
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or(SealError::Format)?,
        ciphertext: B64.decode(ct).map_err(|_| SealError::Format)?,
    })
}

/// Reads which credential (and UV mode) a sealed value needs.
pub fn header(sealed: &str) -> Result<SealedHeader, SealError> {
    parse(sealed).map(|p| p.header)
}

/// Whether a keyring value is sealed (so a reader knows it must ask for a touch).
#[must_use]
pub fn is_sealed(value: &str) -> bool {
    value.starts_with(&format!("{PREFIX}.")) || value.starts_with(&format!("{OLD_PREFIX}."))
}

/// Opens a sealed value with the hmac-secret output of the credential it names.
pub fn unseal(
    hmac_output: &[u8; 32],
    profile: &str,
    slot: Slot,
    sealed: &str,
) -> Result<SecretString, SealError> {
    let parsed = parse(sealed)?;
    let ctx = SealContext {
        profile,
        credential_id: &parsed.header.credential_id,
        user_verified: parsed.header.user_verified,
        slot,
    };
    let key = derive_key(hmac_output, &ctx);
    let cipher = XChaCha20Poly1305::new(key.as_ref().into());
    let plain = Zeroizing::new(
        cipher
            .decrypt(
                &XNonce::from(parsed.nonce),
                Payload {
                    msg: &parsed.ciphertext,
                    aad: &aad(&ctx),
                },
            )
            .map_err(|_| SealError::Open)?,
    );
    let text = std::str::from_utf8(&plain).map_err(|_| SealError::NotText)?;
    Ok(SecretString::from(text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(profile: &str) -> SealContext<'_> {
        SealContext {
            profile,
            credential_id: b"cred-1",
            user_verified: true,
            slot: Slot::Refresh,
        }
    }

    #[test]
    fn round_trip_and_binding() {
        let out = [9u8; 32];
        let secret = SecretString::from("refresh-token-value-0123456789");
        let sealed = seal(&out, &ctx("dev"), &secret);
        assert!(is_sealed(&sealed));
        assert!(!sealed.contains("refresh-token"));
        assert_eq!(
            unseal(&out, "dev", Slot::Refresh, &sealed).map(|s| s.expose_secret().to_string()),
            Ok("refresh-token-value-0123456789".into())
        );
        // Another key's secret, another profile, a flipped byte: nothing opens.
        assert_eq!(
            unseal(&[8u8; 32], "dev", Slot::Refresh, &sealed).err(),
            Some(SealError::Open)
        );
        assert_eq!(
            unseal(&out, "prod", Slot::Refresh, &sealed).err(),
            Some(SealError::Open)
        );
        let mut tampered = sealed.clone();
        let last = tampered
            .pop()
            .map_or('A', |c| if c == 'A' { 'B' } else { 'A' });
        tampered.push(last);
        assert!(unseal(&out, "dev", Slot::Refresh, &tampered).is_err());
        // Two seals of one secret differ (fresh nonce).
        assert_ne!(sealed, seal(&out, &ctx("dev"), &secret));
        assert_eq!(
            header(&sealed),
            Ok(SealedHeader {
                credential_id: b"cred-1".to_vec(),
                user_verified: true
            })
        );
        assert_eq!(header("plain-token").err(), Some(SealError::Format));
        // Issue 13, finding 16: a sealed account key moved into the refresh-token slot (or the
        // other way round) does not open, and the slot-less format is not opened at all.
        let key = seal(
            &out,
            &SealContext {
                slot: Slot::AccountKey,
                ..ctx("dev")
            },
            &secret,
        );
        assert_eq!(
            unseal(&out, "dev", Slot::Refresh, &key).err(),
            Some(SealError::Open)
        );
        assert!(unseal(&out, "dev", Slot::AccountKey, &key).is_ok());
        let old = sealed.replacen("cs2.", "cs1.", 1);
        assert!(is_sealed(&old));
        assert_eq!(
            unseal(&out, "dev", Slot::Refresh, &old).err(),
            Some(SealError::Outdated)
        );
    }
}
