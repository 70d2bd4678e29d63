//! Unit-test fixtures: a throwaway home, an `App` on the in-memory keyring, and a stored session
//! — so the session manager and commands are tested without a D-Bus, a kernel keyring or a
//! provider (the integration tests use the real ones).

use clap::Parser as _;
use secrecy::SecretString;
use serde_json::json;

use crate::app::App;
use crate::cli::{Cli, Command};
use crate::env::{Env, vars};
use crate::session::{Keyring, Secrets, SessionInfo, SessionPaths};
use crate::settings::{Profile, StoreKind};

/// The access token of the fixture's session (recognisable in a leak check).
pub const ACCESS: &str = "fixture-access-token-0123456789abcdef";

/// Every grant the tests need: `admin` may do anything, `reader` may only query.
pub const POLICY: &str = r#"
[[roles]]
name = "admin"
when = { claim = "roles", contains = "admin" }
  [[roles.grants]]
  database = "shop"
  containers = ["*"]
  actions = ["query", "read"]
  partition_key = "any"

  [[roles.grants]]
  database = "*"
  containers = ["*"]
  actions = ["export"]
  partition_key = "any"

[[roles]]
name = "reader"
when = { claim = "roles", contains = "reader" }
  [[roles.grants]]
  database = "shop"
  containers = ["orders"]
  actions = ["query"]
  partition_key = "any"
"#;

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub keyring: Keyring,
}

impl Fixture {
    /// A config with profile `dev` (an unreachable provider: nothing here may use the network),
    /// the policy above, and an empty in-memory keyring.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("config/cosmoscope");
        std::fs::create_dir_all(&config).expect("mkdir");
        std::fs::write(config.join("policy.toml"), POLICY).expect("policy");
        std::fs::write(
            config.join("config.toml"),
            "default_profile = \"dev\"\n\n[profiles.dev]\nissuer = \"http://127.0.0.1:9\"\n\
             client_id = \"cli\"\nstore = \"keyutils\"\n\n[profiles.dev.cosmos]\n\
             endpoint = \"https://127.0.0.1:9/\"\ndatabase = \"shop\"\ncredential = \"entra\"\n\n\
             [profiles.dev.policy]\nfile = \"policy.toml\"\n",
        )
        .expect("config");
        Self {
            dir,
            keyring: Keyring::memory(),
        }
    }

    pub fn env(&self) -> Env {
        let p = |d: &str| self.dir.path().join(d).display().to_string();
        Env::default()
            .with(vars::HOME, p("home"))
            .with(vars::XDG_CONFIG_HOME, p("config"))
            .with(vars::XDG_STATE_HOME, p("state"))
    }

    /// The app and the command `args` parse to, as `main` would build them, on this fixture's
    /// keyring.
    pub fn app(&self, args: &[&str]) -> (App, Command) {
        let cli = Cli::try_parse_from(std::iter::once("cosmoscope").chain(args.iter().copied()))
            .expect("arguments parse");
        let mut app = App::new(cli.global, self.env().with(vars::CI, "true"));
        app.keyring = self.keyring.clone();
        (app, cli.command)
    }

    pub fn profile(&self) -> Profile {
        let (app, _) = self.app(&["status"]);
        app.profile().expect("profile").1
    }

    pub fn state_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("state/cosmoscope")
    }

    /// Stores a session for `roles` that expires at `expires_at` (unix seconds): the public file
    /// and the tokens in the keyring, as a login would.
    pub fn store_session(&self, roles: &[&str], expires_at: u64, refreshable: bool) {
        let profile = self.profile();
        let paths = SessionPaths::new(&self.state_dir(), &profile);
        let info = SessionInfo {
            profile: profile.name.clone(),
            issuer: profile.issuer.clone(),
            client_id: profile.client_id.clone(),
            subject: "alice".into(),
            roles: roles.iter().map(ToString::to_string).collect(),
            claims: json!({"sub": "alice", "roles": roles})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            expires_at,
            refreshable,
            store: StoreKind::Keyutils,
            logged_in_at: expires_at.saturating_sub(3600),
            refreshed_at: None,
            refresh_seq: 0,
            method: "device_code".into(),
            sealed: false,
            fido2_at: None,
        };
        paths.write_info(&info).expect("session file");
        let store = self.keyring.open(StoreKind::Keyutils).expect("store");
        Secrets {
            access: SecretString::from(ACCESS.to_string()),
            refresh: refreshable.then(|| SecretString::from("fixture-refresh".to_string())),
            id: None,
        }
        .save(&store, &paths)
        .expect("tokens");
    }

    /// Whether the session's access token is in the keyring.
    pub fn has_access_token(&self) -> bool {
        let paths = SessionPaths::new(&self.state_dir(), &self.profile());
        let store = self.keyring.open(StoreKind::Keyutils).expect("store");
        store
            .get(&paths.entry(crate::session::TokenKind::Access))
            .expect("get")
            .is_some()
    }

    /// The audit log's records.
    pub fn audit(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.state_dir().join("audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect()
    }
}
