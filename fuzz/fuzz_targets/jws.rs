#![no_main]
//! The token verifier with real keys: a JWKS with an ES256 (P-256) and an EdDSA (Ed25519) key,
//! made once from fixed bytes, and `identity::Verifier::verify` on arbitrary token text. Nothing
//! panics, and a token is accepted only if it is, byte for byte, one of the valid tokens this
//! process signed: the fuzzer never holds a private key, so any other acceptance is a forgery (or
//! a malleable encoding).
//!
//! The JWKS also publishes two keys that must never verify: one with `"use": "enc"` and one whose
//! `alg` is ES384 (both P-256, their private halves held here); tokens signed with them, and tokens
//! signed with the right key but expired (`exp` past), not yet valid (`nbf` future), without `exp`
//! or with a non-numeric `exp`, are in the seeds and are never accepted. Accepted claims have
//! `exp`/`nbf` that hold against the clock (60 s leeway).
//!
//! Both constructors are checked and must agree on every input: `Verifier::new`, made anew for
//! each token (its `jwks_uri` a `file:` URL, which the HTTP client refuses without opening a
//! socket), and one long-lived `Verifier::offline` (its issuer `http://127.0.0.1:9/…`, where
//! nothing listens: the first unknown `kid` sends discovery there, which fails at once, and it
//! never refetches after that). Both read the JWKS from a cache file written at start (fresh).
//!
//! Every input is checked twice: as a token, and as edits to one of our signed tokens, valid or
//! to be refused (the first byte picks the token, then triples of operation, position,
//! character), so the mutations stay close to signed tokens. With `COSMOSCOPE_FUZZ_SEEDS=DIR`, the signed tokens and a few mutated
//! variants are written into DIR before the corpus is read.

use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

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
    /// Kept across inputs, as a process checking a stored session's tokens keeps it (a fresh one
    /// per input would spend most of the time building an HTTP client for discovery).
    offline: Mutex<Verifier>,
    /// Every valid token this process signed.
    tokens: Vec<String>,
    /// Tokens this process signed that must be refused (wrong key use or algorithm, expired, …).
    refused: Vec<String>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let es = p256::ecdsa::SigningKey::from_slice(&[0x31; 32]).expect("scalar");
        let ed = ed25519_dalek::SigningKey::from_bytes(&[0x42; 32]);
        // Published, but not for ES256 signatures: never to verify anything.
        let es_enc = p256::ecdsa::SigningKey::from_slice(&[0x53; 32]).expect("scalar");
        let es_384 = p256::ecdsa::SigningKey::from_slice(&[0x64; 32]).expect("scalar");
        let ec_jwk = |key: &p256::ecdsa::SigningKey, kid: &str, alg: &str, use_: &str| {
            let point = key.verifying_key().to_encoded_point(false);
            serde_json::json!({"kty": "EC", "crv": "P-256", "kid": kid, "alg": alg, "use": use_,
             "x": B64.encode(point.x().expect("x")), "y": B64.encode(point.y().expect("y"))})
        };
        let jwks = serde_json::json!({"keys": [
            ec_jwk(&es, "es", "ES256", "sig"),
            {"kty": "OKP", "crv": "Ed25519", "kid": "ed", "alg": "EdDSA", "use": "sig",
             "x": B64.encode(ed.verifying_key().to_bytes())},
            ec_jwk(&es_enc, "es-enc", "ES256", "enc"),
            ec_jwk(&es_384, "es-384", "ES384", "sig"),
        ]});
        let cache = std::env::temp_dir().join("cosmoscope-fuzz-jwks.json");
        std::fs::write(&cache, serde_json::to_vec(&jwks).expect("json")).expect("write JWKS cache");

        let mut tokens = Vec::new();
        let mut refused = Vec::new();
        let sign = |header: &serde_json::Value, payload: &serde_json::Value, key: &str| {
            let input = format!(
                "{}.{}",
                B64.encode(header.to_string()),
                B64.encode(payload.to_string())
            );
            let sig = match key {
                "ed" => {
                    use ed25519_dalek::Signer as _;
                    ed.sign(input.as_bytes()).to_bytes().to_vec()
                }
                other => {
                    let k = match other {
                        "es" => &es,
                        "es-enc" => &es_enc,
                        _ => &es_384,
                    };
                    let s: p256::ecdsa::Signature = k.sign(input.as_bytes());
                    s.to_bytes().to_vec()
                }
            };
            format!("{input}.{}", B64.encode(sig))
        };
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
            claims(serde_json::json!({"exp": 4_102_444_800.5f64, "nbf": 1_600_000_000.25f64})),
        ];
        // Signed with the right key, but not valid now (or never).
        let invalid_payloads = [
            claims(serde_json::json!({"exp": 1_600_000_000u64})),
            claims(serde_json::json!({"nbf": 4_000_000_000u64})),
            claims(serde_json::json!({"exp": "4102444800"})),
            claims(serde_json::json!({"exp": -1})),
            {
                let mut c = claims(serde_json::json!({}));
                c.as_object_mut().expect("object").remove("exp");
                c
            },
        ];
        for (header, key) in [
            (serde_json::json!({"alg": "ES256", "kid": "es", "typ": "JWT"}), "es"),
            (serde_json::json!({"alg": "EdDSA", "kid": "ed", "typ": "JWT"}), "ed"),
            (serde_json::json!({"alg": "ES256"}), "es"),
            (serde_json::json!({"alg": "EdDSA"}), "ed"),
        ] {
            for payload in &payloads {
                tokens.push(sign(&header, payload, key));
            }
            for payload in &invalid_payloads {
                refused.push(sign(&header, payload, key));
            }
        }
        // Keys the JWKS publishes for encryption or for ES384: an ES256 token never verifies
        // with them, whether the header names them or not.
        for key in ["es-enc", "es-384"] {
            for header in [
                serde_json::json!({"alg": "ES256", "kid": key, "typ": "JWT"}),
                serde_json::json!({"alg": "ES256"}),
            ] {
                refused.push(sign(&header, &payloads[0], key));
            }
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let fx = Fixture {
            http: Http::new().expect("HTTP client"),
            runtime,
            offline: Mutex::new(Verifier::offline(ISSUER, Some(cache.clone()))),
            cache,
            tokens,
            refused,
        };
        // The fixture is sound: every valid token verifies with both verifiers (else the oracle
        // below proves nothing), and every token signed to be refused is refused.
        for t in &fx.tokens {
            for offline in [false, true] {
                if let Err(e) = verify(&fx, t, Some(NONCE), offline) {
                    panic!("our own token does not verify (offline: {offline}): {e}: {t}");
                }
            }
        }
        for t in &fx.refused {
            for offline in [false, true] {
                if let Ok(claims) = verify(&fx, t, Some(NONCE), offline) {
                    panic!("accepted a token signed to be refused (offline: {offline}): {t}: {claims:?}");
                }
            }
        }
        fx
    })
}

fn verify(
    fx: &Fixture,
    token: &str,
    nonce: Option<&str>,
    offline: bool,
) -> Result<serde_json::Map<String, serde_json::Value>, cosmoscope::identity::IdentityError> {
    if offline {
        // A panic inside verify poisons the lock; the fuzzer stops at that panic anyway.
        let mut verifier = fx.offline.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        return fx
            .runtime
            .block_on(async { verifier.verify(token, AUDIENCE, nonce).await });
    }
    let mut verifier = Verifier::new(&fx.http, ISSUER, JWKS_URI, Some(fx.cache.clone()));
    fx.runtime
        .block_on(async { verifier.verify(token, AUDIENCE, nonce).await })
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A NumericDate claim as whole seconds (fractions floored); `None` if not a number >= 0.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn seconds(v: Option<&serde_json::Value>) -> Option<u64> {
    let v = v?;
    v.as_u64().or_else(|| {
        v.as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map(|f| f.floor() as u64)
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
        let with_uri = verify(fx, token, nonce, false);
        let offline = verify(fx, token, nonce, true);
        assert_eq!(
            with_uri.is_ok(),
            offline.is_ok(),
            "Verifier::new and Verifier::offline disagree on {token:?}: {:?} vs {:?}",
            with_uri.as_ref().err().map(ToString::to_string),
            offline.as_ref().err().map(ToString::to_string)
        );
        if let Ok(claims) = with_uri {
            assert!(
                !fx.refused.iter().any(|t| t == token),
                "accepted a token signed to be refused: {token:?}"
            );
            assert!(
                fx.tokens.iter().any(|t| t == token),
                "accepted a token this process never signed: {token:?}"
            );
            assert_eq!(claims["iss"], ISSUER);
            let now = now_unix();
            let exp = seconds(claims.get("exp")).expect("accepted without a numeric exp");
            assert!(exp.saturating_add(60) >= now, "accepted an expired token: {token:?}");
            if let Some(nbf) = claims.get("nbf") {
                let nbf = seconds(Some(nbf)).expect("accepted a non-numeric nbf");
                assert!(nbf <= now.saturating_add(60), "accepted a token not valid yet: {token:?}");
            }
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
    let mut seeds: Vec<Vec<u8>> = fx
        .tokens
        .iter()
        .chain(&fx.refused)
        .map(|t| t.clone().into_bytes())
        .collect();
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
        // Edits of the valid tokens and of those signed to be refused.
        let all = fx.tokens.len() + fx.refused.len();
        let i = usize::from(pick) % all;
        let token = fx.tokens.get(i).unwrap_or_else(|| &fx.refused[i - fx.tokens.len()]);
        check(fx, &edit(token, ops));
    }
});
