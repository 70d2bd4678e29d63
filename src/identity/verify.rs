//! Token verification, done by cosmoscope itself: JWKS signature with an algorithm allow-list, `iss`,
//! `aud`, `exp`, `nbf`, `iat` with a bounded clock skew. An unknown `kid` refetches the JWKS once.
//!
//! The signature and registered-claim checks use `jsonwebtoken` (one verifier for ID tokens and JWT
//! access tokens, with leeway and named error kinds); the policy around it — which algorithms, which
//! key, what each failure is called — is here.

use base64::Engine as _;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use serde_json::{Map, Value};

use super::IdentityError;
use super::http::Http;
use crate::clock::now_unix;

/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
pub const LEEWAY_SECS: u64 = 60;

/// Asymmetric algorithms only: never `none`, never HMAC (a public key is not a shared secret).
pub const ALLOWED_ALGS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Why a token was rejected. The `Display` text is what users and the audit log see.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the token is not a well-formed JWT ({0})")]
    Malformed(String),
    #[error("algorithm {0:?} is not allowed (allowed: RS*, PS*, ES256, ES384, EdDSA)")]
    Algorithm(String),
    #[error(
        "signed with key {0:?}, which the provider's JWKS does not contain (even after a refetch)"
    )]
    UnknownKey(String),
    #[error("the signature does not verify")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet (nbf in the future)")]
    NotYetValid,
    #[error("the token was issued in the future (iat beyond the allowed clock skew)")]
    IssuedInFuture,
    #[error("the audience does not match (expected {expected:?})")]
    Audience { expected: String },
    #[error("the issuer does not match (expected {expected:?})")]
    Issuer { expected: String },
    #[error("tenant {0:?} is not in the profile's allowed_tenants")]
    Tenant(String),
    #[error("the nonce does not match")]
    Nonce,
    #[error("claim {0:?} is missing")]
    MissingClaim(String),
}

impl VerifyError {
    /// A short, stable name for the audit log's `cause` field.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            VerifyError::Malformed(_) => "malformed",
            VerifyError::Algorithm(_) => "algorithm",
            VerifyError::UnknownKey(_) => "unknown_key",
            VerifyError::Signature => "signature",
            VerifyError::Expired => "expired",
            VerifyError::NotYetValid => "not_yet_valid",
            VerifyError::IssuedInFuture => "issued_in_future",
            VerifyError::Audience { .. } => "audience",
            VerifyError::Issuer { .. } => "issuer",
            VerifyError::Tenant(_) => "tenant",
            VerifyError::Nonce => "nonce",
            VerifyError::MissingClaim(_) => "missing_claim",
        }
    }
}

/// How long a cached JWKS is trusted before it is fetched again (keys are rotated and withdrawn).
pub const JWKS_TTL: std::time::Duration = std::time::Duration::from_hours(24);

/// The verifier for one provider: its issuer and (lazily fetched, refetched once) JWKS.
pub struct Verifier {
    /// `None` until a fetch is needed (an offline verifier on a fresh cache never builds one).
    http: Option<Http>,
    issuer: super::Issuer,
    /// `None`: found through the issuer's discovery document when a fetch is needed.
    jwks_uri: Option<String>,
    jwks: Option<JwkSet>,
    /// When the keys in memory were fetched (a long-running gateway fetches again after
    /// [`JWKS_TTL`]).
    fetched_at: Option<std::time::Instant>,
    /// When an unknown `kid` last made us fetch again: at most once a minute, so a flood of
    /// tokens with made-up key ids cannot turn into a flood of JWKS requests.
    refetched: Option<std::time::Instant>,
    /// Where the JWKS is kept between runs (public data): a command then costs no JWKS request
    /// unless the provider rotated its keys or the copy is older than [`JWKS_TTL`].
    cache: Option<std::path::PathBuf>,
}

impl Verifier {
    #[must_use]
    pub fn new(
        http: &Http,
        issuer: &super::Issuer,
        jwks_uri: &str,
        cache: Option<std::path::PathBuf>,
    ) -> Self {
        let mut v = Self::offline(issuer, cache);
        v.http = Some(http.clone());
        v.jwks_uri = Some(jwks_uri.to_string());
        v
    }

    /// A verifier that uses the cached JWKS and reaches the provider only when the cache is
    /// missing, stale or lacks the token's key (a stored session's tokens, checked at every use).
    #[must_use]
    pub fn offline(issuer: &super::Issuer, cache: Option<std::path::PathBuf>) -> Self {
        let fresh = |p: &std::path::Path| {
            std::fs::metadata(p)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age < JWKS_TTL))
        };
        let jwks = cache
            .as_deref()
            .filter(|p| fresh(p))
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|b| serde_json::from_slice(&b).ok());
        Self {
            http: None,
            issuer: issuer.clone(),
            jwks_uri: None,
            jwks,
            fetched_at: None,
            refetched: None,
            cache,
        }
    }

    async fn fetch_jwks(&mut self) -> Result<(), IdentityError> {
        let fetched = self.jwks_fetch().await?;
        self.install(fetched);
        Ok(())
    }

    /// A fetch of the provider's JWKS that borrows nothing from the verifier, so that a gateway
    /// fetches without holding the verifier every other request reads; [`Self::install`] takes
    /// what it brings.
    pub fn jwks_fetch(
        &self,
    ) -> impl std::future::Future<Output = Result<FetchedKeys, IdentityError>> + 'static {
        let known = self.http.clone().zip(self.jwks_uri.clone());
        let issuer = self.issuer.clone();
        async move {
            let (http, jwks_uri) = if let Some(known) = known {
                known
            } else {
                let provider = super::Provider::discover(&issuer, "").await?;
                (provider.http, provider.metadata.jwks_uri)
            };
            let set: JwkSet = http.get_as(&jwks_uri, "the provider's JWKS").await?;
            Ok(FetchedKeys {
                http,
                jwks_uri,
                set,
            })
        }
    }

    /// Takes the keys a [`Self::jwks_fetch`] brought (and keeps a copy in the cache file, if any).
    pub fn install(&mut self, fetched: FetchedKeys) {
        if let Some(path) = &self.cache
            && let Ok(bytes) = serde_json::to_vec(&fetched.set)
        {
            // Only an optimisation: a failed write costs one request next time.
            let _ = crate::fsutil::write_private_atomic(path, &bytes);
        }
        self.http = Some(fetched.http);
        self.jwks_uri = Some(fetched.jwks_uri);
        self.jwks = Some(fetched.set);
        self.fetched_at = Some(std::time::Instant::now());
    }

    /// Fetches the keys now (a gateway is ready only once it can verify a token).
    pub async fn prefetch(&mut self) -> Result<(), IdentityError> {
        self.fetch_jwks().await
    }

    /// The issuer this verifier accepts.
    #[must_use]
    pub fn issuer_url(&self) -> &str {
        &self.issuer.url
    }

    /// Whether keys are loaded.
    #[must_use]
    pub fn has_keys(&self) -> bool {
        self.jwks.is_some()
    }

    /// Verifies `token` for `audience` and returns its claims.
    pub async fn verify(
        &mut self,
        token: &str,
        audience: &str,
        nonce: Option<&str>,
    ) -> Result<Map<String, Value>, IdentityError> {
        self.verify_for(token, Some(audience), nonce).await
    }

    /// Verifies an access token that was issued *to* `client_id` for some other audience
    /// (Keycloak's `aud: account`, `azp: <client>`): signature, issuer and lifetime as for any
    /// token, and `azp` must be `client_id` instead of `aud` naming us.
    pub async fn verify_azp(
        &mut self,
        token: &str,
        client_id: &str,
    ) -> Result<Map<String, Value>, IdentityError> {
        let claims = self.verify_for(token, None, None).await?;
        if claims.get("azp").and_then(Value::as_str) != Some(client_id) {
            return Err(VerifyError::Audience {
                expected: format!("azp {client_id}"),
            }
            .into());
        }
        Ok(claims)
    }

    async fn verify_for(
        &mut self,
        token: &str,
        audience: Option<&str>,
        nonce: Option<&str>,
    ) -> Result<Map<String, Value>, IdentityError> {
        let (algorithm, kid) = header_of(token)?;
        let stale = self.fetched_at.is_some_and(|at| at.elapsed() >= JWKS_TTL);
        if self.jwks.is_none() {
            self.fetch_jwks().await?;
        } else if stale && self.fetch_jwks().await.is_err() {
            // The provider is down: the keys we have still verify what they signed.
            self.fetched_at = Some(std::time::Instant::now());
        }
        let mut jwk = self.find_key(kid.as_deref(), algorithm);
        if jwk.is_none() && self.claim_refetch() {
            // The provider may have rotated its keys since we fetched them: refetch once (a
            // command), or once a minute (a gateway).
            self.fetch_jwks().await?;
            jwk = self.find_key(kid.as_deref(), algorithm);
        }
        let jwk = jwk.ok_or_else(|| unknown_key(kid.as_deref()))?;
        self.check_with(token, &jwk, algorithm, audience, nonce)
    }

    /// Verifies `token` for `audience` with the keys in memory only, never waiting on the
    /// network: what a gateway does under a short lock. [`InMemory::Fetch`] when keys must be
    /// fetched first — none are loaded, or the token names a key we lack and a refetch is due
    /// (at most once a minute; the caller fetches with [`Self::jwks_fetch`] and asks again).
    pub fn verify_in_memory(&mut self, token: &str, audience: &str) -> InMemory {
        self.in_memory(token, audience, true)
    }

    /// [`Self::verify_in_memory`] right after a fetch: a key still missing is unknown (no second
    /// refetch is asked for); [`InMemory::Fetch`] only when no keys could be loaded at all.
    pub fn verify_after_fetch(&mut self, token: &str, audience: &str) -> InMemory {
        self.in_memory(token, audience, false)
    }

    fn in_memory(&mut self, token: &str, audience: &str, may_refetch: bool) -> InMemory {
        let (algorithm, kid) = match header_of(token) {
            Ok(found) => found,
            Err(e) => return InMemory::Done(Err(e)),
        };
        if self.jwks.is_none() {
            return InMemory::Fetch;
        }
        match self.find_key(kid.as_deref(), algorithm) {
            Some(jwk) => {
                InMemory::Done(self.check_with(token, &jwk, algorithm, Some(audience), None))
            }
            None if may_refetch && self.claim_refetch() => InMemory::Fetch,
            None => InMemory::Done(Err(unknown_key(kid.as_deref()))),
        }
    }

    /// Whether an unknown `kid` may make us fetch the keys again now; if so, the minute starts.
    fn claim_refetch(&mut self) -> bool {
        let due = self
            .refetched
            .is_none_or(|at| at.elapsed() >= std::time::Duration::from_mins(1));
        if due {
            self.refetched = Some(std::time::Instant::now());
        }
        due
    }

    /// Everything after the key is found: signature, audience, issuer, lifetime, nonce.
    fn check_with(
        &self,
        token: &str,
        jwk: &Jwk,
        algorithm: Algorithm,
        audience: Option<&str>,
        nonce: Option<&str>,
    ) -> Result<Map<String, Value>, IdentityError> {
        let key = DecodingKey::from_jwk(jwk)
            .map_err(|e| VerifyError::Malformed(format!("unusable JWKS key: {e}")))?;

        let mut validation = Validation::new(algorithm);
        // `exp` and `nbf` are checked below against cosmoscope's one clock (`clock::now`), so a
        // test that freezes time freezes it for verification too.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        // The issuer is checked below by the profile's rule (exact, or Entra's tenant template).
        if let Some(aud) = audience {
            validation.set_audience(&[aud]);
            validation.set_required_spec_claims(&["exp", "aud"]);
        } else {
            validation.validate_aud = false;
            validation.set_required_spec_claims(&["exp"]);
        }
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
            .map_err(|e| map_jwt_error(e.kind(), &self.issuer.url, audience.unwrap_or("(none)")))?;
        let claims = data.claims;
        self.issuer.check(&claims)?;
        let now = now_unix();
        let time = |k: &str| claims.get(k).and_then(numeric_date);
        if time("exp").is_none_or(|exp| exp.saturating_add(LEEWAY_SECS) < now) {
            return Err(VerifyError::Expired.into());
        }
        if time("nbf").is_some_and(|nbf| nbf > now.saturating_add(LEEWAY_SECS)) {
            return Err(VerifyError::NotYetValid.into());
        }
        if let Some(iat) = claims.get("iat").and_then(Value::as_u64)
            && iat > now_unix() + LEEWAY_SECS
        {
            return Err(VerifyError::IssuedInFuture.into());
        }
        if let Some(expected) = nonce
            && claims.get("nonce").and_then(Value::as_str) != Some(expected)
        {
            return Err(VerifyError::Nonce.into());
        }
        Ok(claims)
    }

    fn find_key(&self, kid: Option<&str>, alg: Algorithm) -> Option<Jwk> {
        let set = self.jwks.as_ref()?;
        // A key published for encryption (`use: enc`) or for another algorithm never verifies.
        let meant_for = |k: &Jwk| {
            k.common
                .public_key_use
                .as_ref()
                .is_none_or(|u| *u == jsonwebtoken::jwk::PublicKeyUse::Signature)
                && k.common
                    .key_algorithm
                    .as_ref()
                    .is_none_or(|a| format!("{a:?}") == format!("{alg:?}"))
        };
        let family_fits = |k: &Jwk| {
            meant_for(k) && DecodingKey::from_jwk(k).is_ok_and(|d| d.family() == alg.family())
        };
        if let Some(kid) = kid {
            return set
                .keys
                .iter()
                .find(|k| k.common.key_id.as_deref() == Some(kid) && family_fits(k))
                .cloned();
        }
        // Without a kid, only an unambiguous key will do.
        let mut fitting = set.keys.iter().filter(|k| family_fits(k));
        match (fitting.next(), fitting.next()) {
            (Some(k), None) => Some(k.clone()),
            _ => None,
        }
    }
}

/// What [`Verifier::verify_in_memory`] found.
pub enum InMemory {
    /// Verified, or refused, with the keys in memory.
    Done(Result<Map<String, Value>, IdentityError>),
    /// The keys must be fetched first.
    Fetch,
}

/// The provider's keys as [`Verifier::jwks_fetch`] brought them, with where they came from.
pub struct FetchedKeys {
    http: Http,
    jwks_uri: String,
    set: JwkSet,
}

/// The token's algorithm (from the allow-list) and key id, read from its header.
fn header_of(token: &str) -> Result<(Algorithm, Option<String>), IdentityError> {
    let header = parse_header(token)?;
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
    let algorithm = ALLOWED_ALGS
        .into_iter()
        .find(|a| format!("{a:?}") == alg)
        .ok_or_else(|| VerifyError::Algorithm(alg.to_string()))?;
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok((algorithm, kid))
}

fn unknown_key(kid: Option<&str>) -> IdentityError {
    VerifyError::UnknownKey(kid.unwrap_or("(no kid)").to_string()).into()
}

/// A JWT NumericDate (RFC 7519 §2): whole seconds, or fractional ones rounded down; `None` for
/// anything else (negative, not a number), which no check accepts.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // finite, >= 0, floored
fn numeric_date(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| {
        v.as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map(|f| f.floor() as u64) // `as` saturates
    })
}

fn map_jwt_error(kind: &ErrorKind, issuer: &str, audience: &str) -> IdentityError {
    let e = match kind {
        ErrorKind::InvalidSignature => VerifyError::Signature,
        ErrorKind::ExpiredSignature => VerifyError::Expired,
        ErrorKind::ImmatureSignature => VerifyError::NotYetValid,
        ErrorKind::InvalidAudience => VerifyError::Audience {
            expected: audience.to_string(),
        },
        ErrorKind::InvalidIssuer => VerifyError::Issuer {
            expected: issuer.to_string(),
        },
        ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::UnsupportedAlgorithm
        | ErrorKind::MissingAlgorithm => {
            VerifyError::Algorithm("mismatch between token and key".into())
        }
        ErrorKind::MissingRequiredClaim(c) => VerifyError::MissingClaim(c.clone()),
        other => VerifyError::Malformed(format!("{other:?}")),
    };
    e.into()
}

/// Decodes the JOSE header without trusting it (we need `alg` and `kid` to choose a key).
fn parse_header(token: &str) -> Result<Map<String, Value>, VerifyError> {
    let mut parts = token.split('.');
    let (Some(h), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(VerifyError::Malformed(
            "expected three dot-separated parts".into(),
        ));
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(h.trim_end_matches('='))
        .map_err(|_| VerifyError::Malformed("the header is not base64url".into()))?;
    serde_json::from_slice(&bytes)
        .map_err(|_| VerifyError::Malformed("the header is not a JSON object".into()))
}

/// Reads the claims of a JWT without verifying it — only for tokens we already verified or that are
/// not for us to verify; never for a trust decision.
#[must_use]
pub fn unverified_claims(token: &str) -> Option<Map<String, Value>> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[must_use]
pub fn is_jwt(token: &str) -> bool {
    parse_header(token).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_of_alg_none_token_is_readable_and_refused() {
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let token = format!("{}.{}.", b64(r#"{"alg":"none"}"#), b64(r#"{"sub":"x"}"#));
        let header = parse_header(&token).expect("header");
        assert_eq!(header["alg"], "none");
        assert!(!ALLOWED_ALGS.iter().any(|a| format!("{a:?}") == "none"));
        assert!(
            !ALLOWED_ALGS
                .iter()
                .any(|a| format!("{a:?}").starts_with("HS"))
        );
    }

    /// The gateway's path: verdicts from the keys in memory, and a fetch asked for only when
    /// there are no keys, or for a key we lack at most once a minute.
    #[test]
    fn in_memory_verification_asks_for_a_fetch_only_when_it_must() {
        let issuer = super::super::Issuer {
            url: "https://idp.test".into(),
            tenants: Vec::new(),
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = dir.path().join("jwks.json");
        let now = now_unix();
        let token = |kid: &str| {
            let signed = crate::testing::sign_id_token(&serde_json::json!({
                "iss": "https://idp.test", "aud": "api", "sub": "alice",
                "iat": now, "exp": now + 600,
            }));
            // The same signature under a header naming another key: only the kid differs.
            let mut parts = signed.splitn(2, '.');
            let _ = parts.next();
            let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
            let header = b64(&format!(r#"{{"alg":"ES256","kid":"{kid}","typ":"JWT"}}"#));
            format!("{header}.{}", parts.next().expect("rest"))
        };
        let mut empty = Verifier::offline(&issuer, None);
        assert!(matches!(
            empty.verify_in_memory(&token("fixture"), "api"),
            InMemory::Fetch
        ));
        std::fs::write(&cache, crate::testing::provider_jwks().to_string()).expect("cache");
        let mut v = Verifier::offline(&issuer, Some(cache));
        let InMemory::Done(Ok(claims)) = v.verify_in_memory(&token("fixture"), "api") else {
            panic!("the fixture key verifies its token");
        };
        assert_eq!(claims["sub"], "alice");
        assert!(matches!(
            v.verify_in_memory(&token("fixture"), "another-api"),
            InMemory::Done(Err(_))
        ));
        assert!(matches!(
            v.verify_in_memory("a.b", "api"),
            InMemory::Done(Err(_))
        ));
        // Right after a fetch, a key still missing is unknown: no second fetch is asked for.
        assert!(matches!(
            v.verify_after_fetch(&token("never-published"), "api"),
            InMemory::Done(Err(_))
        ));
        // An unknown key: one fetch now, then a refusal without asking again within the minute.
        assert!(matches!(
            v.verify_in_memory(&token("rotated"), "api"),
            InMemory::Fetch
        ));
        let InMemory::Done(Err(e)) = v.verify_in_memory(&token("rotated"), "api") else {
            panic!("no second fetch within the minute");
        };
        assert!(e.to_string().contains("rotated"), "{e}");
    }

    #[test]
    fn malformed_tokens_are_named() {
        assert!(matches!(
            parse_header("abc"),
            Err(VerifyError::Malformed(_))
        ));
        assert!(matches!(
            parse_header("!!.a.b"),
            Err(VerifyError::Malformed(_))
        ));
    }
}
