//! The cost of verifying a token again at every use (issue 13): an ES256 ID token checked N times
//! by the offline verifier from a cached JWKS, as every deciding command does. RS256 is measured
//! end to end by `bench/compare.sh` (the local OpenID provider signs with it).
//! `cargo run --release --example verify_bench [N]`

use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use cosmoscope::identity::verify::Verifier;
use p256::ecdsa::signature::Signer as _;
use serde_json::json;

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let key = p256::ecdsa::SigningKey::from_bytes(&[7u8; 32].into()).expect("key");
    let point = key.verifying_key().to_encoded_point(false);
    let jwks = json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "k", "alg": "ES256", "use": "sig",
        "x": B64.encode(point.x().expect("x")), "y": B64.encode(point.y().expect("y"))}]});
    let dir = std::env::temp_dir().join(format!("verify-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let cache = dir.join("jwks.json");
    std::fs::write(&cache, jwks.to_string()).expect("jwks");
    let issuer = "http://127.0.0.1:9/bench";
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let claims = json!({"iss": issuer, "aud": "cli", "sub": "alice", "iat": now, "exp": now + 3600,
        "roles": ["admin"], "email": "alice@example.com"});
    let input = format!(
        "{}.{}",
        B64.encode(json!({"alg": "ES256", "kid": "k", "typ": "JWT"}).to_string()),
        B64.encode(claims.to_string())
    );
    let sig: p256::ecdsa::Signature = key.sign(input.as_bytes());
    let token = format!("{input}.{}", B64.encode(sig.to_bytes()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    // What a command does once: read the cached JWKS and verify.
    let once = || {
        let issuer = cosmoscope::identity::Issuer {
            url: issuer.to_string(),
            tenants: Vec::new(),
        };
        let mut v = Verifier::offline(&issuer, Some(cache.clone()));
        rt.block_on(v.verify(&token, "cli", None))
            .expect("verifies");
    };
    once();
    let start = Instant::now();
    for _ in 0..n {
        once();
    }
    let per = start.elapsed() / n;
    println!("ES256 ID token, JWKS cache read and verified: {per:?} per use ({n} runs)");
    let _ = std::fs::remove_dir_all(&dir);
}
