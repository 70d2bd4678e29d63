//! The composition root: the resolved global options, the environment, the terminal, and the one
//! place that turns boundary errors into command errors with hints.

use std::path::PathBuf;

use crate::audit::Audit;
use crate::cli::GlobalArgs;
use crate::env::{Env, vars};
use crate::error::{CmdResult, CommandError, Exit};
use crate::identity::IdentityError;
use crate::output::Ui;
use crate::session::lock::LockError;
use crate::session::{SessionError, StoreError};
use crate::settings::{self, Config, Profile};

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
        let mut profile = config.select(self.global.profile.as_deref())?.clone();
        // CI jobs name their confidential client once, in the environment.
        if let Some(id) = self.env.get(vars::COSMOSCOPE_CLIENT_ID) {
            profile.client_id = id.to_string();
        }
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
