#![no_main]
//! The token verifier with real keys: a JWKS with an ES256 (P-256) and an EdDSA (Ed25519) key,
//! made once from fixed bytes, and `identity::Verifier::verify` on arbitrary token text. Nothing
//! panics, and a token is accepted only if it is, byte for byte, one this process signed: the
//! fuzzer never holds a private key, so any other acceptance is a forgery (or a malleable encoding).
//!
//! Offline: the verifier reads the JWKS from its cache file, and its `jwks_uri` is a `file:` URL,
//! which the HTTP client refuses without opening a socket (an unknown `kid` triggers a refetch).
//!
//! Every input is checked twice: as a token, and as edits to one of our signed tokens (the first
//! byte picks the token, then triples of operation, position, character), so the mutations stay
//! close to valid tokens. With `COSMOSCOPE_FUZZ_SEEDS=DIR`, the signed tokens and a few mutated
//! variants are written into DIR before the corpus is read.

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use cosmoscope::identity::http::Http;
use cosmoscope::identity::verify::Verifier;
use libfuzzer_sys::fuzz_target;
use p256::ecdsa::signature::Signer as _;

const ISSUER: &str = "http://127.0.0.1:9/fuzz-issuer";
const AUDIENCE: &str = "cosmoscope-fuzz";
const NONCE: &str = "n-0";
/// Never fetched: reqwest refuses the scheme before any I/O.
const JWKS_URI: &str = "file:///nonexistent/jwks.json";

struct Fixture {
    http: Http,
    runtime: tokio::runtime::Runtime,
    cache: std::path::PathBuf,
    /// Every token this process signed.
    tokens: Vec<String>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let es = p256::ecdsa::SigningKey::from_slice(&[0x31; 32]).expect("scalar");
        let ed = ed25519_dalek::SigningKey::from_bytes(&[0x42; 32]);
        let point = es.verifying_key().to_encoded_point(false);
        let jwks = serde_json::json!({"keys": [
            {"kty": "EC", "crv": "P-256", "kid": "es", "alg": "ES256", "use": "sig",
             "x": B64.encode(point.x().expect("x")), "y": B64.encode(point.y().expect("y"))},
            {"kty": "OKP", "crv": "Ed25519", "kid": "ed", "alg": "EdDSA", "use": "sig",
             "x": B64.encode(ed.verifying_key().to_bytes())},
        ]});
        let cache = std::env::temp_dir().join("cosmoscope-fuzz-jwks.json");
        std::fs::write(&cache, serde_json::to_vec(&jwks).expect("json")).expect("write JWKS cache");

        let mut tokens = Vec::new();
        let claims = |extra: serde_json::Value| {
            let mut c = serde_json::json!({
                "iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "exp": 4_102_444_800u64,
                "iat": 1_700_000_000u64, "nonce": NONCE,
                "https://cosmoscope.test/roles": ["reader"],
            });
            if let (Some(c), Some(e)) = (c.as_object_mut(), extra.as_object()) {
                c.extend(e.clone());
            }
            c
        };
        let payloads = [
            claims(serde_json::json!({})),
            claims(serde_json::json!({"aud": [AUDIENCE, "other"], "nbf": 1_600_000_000u64})),
        ];
        for header in [
            serde_json::json!({"alg": "ES256", "kid": "es", "typ": "JWT"}),
            serde_json::json!({"alg": "EdDSA", "kid": "ed", "typ": "JWT"}),
            serde_json::json!({"alg": "ES256"}),
            serde_json::json!({"alg": "EdDSA"}),
        ] {
            for payload in &payloads {
                let input = format!(
                    "{}.{}",
                    B64.encode(header.to_string()),
                    B64.encode(payload.to_string())
                );
                let sig = if header["alg"] == "ES256" {
                    let s: p256::ecdsa::Signature = es.sign(input.as_bytes());
                    s.to_bytes().to_vec()
                } else {
                    use ed25519_dalek::Signer as _;
                    ed.sign(input.as_bytes()).to_bytes().to_vec()
                };
                tokens.push(format!("{input}.{}", B64.encode(sig)));
            }
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let fx = Fixture {
            http: Http::new().expect("HTTP client"),
            runtime,
            cache,
            tokens,
        };
        // The fixture is sound: every signed token verifies (else the oracle below proves nothing).
        for t in &fx.tokens {
            if let Err(e) = verify(&fx, t, Some(NONCE)) {
                panic!("our own token does not verify: {e}: {t}");
            }
        }
        fx
    })
}

fn verify(
    fx: &Fixture,
    token: &str,
    nonce: Option<&str>,
) -> Result<serde_json::Map<String, serde_json::Value>, cosmoscope::identity::IdentityError> {
    fx.runtime.block_on(async {
        Verifier::new(&fx.http, ISSUER, JWKS_URI, Some(fx.cache.clone()))
            .verify(token, AUDIENCE, nonce)
            .await
    })
}

const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=";

/// Applies (operation, position, character) triples to `token`.
fn edit(token: &str, ops: &[u8]) -> String {
    let mut t = token.as_bytes().to_vec();
    for op in ops.chunks(3) {
        let [kind, pos, ch] = [op[0], *op.get(1).unwrap_or(&0), *op.get(2).unwrap_or(&0)];
        let at = usize::from(pos) * t.len() / 256;
        let c = CHARS[usize::from(ch) % CHARS.len()];
        match kind % 4 {
            0 if at < t.len() => t[at] = c,
            1 => t.insert(at, c),
            2 if at < t.len() => {
                t.remove(at);
            }
            _ => t.truncate(at.max(1)),
        }
    }
    String::from_utf8(t).expect("ASCII edits of ASCII")
}

fn check(fx: &Fixture, token: &str) {
    for nonce in [None, Some(NONCE)] {
        if let Ok(claims) = verify(fx, token, nonce) {
            assert!(
                fx.tokens.iter().any(|t| t == token),
                "accepted a token this process never signed: {token:?}"
            );
            assert_eq!(claims["iss"], ISSUER);
        }
    }
}

fn write_seeds() {
    let Some(dir) = std::env::var_os("COSMOSCOPE_FUZZ_SEEDS") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).expect("seed directory");
    let fx = fixture();
    let mut seeds: Vec<Vec<u8>> = fx.tokens.iter().map(|t| t.clone().into_bytes()).collect();
    for (i, t) in fx.tokens.iter().enumerate() {
        let sig_at = t.rfind('.').expect("three parts");
        // A flipped signature character, a cut signature, a swapped payload, an edit recipe.
        let mut flipped = t.clone().into_bytes();
        flipped[sig_at + 3] = if flipped[sig_at + 3] == b'A' {
            b'B'
        } else {
            b'A'
        };
        seeds.push(flipped);
        seeds.push(t.as_bytes()[..sig_at + 10].to_vec());
        let other = &fx.tokens[(i + 1) % fx.tokens.len()];
        let payload = |s: &str| s.split('.').nth(1).unwrap_or_default().to_string();
        seeds.push(t.replacen(&payload(t), &payload(other), 1).into_bytes());
        seeds.push(vec![u8::try_from(i).expect("few tokens"), 0, 200, 7]);
    }
    for (i, seed) in seeds.iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i:02}")), seed).expect("write seed");
    }
}

fuzz_target!(init: write_seeds(), |data: &[u8]| {
    let fx = fixture();
    if let Ok(text) = std::str::from_utf8(data) {
        check(fx, text);
    }
    if let Some((&pick, ops)) = data.split_first() {
        let token = &fx.tokens[usize::from(pick) % fx.tokens.len()];
        check(fx, &edit(token, ops));
    }
});
