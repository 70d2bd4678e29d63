//! Our own verification of what a key answers (docs/testing.md: `ctap-hid-fido2`'s verifier panics on
//! self attestation and ignores the flags and the counter).
//!
//! Checked every time: rpIdHash = SHA-256(rp id); UP; UV when the ceremony verified the person;
//! the signature over `authenticatorData ‖ clientDataHash` (clientDataHash = SHA-256(challenge))
//! with the enrolled COSE key (ES256 through `p256`, EdDSA through `ed25519-dalek`); the signature
//! counter strictly increasing whenever either value is non-zero (a regression means a cloned key).

use std::io::Cursor;

use ciborium::value::{Integer, Value};
use p256::ecdsa::signature::Verifier as _;
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

use super::device::{Algorithm, AssertionResponse, AttestationResponse};

const FLAG_UP: u8 = 0x01;
const FLAG_UV: u8 = 0x04;
const FLAG_AT: u8 = 0x40;
const FLAG_ED: u8 = 0x80;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("the key's answer is malformed: {0}")]
    Malformed(String),
    #[error("the answer was made for another relying party (rpIdHash mismatch)")]
    RpIdMismatch,
    #[error("the key did not confirm a touch (UP flag missing)")]
    UserNotPresent,
    #[error(
        "the key did not verify the person (UV flag missing) although verification was required"
    )]
    UserNotVerified,
    #[error("the signature does not verify with the enrolled public key")]
    BadSignature,
    #[error(
        "the key's signature counter went from {stored} to {received}: the key may have been cloned"
    )]
    SignCountRegression { stored: u32, received: u32 },
    #[error("the key answered for a credential that was not asked for")]
    CredentialMismatch,
    #[error("unsupported COSE algorithm {0}")]
    UnsupportedAlgorithm(i64),
    #[error("unsupported attestation format {0:?}")]
    UnsupportedAttestation(String),
    #[error("the key did not enable hmac-secret for the new credential")]
    HmacSecretNotEnabled,
    #[error("the key returned no hmac-secret output")]
    HmacSecretMissing,
}

/// SHA-256(challenge): `ctap-hid-fido2`'s clientDataHash.
#[must_use]
pub fn client_data_hash(challenge: &[u8]) -> [u8; 32] {
    Sha256::digest(challenge).into()
}

/// A fresh random challenge: one per ceremony, never reused.
#[must_use]
pub fn new_challenge() -> [u8; 32] {
    let mut c = [0u8; 32];
    OsRng.fill_bytes(&mut c);
    c
}

/// A credential public key, parsed from COSE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    Es256(p256::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl PublicKey {
    /// Parses a COSE_Key (EC2/P-256/ES256 or OKP/Ed25519/EdDSA).
    pub fn from_cose(value: &Value) -> Result<Self, VerifyError> {
        let kty = get_int(value, 1);
        let alg = get_int(value, 3);
        match (kty, alg) {
            (Some(2), Some(-7)) => {
                if get_int(value, -1) != Some(1) {
                    return Err(VerifyError::Malformed("EC2 key not on P-256".into()));
                }
                let x = get_bytes(value, -2).ok_or_else(|| missing("x"))?;
                let y = get_bytes(value, -3).ok_or_else(|| missing("y"))?;
                if x.len() != 32 || y.len() != 32 {
                    return Err(VerifyError::Malformed("P-256 coordinates".into()));
                }
                let mut sec1 = vec![0x04];
                sec1.extend_from_slice(x);
                sec1.extend_from_slice(y);
                p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
                    .map(PublicKey::Es256)
                    .map_err(|_| VerifyError::Malformed("P-256 point not on the curve".into()))
            }
            (Some(1), Some(-8)) => {
                if get_int(value, -1) != Some(6) {
                    return Err(VerifyError::Malformed("OKP key not Ed25519".into()));
                }
                let x: [u8; 32] = get_bytes(value, -2)
                    .and_then(|x| x.try_into().ok())
                    .ok_or_else(|| missing("x"))?;
                ed25519_dalek::VerifyingKey::from_bytes(&x)
                    .map(PublicKey::Ed25519)
                    .map_err(|_| VerifyError::Malformed("bad Ed25519 key".into()))
            }
            (_, Some(alg)) => Err(VerifyError::UnsupportedAlgorithm(alg)),
            _ => Err(VerifyError::Malformed("COSE key without kty/alg".into())),
        }
    }

    /// Parses the COSE bytes kept in the store.
    pub fn from_cose_bytes(bytes: &[u8]) -> Result<Self, VerifyError> {
        let value: Value = ciborium::de::from_reader(bytes)
            .map_err(|e| VerifyError::Malformed(format!("COSE key: {e}")))?;
        Self::from_cose(&value)
    }

    /// The COSE encoding (canonical for our two key types).
    #[must_use]
    pub fn to_cose_bytes(&self) -> Vec<u8> {
        let int = |i: i64| Value::Integer(Integer::from(i));
        let value = match self {
            PublicKey::Es256(k) => {
                let point = k.to_encoded_point(false);
                Value::Map(vec![
                    (int(1), int(2)),
                    (int(3), int(-7)),
                    (int(-1), int(1)),
                    (
                        int(-2),
                        Value::Bytes(point.x().map(|x| x.to_vec()).unwrap_or_default()),
                    ),
                    (
                        int(-3),
                        Value::Bytes(point.y().map(|y| y.to_vec()).unwrap_or_default()),
                    ),
                ])
            }
            PublicKey::Ed25519(k) => Value::Map(vec![
                (int(1), int(1)),
                (int(3), int(-8)),
                (int(-1), int(6)),
                (int(-2), Value::Bytes(k.to_bytes().to_vec())),
            ]),
        };
        let mut out = Vec::new();
        // Writing to a Vec cannot fail.
        let _ = ciborium::ser::into_writer(&value, &mut out);
        out
    }

    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        match self {
            PublicKey::Es256(_) => Algorithm::Es256,
            PublicKey::Ed25519(_) => Algorithm::Ed25519,
        }
    }

    /// Verifies `signature` over `message` (ES256: DER-encoded ECDSA; EdDSA: 64 raw bytes).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), VerifyError> {
        match self {
            PublicKey::Es256(k) => {
                let sig = p256::ecdsa::Signature::from_der(signature)
                    .map_err(|_| VerifyError::BadSignature)?;
                k.verify(message, &sig)
                    .map_err(|_| VerifyError::BadSignature)
            }
            PublicKey::Ed25519(k) => {
                let sig = ed25519_dalek::Signature::from_slice(signature)
                    .map_err(|_| VerifyError::BadSignature)?;
                k.verify_strict(message, &sig)
                    .map_err(|_| VerifyError::BadSignature)
            }
        }
    }
}

fn missing(what: &str) -> VerifyError {
    VerifyError::Malformed(format!("COSE key lacks {what}"))
}

fn get(map: &Value, key: i64) -> Option<&Value> {
    match map {
        Value::Map(entries) => entries
            .iter()
            .find(|(k, _)| matches!(k, Value::Integer(i) if i64::try_from(*i).ok() == Some(key)))
            .map(|(_, v)| v),
        _ => None,
    }
}

fn get_int(map: &Value, key: i64) -> Option<i64> {
    match get(map, key)? {
        Value::Integer(i) => i64::try_from(*i).ok(),
        _ => None,
    }
}

fn get_bytes(map: &Value, key: i64) -> Option<&[u8]> {
    match get(map, key)? {
        Value::Bytes(b) => Some(b),
        _ => None,
    }
}

/// authenticatorData, parsed.
#[derive(Debug, Clone)]
pub struct AuthData {
    pub rp_id_hash: [u8; 32],
    pub flags: u8,
    pub sign_count: u32,
    pub attested: Option<AttestedCredential>,
    pub extensions: Option<Value>,
}

#[derive(Debug, Clone)]
pub struct AttestedCredential {
    pub aaguid: [u8; 16],
    pub credential_id: Vec<u8>,
    pub public_key: PublicKey,
}

impl AuthData {
    pub fn parse(bytes: &[u8]) -> Result<Self, VerifyError> {
        let short = || VerifyError::Malformed("authenticator data too short".into());
        if bytes.len() < 37 {
            return Err(short());
        }
        let mut rp_id_hash = [0u8; 32];
        rp_id_hash.copy_from_slice(&bytes[..32]);
        let flags = bytes[32];
        let sign_count = u32::from_be_bytes([bytes[33], bytes[34], bytes[35], bytes[36]]);
        let mut rest = &bytes[37..];
        let attested = if flags & FLAG_AT != 0 {
            if rest.len() < 18 {
                return Err(short());
            }
            let mut aaguid = [0u8; 16];
            aaguid.copy_from_slice(&rest[..16]);
            let len = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
            rest = &rest[18..];
            if rest.len() < len {
                return Err(short());
            }
            let credential_id = rest[..len].to_vec();
            rest = &rest[len..];
            let mut cursor = Cursor::new(rest);
            let value: Value = ciborium::de::from_reader(&mut cursor)
                .map_err(|e| VerifyError::Malformed(format!("credential public key: {e}")))?;
            let used = usize::try_from(cursor.position()).map_err(|_| short())?;
            rest = &rest[used..];
            Some(AttestedCredential {
                aaguid,
                credential_id,
                public_key: PublicKey::from_cose(&value)?,
            })
        } else {
            None
        };
        let extensions = if flags & FLAG_ED != 0 {
            let mut cursor = Cursor::new(rest);
            let value: Value = ciborium::de::from_reader(&mut cursor)
                .map_err(|e| VerifyError::Malformed(format!("extensions: {e}")))?;
            let used = usize::try_from(cursor.position()).map_err(|_| short())?;
            rest = &rest[used..];
            Some(value)
        } else {
            None
        };
        if !rest.is_empty() {
            return Err(VerifyError::Malformed(
                "trailing bytes after authenticator data".into(),
            ));
        }
        Ok(Self {
            rp_id_hash,
            flags,
            sign_count,
            attested,
            extensions,
        })
    }

    #[must_use]
    pub fn user_present(&self) -> bool {
        self.flags & FLAG_UP != 0
    }
    #[must_use]
    pub fn user_verified(&self) -> bool {
        self.flags & FLAG_UV != 0
    }

    /// The value of a text-keyed extension output.
    #[must_use]
    pub fn extension(&self, name: &str) -> Option<&Value> {
        match self.extensions.as_ref()? {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(k, Value::Text(t) if t == name))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    fn check_common(&self, rp_id: &str, require_uv: bool) -> Result<(), VerifyError> {
        let expected: [u8; 32] = Sha256::digest(rp_id.as_bytes()).into();
        if self.rp_id_hash != expected {
            return Err(VerifyError::RpIdMismatch);
        }
        if !self.user_present() {
            return Err(VerifyError::UserNotPresent);
        }
        if require_uv && !self.user_verified() {
            return Err(VerifyError::UserNotVerified);
        }
        Ok(())
    }
}

/// A new credential, verified.
#[derive(Debug, Clone)]
pub struct VerifiedCredential {
    pub credential_id: Vec<u8>,
    pub public_key: PublicKey,
    pub sign_count: u32,
    pub aaguid: [u8; 16],
    pub user_verified: bool,
    /// `packed (self)`, `packed (x5c)` or `none`.
    pub attestation: String,
}

/// Verifies a make-credential answer: rp, UP, UV when required, the hmac-secret flag, and the
/// attestation signature (self attestation with the new key; full attestation with the leaf
/// certificate's key — the certificate chain is not judged: cosmoscope trusts the key on first use).
pub fn verify_attestation(
    att: &AttestationResponse,
    challenge: &[u8],
    rp_id: &str,
    require_uv: bool,
) -> Result<VerifiedCredential, VerifyError> {
    let auth = AuthData::parse(&att.auth_data)?;
    auth.check_common(rp_id, require_uv)?;
    let cred = auth
        .attested
        .clone()
        .ok_or_else(|| VerifyError::Malformed("no attested credential data".into()))?;
    if !matches!(auth.extension("hmac-secret"), Some(Value::Bool(true))) {
        return Err(VerifyError::HmacSecretNotEnabled);
    }
    let signed = [&att.auth_data[..], &client_data_hash(challenge)[..]].concat();
    let attestation = match att.fmt.as_str() {
        "packed" if att.att_x5c.is_empty() => {
            if att.att_alg != cred.public_key.algorithm().cose() {
                return Err(VerifyError::Malformed(
                    "self attestation algorithm differs from the credential's".into(),
                ));
            }
            cred.public_key.verify(&signed, &att.att_sig)?;
            "packed (self)"
        }
        "packed" => {
            let cert_key = certificate_key(&att.att_x5c[0])?;
            cert_key.verify(&signed, &att.att_sig)?;
            "packed (x5c)"
        }
        "none" => "none",
        other => return Err(VerifyError::UnsupportedAttestation(other.to_string())),
    };
    Ok(VerifiedCredential {
        credential_id: cred.credential_id,
        public_key: cred.public_key,
        sign_count: auth.sign_count,
        aaguid: cred.aaguid,
        user_verified: auth.user_verified(),
        attestation: attestation.to_string(),
    })
}

/// The P-256 key of an attestation certificate (FIDO attestation certificates are ES256).
fn certificate_key(der: &[u8]) -> Result<PublicKey, VerifyError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| VerifyError::Malformed(format!("attestation certificate: {e}")))?;
    let spki = cert.public_key().subject_public_key.data.as_ref();
    p256::ecdsa::VerifyingKey::from_sec1_bytes(spki)
        .map(PublicKey::Es256)
        .map_err(|_| {
            VerifyError::UnsupportedAttestation("non-P-256 attestation certificate".into())
        })
}

/// What the ceremony knows about the credential it asked for.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    pub rp_id: &'a str,
    pub credential_id: &'a [u8],
    pub public_key: &'a PublicKey,
    pub stored_sign_count: u32,
    pub require_uv: bool,
}

/// An assertion, verified.
#[derive(Debug, Clone)]
pub struct VerifiedAssertion {
    pub sign_count: u32,
    pub user_verified: bool,
}

/// Verifies an assertion for one enrolled credential.
pub fn verify_assertion(
    resp: &AssertionResponse,
    challenge: &[u8],
    expected: &Expected<'_>,
) -> Result<VerifiedAssertion, VerifyError> {
    if resp.credential_id != expected.credential_id {
        return Err(VerifyError::CredentialMismatch);
    }
    let auth = AuthData::parse(&resp.auth_data)?;
    auth.check_common(expected.rp_id, expected.require_uv)?;
    let signed = [&resp.auth_data[..], &client_data_hash(challenge)[..]].concat();
    expected.public_key.verify(&signed, &resp.signature)?;
    let (stored, received) = (expected.stored_sign_count, auth.sign_count);
    if (stored != 0 || received != 0) && received <= stored {
        return Err(VerifyError::SignCountRegression { stored, received });
    }
    Ok(VerifiedAssertion {
        sign_count: received,
        user_verified: auth.user_verified(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cose_round_trips_for_both_algorithms() {
        let es = PublicKey::Es256(*p256::ecdsa::SigningKey::random(&mut OsRng).verifying_key());
        assert_eq!(PublicKey::from_cose_bytes(&es.to_cose_bytes()), Ok(es));
        let ed =
            PublicKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key());
        assert_eq!(PublicKey::from_cose_bytes(&ed.to_cose_bytes()), Ok(ed));
    }

    #[test]
    fn short_auth_data_is_malformed_not_a_panic() {
        for len in [0, 10, 36] {
            assert!(matches!(
                AuthData::parse(&vec![0; len]),
                Err(VerifyError::Malformed(_))
            ));
        }
        let mut at = vec![0u8; 37];
        at[32] = FLAG_AT;
        assert!(matches!(
            AuthData::parse(&at),
            Err(VerifyError::Malformed(_))
        ));
    }

    #[test]
    fn challenges_are_fresh() {
        assert_ne!(new_challenge(), new_challenge());
    }
}
