//! OpenID Connect against any discovery-capable provider: discovery, the device-code grant (RFC 8628),
//! refresh, revocation (RFC 7009), and verification of what comes back.
//!
//! The token-endpoint calls are ours rather than `oauth2`'s: its device polling loop hides each poll's
//! answer and retries network failures until its timeout, then reports `expired_token` (docs/testing.md),
//! while we must add 5 s on `slow_down`, back off on network errors, understand Entra ID's error names
//! and keep "provider unreachable" distinct. The protocol is a form POST and a JSON answer.

pub mod browser;
pub mod ci;
pub mod http;
pub mod verify;

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Map, Value};

use http::{Http, TokenReply};
pub use verify::{Verifier, VerifyError};

/// Claims from verified tokens.
pub type Claims = Map<String, Value>;

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("cannot reach {url}: {detail}")]
    Unreachable {
        url: String,
        detail: String,
        timeout: bool,
    },
    #[error("{what} at {url} answered HTTP {status}")]
    HttpStatus {
        what: &'static str,
        url: String,
        status: u16,
    },
    #[error("{what} at {url} sent an unexpected answer: {detail}")]
    BadResponse {
        what: &'static str,
        url: String,
        detail: String,
    },
    #[error(
        "the discovery document names issuer {found:?}, but the profile says {expected:?} (they must match exactly, trailing slash included)"
    )]
    IssuerMismatch { expected: String, found: String },
    #[error(
        "the provider does not offer the device-code grant (no device_authorization_endpoint in its discovery document)"
    )]
    NoDeviceEndpoint,
    #[error("the sign-in was declined{}", .0.as_ref().map(|d| format!(": {d}")).unwrap_or_default())]
    AccessDenied(Option<String>),
    #[error("the device code expired before the sign-in was approved")]
    ExpiredToken,
    #[error("the provider did not recognise the device code (bad_verification_code)")]
    BadVerificationCode,
    #[error("the refresh token was rejected ({0})")]
    RefreshRejected(String),
    #[error("the provider refused the request: {error}{}", description.as_ref().map(|d| format!(" — {d}")).unwrap_or_default())]
    OAuth {
        status: u16,
        error: String,
        description: Option<String>,
    },
    #[error("the provider stayed unreachable while waiting for approval: {0}")]
    PollUnreachable(String),
    #[error("token rejected: {0}")]
    Verify(#[from] VerifyError),
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error(
        "the provider's issuer is the multi-tenant template {0:?}, and the profile lists no allowed_tenants"
    )]
    TenantTemplate(String),
    #[error("the profile's client_secret_env names {0}, which is not set")]
    NoClientSecret(String),
    #[error(
        "the provider does not offer the browser sign-in (no authorization_endpoint in its discovery document)"
    )]
    NoAuthorizationEndpoint,
    #[error("cannot listen for the browser's answer on 127.0.0.1 port {port}: {detail}")]
    Loopback { port: u16, detail: String },
    #[error("the provider refused the browser sign-in: {error}{}", description.as_ref().map(|d| format!(" — {d}")).unwrap_or_default())]
    BrowserRefused {
        error: String,
        description: Option<String>,
    },
    #[error("no answer from the browser within {0} s")]
    BrowserTimeout(u64),
    #[error(
        "the authorization response came from {found:?}, not from the profile's provider {expected:?} (RFC 9207)"
    )]
    CallbackIssuer { expected: String, found: String },
}

/// The parts of the discovery document cosmoscope uses.
#[derive(Debug, Clone, Deserialize)]
pub struct Metadata {
    pub issuer: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    pub authorization_endpoint: Option<String>,
    pub device_authorization_endpoint: Option<String>,
    pub revocation_endpoint: Option<String>,
    /// RFC 9207: the provider names itself (`iss`) in every authorization response.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
}

/// Which issuer a provider's tokens must name: the profile's, exactly; or, for an Entra
/// multi-tenant app (`common`/`organizations`), the `{tenantid}` template filled with each
/// token's `tid`, which must be one of the allowed tenants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuer {
    /// Where discovery is (`<url>/.well-known/openid-configuration`).
    pub url: String,
    /// Non-empty: the multi-tenant rule.
    pub tenants: Vec<String>,
}

/// The placeholder in Entra's multi-tenant issuer.
pub const TENANT_PLACEHOLDER: &str = "{tenantid}";

impl Issuer {
    #[must_use]
    pub fn of(profile: &crate::settings::Profile) -> Self {
        Self {
            url: profile.issuer.clone(),
            tenants: profile.allowed_tenants.clone(),
        }
    }

    /// The issuer the discovery document must name: the profile's, or (multi-tenant) the same
    /// URL with its tenant segment (`common`, `organizations`) as the `{tenantid}` template.
    #[must_use]
    pub fn expected(&self) -> String {
        if self.tenants.is_empty() {
            return self.url.clone();
        }
        let Some(after_scheme) = self.url.find("://").map(|i| i + 3) else {
            return self.url.clone();
        };
        let Some(path) = self.url[after_scheme..]
            .find('/')
            .map(|i| i + after_scheme + 1)
        else {
            return self.url.clone();
        };
        let end = self.url[path..]
            .find('/')
            .map_or(self.url.len(), |i| i + path);
        format!(
            "{}{TENANT_PLACEHOLDER}{}",
            &self.url[..path],
            &self.url[end..]
        )
    }

    /// Whether an authorization response's `iss` (RFC 9207) names this provider: the discovered
    /// issuer, or (multi-tenant) the template filled with one of the allowed tenants.
    #[must_use]
    pub fn names_itself(&self, iss: &str, discovered: &str) -> bool {
        if self.tenants.is_empty() {
            return iss == discovered;
        }
        let template = self.expected();
        self.tenants
            .iter()
            .any(|t| template.replace(TENANT_PLACEHOLDER, t) == iss)
    }

    /// Checks a verified token's `iss` (and, multi-tenant, its `tid`).
    pub fn check(&self, claims: &Claims) -> Result<(), VerifyError> {
        let iss = claims.get("iss").and_then(Value::as_str);
        if self.tenants.is_empty() {
            return if iss == Some(self.url.as_str()) {
                Ok(())
            } else {
                Err(VerifyError::Issuer {
                    expected: self.url.clone(),
                })
            };
        }
        let tid = claims
            .get("tid")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !self.tenants.iter().any(|t| t.eq_ignore_ascii_case(tid)) {
            return Err(VerifyError::Tenant(tid.to_string()));
        }
        let expected = self.expected().replace(TENANT_PLACEHOLDER, tid);
        if iss == Some(expected.as_str()) {
            Ok(())
        } else {
            Err(VerifyError::Issuer { expected })
        }
    }
}

/// A provider, discovered.
pub struct Provider {
    pub http: Http,
    pub metadata: Metadata,
    pub client_id: String,
    /// The token-endpoint rule for issuer checks (the profile's, multi-tenant or not).
    pub issuer: Issuer,
    /// An installed app's client secret, where the provider requires one (Google).
    pub client_secret: Option<SecretString>,
}

/// The device authorization response (RFC 8628 §3.2), with the names providers actually use.
#[derive(Debug, Clone, Deserialize)]
pub struct DeviceAuthorization {
    pub device_code: SecretString,
    pub user_code: String,
    #[serde(alias = "verification_url")]
    pub verification_uri: String,
    pub verification_uri_complete: Option<String>,
    #[serde(deserialize_with = "de_u64_lenient")]
    pub expires_in: u64,
    #[serde(default, deserialize_with = "de_opt_u64_lenient")]
    pub interval: Option<u64>,
}

/// What the token endpoint granted.
pub struct TokenSet {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    pub id_token: Option<SecretString>,
    pub expires_in: Option<u64>,
    pub scope: Option<String>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSet")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

fn de_u64_lenient<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    // Entra ID's v1 endpoints send numbers as strings.
    match Value::deserialize(d)? {
        Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| serde::de::Error::custom("expected a positive integer")),
        Value::String(s) => s.parse().map_err(serde::de::Error::custom),
        _ => Err(serde::de::Error::custom("expected a number")),
    }
}

fn de_opt_u64_lenient<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    de_u64_lenient(d).map(Some)
}

fn parse_token_set(v: &Value, url: &str) -> Result<TokenSet, IdentityError> {
    let s = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(|s| SecretString::from(s.to_string()))
    };
    let access_token = s("access_token").ok_or_else(|| IdentityError::BadResponse {
        what: "the token endpoint",
        url: url.to_string(),
        detail: "no access_token in the answer".into(),
    })?;
    let expires_in = v.get("expires_in").and_then(|e| {
        e.as_u64()
            .or_else(|| e.as_str().and_then(|s| s.parse().ok()))
    });
    Ok(TokenSet {
        access_token,
        refresh_token: s("refresh_token"),
        id_token: s("id_token"),
        expires_in,
        scope: v.get("scope").and_then(Value::as_str).map(str::to_string),
    })
}

/// The longest a device code is waited for, whatever the server says (a day).
const DEVICE_CODE_MAX: u64 = 86_400;

/// One outcome of a device-code poll.
enum Poll {
    Done(TokenSet),
    Pending,
    SlowDown,
}

impl Provider {
    /// The profile's provider, discovered, with its client secret when the profile names one.
    pub async fn for_profile(
        profile: &crate::settings::Profile,
    ) -> Result<Provider, IdentityError> {
        let mut provider = Self::discover(&Issuer::of(profile), &profile.client_id).await?;
        if let Some(var) = &profile.client_secret_env {
            provider.client_secret = Some(
                crate::env::Env::named_secret(var)
                    .ok_or_else(|| IdentityError::NoClientSecret(var.clone()))?,
            );
        }
        Ok(provider)
    }

    /// Fetches `<issuer>/.well-known/openid-configuration` and checks it names the issuer the
    /// profile expects, exactly (or the `{tenantid}` template, multi-tenant).
    pub async fn discover(issuer: &Issuer, client_id: &str) -> Result<Provider, IdentityError> {
        let http = Http::new()?;
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.url.trim_end_matches('/')
        );
        let metadata: Metadata = http.get_as(&url, "the discovery document").await?;
        if metadata.issuer.contains(TENANT_PLACEHOLDER) && issuer.tenants.is_empty() {
            return Err(IdentityError::TenantTemplate(metadata.issuer));
        }
        if metadata.issuer != issuer.expected() {
            return Err(IdentityError::IssuerMismatch {
                expected: issuer.expected(),
                found: metadata.issuer,
            });
        }
        // Every endpoint the document names is held to the issuer's rule: https, or http on
        // loopback only (a token or a secret must never go to a plain-http host).
        for (name, value) in [
            ("token_endpoint", Some(&metadata.token_endpoint)),
            ("jwks_uri", Some(&metadata.jwks_uri)),
            (
                "authorization_endpoint",
                metadata.authorization_endpoint.as_ref(),
            ),
            (
                "device_authorization_endpoint",
                metadata.device_authorization_endpoint.as_ref(),
            ),
            ("revocation_endpoint", metadata.revocation_endpoint.as_ref()),
        ] {
            if let Some(v) = value
                && let Err(detail) = crate::settings::check_url(v, name)
            {
                return Err(IdentityError::BadResponse {
                    what: "the discovery document",
                    url,
                    detail,
                });
            }
        }
        Ok(Provider {
            http,
            metadata,
            client_id: client_id.to_string(),
            issuer: issuer.clone(),
            client_secret: None,
        })
    }

    #[must_use]
    pub fn verifier(&self, jwks_cache: Option<std::path::PathBuf>) -> Verifier {
        Verifier::new(
            &self.http,
            &self.issuer,
            &self.metadata.jwks_uri,
            jwks_cache,
        )
    }

    /// The client's own credentials for a token-endpoint form: its id, and the installed-app
    /// secret when the profile has one.
    fn client_form<'a>(&'a self, form: &mut Vec<(&'a str, &'a str)>) {
        form.push(("client_id", self.client_id.as_str()));
        if let Some(secret) = &self.client_secret {
            form.push(("client_secret", secret.expose_secret()));
        }
    }

    /// The device authorization request (RFC 8628 §3.1), with `audience` for providers that want it.
    pub async fn start_device(
        &self,
        scopes: &[String],
        audience: Option<&str>,
    ) -> Result<DeviceAuthorization, IdentityError> {
        let url = self
            .metadata
            .device_authorization_endpoint
            .as_deref()
            .ok_or(IdentityError::NoDeviceEndpoint)?;
        let scope = scopes.join(" ");
        let mut form = vec![("scope", scope.as_str())];
        // RFC 8628 §3.1: a client with credentials authenticates here as at the token endpoint.
        self.client_form(&mut form);
        if let Some(aud) = audience {
            form.push(("audience", aud));
        }
        let v = self.http.post_form(url, &form, None).await?.into_result()?;
        let bad = |detail: String| IdentityError::BadResponse {
            what: "the device authorization endpoint",
            url: url.to_string(),
            detail,
        };
        let mut device = DeviceAuthorization::deserialize(&*v).map_err(|e| bad(e.to_string()))?;
        // What the person is told to open and type: an https (or loopback) URL, and a code of
        // printable characters — a provider's string never drives the terminal or the browser.
        device.verification_uri =
            crate::settings::check_url(&device.verification_uri, "verification_uri")
                .map_err(bad)?
                .to_string();
        device.verification_uri_complete = device.verification_uri_complete.and_then(|u| {
            crate::settings::check_url(&u, "verification_uri_complete")
                .ok()
                .map(|u| u.to_string())
        });
        if device.user_code.is_empty()
            || device.user_code.len() > 64
            || device.user_code.chars().any(char::is_control)
        {
            return Err(bad(
                "the user code is empty, too long or holds control characters".into(),
            ));
        }
        Ok(device)
    }

    async fn poll_once(&self, device_code: &SecretString) -> Result<Poll, IdentityError> {
        let url = &self.metadata.token_endpoint;
        let mut form = vec![
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", device_code.expose_secret()),
        ];
        self.client_form(&mut form);
        match self.http.post_form(url, &form, None).await? {
            TokenReply::Ok(v) => parse_token_set(&v, url).map(Poll::Done),
            TokenReply::Error {
                status,
                error,
                description,
            } => match error.as_str() {
                "authorization_pending" => Ok(Poll::Pending),
                "slow_down" => Ok(Poll::SlowDown),
                // RFC 8628 names, and Entra ID's.
                // Okta answers access_denied when its policy does not allow the grant: keep the
                // provider's words, they say which rule.
                "access_denied" | "authorization_declined" => Err(IdentityError::AccessDenied(
                    description.filter(|d| !d.is_empty()),
                )),
                "expired_token" | "code_expired" => Err(IdentityError::ExpiredToken),
                "bad_verification_code" => Err(IdentityError::BadVerificationCode),
                _ => Err(IdentityError::OAuth {
                    status,
                    error,
                    description,
                }),
            },
        }
    }

    /// Polls the token endpoint until the user approves (RFC 8628 §3.4–3.5): at the server's interval
    /// (5 s by default), 5 s more after every `slow_down`, backing off on network errors, giving up
    /// at `expires_in`.
    pub async fn poll_device(&self, auth: &DeviceAuthorization) -> Result<TokenSet, IdentityError> {
        // A device code lives minutes (RFC 8628 suggests 1800 s); whatever the server says is
        // clamped, so no arithmetic on it can overflow.
        let deadline =
            tokio::time::Instant::now() + Duration::from_secs(auth.expires_in.min(DEVICE_CODE_MAX));
        let mut interval = Duration::from_secs(auth.interval.unwrap_or(5).clamp(1, 300));
        let mut backoff = Duration::ZERO;
        let mut last_network_error: Option<String> = None;
        loop {
            let wait = interval + backoff;
            if tokio::time::Instant::now() + wait >= deadline {
                tokio::time::sleep_until(deadline).await;
                return Err(match last_network_error {
                    Some(e) => IdentityError::PollUnreachable(e),
                    None => IdentityError::ExpiredToken,
                });
            }
            tokio::time::sleep(wait).await;
            match self.poll_once(&auth.device_code).await {
                Ok(Poll::Done(tokens)) => return Ok(tokens),
                Ok(Poll::Pending) => {
                    backoff = Duration::ZERO;
                    last_network_error = None;
                }
                Ok(Poll::SlowDown) => {
                    interval += Duration::from_secs(5);
                    backoff = Duration::ZERO;
                }
                Err(IdentityError::Unreachable { detail, .. }) => {
                    backoff = (backoff * 2).max(interval).min(Duration::from_mins(1));
                    last_network_error = Some(detail);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The refresh-token grant. `invalid_grant` (revoked, expired, or a rotated token spent twice)
    /// becomes [`IdentityError::RefreshRejected`].
    pub async fn refresh(
        &self,
        refresh_token: &SecretString,
        scopes: &[String],
    ) -> Result<TokenSet, IdentityError> {
        let url = &self.metadata.token_endpoint;
        let scope = scopes.join(" ");
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose_secret()),
            ("scope", scope.as_str()),
        ];
        self.client_form(&mut form);
        match self.http.post_form(url, &form, None).await?.into_result() {
            Ok(v) => parse_token_set(&v, url),
            // The refresh token is dead (invalid_grant), or the provider wants the person back
            // (Entra: interaction_required, consent_required, AADSTS50076/50079 for MFA): either
            // way only a new sign-in helps, and the reason is shown.
            Err(IdentityError::OAuth {
                error, description, ..
            }) if matches!(
                error.as_str(),
                "invalid_grant" | "interaction_required" | "consent_required" | "login_required"
            ) =>
            {
                Err(IdentityError::RefreshRejected(match description {
                    Some(d) if !d.is_empty() => format!("{error}: {d}"),
                    _ => error,
                }))
            }
            Err(e) => Err(e),
        }
    }

    /// Revokes a refresh token where the provider advertises RFC 7009. Returns whether it did.
    pub async fn revoke(&self, refresh_token: &SecretString) -> Result<bool, IdentityError> {
        let Some(url) = self.metadata.revocation_endpoint.as_deref() else {
            return Ok(false);
        };
        let mut form = vec![
            ("token", refresh_token.expose_secret()),
            ("token_type_hint", "refresh_token"),
        ];
        self.client_form(&mut form);
        self.http.post_form(url, &form, None).await?.into_result()?;
        Ok(true)
    }
}

/// How a client without a person proves itself at the token endpoint.
pub enum ClientGrant<'a> {
    /// `client_credentials` with a client secret.
    Secret(&'a SecretString),
    /// `client_credentials` with a federated token as the client assertion (RFC 7523 §2.2; Entra ID's
    /// workload identity federation).
    Assertion(&'a SecretString),
    /// The JWT-bearer authorization grant (RFC 7523 §2.1).
    JwtBearer(&'a SecretString),
    /// Token exchange (RFC 8693) with the federated token as the subject token.
    TokenExchange(&'a SecretString),
}

impl Provider {
    /// Gets tokens for a client acting on its own behalf (CI): no browser, no refresh token.
    pub async fn client_token(
        &self,
        grant: &ClientGrant<'_>,
        scopes: &[String],
        audience: Option<&str>,
    ) -> Result<TokenSet, IdentityError> {
        let url = &self.metadata.token_endpoint;
        // OpenID scopes mean nothing without a user; send only API scopes.
        let scope = scopes
            .iter()
            .filter(|s| {
                !matches!(
                    s.as_str(),
                    "openid" | "profile" | "email" | "offline_access"
                )
            })
            .cloned()
            .collect::<Vec<_>>()
            .join(" ");
        let mut form: Vec<(&str, &str)> = vec![("client_id", self.client_id.as_str())];
        match grant {
            ClientGrant::Secret(secret) => form.extend([
                ("grant_type", "client_credentials"),
                ("client_secret", secret.expose_secret()),
            ]),
            ClientGrant::Assertion(token) => form.extend([
                ("grant_type", "client_credentials"),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", token.expose_secret()),
            ]),
            ClientGrant::JwtBearer(token) => form.extend([
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", token.expose_secret()),
            ]),
            ClientGrant::TokenExchange(token) => form.extend([
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:token-exchange",
                ),
                ("subject_token", token.expose_secret()),
                ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
                (
                    "requested_token_type",
                    "urn:ietf:params:oauth:token-type:access_token",
                ),
            ]),
        }
        if !scope.is_empty() {
            form.push(("scope", scope.as_str()));
        }
        if let Some(aud) = audience {
            form.push(("audience", aud));
        }
        let v = self.http.post_form(url, &form, None).await?.into_result()?;
        parse_token_set(&v, url)
    }
}

/// The roles of an identity: from the configured claim (a claim name, or a JSON pointer when it
/// starts with `/`), else from the first of `roles`, `groups`, `permissions`, `scp` that exists.
/// Values may be a string array, one string, or (for `scp`) a space-separated string.
#[must_use]
pub fn roles_from_claims(claims: &Claims, roles_claim: Option<&str>) -> Vec<String> {
    let value = match roles_claim {
        Some(pointer) if pointer.starts_with('/') => {
            Value::Object(claims.clone()).pointer(pointer).cloned()
        }
        Some(name) => claims.get(name).cloned(),
        None => ["roles", "groups", "permissions", "scp"]
            .iter()
            .find_map(|n| claims.get(*n))
            .cloned(),
    };
    let mut roles: Vec<String> = match value {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        Some(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
        _ => Vec::new(),
    };
    roles.sort();
    roles.dedup();
    roles
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Claims {
        match v {
            Value::Object(m) => m,
            _ => Claims::new(),
        }
    }

    #[test]
    fn roles_from_named_claim_with_slashes() {
        let c = claims(json!({"https://example.com/roles": ["b", "a"], "roles": ["x"]}));
        assert_eq!(
            roles_from_claims(&c, Some("https://example.com/roles")),
            ["a", "b"]
        );
    }

    #[test]
    fn roles_from_json_pointer() {
        let c = claims(json!({"realm_access": {"roles": ["admin"]}}));
        assert_eq!(
            roles_from_claims(&c, Some("/realm_access/roles")),
            ["admin"]
        );
    }

    #[test]
    fn roles_fallbacks_in_order() {
        assert_eq!(
            roles_from_claims(&claims(json!({"groups": ["g"], "scp": "a b"})), None),
            ["g"]
        );
        assert_eq!(
            roles_from_claims(&claims(json!({"scp": "read write"})), None),
            ["read", "write"]
        );
        assert!(roles_from_claims(&claims(json!({})), None).is_empty());
    }

    #[test]
    fn device_authorization_accepts_entra_v1_shapes() {
        let v = json!({"device_code":"d","user_code":"U","verification_url":"https://x/devicelogin","expires_in":"900","interval":"5"});
        let d: DeviceAuthorization = serde_json::from_value(v).expect("parses");
        assert_eq!((d.expires_in, d.interval), (900, Some(5)));
        assert_eq!(d.verification_uri, "https://x/devicelogin");
    }
}
