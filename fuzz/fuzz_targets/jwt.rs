#![no_main]
//! Any bytes as a token, a JWKS or a discovery document: decoding never panics, and a token is
//! never accepted without a key (verification needs a JWKS we do not give it here).

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = cosmoscope::identity::verify::is_jwt(text);
    let _ = cosmoscope::identity::verify::unverified_claims(text);
    let _ = serde_json::from_str::<jsonwebtoken::jwk::JwkSet>(text);
    let _ = serde_json::from_str::<cosmoscope::identity::Metadata>(text);
    let _ = serde_json::from_str::<cosmoscope::identity::DeviceAuthorization>(text);
});
