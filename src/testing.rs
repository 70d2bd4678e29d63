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

    /// Stores a session for `roles` that expires at `expires_at` (unix seconds), as a login
    /// would: the public file, and in the keyring an ID token signed by the fixture's provider key
    /// (its JWKS cached where the provider's would be), so the claims verify at every use.
    pub fn store_session(&self, roles: &[&str], expires_at: u64, refreshable: bool) {
        let profile = self.profile();
        let paths = SessionPaths::new(&self.state_dir(), &profile);
        let info = SessionInfo {
            profile: profile.name.clone(),
            issuer: profile.issuer.clone(),
            client_id: profile.client_id.clone(),
            subject: "alice".into(),
            roles: roles.iter().map(ToString::to_string).collect(),
            label: None,
            claims: crate::identity::Claims::new(),
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
        std::fs::create_dir_all(paths.jwks.parent().expect("jwks dir")).expect("mkdir");
        std::fs::write(&paths.jwks, provider_jwks().to_string()).expect("jwks");
        let id = sign_id_token(&json!({
            "iss": profile.issuer, "aud": profile.client_id, "sub": "alice", "roles": roles,
            "iat": expires_at.saturating_sub(3600), "exp": expires_at,
        }));
        let store = self.keyring.open(StoreKind::Keyutils).expect("store");
        Secrets {
            access: SecretString::from(ACCESS.to_string()),
            refresh: refreshable.then(|| SecretString::from("fixture-refresh".to_string())),
            id: Some(SecretString::from(id)),
            fido2_at: None,
        }
        .save(&store, &paths)
        .expect("tokens");
    }

    /// Whether the session's access token is in the keyring.
    pub fn has_access_token(&self) -> bool {
        let paths = SessionPaths::new(&self.state_dir(), &self.profile());
        let store = self.keyring.open(StoreKind::Keyutils).expect("store");
        store.get(&paths.session_entry()).expect("get").is_some()
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

/// The fixture provider's signing key (P-256, fixed so runs are repeatable).
fn provider_key() -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_bytes(&[7u8; 32].into()).expect("a valid scalar")
}

/// The fixture provider's JWKS.
pub fn provider_jwks() -> serde_json::Value {
    use base64::Engine as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let point = provider_key().verifying_key().to_encoded_point(false);
    json!({"keys": [{
        "kty": "EC", "crv": "P-256", "kid": "fixture", "alg": "ES256", "use": "sig",
        "x": b64(point.x().expect("x")), "y": b64(point.y().expect("y")),
    }]})
}

/// `claims` as an ES256 JWT signed by the fixture provider.
pub fn sign_id_token(claims: &serde_json::Value) -> String {
    use base64::Engine as _;
    use p256::ecdsa::signature::Signer as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let header = json!({"alg": "ES256", "kid": "fixture", "typ": "JWT"});
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let sig: p256::ecdsa::Signature = provider_key().sign(input.as_bytes());
    format!("{input}.{}", b64(&sig.to_bytes()))
}
