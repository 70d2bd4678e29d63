//! The composition root: the resolved global options, the environment, the terminal, and the one
//! place that turns boundary errors into command errors with hints.

use std::path::PathBuf;
use std::sync::Arc;

use crate::audit::Audit;
use crate::cli::GlobalArgs;
use crate::cosmos::client as cosmos_client;
use crate::cosmos::credential;
use crate::cosmos::{AuthFailure, Cosmos, CosmosError, Resource};
use crate::env::{Env, vars};
use crate::error::{CmdResult, CommandError, Exit};
use crate::identity::IdentityError;
use crate::output::Ui;
use crate::session::lock::LockError;
use crate::session::{SessionError, Sessions, StoreError};
use crate::settings::{self, Config, CosmosSettings, CredentialKind, Profile};

pub struct App {
    pub env: Env,
    pub global: GlobalArgs,
    pub ui: Ui,
}

impl App {
    #[must_use]
    pub fn new(global: GlobalArgs, env: Env) -> Self {
        let no_input = global.no_input || env.is_truthy(vars::CI);
        let ui = Ui::new(
            global.output,
            global.quiet,
            global.verbose,
            global.color,
            env.get(vars::NO_COLOR).is_some(),
            no_input,
        );
        Self { env, global, ui }
    }

    pub fn config_path(&self) -> CmdResult<PathBuf> {
        settings::config_path(self.global.config.as_deref(), &self.env)
    }

    /// The configuration, which must exist.
    pub fn config(&self) -> CmdResult<Config> {
        let path = self.config_path()?;
        Config::load(&path)?.ok_or_else(|| {
            CommandError::runtime(format!("no configuration file at {}", path.display()))
                .hint("run `cosmoscope init` to create a profile")
        })
    }

    /// The configuration and the selected profile.
    pub fn profile(&self) -> CmdResult<(Config, Profile)> {
        let config = self.config()?;
        let profile = config.select(self.global.profile.as_deref())?.clone();
        Ok((config, profile))
    }

    pub fn state_dir(&self) -> CmdResult<PathBuf> {
        self.env.state_dir().ok_or_else(|| {
            CommandError::runtime("cannot find a state directory")
                .hint("set HOME or XDG_STATE_HOME")
        })
    }

    #[must_use]
    pub fn audit(&self, config: &Config) -> Audit {
        Audit::new(
            self.env.state_dir().map(|d| d.join("audit.jsonl")),
            config.audit.redact_queries,
        )
    }
}

/// `cosmoscope login` with the right flags for this profile.
#[must_use]
pub fn login_hint(profile: &str) -> String {
    format!("run `cosmoscope login --profile {profile}`")
}

impl From<StoreError> for CommandError {
    fn from(e: StoreError) -> Self {
        let err = CommandError::runtime("cannot use the OS keyring").caused_by(&e);
        match e {
            StoreError::Unavailable { .. } => err.hint(
                "start a Secret Service (e.g. gnome-keyring) in this session, or set store = \"keyutils\" in the profile \
                 and run inside a session keyring (`keyctl session -`); nothing was written",
            ),
            StoreError::Unsupported { .. } => err.hint("choose a store this platform has: store = \"auto\""),
            StoreError::Failed { store: "keyutils", .. } => {
                err.hint("kernel keyutils needs a session keyring: run inside `keyctl session - …`, or use store = \"secret-service\"")
            }
            StoreError::Failed { .. } => err.hint("check that the keyring is unlocked, or choose another store with store = … in the profile"),
        }
    }
}

impl From<LockError> for CommandError {
    fn from(e: LockError) -> Self {
        CommandError::runtime("cannot take the session's refresh lock")
            .caused_by(&e)
            .hint("another cosmoscope may be stuck; retry, or end it (the lock is released when its process exits)")
    }
}

impl From<IdentityError> for CommandError {
    fn from(e: IdentityError) -> Self {
        let (exit, message, hint): (Exit, &str, String) = match &e {
            IdentityError::Unreachable { .. } | IdentityError::PollUnreachable(_) => {
                (Exit::Runtime, "cannot reach the identity provider", "check your network and the profile's issuer URL, then retry".into())
            }
            IdentityError::HttpStatus { status: 401 | 403, .. } => (Exit::Refused, "the identity provider refused the request", "check the profile's client_id".into()),
            IdentityError::HttpStatus { .. } | IdentityError::BadResponse { .. } => {
                (Exit::Runtime, "the identity provider answered unexpectedly", "check that the issuer URL is an OpenID provider".into())
            }
            IdentityError::IssuerMismatch { found, .. } => {
                (Exit::Runtime, "the provider's issuer does not match the profile", format!("set issuer = \"{found}\" in the profile"))
            }
            IdentityError::NoDeviceEndpoint => (
                Exit::Runtime,
                "this provider does not support the device-code login",
                "enable the device authorization grant for the provider/application".into(),
            ),
            IdentityError::AccessDenied => (Exit::Refused, "the sign-in was declined", "run `cosmoscope login` again and approve the request".into()),
            IdentityError::ExpiredToken => (
                Exit::LoginRequired,
                "the device code expired before it was approved",
                "run `cosmoscope login` again and approve the code before it expires".into(),
            ),
            IdentityError::BadVerificationCode => (Exit::Runtime, "the provider did not recognise the device code", "run `cosmoscope login` again".into()),
            IdentityError::RefreshRejected(_) => {
                (Exit::LoginRequired, "the session can no longer be refreshed", "run `cosmoscope login` to sign in again".into())
            }
            IdentityError::OAuth { error, .. } if matches!(error.as_str(), "invalid_client" | "unauthorized_client" | "access_denied") => (
                Exit::Refused,
                "the identity provider refused the request",
                "check the profile's client_id and that the device-code grant is enabled for it".into(),
            ),
            IdentityError::OAuth { error, .. } if error == "invalid_scope" => {
                (Exit::Refused, "the identity provider refused the requested scopes", "check the profile's scopes".into())
            }
            IdentityError::OAuth { .. } => (Exit::Refused, "the identity provider refused the request", "see the cause above".into()),
            IdentityError::Verify(_) => (
                Exit::Runtime,
                "a token from the identity provider failed verification",
                "nothing was stored; check the profile's issuer, client_id and audience, and the system clock".into(),
            ),
            IdentityError::Client(_) => (Exit::Runtime, "cannot set up HTTPS", "check the system's TLS certificates".into()),
        };
        CommandError::new(exit, message).cause(&e).hint(hint)
    }
}

impl From<SessionError> for CommandError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::NotLoggedIn(profile) => {
                CommandError::login_required(format!("not logged in (profile {profile:?})"))
                    .hint(login_hint(&profile))
            }
            SessionError::Expired { ref profile, .. } => {
                let hint = login_hint(profile);
                CommandError::login_required("the session has expired")
                    .cause(&e)
                    .hint(hint)
            }
            SessionError::SecretMissing(_) => {
                CommandError::login_required("the session is incomplete")
                    .cause(&e)
                    .hint("the keyring entry was removed; run `cosmoscope login`")
            }
            SessionError::NoIdentity => CommandError::runtime("cannot establish who signed in")
                .cause(&e)
                .hint("request the openid scope, or configure the audience of a JWT access token"),
            SessionError::Store(s) => s.into(),
            SessionError::Identity(i) => i.into(),
            SessionError::Lock(l) => l.into(),
            SessionError::Io(io) => CommandError::runtime("cannot write the session file")
                .caused_by(&io)
                .hint("check the permissions of $XDG_STATE_HOME/cosmoscope"),
        }
    }
}

/// A connected Cosmos client with the profile it was built for.
pub struct CosmosConnection {
    pub config: Config,
    pub profile: Profile,
    pub settings: CosmosSettings,
    pub cosmos: Cosmos,
}

impl CosmosConnection {
    /// The database a command names, or the profile's default.
    pub fn database(&self, explicit: Option<&str>) -> CmdResult<String> {
        explicit
            .map(str::to_string)
            .or_else(|| self.settings.database.clone())
            .ok_or_else(|| {
                CommandError::usage("no database given").hint(
                    "pass --database NAME, or set database = \"…\" in the profile's [cosmos] table",
                )
            })
    }
}

impl App {
    /// Whether the selected profile allows the SDK's instance-metadata probe (read before the
    /// runtime starts; any problem with the config means "no", and is reported later).
    #[must_use]
    pub fn wants_region_proximity(&self) -> bool {
        self.profile()
            .ok()
            .and_then(|(_, p)| p.cosmos)
            .is_some_and(|c| c.region_proximity)
    }

    /// The selected profile's Cosmos settings, which must exist.
    pub fn cosmos_settings(&self) -> CmdResult<(Config, Profile, CosmosSettings)> {
        let (config, profile) = self.profile()?;
        let settings = profile.cosmos.clone().ok_or_else(|| {
            CommandError::runtime(format!("profile {:?} has no [cosmos] table", profile.name))
                .hint(format!(
                    "add [profiles.{}.cosmos] with endpoint and credential, or run `cosmoscope init --profile {} --endpoint URL --credential KIND`",
                    profile.name, profile.name
                ))
        })?;
        Ok((config, profile, settings))
    }

    /// Builds the Cosmos client for the selected profile with its credential source: the account
    /// key from the keyring, the session's own token (`entra`), or a broker identity.
    pub async fn cosmos(&self) -> CmdResult<CosmosConnection> {
        let (config, profile, settings) = self.cosmos_settings()?;
        let session = match settings.credential {
            CredentialKind::Entra => Some(self.session_token_source(&config, &profile)?),
            _ => None,
        };
        let auth =
            credential::resolve(&profile, &settings, &self.env, session).map_err(|e| match e {
                credential::ResolveError::Key(k) => CommandError::from_key_error(k, &profile.name),
                credential::ResolveError::Cosmos(c) => c.into(),
                credential::ResolveError::NoSession => {
                    CommandError::login_required("not logged in").hint(login_hint(&profile.name))
                }
            })?;
        let cosmos = cosmos_client::build(&settings, auth).await?;
        Ok(CosmosConnection {
            config,
            profile,
            settings,
            cosmos,
        })
    }

    /// The user's access token, kept fresh through the session manager, for `credential = entra`.
    fn session_token_source(
        &self,
        config: &Config,
        profile: &Profile,
    ) -> CmdResult<credential::TokenSource> {
        let state_dir = self.state_dir()?;
        let profile = profile.clone();
        let audit_path = self.env.state_dir().map(|d| d.join("audit.jsonl"));
        let redact = config.audit.redact_queries;
        Ok(Arc::new(move || {
            let state_dir = state_dir.clone();
            let profile = profile.clone();
            let audit_path = audit_path.clone();
            Box::pin(async move {
                let audit = Audit::new(audit_path, redact);
                let sessions = Sessions::new(&state_dir, &profile, &audit);
                sessions
                    .fresh(0, false)
                    .await
                    .map(|(info, token)| (token, info.expires_at))
                    .map_err(|e| e.to_string())
            })
        }))
    }
}

impl CommandError {
    fn from_key_error(e: credential::KeyError, profile: &str) -> CommandError {
        match e {
            credential::KeyError::Missing { .. } => CommandError::runtime(e.to_string()).hint(
                format!("store it with `cosmoscope account-key set --profile {profile}` (reads stdin or prompts)"),
            ),
            credential::KeyError::NotBase64 => CommandError::usage(e.to_string())
                .hint("paste the primary or secondary key from the portal (Keys blade), unchanged"),
            credential::KeyError::Store(s) => s.into(),
        }
    }
}

impl From<credential::KeyError> for CommandError {
    fn from(e: credential::KeyError) -> Self {
        CommandError::from_key_error(e, "NAME")
    }
}

impl From<CosmosError> for CommandError {
    fn from(e: CosmosError) -> Self {
        let (exit, message, hint): (Exit, &str, String) = match &e {
            CosmosError::Unauthorized { reason: AuthFailure::LocalAuthDisabled, .. } => (
                Exit::Refused,
                "the account does not accept account keys (local authorization is disabled)",
                "use credential = \"entra\" (or a broker identity) in the profile's [cosmos] table".into(),
            ),
            CosmosError::Unauthorized { reason: AuthFailure::WrongAudience, .. } => (
                Exit::Refused,
                "Cosmos DB rejected the token: it was issued for another audience",
                "log in with the scope https://cosmos.azure.com/.default (scopes = [...] in the profile), then `cosmoscope login`".into(),
            ),
            CosmosError::Unauthorized { reason: AuthFailure::Expired, .. } => (
                Exit::Refused,
                "Cosmos DB rejected the token: it has expired",
                "run `cosmoscope login` (or check the system clock)".into(),
            ),
            CosmosError::Unauthorized { .. } => (
                Exit::Refused,
                "Cosmos DB rejected the credential",
                "for credential = \"key\", store the current key again with `cosmoscope account-key set`; otherwise check the identity's data-plane role assignment".into(),
            ),
            CosmosError::Forbidden { .. } => (
                Exit::Refused,
                "Cosmos DB refused the request",
                "the identity lacks a data-plane role for this resource (or a firewall blocks this address); ask the account owner".into(),
            ),
            CosmosError::Throttled { .. } => (
                Exit::Runtime,
                "Cosmos DB is throttling requests (429)",
                "retry later, narrow the query with --partition-key or --max-items, or raise the container's throughput".into(),
            ),
            CosmosError::NotFound { resource: Resource::Item { .. } } => {
                (Exit::Runtime, "the item does not exist", "check the id and the --partition-key value (a wrong partition key also reads as missing)".into())
            }
            CosmosError::NotFound { resource: Resource::Container { .. } } => {
                (Exit::Runtime, "the container does not exist", "list them with `cosmoscope ls containers`".into())
            }
            CosmosError::NotFound { resource: Resource::Database { .. } } => {
                (Exit::Runtime, "the database does not exist", "list them with `cosmoscope ls databases`".into())
            }
            CosmosError::NotFound { .. } => (Exit::Runtime, "not found", "check the profile's endpoint".into()),
            CosmosError::Conflict { .. } => (
                Exit::Runtime,
                "the item was created by someone else meanwhile; nothing was written",
                "run the command again to review and replace it".into(),
            ),
            CosmosError::PreconditionFailed { .. } => (
                Exit::Runtime,
                "the item changed after it was read; nothing was written",
                "run the command again to review the current version".into(),
            ),
            CosmosError::CrossPartitionUnsupported { .. } => (
                Exit::Usage,
                "aggregates, GROUP BY and DISTINCT cannot run across partitions",
                "pin the query to one partition with --partition-key JSON, or drop the aggregate and aggregate the output yourself".into(),
            ),
            CosmosError::BadRequest { .. } => (Exit::Usage, "Cosmos DB rejected the query or request", "check the query syntax and parameters".into()),
            CosmosError::PartitionKey(_) => (
                Exit::Usage,
                "the partition key is not usable",
                "pass a JSON value: --partition-key '\"t1\"', a number, or an array for hierarchical keys".into(),
            ),
            CosmosError::Unreachable { .. } => (
                Exit::Runtime,
                "cannot reach Cosmos DB",
                "check the network and the profile's endpoint (and a proxy or firewall in between)".into(),
            ),
            CosmosError::Tls { .. } => (
                Exit::Runtime,
                "the TLS connection to Cosmos DB failed",
                "the server certificate is not trusted: for an emulator or private CA, point SSL_CERT_FILE at its CA certificate".into(),
            ),
            CosmosError::Token { .. } => (
                Exit::Refused,
                "cannot get a token for Cosmos DB",
                "for credential = \"entra\" run `cosmoscope login`; for a broker identity check its configuration (see the cause)".into(),
            ),
            CosmosError::CredentialConfig(_) => (
                Exit::Usage,
                "the profile's Cosmos credential is incomplete",
                "set tenant_id / client_id in the profile's [cosmos] table and the secrets in the environment".into(),
            ),
            CosmosError::Config(_) => (Exit::Runtime, "cannot set up the Cosmos DB client", "check the profile's [cosmos] table".into()),
            CosmosError::Service { .. } => (Exit::Runtime, "Cosmos DB returned an error", "retry; if it persists, see the cause".into()),
        };
        CommandError::new(exit, message).cause(&e).hint(hint)
    }
}
