//! FIDO2 through the production HID path: `cosmoscope key …` (and the library's seal/unseal/step-up)
//! → ctap-hid-fido2 → hidapi → a FUSE hidraw node → the software authenticator.

use std::io::Read as _;
use std::process::Output;
use std::time::{Duration, Instant};

use cosmoscope::fido2::{
    self, Algorithm, Ceremony, DeviceError, DeviceSelection, Fido2Error, HidAuthenticator,
    KeyStore, PinPrompt, VerifyError, ceremony,
};
use secrecy::{ExposeSecret, SecretString};

use crate::fido2_fuse::{
    self, ERR_CHANNEL_BUSY, Fault, HID_MSG, HID_PING, HIDIOCGRDESCSIZE, HidNode,
};
use crate::harness::{KillOnDrop, Run, TestEnv, wait_for};
use crate::require;
use crate::soft_authenticator::{Behaviour, Counter, SoftAuthenticator, Touch};

fn mount(auth: SoftAuthenticator) -> Option<HidNode> {
    match HidNode::mount(auth) {
        Ok(node) => Some(node),
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI cannot mount the FUSE HID node: {e}"
            );
            eprintln!("SKIPPED: cannot mount the FUSE HID node: {e}");
            None
        }
    }
}

const REFRESH: cosmoscope::fido2::seal::Slot = cosmoscope::fido2::seal::Slot::Refresh;

fn env() -> TestEnv {
    let env = TestEnv::new();
    env.write_profile("http://127.0.0.1:9/", "cosmoscope-cli", "auto");
    env
}

fn enroll(env: &TestEnv, node: &HidNode, extra: &[&str]) -> Run {
    let path = node.path_str();
    let mut args = vec!["key", "enroll", "--device", path.as_str()];
    args.extend_from_slice(extra);
    env.run(&args)
}

#[test]
fn fido2_fuse_key_enroll_list_remove_through_the_real_hid_stack() {
    require!(fido2_fuse::available(), "/dev/fuse and root");
    let Some(node) = mount(SoftAuthenticator::default()) else {
        return;
    };
    let env = env();
    let run = enroll(&env, &node, &["--label", "blue"]);
    run.ok();
    eprintln!(
        "--- key enroll stdout ---\n{}--- stderr ---\n{}",
        run.stdout, run.stderr
    );
    assert!(
        run.stderr.contains("Enrolled key \"blue\""),
        "{}",
        run.stderr
    );
    assert!(!run.stdout.contains("Touch"), "stdout is data only");
    let stats = node.stats();
    assert!(stats.ioctls.contains(&HIDIOCGRDESCSIZE), "{stats:?}");
    assert!(stats.keepalives_sent >= 1, "{stats:?}");
    assert_eq!(node.with(|a| a.credential_count()), 1);

    enroll(&env, &node, &["--label", "green", "--alg", "ed25519"]).ok();
    let list = env.run(&["key", "list"]);
    list.ok();
    eprintln!("--- key list ---\n{}", list.stdout);
    assert!(list.stdout.contains("blue") && list.stdout.contains("green"));
    let json = env.run(&["key", "list", "-o", "json"]);
    json.ok();
    let keys = json.json();
    assert_eq!(keys.as_array().map(Vec::len), Some(2));
    assert_eq!(keys[0]["algorithm"], "es256");
    assert_eq!(keys[1]["algorithm"], "ed25519");
    assert_eq!(keys[0]["rp_id"], "cosmoscope");
    assert_eq!(keys[0]["sign_count"], 1);
    assert_eq!(keys[0]["attestation"], "packed (self)");

    // The list on disk holds public data only.
    let file = std::fs::read_to_string(env.config_dir().join("fido2/dev.json")).expect("key list");
    assert!(file.contains("\"public_key\"") && file.contains("\"salt\""));

    let id = keys[1]["id"].as_str().expect("id").to_string();
    env.run(&["key", "remove", &id]).ok();
    env.run(&["key", "remove", "nope"])
        .code(1)
        .stderr_has("hint: run `cosmoscope key list`");
    let keys = env.run(&["key", "list", "-o", "json"]).json();
    assert_eq!(keys.as_array().map(Vec::len), Some(1));

    // Each change to the enrolled keys left exactly one record; listing changes nothing.
    let actions: Vec<(String, String)> = env
        .audit()
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap_or_default().to_string(),
                r["decision"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let pairs: Vec<(&str, &str)> = actions
        .iter()
        .map(|(a, d)| (a.as_str(), d.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("key.enroll", "ok"),
            ("key.enroll", "ok"),
            ("key.remove", "ok"),
            ("key.remove", "error"),
        ]
    );
    // A format the command cannot give is a usage error, before anything runs.
    env.run(&["key", "remove", "-o", "csv", &id])
        .code(2)
        .stderr_has("cannot print -o csv");
    assert_eq!(env.audit().len(), 4);

    // A key list edited by hand (here: the key relabelled; a credential of someone else's added
    // works the same way) is refused: its digest is kept in the keyring (issue 13, finding 16).
    let path = env.config_dir().join("fido2/dev.json");
    let edited = std::fs::read_to_string(&path)
        .expect("key list")
        .replace("\"blue\"", "\"mallory\"");
    std::fs::write(&path, edited).expect("edit");
    env.run(&["key", "list"])
        .code(1)
        .stderr_has("changed outside cosmoscope");
}

#[test]
fn fido2_fuse_pin_uses_protocol_2_and_a_wrong_pin_reports_retries() {
    require!(fido2_fuse::available(), "/dev/fuse and root");
    let Some(node) = mount(SoftAuthenticator::default().with_pin("4321")) else {
        return;
    };
    let env = env();
    // No terminal and no PIN: a clear error, nothing sent to the key but getInfo.
    enroll(&env, &node, &[])
        .code(1)
        .stderr_has("no terminal is available")
        .stderr_has("COSMOSCOPE_FIDO2_PIN");

    let wrong = TestEnv::new().with_env("COSMOSCOPE_FIDO2_PIN", "0000");
    wrong.write_profile("http://127.0.0.1:9/", "cosmoscope-cli", "auto");
    enroll(&wrong, &node, &[])
        .code(1)
        .stderr_has("error: wrong PIN")
        .stderr_has("7 attempts left");

    let right = TestEnv::new().with_env("COSMOSCOPE_FIDO2_PIN", "4321");
    right.write_profile("http://127.0.0.1:9/", "cosmoscope-cli", "auto");
    enroll(&right, &node, &["--label", "pinned"]).ok();
    let keys = right.run(&["key", "list", "-o", "json"]).json();
    assert_eq!(keys[0]["user_verified"], true);
    let protocols = node.with(|a| a.protocols_seen.clone());
    assert!(
        !protocols.is_empty() && protocols.iter().all(|p| *p == 2),
        "{protocols:?}"
    );

    node.with(|a| a.set_pin_retries(1));
    enroll(&wrong, &node, &[])
        .code(1)
        .stderr_has("PIN is blocked")
        .stderr_has("hint:");
}

#[test]
fn fido2_fuse_refused_touch_timeout_and_missing_hmac_secret() {
    require!(fido2_fuse::available(), "/dev/fuse and root");
    let Some(node) = mount(SoftAuthenticator::new(Behaviour {
        touch: Touch::Deny,
        ..Behaviour::default()
    })) else {
        return;
    };
    let env = env();
    enroll(&env, &node, &[])
        .code(1)
        .stderr_has("refused the operation")
        .stderr_has("hint:");
    node.with(|a| a.behaviour.touch = Touch::Timeout);
    enroll(&env, &node, &[])
        .code(1)
        .stderr_has("not touched in time");
    node.with(|a| {
        a.behaviour.touch = Touch::Approve;
        a.behaviour.hmac_secret = false;
    });
    enroll(&env, &node, &[])
        .code(1)
        .stderr_has("no hmac-secret");
    assert!(
        !env.config_dir().join("fido2/dev.json").exists(),
        "nothing was enrolled"
    );
    // A path that is no key.
    env.run(&["key", "enroll", "--device", "/nonexistent/hidraw9"])
        .code(1)
        .stderr_has("cannot open the security key");
}

struct Pin(Option<&'static str>);
impl PinPrompt for Pin {
    fn pin(&self, _device: &str) -> Result<SecretString, Fido2Error> {
        self.0.map(SecretString::from).ok_or(Fido2Error::PinNeeded)
    }
}

/// The library API the login and query step-up build on, through the production adapter.
#[test]
fn fido2_fuse_seal_unseal_and_step_up_verify_every_answer() {
    require!(fido2_fuse::available(), "/dev/fuse and root");
    let Some(node) = mount(SoftAuthenticator::default().with_pin("4321")) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = KeyStore::load(
        &KeyStore::path_for(dir.path(), "dev"),
        "dev",
        cosmoscope::settings::DEFAULT_RP_ID,
    )
    .expect("store");
    let auth = HidAuthenticator::open(&DeviceSelection {
        path: Some(node.path_str()),
        can_prompt: false,
        quiet: true,
    })
    .expect("open the FUSE key");
    let pin = Pin(Some("4321"));
    let c = Ceremony {
        auth: &auth,
        pin: &pin,
    };
    ceremony::enroll(&c, &mut store, "blue", Algorithm::Es256).expect("enroll");

    // hmac-secret over the wire (protocol 2 encryption both ways) seals and opens.
    let secret = SecretString::from("refresh-token-through-fuse-0123456789");
    let sealed = fido2::seal_with(&c, &mut store, "dev", REFRESH, &secret).expect("seal");
    let opened = fido2::unseal_with(&c, &mut store, "dev", REFRESH, &sealed).expect("unseal");
    assert_eq!(opened.expose_secret(), secret.expose_secret());
    let up = fido2::step_up_with(&c, &mut store).expect("step up");
    assert!(up.user_verified);

    node.with(|a| a.behaviour.tamper_signature = true);
    assert!(matches!(
        fido2::step_up_with(&c, &mut store).err(),
        Some(Fido2Error::Verify(VerifyError::BadSignature))
    ));
    node.with(|a| {
        a.behaviour.tamper_signature = false;
        a.behaviour.rp_id_override = Some("evil.example".into());
    });
    assert!(matches!(
        fido2::step_up_with(&c, &mut store).err(),
        Some(Fido2Error::Verify(VerifyError::RpIdMismatch))
    ));
    node.with(|a| {
        a.behaviour.rp_id_override = None;
        a.behaviour.counter = Counter::Fixed(1);
    });
    assert!(matches!(
        fido2::step_up_with(&c, &mut store).err(),
        Some(Fido2Error::Verify(VerifyError::SignCountRegression { .. }))
    ));
    node.with(|a| {
        a.behaviour.counter = Counter::Increment;
        a.behaviour.drop_uv_flag = true;
    });
    assert!(matches!(
        fido2::step_up_with(&c, &mut store).err(),
        Some(Fido2Error::Verify(VerifyError::UserNotVerified))
    ));
    node.with(|a| {
        a.behaviour.drop_uv_flag = false;
        a.forget_credentials();
    });
    assert!(matches!(
        fido2::unseal_with(&c, &mut store, "dev", REFRESH, &sealed).err(),
        Some(Fido2Error::Device(DeviceError::NoCredentials))
    ));
}

/// With a real key plugged in: `COSMOSCOPE_FIDO2_DEVICE=/dev/hidrawN cargo nextest run --run-ignored
/// only -E 'test(fido2_real_key)'` (touch it twice; set COSMOSCOPE_FIDO2_PIN if it has a PIN).
#[test]
#[ignore = "needs a real FIDO2 key and a person to touch it"]
fn fido2_real_key_enroll_seal_unseal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = KeyStore::load(
        &KeyStore::path_for(dir.path(), "real"),
        "real",
        cosmoscope::settings::DEFAULT_RP_ID,
    )
    .expect("store");
    let auth = HidAuthenticator::open(&DeviceSelection {
        path: std::env::var("COSMOSCOPE_FIDO2_DEVICE").ok(),
        can_prompt: false,
        quiet: false,
    })
    .expect("a key");
    let pin_value: Option<&'static str> = std::env::var("COSMOSCOPE_FIDO2_PIN")
        .ok()
        .map(|p| &*Box::leak(p.into_boxed_str()));
    let pin = Pin(pin_value);
    let c = Ceremony {
        auth: &auth,
        pin: &pin,
    };
    ceremony::enroll(&c, &mut store, "real", Algorithm::Es256).expect("enroll");
    let secret = SecretString::from("a-secret-for-a-real-key");
    let sealed = fido2::seal_with(&c, &mut store, "real", REFRESH, &secret).expect("seal");
    let opened = fido2::unseal_with(&c, &mut store, "real", REFRESH, &sealed).expect("unseal");
    assert_eq!(opened.expose_secret(), secret.expose_secret());
}

/// The whole issue-6 flow from the binary: enrol → device-code login seals the refresh token →
/// after expiry, a CI-style `token` refuses (a touch is needed) → `login --fido2` renews with one
/// touch and no browser, sealing the rotated refresh token again.
#[test]
fn fido2_fuse_device_login_seals_and_login_fido2_renews() {
    require!(fido2_fuse::available(), "/dev/fuse and root");
    let Some(setup) = crate::fixtures::setup(&[], "cosmoscope-cli") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI lacks the OpenID peer or a session keyring"
        );
        return;
    };
    let (oidc, env) = setup;
    let Some(node) = mount(SoftAuthenticator::default()) else {
        return;
    };
    let device = node.path_str();
    std::fs::write(
        env.config_dir().join("policy.toml"),
        crate::fixtures::POLICY,
    )
    .expect("policy");
    let mut cfg = std::fs::read_to_string(env.config_file()).expect("config");
    cfg.push_str("\n[profiles.dev.cosmos]\nendpoint = \"https://127.0.0.1:8081/\"\ndatabase = \"shop\"\ncredential = \"entra\"\n\n[profiles.dev.policy]\nfile = \"policy.toml\"\n");
    env.write_config(&cfg);
    enroll(&env, &node, &["--label", "blue"]).ok();

    let run = crate::fixtures::login_with(&env, &["--device", &device], |code| {
        oidc.approve(code, "bob");
    });
    run.ok();
    let tokens = crate::fixtures::stored_tokens(&env, &oidc.issuer);
    assert!(
        tokens[1].starts_with("cs2."),
        "the refresh token is stored sealed"
    );

    // Expire the access token: a non-interactive renewal needs a touch it may not ask for.
    let path = env.state_dir().join("sessions/dev.json");
    let expire = || {
        let mut info: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).expect("session")).expect("json");
        info["expires_at"] = serde_json::Value::from(1_000_000_000u64);
        std::fs::write(&path, serde_json::to_vec(&info).expect("json")).expect("write");
    };
    expire();
    env.run(&["token", "--resource", "idp"])
        .code(3)
        .stderr_has("login --fido2");
    assert_eq!(oidc.token_requests("refresh_token"), 0);

    let run = env.run(&["login", "--fido2", "--device", &device]);
    run.ok()
        .stderr_has("Logged in with your security key as bob");
    assert_eq!(oidc.token_requests("refresh_token"), 1);
    let after = crate::fixtures::stored_tokens(&env, &oidc.issuer);
    assert!(
        after[1].starts_with("cs2.") && after[1] != tokens[1],
        "the rotated refresh token is sealed again"
    );
    // (The credential command prints a token by design: run it outside the leak-checked record.)
    let token = env
        .cmd()
        .args(["token", "--resource", "idp"])
        .output()
        .expect("token");
    assert_eq!(token.status.code(), Some(0));

    // A plain refresh token put where the sealed one was (a downgrade) is refused, and never
    // sent to the provider (issue 13, finding 16).
    let (store, paths, mut secrets) = crate::fixtures::vault(&env, &oidc.issuer);
    let sealed = secrets.refresh.replace(secrecy::SecretString::from(
        "downgraded-refresh-token-0123456789".to_string(),
    ));
    secrets.save(&store, &paths).expect("save");
    env.run(&["login", "--fido2", "--device", &device])
        .code(3)
        .stderr_has("failed verification");
    assert_eq!(oidc.token_requests("refresh_token"), 1, "nothing was sent");
    secrets.refresh = sealed;
    secrets.save(&store, &paths).expect("restore");

    // Without a sealed session there is nothing to unseal.
    env.run(&["logout"]).ok();
    env.run(&["login", "--fido2", "--device", &device])
        .code(3)
        .stderr_has("run `cosmoscope login` once");
    let mut secrets = tokens;
    secrets.extend(after);
    env.assert_no_secrets(&secrets);
}

/// Step-up: a grant with `require_fido2 = true` runs only after a recent, verified touch. Through
/// the FUSE device: without a terminal the query exits 3; the sealing touch of a device-code login
/// counts; when it is older than `fido2_window`, `query` at a terminal (tmux) asks for a touch.
#[test]
fn fido2_fuse_step_up_query() {
    require!(fido2_fuse::available(), "/dev/fuse and root");
    require!(
        std::process::Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok(),
        "tmux"
    );
    let Some((oidc, _peer, env)) = crate::fixtures::stack("alice") else {
        assert!(std::env::var_os("CI").is_none(), "CI lacks a peer");
        return;
    };
    let Some(node) = mount(SoftAuthenticator::default()) else {
        return;
    };
    let device = node.path_str();
    let policy = crate::fixtures::POLICY.replacen(
        "  max_items = 1000\n",
        "  max_items = 1000\n  require_fido2 = true\n",
        1,
    );
    std::fs::write(env.config_dir().join("policy.toml"), policy).expect("policy");
    enroll(&env, &node, &["--label", "blue"]).ok();

    let sql = "SELECT c.id, c.tenant_id FROM c";
    env.run(&["query", "-c", "orders", sql])
        .code(3)
        .stderr_has("recent touch of your security key");

    // A device-code login with a key enrolled seals the session; its touch is a fresh step-up.
    env.run(&["logout"]).ok();
    crate::fixtures::login_with(&env, &["--device", &device], |code| {
        oidc.approve(code, "alice");
    })
    .ok();
    let run = env.run(&["query", "-c", "orders", "-o", "ndjson", sql]);
    run.ok();
    assert!(
        run.stdout.lines().all(|l| l.contains("\"t1\"")),
        "{}",
        run.stdout
    );

    // An old touch (the time lives in the session's keyring entry)…
    let (store, paths, mut secrets) = crate::fixtures::vault(&env, &oidc.issuer);
    secrets.fido2_at = Some(1_000_000_000);
    secrets.save(&store, &paths).expect("save");
    // …cannot be made recent by editing the session file (issue 13, finding 3).
    let path = env.state_dir().join("sessions/dev.json");
    let mut info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("session")).expect("json");
    info["fido2_at"] = serde_json::Value::from(cosmoscope_now());
    std::fs::write(&path, serde_json::to_vec(&info).expect("json")).expect("write");
    env.run(&["query", "-c", "orders", sql])
        .code(3)
        .stderr_has("recent touch of your security key");
    // At a terminal, `query` asks for a touch and then runs.
    // `env` carries SSL_CERT_FILE (the Cosmos peer's CA) into the terminal's shell.
    let t = crate::harness::Tmux::run(&format!(
        "{} COSMOSCOPE_FIDO2_DEVICE={device} {} query -c orders -o ndjson '{sql}'",
        env.shell_env(),
        crate::harness::BIN
    ));
    let screen = t.wait_for("EXIT=");
    assert!(
        screen.contains("Touch your security key") && screen.contains("EXIT=0"),
        "{screen}"
    );
    assert!(screen.contains("\"tenant_id\":\"t1\""), "{screen}");
    let step_ups = env
        .audit()
        .iter()
        .filter(|r| r["action"] == "step_up")
        .count();
    assert_eq!(step_ups, 1);
}

/// A `key` profile's Cosmos account key is sealed to the enrolled security key: the keyring entry
/// alone is useless; without a terminal the data command exits 3; at a terminal one touch opens it.
#[tokio::test]
async fn fido2_fuse_sealed_account_key() {
    require!(fido2_fuse::available(), "/dev/fuse and root");
    require!(
        std::process::Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok(),
        "tmux"
    );
    let Some(node) = mount(SoftAuthenticator::default()) else {
        return;
    };
    let device = node.path_str();
    let peer = crate::cosmos_peer::Peer::start();
    peer.seed_shop();
    let env = crate::cosmos_peer::CliEnv::new(&peer, "");
    let with_device = [("COSMOSCOPE_FIDO2_DEVICE", device.as_str())];
    let (code, _, err) = env.run_env(&["key", "enroll", "--label", "blue"], "", &with_device);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = env.run_env(&["account-key", "set"], &peer.key, &with_device);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("sealed to your security key"), "{err}");
    let entry = cosmoscope::cosmos::credential::account_key_entry("local", &peer.endpoint);
    let stored = cosmoscope::session::Keyring::Os
        .open(cosmoscope::settings::StoreKind::SecretService)
        .expect("secret service")
        .get(&entry)
        .expect("read")
        .expect("stored");
    assert!(
        stored.expose_secret().starts_with("cs2.") && !stored.expose_secret().contains(&peer.key)
    );

    let (code, _, err) = env.run_env(&["ls", "containers"], "", &with_device);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("sealed to a security key"), "{err}");

    // At a terminal, one touch opens it.
    let home = env.env.dir.path();
    let cmd = format!(
        "env -i PATH=/usr/bin:/bin TERM=xterm NO_COLOR=1 HOME={h}/home XDG_CONFIG_HOME={h}/config XDG_STATE_HOME={h}/state SSL_CERT_FILE={ca} DBUS_SESSION_BUS_ADDRESS='{bus}' COSMOSCOPE_FIDO2_DEVICE={device} {bin} ls containers",
        h = home.display(),
        ca = crate::cosmos_peer::certs().ca.display(),
        bus = std::env::var("DBUS_SESSION_BUS_ADDRESS").unwrap_or_default(),
        bin = crate::harness::BIN,
    );
    let screen = crate::harness::Tmux::run(&cmd).wait_for("EXIT=");
    assert!(
        screen.contains("orders") && screen.contains("EXIT=0"),
        "{screen}"
    );
}

/// Runs cosmoscope and waits for it to exit within `deadline` (a hang fails the test; the child is
/// killed on the way out).
fn run_within(env: &TestEnv, args: &[&str], deadline: Duration) -> Run {
    let mut child = KillOnDrop(env.spawn(args));
    let started = Instant::now();
    let status = wait_for(
        &format!("`cosmoscope {}` to exit", args.join(" ")),
        deadline,
        || child.0.try_wait().expect("try_wait"),
    );
    eprintln!(
        "`cosmoscope {}` exited in {:.1} s",
        args.join(" "),
        started.elapsed().as_secs_f64()
    );
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    if let Some(mut out) = child.0.stdout.take() {
        out.read_to_end(&mut stdout).expect("stdout");
    }
    if let Some(mut err) = child.0.stderr.take() {
        err.read_to_end(&mut stderr).expect("stderr");
    }
    env.record(Output {
        status,
        stdout,
        stderr,
    })
}

/// The clean failure every malformed answer must end in: exit 1, `error:` with a cause and a
/// hint, no panic text, nothing on stdout.
fn assert_clean_failure(run: &Run, what: &str) {
    assert_eq!(
        run.code, 1,
        "{what}: expected exit 1\nstdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    for needle in ["error: ", "caused by: ", "hint: "] {
        assert!(
            run.stderr.contains(needle),
            "{what}: stderr lacks {needle:?}:\n{}",
            run.stderr
        );
    }
    for bad in ["panicked at", "internal error", "a bug"] {
        assert!(
            !run.stderr.contains(bad),
            "{what}: stderr has {bad:?}:\n{}",
            run.stderr
        );
    }
    assert!(run.stdout.is_empty(), "{what}: stdout: {}", run.stdout);
}

const GET_INFO: u8 = 0x04;
const MAKE_CREDENTIAL: u8 = 0x01;
const GET_ASSERTION: u8 = 0x02;

/// What a malformed answer must end in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Exit 1 with a cause and a hint; nothing written.
    Fails,
    /// `ctap-hid-fido2` checks neither the channel id nor continuation sequence numbers: a genuine
    /// answer under such a header is used, and stands or falls by our verification (another
    /// exchange's answer on another channel is refused: `StaleOnWrongChannel`).
    Verified,
}

/// Every malformed framing or reply, on the first exchange (getInfo) and on the touch
/// (makeCredential), through `cosmoscope key enroll` and the production HID path: a defined
/// outcome within the deadline — a clean failure with the key list untouched, or (where the
/// library does not check a header) the genuine answer, verified. Silence during the touch is
/// covered below with a short deadline: a command's own deadline there is 90 s.
#[test]
fn fido2_fuse_malformed_answers_fail_cleanly_and_write_nothing() {
    require!(fido2_fuse::available(), "/dev/fuse and root");
    let Some(node) = mount(SoftAuthenticator::default()) else {
        return;
    };
    let env = env();
    enroll(&env, &node, &["--label", "good"]).ok();
    let store = env.config_dir().join("fido2/dev.json");
    let device = node.path_str();

    let cases = [
        (GET_INFO, Fault::WrongCommand(HID_MSG), Expect::Fails),
        (GET_INFO, Fault::TruncatedCbor, Expect::Fails),
        (GET_INFO, Fault::NotAMap, Expect::Fails),
        (GET_INFO, Fault::HidError(ERR_CHANNEL_BUSY), Expect::Fails),
        (GET_INFO, Fault::ShortThenSilence, Expect::Fails),
        (MAKE_CREDENTIAL, Fault::StaleOnWrongChannel, Expect::Fails),
        (MAKE_CREDENTIAL, Fault::WrongCommand(HID_MSG), Expect::Fails),
        (MAKE_CREDENTIAL, Fault::BadSequence, Expect::Fails),
        (MAKE_CREDENTIAL, Fault::TruncatedCbor, Expect::Fails),
        (MAKE_CREDENTIAL, Fault::NotAMap, Expect::Fails),
        (
            MAKE_CREDENTIAL,
            Fault::HidError(ERR_CHANNEL_BUSY),
            Expect::Fails,
        ),
        (GET_INFO, Fault::WrongCommand(HID_PING), Expect::Fails),
        (
            MAKE_CREDENTIAL,
            Fault::WrongCommand(HID_PING),
            Expect::Fails,
        ),
        (GET_INFO, Fault::WrongChannel, Expect::Verified),
        // getInfo's reply has one continuation frame: numbered 1, it is taken as is.
        (GET_INFO, Fault::BadSequence, Expect::Verified),
        (MAKE_CREDENTIAL, Fault::WrongChannel, Expect::Verified),
    ];
    for (on, fault, expect) in cases {
        let what = format!("{fault:?} on CTAP command 0x{on:02x}");
        let before = std::fs::read(&store).expect("key list");
        node.inject(Some((on, fault)));
        let sent = node.stats().faults_sent;
        let run = run_within(
            &env,
            &["key", "enroll", "--device", &device, "--label", "faulty"],
            Duration::from_mins(1),
        );
        eprintln!("--- {what} ---\n{}", run.stderr);
        assert!(
            node.stats().faults_sent > sent,
            "{what}: the fault was never sent"
        );
        match expect {
            Expect::Fails => {
                assert_clean_failure(&run, &what);
                assert_eq!(
                    std::fs::read(&store).expect("key list"),
                    before,
                    "{what}: the key list changed"
                );
            }
            Expect::Verified => {
                run.ok();
                node.inject(None);
                let keys = env.run(&["key", "list", "-o", "json"]).json();
                let added = keys
                    .as_array()
                    .and_then(|k| k.iter().find(|k| k["label"] == "faulty"))
                    .unwrap_or_else(|| panic!("{what}: not enrolled: {keys}"));
                assert_eq!(added["attestation"], "packed (self)", "{what}");
                env.run(&["key", "remove", "faulty"]).ok();
            }
        }
    }

    // Healed, the same key enrolls again.
    node.inject(None);
    enroll(&env, &node, &["--label", "after"]).ok();
}

/// The assertion path (step-up, unseal, `login --fido2`) under every fault, and a key that falls
/// silent during a touch, through the production adapter with short deadlines: each ends in an
/// error of the device or of our verification, in time, with the key list as it was (or, where the
/// library does not check a header, in the genuine answer, verified).
#[test]
fn fido2_fuse_malformed_assertions_and_a_silent_touch_fail_cleanly() {
    require!(fido2_fuse::available(), "/dev/fuse and root");
    let Some(node) = mount(SoftAuthenticator::default()) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = KeyStore::path_for(dir.path(), "dev");
    let mut store =
        KeyStore::load(&path, "dev", cosmoscope::settings::DEFAULT_RP_ID).expect("store");
    let deadline = Duration::from_secs(3);
    let open = || {
        HidAuthenticator::open(&DeviceSelection {
            path: Some(node.path_str()),
            can_prompt: false,
            quiet: true,
        })
        .expect("open the FUSE key")
        .with_deadlines(deadline, deadline)
    };
    let pin = Pin(None);
    {
        let auth = open();
        let c = Ceremony {
            auth: &auth,
            pin: &pin,
        };
        ceremony::enroll(&c, &mut store, "blue", Algorithm::Es256).expect("enroll");
        fido2::step_up_with(&c, &mut store).expect("a healthy step-up");
    }

    let cases = [
        (GET_ASSERTION, Fault::StaleOnWrongChannel, Expect::Fails),
        (GET_ASSERTION, Fault::WrongCommand(HID_MSG), Expect::Fails),
        (GET_ASSERTION, Fault::BadSequence, Expect::Fails),
        (GET_ASSERTION, Fault::TruncatedCbor, Expect::Fails),
        (GET_ASSERTION, Fault::NotAMap, Expect::Fails),
        (
            GET_ASSERTION,
            Fault::HidError(ERR_CHANNEL_BUSY),
            Expect::Fails,
        ),
        (GET_ASSERTION, Fault::ShortThenSilence, Expect::Fails),
        (MAKE_CREDENTIAL, Fault::ShortThenSilence, Expect::Fails),
        (GET_ASSERTION, Fault::WrongCommand(HID_PING), Expect::Fails),
        (GET_ASSERTION, Fault::WrongChannel, Expect::Verified),
    ];
    for (on, fault, expect) in cases {
        let what = format!("{fault:?} on CTAP command 0x{on:02x}");
        let before = std::fs::read(&path).expect("key list");
        node.inject(Some((on, fault)));
        // A key given up after a silence stays given up: every case opens it anew.
        let auth = open();
        let c = Ceremony {
            auth: &auth,
            pin: &pin,
        };
        let started = Instant::now();
        let result = if on == MAKE_CREDENTIAL {
            ceremony::enroll(&c, &mut store, "green", Algorithm::Es256).map(|_| ())
        } else {
            fido2::step_up_with(&c, &mut store).map(|_| ())
        };
        let elapsed = started.elapsed();
        eprintln!("--- {what}: {result:?} in {elapsed:?}");
        assert!(elapsed < deadline * 3, "{what}: took {elapsed:?}");
        match expect {
            Expect::Fails => {
                let err = result.expect_err(&what);
                assert!(
                    matches!(err, Fido2Error::Device(_) | Fido2Error::Verify(_)),
                    "{what}: {err:?}"
                );
                if fault == Fault::ShortThenSilence {
                    assert!(
                        err.to_string().contains("stopped answering"),
                        "{what}: {err}"
                    );
                }
                assert_eq!(
                    std::fs::read(&path).expect("key list"),
                    before,
                    "{what}: the key list changed"
                );
            }
            Expect::Verified => result.unwrap_or_else(|e| panic!("{what}: {e}")),
        }
    }
    node.inject(None);
    let auth = open();
    let c = Ceremony {
        auth: &auth,
        pin: &pin,
    };
    fido2::step_up_with(&c, &mut store).expect("healed, the key works again");
}

fn cosmoscope_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
