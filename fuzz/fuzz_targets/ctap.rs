#![no_main]
//! Everything cosmoscope reads from a security key, as arbitrary bytes: authenticator data, COSE
//! keys, make-credential and get-assertion answers (the input split into their fields), and the
//! sealed-secret format. Nothing panics, and nothing forged is accepted:
//! - an accepted signature (assertion, packed attestation) is one this process made with its seed
//!   keys over exactly that message (the fuzzer holds no private key; the seeds replay real ones);
//! - an assertion checked against a key made here from OS randomness is never accepted;
//! - a sealed value never opens with an hmac-secret output the fuzzer has never seen, nor in
//!   another slot than the one it was sealed for (refresh token vs account key), and a value of
//!   the slot-less format (`cs1.`) never opens;
//! - parsed keys round-trip through their COSE encoding, and accepted answers satisfy every rule
//!   the verifier claims (rp id hash, UP, UV when required, hmac-secret, counter).
//!
//! Input: one option byte, then fields, each a big-endian u16 length and that many bytes (see
//! `Field`). With `COSMOSCOPE_FUZZ_SEEDS=DIR` set, the target writes its seed answers (valid
//! ES256/Ed25519 assertions and attestations, a sealed value) into DIR before the corpus is read.

use std::collections::HashSet;
use std::sync::OnceLock;

use ciborium::value::Value;
use cosmoscope::fido2::device::{AssertionResponse, AttestationResponse};
use cosmoscope::fido2::seal::{self, SealContext, SealError, SealedHeader, Slot};
use cosmoscope::fido2::verify::{
    self, AuthData, Expected, PublicKey, VerifyError, verify_assertion, verify_attestation,
};
use libfuzzer_sys::fuzz_target;
use p256::ecdsa::signature::Signer as _;
use rand_core::{OsRng, RngCore};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

const RP: &str = "cosmoscope";

/// The fields after the option byte, in order.
#[derive(Clone, Copy)]
enum Field {
    AuthData,
    /// The assertion signature, and the attestation statement's `sig`.
    Signature,
    Fmt,
    /// attStmt `alg`: up to 8 bytes, little endian, sign-extended from the last byte.
    AttAlg,
    /// One x5c certificate when non-empty.
    X5c,
    CredentialId,
    CoseKey,
    Challenge,
    /// The stored signature counter: up to 4 bytes, big endian.
    StoredCount,
    /// A sealed value to open, and the secret to seal in the round trip.
    SealText,
    Profile,
}
const FIELDS: usize = 11;

/// Option byte: bit 0 require UV; bit 1 the answer names another credential; bits 2-3 the key an
/// assertion is checked with (0 the COSE field, 1 seed ES256, 2 seed Ed25519, 3 a secret key);
/// bit 4 which secret key; bit 5 the UV mode of the seal round trip; bit 6 its slot (0 refresh
/// token, 1 account key).
const OPT_UV: u8 = 1;
const OPT_OTHER_CRED: u8 = 2;

fn fields(data: &[u8]) -> [&[u8]; FIELDS] {
    let mut out = [&[][..]; FIELDS];
    let mut rest = data;
    for slot in &mut out {
        if rest.len() < 2 {
            break;
        }
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        rest = &rest[2..];
        let n = len.min(rest.len());
        *slot = &rest[..n];
        rest = &rest[n..];
    }
    out
}

fn encode(opts: u8, values: &[(Field, &[u8])]) -> Vec<u8> {
    let mut slots: [&[u8]; FIELDS] = [&[]; FIELDS];
    for (f, v) in values {
        slots[*f as usize] = v;
    }
    let mut out = vec![opts];
    for v in slots {
        out.extend_from_slice(&u16::try_from(v.len()).expect("short field").to_be_bytes());
        out.extend_from_slice(v);
    }
    out
}

fn att_alg(bytes: &[u8]) -> i64 {
    let mut b = [0u8; 8];
    let n = bytes.len().min(8);
    b[..n].copy_from_slice(&bytes[..n]);
    if n > 0 && n < 8 && bytes[n - 1] & 0x80 != 0 {
        b[n..].fill(0xff);
    }
    i64::from_le_bytes(b)
}

fn stored_count(bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .take(4)
        .fold(0u32, |acc, b| (acc << 8) | u32::from(*b))
}

fn sha256(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

struct Fixture {
    /// Public halves of the deterministic seed keys (ES256, Ed25519).
    seed_keys: [PublicKey; 2],
    /// Made from OS randomness in this process; no signature by them exists anywhere.
    secret_keys: [PublicKey; 2],
    /// (seed key index, message) for every signature the seeds carry.
    signed: HashSet<(usize, Vec<u8>)>,
    /// The hmac-secret output the seeds are sealed with.
    known_output: [u8; 32],
    /// An hmac-secret output the fuzzer never sees.
    secret_output: [u8; 32],
    seeds: Vec<Vec<u8>>,
}

fn cbor(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(v, &mut out).expect("CBOR to memory");
    out
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let es = p256::ecdsa::SigningKey::from_slice(&[0x11; 32]).expect("scalar");
        let ed = ed25519_dalek::SigningKey::from_bytes(&[0x22; 32]);
        let seed_keys = [
            PublicKey::Es256(*es.verifying_key()),
            PublicKey::Ed25519(ed.verifying_key()),
        ];
        let mut ed_secret = [0u8; 32];
        OsRng.fill_bytes(&mut ed_secret);
        let secret_keys = [
            PublicKey::Es256(*p256::ecdsa::SigningKey::random(&mut OsRng).verifying_key()),
            PublicKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&ed_secret).verifying_key()),
        ];
        let mut secret_output = [0u8; 32];
        OsRng.fill_bytes(&mut secret_output);
        let known_output = [7u8; 32];

        let mut signed = HashSet::new();
        let mut sign = |key: usize, msg: Vec<u8>| -> Vec<u8> {
            let sig = if key == 0 {
                let s: p256::ecdsa::Signature = es.sign(&msg);
                s.to_der().as_bytes().to_vec()
            } else {
                use ed25519_dalek::Signer as _;
                ed.sign(&msg).to_bytes().to_vec()
            };
            signed.insert((key, msg));
            sig
        };
        let challenge = b"seed-challenge".as_slice();
        let cdh = sha256(challenge);
        let cred_id = b"seed-credential-0123456789abcdef".as_slice();
        let sealed = seal::seal(
            &known_output,
            &SealContext {
                profile: "dev",
                credential_id: cred_id,
                user_verified: true,
                slot: Slot::Refresh,
            },
            &SecretString::from("seed-refresh-token"),
        );
        let mut seeds = vec![sealed.clone().into_bytes()];
        for key in 0..2 {
            let cose = seed_keys[key].to_cose_bytes();
            // Assertions: plain, and with an hmac-secret extension output.
            for ed_flag in [false, true] {
                let mut ad = sha256(RP.as_bytes()).to_vec();
                ad.push(0x05 | if ed_flag { 0x80 } else { 0 });
                ad.extend_from_slice(&5u32.to_be_bytes());
                if ed_flag {
                    ad.extend_from_slice(&cbor(&Value::Map(vec![(
                        Value::Text("hmac-secret".into()),
                        Value::Bytes(vec![0x33; 32]),
                    )])));
                }
                let sig = sign(key, [&ad[..], &cdh[..]].concat());
                // The seeds are sound: each verifies (else the oracles below prove nothing).
                let resp = AssertionResponse {
                    credential_id: cred_id.to_vec(),
                    auth_data: ad.clone(),
                    signature: sig.clone(),
                    hmac_output: None,
                };
                let expected = Expected {
                    rp_id: RP,
                    credential_id: cred_id,
                    public_key: &seed_keys[key],
                    stored_sign_count: 4,
                    require_uv: true,
                };
                if let Err(e) = verify_assertion(&resp, challenge, &expected) {
                    panic!("seed assertion {key} does not verify: {e}");
                }
                let opts = OPT_UV | (u8::try_from(key + 1).expect("small") << 2);
                seeds.push(encode(
                    opts,
                    &[
                        (Field::AuthData, &ad),
                        (Field::Signature, &sig),
                        (Field::CredentialId, cred_id),
                        (Field::CoseKey, &cose),
                        (Field::Challenge, challenge),
                        (Field::StoredCount, &4u32.to_be_bytes()),
                        (Field::SealText, sealed.as_bytes()),
                        (Field::Profile, b"dev"),
                    ],
                ));
            }
            // Make-credential answers: packed self attestation, and "none".
            let mut ad = sha256(RP.as_bytes()).to_vec();
            ad.push(0x01 | 0x04 | 0x40 | 0x80);
            ad.extend_from_slice(&1u32.to_be_bytes());
            ad.extend_from_slice(b"cosmoscope-soft!");
            ad.extend_from_slice(&u16::try_from(cred_id.len()).expect("short").to_be_bytes());
            ad.extend_from_slice(cred_id);
            ad.extend_from_slice(&cose);
            ad.extend_from_slice(&cbor(&Value::Map(vec![(
                Value::Text("hmac-secret".into()),
                Value::Bool(true),
            )])));
            let sig = sign(key, [&ad[..], &cdh[..]].concat());
            let alg = seed_keys[key].algorithm().cose().to_le_bytes();
            let att = AttestationResponse {
                fmt: "packed".into(),
                auth_data: ad.clone(),
                att_alg: seed_keys[key].algorithm().cose(),
                att_sig: sig.clone(),
                att_x5c: Vec::new(),
            };
            match verify_attestation(&att, challenge, RP, true) {
                Ok(v) => assert_eq!(v.attestation, "packed (self)"),
                Err(e) => panic!("seed attestation {key} does not verify: {e}"),
            }
            for fmt in [b"packed".as_slice(), b"none"] {
                seeds.push(encode(
                    OPT_UV,
                    &[
                        (Field::AuthData, &ad),
                        (Field::Signature, &sig),
                        (Field::Fmt, fmt),
                        (Field::AttAlg, &alg),
                        (Field::CredentialId, cred_id),
                        (Field::CoseKey, &cose),
                        (Field::Challenge, challenge),
                    ],
                ));
            }
        }
        Fixture {
            seed_keys,
            secret_keys,
            signed,
            known_output,
            secret_output,
            seeds,
        }
    })
}

fn write_seeds() {
    let Some(dir) = std::env::var_os("COSMOSCOPE_FUZZ_SEEDS") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).expect("seed directory");
    for (i, seed) in fixture().seeds.iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i:02}")), seed).expect("write seed");
    }
}

/// A parsed key survives its own encoding, and the encoding is canonical.
fn round_trip(key: &PublicKey) {
    let bytes = key.to_cose_bytes();
    match PublicKey::from_cose_bytes(&bytes) {
        Ok(again) => {
            assert_eq!(&again, key, "COSE round trip changed the key");
            assert_eq!(
                again.to_cose_bytes(),
                bytes,
                "COSE encoding is not canonical"
            );
        }
        Err(e) => panic!("our own COSE encoding does not parse: {e}"),
    }
}

fn check_auth_data(bytes: &[u8]) {
    let Ok(a) = AuthData::parse(bytes) else {
        return;
    };
    assert!(bytes.len() >= 37);
    assert_eq!(a.rp_id_hash[..], bytes[..32]);
    assert_eq!(a.flags, bytes[32]);
    assert_eq!(a.sign_count.to_be_bytes()[..], bytes[33..37]);
    assert_eq!(a.attested.is_some(), a.flags & 0x40 != 0);
    assert_eq!(a.extensions.is_some(), a.flags & 0x80 != 0);
    if let Some(c) = &a.attested {
        round_trip(&c.public_key);
    }
}

fn check_cose(bytes: &[u8]) {
    if let Ok(k) = PublicKey::from_cose_bytes(bytes) {
        round_trip(&k);
        // Verifying arbitrary bytes must not panic either.
        let _ = k.verify(bytes, bytes);
    }
}

/// `text` as a stored keyring value, in either slot: the header and opening agree, only the
/// seeds' output opens, a value never opens in both slots, and the slot-less format never opens.
fn check_sealed_text(fx: &Fixture, text: &str, profile: &str) {
    let header = seal::header(text);
    if header.is_ok() {
        assert!(seal::is_sealed(text));
    }
    if text.starts_with("cs1.") {
        assert!(seal::is_sealed(text), "the slot-less format is not recognised as sealed");
        assert_eq!(header, Err(SealError::Outdated));
    }
    let mut opened = 0;
    for slot in [Slot::Refresh, Slot::AccountKey] {
        match (&header, seal::unseal(&fx.secret_output, profile, slot, text)) {
            (Err(e), Err(u)) => assert_eq!(*e, u, "header and unseal disagree on the format"),
            (Err(e), Ok(_)) => panic!("unseal opened what header rejects ({e})"),
            (Ok(_), Ok(_)) => panic!("a sealed value opened with an output the fuzzer never saw"),
            (Ok(_), Err(u)) => assert_ne!(u, SealError::Format, "header accepted the format"),
        }
        if seal::unseal(&fx.known_output, profile, slot, text).is_ok() {
            assert!(header.is_ok());
            opened += 1;
        }
    }
    assert!(opened < 2, "a sealed value opened in both slots: {text:?}");
}

fn check_seal_round_trip(fx: &Fixture, opts: u8, f: &[&[u8]; FIELDS]) {
    let profile = String::from_utf8_lossy(f[Field::Profile as usize]);
    let secret = String::from_utf8_lossy(f[Field::SealText as usize]).into_owned();
    let credential_id = f[Field::CredentialId as usize];
    let user_verified = opts & 0x20 != 0;
    let (slot, other_slot) = if opts & 0x40 == 0 {
        (Slot::Refresh, Slot::AccountKey)
    } else {
        (Slot::AccountKey, Slot::Refresh)
    };
    let ctx = SealContext {
        profile: &profile,
        credential_id,
        user_verified,
        slot,
    };
    let sealed = seal::seal(&fx.known_output, &ctx, &SecretString::from(secret.clone()));
    assert!(seal::is_sealed(&sealed));
    assert_eq!(
        seal::header(&sealed),
        Ok(SealedHeader {
            credential_id: credential_id.to_vec(),
            user_verified
        })
    );
    assert_eq!(
        seal::unseal(&fx.known_output, &profile, slot, &sealed)
            .map(|s| s.expose_secret().to_string())
            .as_deref(),
        Ok(secret.as_str())
    );
    assert_eq!(
        seal::unseal(&fx.secret_output, &profile, slot, &sealed).err(),
        Some(SealError::Open)
    );
    assert_eq!(
        seal::unseal(&fx.known_output, &format!("{profile}/other"), slot, &sealed).err(),
        Some(SealError::Open)
    );
    assert_eq!(
        seal::unseal(&fx.known_output, &profile, other_slot, &sealed).err(),
        Some(SealError::Open),
        "a sealed value opened in another slot"
    );
}

fn check_attestation(fx: &Fixture, opts: u8, f: &[&[u8]; FIELDS]) {
    let x5c = f[Field::X5c as usize];
    let att = AttestationResponse {
        fmt: String::from_utf8_lossy(f[Field::Fmt as usize]).into_owned(),
        auth_data: f[Field::AuthData as usize].to_vec(),
        att_alg: att_alg(f[Field::AttAlg as usize]),
        att_sig: f[Field::Signature as usize].to_vec(),
        att_x5c: if x5c.is_empty() {
            Vec::new()
        } else {
            vec![x5c.to_vec()]
        },
    };
    let require_uv = opts & OPT_UV != 0;
    let challenge = f[Field::Challenge as usize];
    let Ok(v) = verify_attestation(&att, challenge, RP, require_uv) else {
        return;
    };
    let a = AuthData::parse(&att.auth_data).expect("accepted authenticator data parses");
    assert_eq!(a.rp_id_hash, sha256(RP.as_bytes()));
    assert!(a.user_present());
    assert!(!require_uv || a.user_verified());
    assert_eq!(v.user_verified, a.user_verified());
    assert_eq!(v.sign_count, a.sign_count);
    assert!(matches!(
        a.extension("hmac-secret"),
        Some(Value::Bool(true))
    ));
    let cred = a.attested.expect("accepted answers carry a credential");
    assert_eq!(v.credential_id, cred.credential_id);
    assert_eq!(v.public_key, cred.public_key);
    assert_eq!(v.aaguid, cred.aaguid);
    let msg = [&att.auth_data[..], &verify::client_data_hash(challenge)[..]].concat();
    match v.attestation.as_str() {
        "none" => assert_eq!(att.fmt, "none"),
        "packed (self)" | "packed (x5c)" => {
            assert_eq!(att.fmt, "packed");
            assert!(
                (0..2).any(|k| fx.signed.contains(&(k, msg.clone()))),
                "accepted an attestation signature this process never made"
            );
            if v.attestation == "packed (self)" {
                assert!(fx.seed_keys.contains(&v.public_key));
            }
        }
        other => panic!("unknown attestation kind {other:?}"),
    }
}

fn check_assertion(fx: &Fixture, opts: u8, f: &[&[u8]; FIELDS]) {
    let choice = (opts >> 2) & 3;
    let parsed;
    let key = match choice {
        0 => match PublicKey::from_cose_bytes(f[Field::CoseKey as usize]) {
            Ok(k) => {
                parsed = k;
                &parsed
            }
            Err(_) => &fx.seed_keys[0],
        },
        1 => &fx.seed_keys[0],
        2 => &fx.seed_keys[1],
        _ => &fx.secret_keys[usize::from((opts >> 4) & 1)],
    };
    let cred_id = f[Field::CredentialId as usize];
    let auth_data = f[Field::AuthData as usize];
    let resp = AssertionResponse {
        credential_id: if opts & OPT_OTHER_CRED != 0 {
            [cred_id, b"+"].concat()
        } else {
            cred_id.to_vec()
        },
        auth_data: auth_data.to_vec(),
        signature: f[Field::Signature as usize].to_vec(),
        hmac_output: None,
    };
    let stored = stored_count(f[Field::StoredCount as usize]);
    let require_uv = opts & OPT_UV != 0;
    let challenge = f[Field::Challenge as usize];
    let expected = Expected {
        rp_id: RP,
        credential_id: cred_id,
        public_key: key,
        stored_sign_count: stored,
        require_uv,
    };
    let result = verify_assertion(&resp, challenge, &expected);
    if opts & OPT_OTHER_CRED != 0 {
        assert_eq!(
            result.as_ref().err(),
            Some(&VerifyError::CredentialMismatch)
        );
    }
    if choice == 3 {
        assert!(
            result.is_err(),
            "an assertion verified with a key whose private half never left this process"
        );
    }
    let Ok(v) = result else {
        return;
    };
    let msg = [auth_data, &verify::client_data_hash(challenge)[..]].concat();
    let signer = fx.seed_keys.iter().position(|k| k == key);
    assert!(
        signer.is_some_and(|k| fx.signed.contains(&(k, msg))),
        "accepted an assertion signature this process never made"
    );
    let a = AuthData::parse(auth_data).expect("accepted authenticator data parses");
    assert_eq!(a.rp_id_hash, sha256(RP.as_bytes()));
    assert!(a.user_present());
    assert!(!require_uv || a.user_verified());
    assert_eq!(v.user_verified, a.user_verified());
    assert_eq!(v.sign_count, a.sign_count);
    assert!(
        (stored == 0 && a.sign_count == 0) || a.sign_count > stored,
        "counter {stored} -> {} accepted",
        a.sign_count
    );
}

fuzz_target!(init: write_seeds(), |data: &[u8]| {
    let fx = fixture();
    // The whole input as each format.
    check_auth_data(data);
    check_cose(data);
    if let Ok(text) = std::str::from_utf8(data) {
        check_sealed_text(fx, text, "dev");
    }
    // The input as the fields of an answer.
    let Some((&opts, rest)) = data.split_first() else {
        return;
    };
    let f = fields(rest);
    check_auth_data(f[Field::AuthData as usize]);
    check_cose(f[Field::CoseKey as usize]);
    check_attestation(fx, opts, &f);
    check_assertion(fx, opts, &f);
    if let Ok(text) = std::str::from_utf8(f[Field::SealText as usize]) {
        check_sealed_text(fx, text, &String::from_utf8_lossy(f[Field::Profile as usize]));
    }
    check_seal_round_trip(fx, opts, &f);
});
