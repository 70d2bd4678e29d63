//! The composition root: the resolved global options, the environment, the terminal, and the one
//! place that turns boundary errors into command errors with hints.

use std::path::PathBuf;
use std::sync::Arc;

use secrecy::{ExposeSecret as _, SecretString};

use crate::audit::Audit;
use crate::cli::GlobalArgs;
use crate::cosmos::Cosmos;
use crate::cosmos::CosmosAuth;
use crate::cosmos::client as cosmos_client;
use crate::cosmos::credential;
use crate::env::{Env, vars};
use crate::error::{CmdResult, CommandError};
use crate::fido2::{Fido2Context, TerminalPin};
use crate::output::Ui;
use crate::session::{Keyring, Sessions};
use crate::settings::{self, Config, CosmosSettings, CredentialKind, Profile};

pub struct App {
    pub env: Env,
    /// Where secret stores come from: the OS keyring (an in-memory one in unit tests).
    pub keyring: Keyring,
    pub global: GlobalArgs,
    pub ui: Ui,
    /// The configuration, read once: start-up (the IMDS decision) and the command share it, so
    /// `token` and `status` parse the file once.
    config: std::sync::OnceLock<Config>,
    /// The Cosmos DB client, built once per process (a long-running `mcp` server reuses its
    /// connections instead of a TLS handshake per tool call).
    cosmos: tokio::sync::OnceCell<std::sync::Arc<CosmosConnection>>,
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
        Self {
            env,
            keyring: Keyring::Os,
            global,
            ui,
            config: std::sync::OnceLock::new(),
            cosmos: tokio::sync::OnceCell::new(),
        }
    }

    pub fn config_path(&self) -> CmdResult<PathBuf> {
        if let Some(system) = self.locked_system_config()? {
            return Ok(system.path);
        }
        Ok(settings::config_path(
            self.global.config.as_deref(),
            &self.env,
        )?)
    }

    /// The system configuration, when it exists and says `locked = true`: then it is the only
    /// configuration, and naming another (`--config`, `COSMOSCOPE_CONFIG`) is an error.
    fn locked_system_config(&self) -> CmdResult<Option<Config>> {
        let path = settings::system_config_path(&self.env);
        let Some(system) = Config::load(&path)?.filter(|c| c.locked) else {
            return Ok(None);
        };
        if let Some(other) = &self.global.config
            && *other != path
        {
            return Err(CommandError::usage(format!(
                "the system configuration {} is locked: {} cannot replace it",
                path.display(),
                other.display()
            ))
            .hint("run without --config and COSMOSCOPE_CONFIG; the administrator decides the profiles and the policy"));
        }
        Ok(Some(system))
    }

    /// The configuration, which must exist: the locked system configuration, else the user's
    /// (`--config`, `COSMOSCOPE_CONFIG`, `$XDG_CONFIG_HOME/cosmoscope/config.toml`), else an
    /// unlocked system configuration.
    pub fn config(&self) -> CmdResult<Config> {
        if let Some(config) = self.config.get() {
            return Ok(config.clone());
        }
        if let Some(system) = self.locked_system_config()? {
            return Ok(self.config.get_or_init(|| system).clone());
        }
        let path = self.config_path()?;
        if !path.exists() && self.global.config.is_none() {
            let system = settings::system_config_path(&self.env);
            if let Some(config) = Config::load(&system)? {
                return Ok(self.config.get_or_init(|| config).clone());
            }
        }
        let config = Config::load(&path)?.ok_or_else(|| {
            CommandError::runtime(format!("no configuration file at {}", path.display()))
                .hint("run `cosmoscope init` to create a profile")
        })?;
        Ok(self.config.get_or_init(|| config).clone())
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

    /// Everything a FIDO2 operation needs for `profile`: its key list beside the config file, the
    /// device (`--device`, else `COSMOSCOPE_FIDO2_DEVICE`, else udev), and the PIN source.
    pub fn fido2(
        &self,
        config: &Config,
        profile: &Profile,
        device: Option<&str>,
    ) -> CmdResult<Fido2Context> {
        let dir = config
            .path
            .parent()
            .map_or_else(|| PathBuf::from("."), std::path::Path::to_path_buf);
        let can_prompt = self.ui.can_prompt();
        Ok(Fido2Context {
            profile: profile.name.clone(),
            rp_id: profile.fido2_rp_id.clone(),
            store_path: crate::fido2::KeyStore::path_for(&dir, &profile.name),
            selection: crate::fido2::DeviceSelection {
                path: device
                    .or_else(|| self.env.get(vars::FIDO2_DEVICE))
                    .map(ToString::to_string),
                can_prompt,
                quiet: self.ui.quiet,
            },
            pin: std::sync::Arc::new(TerminalPin {
                can_prompt,
                preset: self
                    .env
                    .get(vars::FIDO2_PIN)
                    .map(|p| secrecy::SecretString::from(p.to_string())),
            }),
            integrity: Some(std::sync::Arc::new(KeyringDigests {
                keyring: self.keyring.clone(),
                store: profile.store,
            })),
        })
    }

    /// The session manager of `profile`, with its security keys when any are enrolled.
    pub fn sessions<'a>(
        &self,
        config: &Config,
        profile: &'a Profile,
        audit: &'a Audit,
        device: Option<&str>,
    ) -> CmdResult<crate::session::Sessions<'a>> {
        let sessions = Sessions::new(&self.state_dir()?, profile, audit, self.keyring.clone());
        Ok(match self.fido2(config, profile, device) {
            Ok(ctx) if crate::fido2::has_keys(&ctx) => {
                sessions.with_fido2(ctx, self.ui.can_prompt())
            }
            _ => sessions,
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

/// A connected Cosmos client with the settings it was built from.
pub struct CosmosConnection {
    pub settings: CosmosSettings,
    pub cosmos: Cosmos,
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
    pub async fn cosmos(&self) -> CmdResult<std::sync::Arc<CosmosConnection>> {
        self.cosmos
            .get_or_try_init(|| async { self.connect().await.map(std::sync::Arc::new) })
            .await
            .cloned()
    }

    async fn connect(&self) -> CmdResult<CosmosConnection> {
        let (config, profile, settings) = self.cosmos_settings()?;
        let auth = match settings.credential {
            CredentialKind::Key => {
                CosmosAuth::Key(self.account_key(&config, &profile, &settings).await?)
            }
            CredentialKind::Entra => CosmosAuth::Token(credential::SessionTokenCredential::new(
                self.session_token_source(&config, &profile)?,
            )),
            _ => CosmosAuth::Token(credential::broker(&settings, &self.env)?),
        };
        let cosmos = cosmos_client::build(&settings, auth).await?;
        Ok(CosmosConnection { settings, cosmos })
    }

    /// The account key of a `key` profile; when it is sealed to a security key, one touch opens it
    /// (asked for only with a person at the terminal).
    async fn account_key(
        &self,
        config: &Config,
        profile: &Profile,
        settings: &CosmosSettings,
    ) -> CmdResult<SecretString> {
        let stored = credential::account_key(&self.keyring, profile, settings)
            .map_err(|e| CommandError::from_key_error(e, &profile.name))?;
        if !crate::fido2::seal::is_sealed(stored.expose_secret()) {
            return Ok(stored);
        }
        if !self.ui.can_prompt() {
            return Err(CommandError::login_required(
                "the account key is sealed to a security key, and opening it needs a touch",
            )
            .hint("run the command at a terminal with the key plugged in"));
        }
        let ctx = self.fido2(config, profile, None)?;
        let key = crate::fido2::sealing_key(&ctx, Some(stored.expose_secret().to_string())).await?;
        Ok(key.unseal(crate::fido2::seal::Slot::AccountKey, stored.expose_secret())?)
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
        let keyring = self.keyring.clone();
        Ok(Arc::new(move || {
            let state_dir = state_dir.clone();
            let profile = profile.clone();
            let audit_path = audit_path.clone();
            let keyring = keyring.clone();
            Box::pin(async move {
                let audit = Audit::new(audit_path, redact);
                let sessions = Sessions::new(&state_dir, &profile, &audit, keyring);
                sessions
                    .fresh(0, false)
                    .await
                    .map(|(info, token)| (token, info.expires_at))
                    .map_err(|e| e.to_string())
            })
        }))
    }
}

/// The FIDO2 key list's digest, kept in the profile's keyring.
struct KeyringDigests {
    keyring: crate::session::Keyring,
    store: crate::settings::StoreKind,
}

impl crate::fido2::DigestStore for KeyringDigests {
    fn get(&self, entry: &str) -> Option<String> {
        use secrecy::ExposeSecret as _;
        let value = self.keyring.open(self.store).ok()?.get(entry).ok()??;
        Some(value.expose_secret().to_string())
    }

    fn set(&self, entry: &str, value: &str) {
        if let Ok(store) = self.keyring.open(self.store) {
            let _ = store.set(entry, &secrecy::SecretString::from(value.to_string()));
        }
    }
}
