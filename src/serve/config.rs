//! The gateway's configuration file (`cosmoscope serve --config FILE`, a `[server]` table), read
//! and checked before anything listens: a server that starts is one whose file made sense.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::identity::Issuer;
use crate::policy::Policy;
use crate::settings::CredentialKind;

/// The variable holding the gateway's account key unless `key_env` names another.
pub const DEFAULT_KEY_ENV: &str = "COSMOSCOPE_GATEWAY_ACCOUNT_KEY";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    server: ServeConfig,
}

/// The `[server]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// `host:port`. Plain HTTP is served on a loopback address, or elsewhere only to the
    /// `trusted_proxies`; otherwise `tls_cert` and `tls_key` are required.
    pub listen: String,
    /// PEM certificate chain and private key (relative paths: to this file).
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// Addresses or CIDR ranges of the TLS-terminating proxies in front: only they may connect
    /// when plain HTTP is served off loopback, and only their `X-Forwarded-For` is believed.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// The OpenID provider whose tokens are accepted (or several, with `issuers`).
    #[serde(default)]
    pub issuer: Option<String>,
    #[serde(default)]
    pub issuers: Vec<String>,
    /// Entra multi-tenant issuers (`…/organizations/v2.0`, `…/common/v2.0`): the tenants whose
    /// tokens are accepted (`tid`), as for a CLI profile.
    #[serde(default)]
    pub allowed_tenants: Vec<String>,
    /// The gateway's own API audience: a token must name it in `aud`.
    pub audience: String,
    /// Where the roles are in the token (a claim name or a JSON pointer), for audit and whoami.
    #[serde(default)]
    pub roles_claim: Option<String>,
    /// The policy file (relative paths are relative to this file).
    pub policy: PathBuf,
    /// `stdout` (default) or a file the audit records are appended to.
    #[serde(default)]
    pub audit: Option<String>,
    /// The variable holding a key for the audit records' query hashes: with it, records carry
    /// `query_hmac` instead of the query text.
    #[serde(default)]
    pub audit_hash_key_env: Option<String>,
    /// Origins a browser may call the API from (CORS); none unless listed.
    #[serde(default)]
    pub cors_origins: Vec<String>,
    pub cosmos: ServeCosmos,
    #[serde(default)]
    pub limits: Limits,
    /// `[server.otlp]`: also export the audit records as OpenTelemetry logs.
    #[serde(default)]
    pub otlp: Option<Otlp>,
    /// Filled in by `load`: the issuers with their tenant rule, the proxies parsed.
    #[serde(skip)]
    pub accepted: Vec<Issuer>,
    #[serde(skip)]
    pub proxies: Vec<Cidr>,
}

/// `[server.cosmos]`: where the data is and the gateway's own credential for it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeCosmos {
    pub endpoint: String,
    /// The database a request that names none addresses.
    pub database: String,
    /// `key` (default), `managed-identity`, `workload-identity` or `client-secret`.
    #[serde(default = "key_kind")]
    pub credential: CredentialKind,
    /// `credential = "key"`: the variable that holds the account key (never argv, never this
    /// file) …
    #[serde(default)]
    pub key_env: Option<String>,
    /// … or a file that holds it (a mounted secret), readable by this user only.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Entra identities: the tenant and application (client) id, when not in `AZURE_TENANT_ID` /
    /// `AZURE_CLIENT_ID`; the authority host for sovereign clouds.
    #[serde(default)]
    pub tenant_id: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub authority_host: Option<String>,
    #[serde(default = "yes")]
    pub http2: bool,
}

fn yes() -> bool {
    true
}

fn key_kind() -> CredentialKind {
    CredentialKind::Key
}

/// `[server.otlp]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Otlp {
    /// The collector's OTLP/HTTP logs endpoint (`https://collector:4318/v1/logs`; `http://` on
    /// loopback only).
    pub endpoint: String,
}

/// `[server.limits]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// The largest request body accepted (bytes; 413 beyond).
    pub max_body_bytes: usize,
    /// The longest query text accepted (characters; 413 beyond).
    pub max_query_chars: usize,
    /// Queries one subject may run at once (429 beyond).
    pub max_concurrent_per_subject: usize,
    /// Requests one subject may make per minute (429 with `Retry-After` beyond; 0: no limit).
    pub requests_per_minute: u32,
    /// How long one request may take, a query's whole stream included (seconds).
    pub request_timeout_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 * 1024,
            max_query_chars: 32 * 1024,
            max_concurrent_per_subject: 8,
            requests_per_minute: 600,
            request_timeout_secs: 300,
        }
    }
}

/// An address range of trusted proxies (`10.0.0.0/8`, `::1`, `127.0.0.1`).
#[derive(Debug, Clone, Copy)]
pub struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl Cidr {
    fn parse(s: &str) -> Option<Cidr> {
        let (ip, bits) = if let Some((ip, bits)) = s.split_once('/') {
            (ip.parse::<IpAddr>().ok()?, bits.parse::<u8>().ok()?)
        } else {
            let ip = s.parse::<IpAddr>().ok()?;
            (ip, if ip.is_ipv4() { 32 } else { 128 })
        };
        let max = if ip.is_ipv4() { 32 } else { 128 };
        (bits <= max).then_some(Cidr { net: ip, bits })
    }

    #[must_use]
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 @ IpAddr::V4(_) => v4,
        };
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.bits)).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.bits))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Config { path: String, message: String },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Identity(#[from] crate::identity::IdentityError),
    #[error(transparent)]
    Cosmos(#[from] crate::cosmos::CosmosError),
}

impl ServeConfig {
    /// Reads `path`, resolves relative paths against its folder, reads the policy, and checks
    /// everything that can be checked without the network.
    pub fn load(path: &Path) -> Result<(Self, Policy), ServeError> {
        let shown = path.display().to_string();
        let bad = |message: String| ServeError::Config {
            path: shown.clone(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|source| ServeError::Read {
            path: shown.clone(),
            source,
        })?;
        let mut config = toml::from_str::<File>(&text)
            .map_err(|e| bad(e.message().to_string()))?
            .server;
        let base = path
            .parent()
            .unwrap_or_else(|| Path::new("."))
            .to_path_buf();
        for p in [
            Some(&mut config.policy),
            config.tls_cert.as_mut(),
            config.tls_key.as_mut(),
            config.cosmos.key_file.as_mut(),
        ]
        .into_iter()
        .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        let policy = load_policy(&config.policy)?;
        let addr: SocketAddr = config
            .listen
            .parse()
            .map_err(|_| bad(format!("listen = {:?} is not host:port", config.listen)))?;
        config.proxies = config
            .trusted_proxies
            .iter()
            .map(|p| {
                Cidr::parse(p).ok_or_else(|| {
                    bad(format!(
                        "trusted_proxies: {p:?} is not an address or CIDR range (10.0.0.0/8, ::1)"
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
        if config.tls_cert.is_some() != config.tls_key.is_some() {
            return Err(bad("tls_cert and tls_key go together".into()));
        }
        if config.tls_cert.is_none() && !addr.ip().is_loopback() && config.proxies.is_empty() {
            return Err(bad(format!(
                "listen = {:?}: plain HTTP is served on a loopback address, or to the proxies \
                 named in trusted_proxies; set tls_cert and tls_key, or name the TLS proxy in front",
                config.listen
            )));
        }
        config.accepted = accepted_issuers(&config).map_err(bad)?;
        if config.cosmos.key_env.is_some() && config.cosmos.key_file.is_some() {
            return Err(bad(
                "[server.cosmos] key_env and key_file: name one place for the key".into(),
            ));
        }
        match config.cosmos.credential {
            CredentialKind::Entra | CredentialKind::AzureCli => {
                return Err(bad(
                    "[server.cosmos] credential: the gateway holds its own identity — key, \
                     managed-identity, workload-identity or client-secret"
                        .into(),
                ));
            }
            CredentialKind::Key => {}
            _ if config.cosmos.key_env.is_some() || config.cosmos.key_file.is_some() => {
                return Err(bad(
                    "[server.cosmos] key_env and key_file belong to credential = \"key\"".into(),
                ));
            }
            _ => {}
        }
        if let Some(otlp) = &config.otlp {
            crate::settings::check_url(&otlp.endpoint, "[server.otlp] endpoint").map_err(bad)?;
        }
        if let Some(var) = &config.audit_hash_key_env
            && !crate::env::is_variable_name(var)
        {
            return Err(bad(format!(
                "audit_hash_key_env = {var:?} is not a variable name"
            )));
        }
        for origin in &config.cors_origins {
            let ok = url::Url::parse(origin).is_ok_and(|u| {
                matches!(u.scheme(), "https" | "http") && u.path() == "/" && !origin.ends_with('/')
            });
            if !ok {
                return Err(bad(format!(
                    "cors_origins: {origin:?} is not an origin (scheme://host[:port], no path)"
                )));
            }
        }
        Ok((config, policy))
    }

    #[must_use]
    pub fn key_env(&self) -> String {
        self.cosmos
            .key_env
            .clone()
            .unwrap_or_else(|| DEFAULT_KEY_ENV.to_string())
    }
}

/// Reads and validates a policy file (also what SIGHUP does before replacing the policy).
pub fn load_policy(path: &Path) -> Result<Policy, ServeError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ServeError::Read {
        path: shown.clone(),
        source,
    })?;
    Policy::from_toml(&text, path).map_err(|e| ServeError::Config {
        path: shown,
        message: e.to_string(),
    })
}

/// `issuer` or `issuers` (exactly one of them), each with the tenant rule when it is an Entra
/// multi-tenant issuer.
fn accepted_issuers(config: &ServeConfig) -> Result<Vec<Issuer>, String> {
    let urls: Vec<&String> = match (&config.issuer, config.issuers.is_empty()) {
        (Some(one), true) => vec![one],
        (None, false) => config.issuers.iter().collect(),
        (None, true) => return Err("name the provider: issuer = \"https://…\"".into()),
        (Some(_), false) => return Err("issuer or issuers, not both".into()),
    };
    if !config
        .allowed_tenants
        .iter()
        .all(|t| crate::settings::is_guid(t))
    {
        return Err("allowed_tenants must list Entra tenant ids (GUIDs)".into());
    }
    let mut out = Vec::new();
    for url in urls {
        crate::settings::check_url(url, "issuer")?;
        let multi = crate::settings::multi_tenant_issuer(url);
        if multi && config.allowed_tenants.is_empty() {
            return Err(format!(
                "issuer {url:?} is Entra's multi-tenant endpoint: list the tenants whose tokens \
                 are accepted in allowed_tenants"
            ));
        }
        out.push(Issuer {
            url: url.clone(),
            tenants: if multi {
                config
                    .allowed_tenants
                    .iter()
                    .map(|t| t.to_ascii_lowercase())
                    .collect()
            } else {
                Vec::new()
            },
        });
    }
    if !config.allowed_tenants.is_empty() && out.iter().all(|i| i.tenants.is_empty()) {
        return Err(
            "allowed_tenants belongs to an Entra multi-tenant issuer (…/organizations/v2.0 or \
             …/common/v2.0)"
                .into(),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_ranges_match_what_they_name() {
        let c = Cidr::parse("10.1.0.0/16").expect("cidr");
        assert!(c.contains("10.1.2.3".parse().expect("ip")));
        assert!(!c.contains("10.2.0.1".parse().expect("ip")));
        assert!(c.contains("::ffff:10.1.0.9".parse().expect("ip")));
        let one = Cidr::parse("::1").expect("cidr");
        assert!(one.contains("::1".parse().expect("ip")));
        assert!(!one.contains("::2".parse().expect("ip")));
        assert!(
            Cidr::parse("0.0.0.0/0")
                .expect("all")
                .contains("8.8.8.8".parse().expect("ip"))
        );
        assert!(Cidr::parse("10.0.0.0/33").is_none());
        assert!(Cidr::parse("ten").is_none());
    }
}
