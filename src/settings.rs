//! Configuration: the config file, resolved once with the command line and the environment into a
//! validated [`Profile`] (flag > environment > file).
//!
//! Every problem in the file is reported with its path, line and column.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::env::Env;

/// How long a FIDO2 step-up touch counts when a profile says nothing.
pub const DEFAULT_FIDO2_WINDOW: std::time::Duration = std::time::Duration::from_mins(5);
/// Longest one Cosmos data-plane request may take by default (the SDK's own 6 s cuts off a slow
/// first page of a large export; people wait longer).
pub const DEFAULT_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_mins(1);
const MIN_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);
/// The SDK's own ceiling for a data-plane request.
const MAX_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(65);

pub const DEFAULT_SCOPES: [&str; 3] = ["openid", "profile", "offline_access"];
/// What an Entra sign-in asks for so that the session's token is Cosmos DB's.
pub const COSMOS_SCOPE: &str = "https://cosmos.azure.com/.default";

/// Where the session's secrets live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum StoreKind {
    /// Secret Service on Linux (falling back to kernel keyutils), Keychain on macOS, Credential
    /// Manager on Windows.
    #[default]
    Auto,
    SecretService,
    Keyutils,
    MacosKeychain,
    WindowsCredential,
}

impl StoreKind {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            StoreKind::Auto => "auto",
            StoreKind::SecretService => "secret-service",
            StoreKind::Keyutils => "keyutils",
            StoreKind::MacosKeychain => "macos-keychain",
            StoreKind::WindowsCredential => "windows-credential",
        }
    }
}

/// The FIDO2 relying party id when a profile names none.
pub const DEFAULT_RP_ID: &str = "cosmoscope";

/// How an interactive `login` signs the person in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LoginFlow {
    /// The browser (authorization code + PKCE) where one can open, the device code otherwise.
    #[default]
    Auto,
    Browser,
    DeviceCode,
}

/// How cosmoscope authenticates to Cosmos DB for a profile (README, trust model; docs/contract.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum CredentialKind {
    Entra,
    Key,
    AzureCli,
    ManagedIdentity,
    WorkloadIdentity,
    ClientSecret,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    /// System configuration only: the invoking user cannot replace it.
    #[serde(default)]
    locked: bool,
    default_profile: Option<Spanned<String>>,
    #[serde(default)]
    profiles: BTreeMap<String, ProfileFile>,
    #[serde(default)]
    audit: AuditSettings,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    issuer: Spanned<String>,
    client_id: Spanned<String>,
    audience: Option<Spanned<String>>,
    scopes: Option<Vec<String>>,
    roles_claim: Option<String>,
    #[serde(default)]
    store: StoreKind,
    cosmos: Option<CosmosFile>,
    policy: Option<PolicyFileRef>,
    /// FIDO2 relying party id of cosmoscope's own keys [default: "cosmoscope"].
    fido2_rp_id: Option<Spanned<String>>,
    /// How long a FIDO2 step-up touch counts [default: "5m"].
    fido2_window: Option<Spanned<String>>,
    #[serde(default)]
    login_flow: LoginFlow,
    /// The browser flow's loopback port (0: any free port).
    #[serde(default)]
    redirect_port: u16,
    /// Entra multi-tenant: the tenants whose people may sign in.
    allowed_tenants: Option<Spanned<Vec<String>>>,
    /// The environment variable holding an installed-app client secret (Google).
    client_secret_env: Option<Spanned<String>>,
    /// A cosmoscope gateway (`cosmoscope serve`): queries go through it with the session's token.
    gateway: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CosmosFile {
    endpoint: Spanned<String>,
    database: Option<String>,
    credential: Spanned<CredentialKind>,
    /// Broker identities (`client-secret`, `workload-identity`, `azure-cli`): the Entra tenant.
    tenant_id: Option<String>,
    /// Broker identities: the application (client) id; for `managed-identity` a user-assigned one.
    client_id: Option<String>,
    /// Broker identities: the Entra authority host (sovereign clouds, local test token endpoints).
    authority_host: Option<Spanned<String>>,
    /// Ask Azure's instance metadata service where we are and route to the nearest region.
    #[serde(default)]
    region_proximity: bool,
    /// The application's region for proximity routing (e.g. "West Europe").
    region: Option<String>,
    /// Allow HTTP/2 to the gateway (the default); `false` forces HTTP/1.1.
    http2: Option<bool>,
    /// Longest one data-plane request may take before it is abandoned ("60s"; 1s to 65s).
    request_timeout: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFileRef {
    file: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// Write a hash of the query text instead of the text.
    #[serde(default)]
    pub redact_queries: bool,
}

/// A profile, validated.
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    pub audience: Option<String>,
    pub scopes: Vec<String>,
    pub roles_claim: Option<String>,
    pub store: StoreKind,
    pub cosmos: Option<CosmosSettings>,
    pub policy_file: Option<PathBuf>,
    /// The relying party id of this profile's FIDO2 keys.
    pub fido2_rp_id: String,
    /// How long a step-up touch lets `require_fido2` grants run.
    pub fido2_window: std::time::Duration,
    pub login_flow: LoginFlow,
    pub redirect_port: u16,
    /// Entra multi-tenant: with these, the issuer is the `{tenantid}` template and each token's
    /// `tid` must be one of them.
    pub allowed_tenants: Vec<String>,
    /// The variable that holds the client secret a provider requires of installed apps.
    pub client_secret_env: Option<String>,
    /// The gateway's base URL: `query` sends its requests there, with the session's access token
    /// (for the gateway's audience); no Cosmos credential and no policy file are used here.
    pub gateway: Option<String>,
}

/// Hosts of Microsoft Entra ID's sign-in service (public and sovereign clouds).
const ENTRA_HOSTS: [&str; 5] = [
    "login.microsoftonline.com",
    "login.microsoftonline.us",
    "login.chinacloudapi.cn",
    "login.partner.microsoftonline.cn",
    "sts.windows.net",
];

/// Whether `issuer` is Entra's multi-tenant form: its first path segment is `common` or
/// `organizations` (an Entra host, or loopback for a local stand-in).
#[must_use]
pub fn multi_tenant_issuer(issuer: &str) -> bool {
    let Ok(url) = url::Url::parse(issuer) else {
        return false;
    };
    let segment = url
        .path_segments()
        .and_then(|mut s| s.next())
        .unwrap_or_default()
        .to_ascii_lowercase();
    matches!(segment.as_str(), "common" | "organizations")
        && (is_entra_issuer(issuer) || is_loopback(&url))
}

/// Whether `s` is a GUID (an Entra tenant id).
#[must_use]
pub fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Whether `issuer` is Microsoft Entra ID (workforce, sovereign clouds, or External ID).
#[must_use]
pub fn is_entra_issuer(issuer: &str) -> bool {
    url::Url::parse(issuer)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .is_some_and(|h| ENTRA_HOSTS.contains(&h.as_str()) || h.ends_with(".ciamlogin.com"))
}

/// Whether a scope asks Entra for a Cosmos DB data-plane token.
#[must_use]
pub fn is_cosmos_scope(scope: &str) -> bool {
    let Some((resource, _)) = scope.rsplit_once('/') else {
        return false;
    };
    url::Url::parse(resource)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .is_some_and(|h| {
            h == "cosmos.azure.com"
                || [
                    ".documents.azure.com",
                    ".documents.azure.us",
                    ".documents.azure.cn",
                ]
                .iter()
                .any(|d| h.ends_with(d))
        })
}

#[derive(Debug, Clone)]
pub struct CosmosSettings {
    pub endpoint: String,
    pub database: Option<String>,
    pub credential: CredentialKind,
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub authority_host: Option<String>,
    /// Whether the SDK may probe the instance metadata service (169.254.169.254) for the region.
    pub region_proximity: bool,
    pub region: Option<String>,
    pub http2: bool,
    pub request_timeout: std::time::Duration,
}

impl CosmosSettings {
    /// Settings for an endpoint with everything else at its default.
    #[must_use]
    pub fn new(endpoint: impl Into<String>, credential: CredentialKind) -> Self {
        Self {
            endpoint: endpoint.into(),
            database: None,
            credential,
            tenant_id: None,
            client_id: None,
            authority_host: None,
            region_proximity: false,
            region: None,
            http2: true,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }
}

/// The whole configuration file, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    /// Set in a system configuration: `--config`, `COSMOSCOPE_CONFIG` and the user's own file
    /// cannot replace it.
    pub locked: bool,
    pub default_profile: Option<String>,
    pub profiles: BTreeMap<String, Profile>,
    pub audit: AuditSettings,
    default_profile_span: Option<Range<usize>>,
    text: String,
}

/// A problem in a configuration file, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.path.display(),
            self.line,
            self.column,
            self.message
        )
    }
}

impl std::error::Error for FileError {}

/// 1-based line and column (in characters) of a byte offset.
#[must_use]
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..text.floor_char_boundary(offset)];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Why `name` cannot name a profile (it becomes part of file and keyring entry names), or `None`.
pub fn profile_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() || name.len() > 64 {
        return Some("must be 1 to 64 characters long");
    }
    if name.starts_with(['.', '-']) {
        return Some("must not start with '.' or '-'");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Some("may hold only letters, digits, '.', '_' and '-'");
    }
    None
}

fn located(
    path: &Path,
    text: &str,
    span: Option<Range<usize>>,
    message: impl Into<String>,
) -> FileError {
    let (line, column) = span.map_or((1, 1), |s| line_col(text, s.start));
    FileError {
        path: path.to_path_buf(),
        line,
        column,
        message: message.into(),
    }
}

/// A duration field ("90s", "5m"), or a located error naming the field.
fn duration_field(
    path: &Path,
    text: &str,
    value: &Spanned<String>,
    name: &str,
) -> Result<std::time::Duration, FileError> {
    humantime::parse_duration(value.get_ref()).map_err(|e| {
        located(
            path,
            text,
            Some(value.span()),
            format!(
                "{name} {:?} is not a duration like \"5m\": {e}",
                value.get_ref()
            ),
        )
    })
}

/// Checks that `raw` is an absolute http(s) URL; plain http only for loopback hosts.
pub fn check_url(raw: &str, what: &str) -> Result<url::Url, String> {
    let url =
        url::Url::parse(raw).map_err(|e| format!("{what} {raw:?} is not a valid URL: {e}"))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(format!(
                "{what} {raw:?} uses plain http; only https is allowed (http only for 127.0.0.1, ::1 or localhost)"
            ));
        }
        other => {
            return Err(format!(
                "{what} {raw:?} has scheme {other:?}; expected https"
            ));
        }
    }
    if url.host().is_none() {
        return Err(format!("{what} {raw:?} has no host"));
    }
    Ok(url)
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

impl Config {
    /// Parses and validates a configuration file's text.
    pub fn parse(path: &Path, text: &str) -> Result<Config, FileError> {
        let file: ConfigFile = toml::from_str(text)
            .map_err(|e| located(path, text, e.span(), e.message().trim_end().to_string()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut profiles = BTreeMap::new();
        for (name, p) in file.profiles {
            if let Some(problem) = profile_name_problem(&name) {
                return Err(located(
                    path,
                    text,
                    Some(p.issuer.span()),
                    format!("profile name {name:?} {problem}"),
                ));
            }
            let issuer = p.issuer.get_ref().clone();
            check_url(&issuer, "issuer")
                .map_err(|m| located(path, text, Some(p.issuer.span()), m))?;
            if p.client_id.get_ref().trim().is_empty() {
                return Err(located(
                    path,
                    text,
                    Some(p.client_id.span()),
                    "client_id must not be empty",
                ));
            }
            let cosmos = match p.cosmos {
                Some(c) => {
                    check_url(c.endpoint.get_ref(), "cosmos endpoint")
                        .map_err(|m| located(path, text, Some(c.endpoint.span()), m))?;
                    if let Some(host) = &c.authority_host
                        && !host.get_ref().starts_with("https://")
                    {
                        return Err(located(
                            path,
                            text,
                            Some(host.span()),
                            "authority_host must be an https URL",
                        ));
                    }
                    let request_timeout = match &c.request_timeout {
                        Some(t) => {
                            let d = duration_field(path, text, t, "request_timeout")?;
                            if !(MIN_REQUEST_TIMEOUT..=MAX_REQUEST_TIMEOUT).contains(&d) {
                                return Err(located(
                                    path,
                                    text,
                                    Some(t.span()),
                                    "request_timeout must be between 1s and 65s",
                                ));
                            }
                            d
                        }
                        None => DEFAULT_REQUEST_TIMEOUT,
                    };
                    Some((
                        c.credential.span(),
                        CosmosSettings {
                            endpoint: c.endpoint.into_inner(),
                            database: c.database,
                            credential: *c.credential.get_ref(),
                            tenant_id: c.tenant_id.filter(|t| !t.is_empty()),
                            client_id: c.client_id.filter(|t| !t.is_empty()),
                            authority_host: c.authority_host.map(Spanned::into_inner),
                            region_proximity: c.region_proximity,
                            region: c.region.filter(|r| !r.is_empty()),
                            http2: c.http2.unwrap_or(true),
                            request_timeout,
                        },
                    ))
                }
                None => None,
            };
            let fido2_rp_id = match p.fido2_rp_id {
                Some(rp) if rp.get_ref().trim().is_empty() => {
                    return Err(located(
                        path,
                        text,
                        Some(rp.span()),
                        "fido2_rp_id must not be empty",
                    ));
                }
                Some(rp) => rp.into_inner(),
                None => DEFAULT_RP_ID.to_string(),
            };
            let fido2_window = match &p.fido2_window {
                Some(w) => duration_field(path, text, w, "fido2_window")?,
                None => DEFAULT_FIDO2_WINDOW,
            };
            let scopes: Vec<String> = p
                .scopes
                .unwrap_or_else(|| DEFAULT_SCOPES.iter().map(ToString::to_string).collect());
            // A session's access token goes to Cosmos DB as it is: it must come from Entra and be
            // for Cosmos. A loopback issuer is a local stand-in (the test peers) and is not held
            // to it.
            if let Some((credential_span, c)) = &cosmos
                && c.credential == CredentialKind::Entra
                && !check_url(&issuer, "issuer").is_ok_and(|u| is_loopback(&u))
            {
                let problem = if is_entra_issuer(&issuer) {
                    (!scopes.iter().any(|s| is_cosmos_scope(s))).then_some(
                        "credential = \"entra\" sends the session's token to Cosmos DB, so the scopes must ask for it: add \"https://cosmos.azure.com/.default\" to scopes",
                    )
                } else {
                    Some(
                        "credential = \"entra\" needs a Microsoft Entra issuer (https://login.microsoftonline.com/<tenant>/v2.0); another provider's tokens are not accepted by Cosmos DB — use credential = \"key\" or a broker identity",
                    )
                };
                if let Some(problem) = problem {
                    return Err(located(path, text, Some(credential_span.clone()), problem));
                }
            }
            if let Some(aud) = &p.audience
                && is_entra_issuer(&issuer)
                && is_cosmos_scope(&format!("{}/.default", aud.get_ref().trim_end_matches('/')))
            {
                return Err(located(
                    path,
                    text,
                    Some(aud.span()),
                    "with Entra ID, Cosmos DB is asked for in scopes (\"https://cosmos.azure.com/.default\"), not as the audience: its tokens are for Cosmos DB and cannot be verified as cosmoscope's",
                ));
            }
            let allowed_tenants = match p.allowed_tenants {
                Some(t) if t.get_ref().is_empty() || !t.get_ref().iter().all(|x| is_guid(x)) => {
                    return Err(located(
                        path,
                        text,
                        Some(t.span()),
                        "allowed_tenants must list Entra tenant ids (directory ids: GUIDs such as 11111111-2222-3333-4444-555555555555)",
                    ));
                }
                // Only where a tenant template can come from: an issuer whose tenant segment is
                // common or organizations (Entra, or a loopback stand-in).
                Some(t) if !multi_tenant_issuer(&issuer) => {
                    return Err(located(
                        path,
                        text,
                        Some(t.span()),
                        "allowed_tenants belongs to an Entra multi-tenant issuer (https://login.microsoftonline.com/organizations/v2.0 or …/common/v2.0); with a single tenant's issuer, leave it out",
                    ));
                }
                Some(t) => t
                    .into_inner()
                    .iter()
                    .map(|x| x.to_ascii_lowercase())
                    .collect(),
                None => Vec::new(),
            };
            let client_secret_env = match p.client_secret_env {
                Some(v)
                    if !crate::env::is_variable_name(v.get_ref())
                        || !v.get_ref().ends_with("CLIENT_SECRET")
                        || crate::env::vars::ALL.contains(&v.get_ref().as_str())
                        || ["AZURE_", "ARM_", "AWS_", "GITHUB_", "ACTIONS_"]
                            .iter()
                            .any(|p| v.get_ref().starts_with(p)) =>
                {
                    return Err(located(
                        path,
                        text,
                        Some(v.span()),
                        "client_secret_env names the environment variable that holds this provider's client secret, ending in CLIENT_SECRET (e.g. GOOGLE_CLIENT_SECRET) — never the secret itself, nor another tool's secret (AZURE_*, ARM_*, AWS_*, GITHUB_*, cosmoscope's own)",
                    ));
                }
                Some(v) => Some(v.into_inner()),
                None => None,
            };
            let gateway = match p.gateway {
                Some(g) => {
                    check_url(g.get_ref(), "gateway")
                        .map_err(|m| located(path, text, Some(g.span()), m))?;
                    Some(g.into_inner().trim_end_matches('/').to_string())
                }
                None => None,
            };
            profiles.insert(
                name.clone(),
                Profile {
                    name,
                    issuer,
                    client_id: p.client_id.into_inner(),
                    audience: p
                        .audience
                        .map(Spanned::into_inner)
                        .filter(|a| !a.is_empty()),
                    scopes,
                    roles_claim: p.roles_claim.filter(|c| !c.is_empty()),
                    store: p.store,
                    cosmos: cosmos.map(|(_, c)| c),
                    policy_file: p.policy.map(|f| base.join(f.file)),
                    fido2_rp_id,
                    fido2_window,
                    login_flow: p.login_flow,
                    redirect_port: p.redirect_port,
                    allowed_tenants,
                    client_secret_env,
                    gateway,
                },
            );
        }
        let (default_profile, default_profile_span) = match file.default_profile {
            Some(d) => (Some(d.get_ref().clone()), Some(d.span())),
            None => (None, None),
        };
        if let (Some(name), Some(span)) = (&default_profile, &default_profile_span)
            && !profiles.contains_key(name)
        {
            return Err(located(
                path,
                text,
                Some(span.clone()),
                format!("default_profile {name:?} names no [profiles.{name}] table"),
            ));
        }
        Ok(Config {
            path: path.to_path_buf(),
            locked: file.locked,
            default_profile,
            profiles,
            audit: file.audit,
            default_profile_span,
            text: text.to_string(),
        })
    }

    /// Reads and parses the file; `Ok(None)` when it does not exist.
    pub fn load(path: &Path) -> Result<Option<Config>, SettingsError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(SettingsError::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        // A configuration another user may change is not the user's configuration.
        for p in std::iter::once(path).chain(path.parent().filter(|d| !d.as_os_str().is_empty())) {
            crate::fsutil::check_not_shared(p).map_err(|source| SettingsError::Read {
                path: path.to_path_buf(),
                source,
            })?;
        }
        Config::parse(path, &text)
            .map(Some)
            .map_err(SettingsError::Invalid)
    }

    /// Picks the profile: `--profile`/`COSMOSCOPE_PROFILE` (already merged by clap), then
    /// `default_profile`, then the only profile there is.
    pub fn select(&self, requested: Option<&str>) -> Result<&Profile, SettingsError> {
        let name = match requested {
            Some(n) => n.to_string(),
            None => match (&self.default_profile, self.profiles.len()) {
                (Some(d), _) => d.clone(),
                (None, 1) => self.profiles.keys().next().cloned().unwrap_or_default(),
                (None, 0) => {
                    return Err(SettingsError::NoProfiles {
                        path: self.path.clone(),
                    });
                }
                (None, _) => {
                    return Err(SettingsError::NoDefaultProfile {
                        profiles: self.profile_names(),
                    });
                }
            },
        };
        self.profiles
            .get(&name)
            .ok_or_else(|| SettingsError::UnknownProfile {
                named_at: (requested.is_none())
                    .then(|| self.default_profile_span.clone())
                    .flatten()
                    .map(|span| {
                        Box::new(located(
                            &self.path,
                            &self.text,
                            Some(span),
                            "default_profile names it here",
                        ))
                    }),
                name,
                path: self.path.clone(),
                known: self.profile_names(),
            })
    }

    #[must_use]
    pub fn profile_names(&self) -> Vec<String> {
        self.profiles.keys().cloned().collect()
    }
}

/// The configuration file's path: `--config`/`COSMOSCOPE_CONFIG` (merged by clap), else the default.
/// Where the system configuration is: `COSMOSCOPE_SYSTEM_CONFIG`, else
/// `/etc/cosmoscope/config.toml`.
#[must_use]
pub fn system_config_path(env: &Env) -> PathBuf {
    env.get(crate::env::vars::SYSTEM_CONFIG).map_or_else(
        || PathBuf::from("/etc/cosmoscope/config.toml"),
        PathBuf::from,
    )
}

pub fn config_path(explicit: Option<&Path>, env: &Env) -> Result<PathBuf, SettingsError> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    env.config_dir()
        .map(|d| d.join("config.toml"))
        .ok_or(SettingsError::NoConfigDir)
}

/// Why the configuration cannot be used. The command layer adds the next step
/// (`error::hints`).
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read the configuration file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the configuration file is invalid")]
    Invalid(#[source] FileError),
    #[error("{} defines no profile", path.display())]
    NoProfiles { path: PathBuf },
    #[error("several profiles are configured and none is the default")]
    NoDefaultProfile { profiles: Vec<String> },
    #[error("no profile named {name:?}")]
    UnknownProfile {
        name: String,
        path: PathBuf,
        known: Vec<String>,
        /// Where `default_profile` names it, when it was not asked for explicitly.
        named_at: Option<Box<FileError>>,
    },
    #[error("cannot find a configuration directory")]
    NoConfigDir,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, FileError> {
        Config::parse(Path::new("/cfg/config.toml"), text)
    }

    const GOOD: &str = r#"default_profile = "dev"

[profiles.dev]
issuer = "https://example.eu.auth0.com/"
client_id = "abc"
audience = "https://cosmos-gateway.example"
roles_claim = "https://example.com/roles"
store = "keyutils"

[profiles.dev.cosmos]
endpoint = "https://acct.documents.azure.com:443/"
database = "shop"
credential = "key"

[profiles.dev.policy]
file = "policy.toml"
"#;

    #[test]
    fn parses_the_design_example() {
        let c = parse(GOOD).expect("valid");
        let p = c.select(None).expect("default");
        assert_eq!(p.issuer, "https://example.eu.auth0.com/");
        assert_eq!(p.scopes, DEFAULT_SCOPES);
        assert_eq!(p.store, StoreKind::Keyutils);
        assert_eq!(
            p.policy_file.as_deref(),
            Some(Path::new("/cfg/policy.toml"))
        );
        assert_eq!(
            p.cosmos.as_ref().map(|c| c.credential),
            Some(CredentialKind::Key)
        );
    }

    #[test]
    fn unknown_key_is_located() {
        let text = GOOD.replace("store = \"keyutils\"", "stroe = \"keyutils\"");
        let e = parse(&text).unwrap_err();
        assert_eq!((e.line, e.column), (8, 1), "{e}");
        assert!(e.message.contains("stroe"), "{e}");
    }

    #[test]
    fn bad_url_is_located() {
        let text = GOOD.replace("https://example.eu.auth0.com/", "http://example.com/");
        let e = parse(&text).unwrap_err();
        assert_eq!((e.line, e.column), (4, 10), "{e}");
        assert!(e.message.contains("plain http"), "{e}");
    }

    #[test]
    fn loopback_http_is_allowed() {
        let text = GOOD.replace("https://example.eu.auth0.com/", "http://127.0.0.1:8080");
        assert!(parse(&text).is_ok());
    }

    #[test]
    fn malformed_toml_is_located() {
        let e = parse("[profiles.dev\nissuer = 1").unwrap_err();
        assert_eq!(e.line, 1, "{e}");
    }

    #[test]
    fn profile_names_that_are_not_plain_names_are_refused() {
        for bad in ["../x", "a/b", ".hidden", "-x", "a b", "", "ä", "a:b"] {
            let text = GOOD
                .replace("[profiles.dev]", &format!("[profiles.{bad:?}]"))
                .replace("[profiles.dev.", &format!("[profiles.{bad:?}."))
                .replace("default_profile = \"dev\"", "");
            let e = parse(&text).unwrap_err();
            assert!(e.message.contains("profile name"), "{bad:?}: {e}");
        }
        assert_eq!(profile_name_problem("prod-eu_2.x"), None);
    }

    #[test]
    fn missing_default_profile_is_located() {
        let text = GOOD.replace("default_profile = \"dev\"", "default_profile = \"prod\"");
        let e = parse(&text).unwrap_err();
        assert_eq!((e.line, e.column), (1, 19), "{e}");
    }

    #[test]
    fn missing_requested_profile_names_the_known_ones() {
        let c = parse(GOOD).expect("valid");
        let e = c.select(Some("prod")).unwrap_err();
        let SettingsError::UnknownProfile { name, known, .. } = &e else {
            panic!("{e:?}");
        };
        assert_eq!(
            (name.as_str(), known.as_slice()),
            ("prod", ["dev".to_string()].as_slice())
        );
    }

    #[test]
    fn fido2_settings_default_and_parse() {
        let p = parse(GOOD).expect("valid");
        let dev = p.select(None).expect("dev");
        assert_eq!(dev.fido2_rp_id, "cosmoscope");
        assert_eq!(dev.fido2_window, DEFAULT_FIDO2_WINDOW);
        let text = GOOD.replace(
            "store = \"keyutils\"",
            "store = \"keyutils\"\nfido2_rp_id = \"cosmoscope.example\"\nfido2_window = \"90s\"",
        );
        let p = parse(&text).expect("valid");
        let dev = p.select(None).expect("dev");
        assert_eq!(dev.fido2_rp_id, "cosmoscope.example");
        assert_eq!(dev.fido2_window, std::time::Duration::from_secs(90));
    }

    #[test]
    fn fido2_bad_window_and_unknown_keys_are_located() {
        let text = GOOD.replace("store = \"keyutils\"", "fido2_window = \"soon\"");
        let e = parse(&text).unwrap_err();
        assert_eq!((e.line, e.column), (8, 16), "{e}");
        assert!(e.message.contains("fido2_window"), "{e}");
        let text = GOOD.replace("store = \"keyutils\"", "fido2_rpid = \"x\"");
        let e = parse(&text).unwrap_err();
        assert!(e.message.contains("fido2_rpid"), "{e}");
        let text = GOOD.replace("store = \"keyutils\"", "fido2_rp_id = \" \"");
        assert!(parse(&text).is_err());
    }

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col("ab\nçd", 5), (2, 2));
    }
}
