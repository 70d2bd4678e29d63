//! The fixtures the integration tests share, in one place: a provider and a signed-in profile
//! (`setup`, `login_as`), the whole local stack (`stack`), the test policy, the tokens a session
//! holds, and the peers' Python venv.

use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Read as _};
use std::process::Output;

use cosmoscope::session::{Keyring, SecretStore, Secrets, SessionPaths};
use cosmoscope::settings::StoreKind;
use serde_json::Value;

use crate::cosmos_peer::{Peer, PeerOptions, certs};
use crate::harness::{Run, TestEnv, has_session_keyring};
use crate::oidc::{self, Oidc};

const AUDIENCE: &str = "https://cosmos-gateway.test";

/// Runs `login -o json --no-browser` (the device code), hands the user code to `act` once it is
/// shown, and returns the run with the whole stdout (the NDJSON events).
pub fn login_with(env: &TestEnv, args: &[&str], act: impl FnOnce(&str)) -> Run {
    let mut full = vec!["--no-browser"];
    full.extend_from_slice(args);
    login_on_event(env, &full, "device_code", "user_code", act)
}

/// Runs `login -o json ARGS`, expects `event` first and hands its `field` to `act`, and returns
/// the run with the whole stdout.
pub fn login_on_event(
    env: &TestEnv,
    args: &[&str],
    event: &str,
    field: &str,
    act: impl FnOnce(&str),
) -> Run {
    let mut full = vec!["login", "-o", "json"];
    full.extend_from_slice(args);
    let mut child = env.spawn(&full);
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("read the first event");
    if let Ok(ev) = serde_json::from_str::<Value>(&first) {
        assert_eq!(ev["event"], event, "{first}");
        act(ev[field].as_str().expect("the event's field"));
    }
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).expect("read events");
    let out = child.wait_with_output().expect("wait");
    env.record(Output {
        status: out.status,
        stdout: format!("{first}{rest}").into_bytes(),
        stderr: out.stderr,
    })
}

pub fn login_as(env: &TestEnv, oidc: &Oidc, user: &str) -> Run {
    login_with(env, &[], |code| oidc.approve(code, user))
}

/// A provider and an environment with a `dev` profile whose secrets go to kernel keyutils.
pub fn setup(envs: &[(&str, &str)], client_id: &str) -> Option<(Oidc, TestEnv)> {
    if !oidc::available() || !has_session_keyring() {
        return None;
    }
    let oidc = Oidc::start(envs);
    let env = TestEnv::new();
    env.write_profile(&oidc.issuer, client_id, "keyutils");
    Some((oidc, env))
}

/// The tokens the session holds right now, read straight from the keyring.
pub fn stored_tokens(env: &TestEnv, issuer: &str) -> Vec<String> {
    stored_tokens_of(env, issuer, "dev")
}

/// The tokens of `profile`'s session.
pub fn stored_tokens_of(env: &TestEnv, issuer: &str, profile: &str) -> Vec<String> {
    let Some(secrets) = vault_of(env, issuer, profile).2 else {
        return Vec::new();
    };
    std::iter::once(secrets.access)
        .chain(secrets.refresh)
        .chain(secrets.id)
        .map(|s| secrecy::ExposeSecret::expose_secret(&s).to_string())
        .collect()
}

/// The `dev` session's keyring entry (keyutils): where it is, and what it holds — for the tests
/// that tamper with it and put it back.
pub fn vault(env: &TestEnv, issuer: &str) -> (SecretStore, SessionPaths, Secrets) {
    let (store, paths, secrets) = vault_of(env, issuer, "dev");
    (store, paths, secrets.expect("a session in the keyring"))
}

fn vault_of(
    env: &TestEnv,
    issuer: &str,
    profile: &str,
) -> (SecretStore, SessionPaths, Option<Secrets>) {
    // The session file names the client its keyring entry belongs to.
    let client = std::fs::read(env.state_dir().join(format!("sessions/{profile}.json")))
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| v["client_id"].as_str().map(str::to_string))
        .unwrap_or_else(|| "cosmoscope-cli".into());
    let paths = SessionPaths::for_identity(&env.state_dir(), profile, issuer, &client);
    let store = Keyring::Os.open(StoreKind::Keyutils).expect("keyutils");
    let secrets = Secrets::load(&store, &paths).expect("read keyring");
    (store, paths, secrets)
}

/// Provider + Cosmos peer (seeded with the shop fixture) + a `dev` profile using the session token.
pub fn stack(user: &str) -> Option<(Oidc, Peer, TestEnv)> {
    let (oidc, env) = setup(&[], "cosmoscope-cli")?;
    if !crate::cosmos_peer::peer_dir().join("node_modules").exists()
        || !crate::fixtures::venv_python().exists()
    {
        return None;
    }
    let peer = Peer::start_with(PeerOptions {
        jwks_uri: Some(format!("{}/jwks", oidc.issuer)),
        audience: Some(AUDIENCE.into()),
        issuer: Some(oidc.issuer.clone()),
        ..PeerOptions::default()
    });
    peer.seed_shop();
    let env = env.with_env("SSL_CERT_FILE", certs().ca.to_str().expect("utf8"));
    std::fs::write(env.config_dir().join("policy.toml"), POLICY).expect("policy");
    let mut cfg = std::fs::read_to_string(env.config_file()).expect("config");
    let _ = write!(
        cfg,
        "\n[profiles.dev.cosmos]\nendpoint = \"{}\"\ndatabase = \"shop\"\ncredential = \"entra\"\nhttp2 = false\n\n[profiles.dev.policy]\nfile = \"policy.toml\"\n",
        peer.endpoint
    );
    env.write_config(&cfg);
    login_as(&env, &oidc, user).ok();
    Some((oidc, peer, env))
}

pub const POLICY: &str = r#"
[[roles]]
name = "support"
when = { claim = "https://cosmoscope.test/roles", contains = "support" }

  [[roles.grants]]
  database = "shop"
  containers = ["orders", "customers"]
  actions = ["query", "read"]
  partition_key = { claim = "tenant_id" }
  deny_fields = ["card_number", "customer.ssn"]
  max_items = 1000

[[roles]]
name = "admin"
when = { claim = "https://cosmoscope.test/roles", contains = "admin" }

  [[roles.grants]]
  database = "shop"
  containers = ["*"]
  actions = ["query", "read", "upsert", "delete"]
  partition_key = "any"

  [[roles.grants]]
  database = "*"
  containers = ["*"]
  actions = ["export"]
  partition_key = "any"
"#;

/// Gives the `dev` profile a policy whose only grant lets a holder of the `admin` role (read from
/// `claim`) export credentials (`token`, `exec`).
pub fn export_policy(env: &TestEnv, claim: &str) {
    let cfg = std::fs::read_to_string(env.config_file()).expect("config");
    env.write_config(&format!(
        "{cfg}\n[profiles.dev.policy]\nfile = \"policy.toml\"\n"
    ));
    std::fs::write(
        env.config_dir().join("policy.toml"),
        format!(
            "[[roles]]\nname = \"admin\"\nwhen = {{ claim = \"{claim}\", contains = \"admin\" }}\n  [[roles.grants]]\n  database = \"*\"\n  containers = [\"*\"]\n  actions = [\"export\"]\n  partition_key = \"any\"\n"
        ),
    )
    .expect("policy");
}

/// The Python venv with the second clients (scripts/test builds it).
pub fn venv_python() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/peers-venv/bin/python")
}
