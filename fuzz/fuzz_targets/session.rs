#![no_main]
//! The session's keyring entry (`session::Secrets`): `Secrets::decode` never panics on any text,
//! and the stored form round-trips:
//! - whatever `decode` reads, `decode(encode(x))` gives back the same access, refresh and ID
//!   tokens and the same security-key touch time;
//! - whatever cosmoscope could write (any non-empty access token, any optional refresh and ID
//!   tokens, any touch time; made from the input split at U+001F) it reads back unchanged.

use cosmoscope::session::Secrets;
use libfuzzer_sys::fuzz_target;
use secrecy::{ExposeSecret, SecretString};

/// The secrets as plain values, for comparison.
type Plain = (String, Option<String>, Option<String>, Option<u64>);

fn plain(s: &Secrets) -> Plain {
    (
        s.access.expose_secret().to_string(),
        s.refresh.as_ref().map(|t| t.expose_secret().to_string()),
        s.id.as_ref().map(|t| t.expose_secret().to_string()),
        s.fido2_at,
    )
}

fn round_trip(s: &Secrets) {
    let encoded = s.encode();
    match Secrets::decode(encoded.expose_secret()) {
        Some(again) => assert_eq!(
            plain(&again),
            plain(s),
            "the stored form does not round-trip: {:?}",
            encoded.expose_secret()
        ),
        None => panic!(
            "cosmoscope cannot read back what it wrote: {:?}",
            encoded.expose_secret()
        ),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(s) = Secrets::decode(text) {
        assert!(!s.access.expose_secret().is_empty(), "decoded an empty access token");
        round_trip(&s);
    }
    // The input as the fields of an entry: access, refresh, id, touch time.
    let mut parts = text.splitn(4, '\u{1f}');
    let access = parts.next().unwrap_or_default();
    if access.is_empty() {
        return;
    }
    let refresh = parts.next();
    let id = parts.next();
    let fido2_at = parts.next().map(|t| {
        t.bytes()
            .fold(0u64, |acc, b| acc.rotate_left(8) ^ u64::from(b))
    });
    round_trip(&Secrets {
        access: SecretString::from(access),
        refresh: refresh.map(SecretString::from),
        id: id.map(SecretString::from),
        fido2_at,
    });
});
