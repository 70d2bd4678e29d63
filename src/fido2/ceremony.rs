//! The two ceremonies, over any [`Authenticator`]: enrolling a credential, and asserting with one
//! (optionally with the hmac-secret salt). Every answer goes through `verify` before it is used,
//! and the stored counter moves only after a verified assertion.

use secrecy::SecretString;
use zeroize::Zeroizing;

use super::Fido2Error;
use super::device::{
    Algorithm, Authenticator, DeviceInfo, GetAssertionRequest, MakeCredentialRequest, Verification,
};
use super::store::{EnrolledCredential, KeyStore};
use super::verify::{self, Expected, VerifiedAssertion};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

/// Where a PIN comes from: a hidden prompt on a terminal, or (tests, automation) a fixed value.
pub trait PinPrompt: Send + Sync {
    fn pin(&self, device: &str) -> Result<SecretString, Fido2Error>;
}

/// The person at the key and the key.
pub struct Ceremony<'a> {
    pub auth: &'a dyn Authenticator,
    pub pin: &'a dyn PinPrompt,
}

/// How the person is verified: the key's own method if it has one, else its PIN if one is set,
/// else presence only.
fn choose_verification(info: &DeviceInfo, c: &Ceremony<'_>) -> Result<Verification, Fido2Error> {
    if info.has_builtin_uv() {
        Ok(Verification::BuiltIn)
    } else if info.has_pin() {
        Ok(Verification::Pin(c.pin.pin(&c.auth.describe())?))
    } else {
        Ok(Verification::None)
    }
}

fn now_rfc3339() -> String {
    crate::clock::rfc3339(crate::clock::now_unix())
}

/// Creates a credential on the key for the store's relying party, verifies the answer, and adds
/// it to the store (saved).
pub fn enroll(
    c: &Ceremony<'_>,
    store: &mut KeyStore,
    label: &str,
    alg: Algorithm,
) -> Result<EnrolledCredential, Fido2Error> {
    if store.file.credentials.iter().any(|k| k.label == label) {
        return Err(Fido2Error::LabelTaken(label.to_string()));
    }
    let info = c.auth.get_info()?;
    if !info.has_hmac_secret() {
        return Err(Fido2Error::NoHmacSecret {
            device: c.auth.describe(),
        });
    }
    let verification = choose_verification(&info, c)?;
    let challenge = verify::new_challenge();
    let rp_id = store.file.rp_id.clone();
    let user_id = verify::client_data_hash(format!("cosmoscope:{}", store.file.profile).as_bytes());
    let exclude = store.credential_ids();
    let att = c.auth.make_credential(&MakeCredentialRequest {
        rp_id: &rp_id,
        challenge: &challenge,
        user_id: &user_id,
        user_name: &store.file.profile,
        alg,
        exclude: &exclude,
        verification: &verification,
    })?;
    let cred = verify::verify_attestation(&att, &challenge, &rp_id, verification.verifies_user())?;
    let record = EnrolledCredential {
        credential_id: B64.encode(&cred.credential_id),
        label: label.to_string(),
        algorithm: cred.public_key.algorithm(),
        public_key: B64.encode(cred.public_key.to_cose_bytes()),
        sign_count: cred.sign_count,
        rp_id,
        aaguid: crate::fsutil::hex(&cred.aaguid),
        user_verified: cred.user_verified,
        attestation: cred.attestation,
        created_at: now_rfc3339(),
        last_used_at: None,
    };
    store.file.credentials.push(record.clone());
    store.save()?;
    Ok(record)
}

/// A verified touch.
pub struct Touch {
    /// Index into the store's credentials.
    pub credential: usize,
    pub verified: VerifiedAssertion,
    pub hmac_output: Option<Zeroizing<[u8; 32]>>,
}

/// What an assertion asks for.
#[derive(Debug, Clone, Copy, Default)]
pub struct AssertOptions<'a> {
    /// Only this credential (opening a sealed value); else any enrolled one.
    pub credential_id: Option<&'a [u8]>,
    /// Ask for the hmac-secret output with the store's salt.
    pub hmac_secret: bool,
    /// `Some(v)`: verify the person exactly when `v` (a sealed value needs the mode it was sealed
    /// with); `None`: whenever the key can.
    pub user_verification: Option<bool>,
}

/// Asks the key for an assertion with a fresh challenge, verifies it against the enrolled
/// credential, and records the new counter (saved).
pub fn assert(
    c: &Ceremony<'_>,
    store: &mut KeyStore,
    opts: AssertOptions<'_>,
) -> Result<Touch, Fido2Error> {
    if store.file.credentials.is_empty() {
        return Err(Fido2Error::NotEnrolled {
            profile: store.file.profile.clone(),
        });
    }
    let info = c.auth.get_info()?;
    if opts.hmac_secret && !info.has_hmac_secret() {
        return Err(Fido2Error::NoHmacSecret {
            device: c.auth.describe(),
        });
    }
    let verification = match opts.user_verification {
        Some(false) => Verification::None,
        Some(true) => match choose_verification(&info, c)? {
            Verification::None => return Err(Fido2Error::UvUnavailable),
            v => v,
        },
        None => choose_verification(&info, c)?,
    };
    let allow = match opts.credential_id {
        Some(id) => vec![id.to_vec()],
        None => store.credential_ids(),
    };
    let salt = store.salt();
    let rp_id = store.file.rp_id.clone();
    let challenge = verify::new_challenge();
    let resp = c.auth.get_assertion(&GetAssertionRequest {
        rp_id: &rp_id,
        challenge: &challenge,
        credential_ids: &allow,
        salt: opts.hmac_secret.then_some(&salt),
        verification: &verification,
    })?;
    if !allow.contains(&resp.credential_id) {
        return Err(verify::VerifyError::CredentialMismatch.into());
    }
    let index = store
        .find_by_id(&resp.credential_id)
        .ok_or(verify::VerifyError::CredentialMismatch)?;
    let enrolled = &store.file.credentials[index];
    let public_key = enrolled
        .public_key()
        .map_err(|detail| Fido2Error::Corrupt { detail })?;
    let verified = verify::verify_assertion(
        &resp,
        &challenge,
        &Expected {
            rp_id: &rp_id,
            credential_id: &resp.credential_id,
            public_key: &public_key,
            stored_sign_count: enrolled.sign_count,
            require_uv: verification.verifies_user(),
        },
    )?;
    if opts.hmac_secret && resp.hmac_output.is_none() {
        return Err(verify::VerifyError::HmacSecretMissing.into());
    }
    let record = &mut store.file.credentials[index];
    record.sign_count = verified.sign_count;
    record.last_used_at = Some(now_rfc3339());
    store.save()?;
    Ok(Touch {
        credential: index,
        verified,
        hmac_output: resp.hmac_output,
    })
}
