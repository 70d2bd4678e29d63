//! Faults with a defined outcome: the provider down during a refresh, a stale lock file, the
//! keyring gone or locked between two commands, an audit log that cannot be written.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::fixtures::{login_as, setup};
use crate::harness::PROVIDER;
use crate::harness::{KillOnDrop, TestEnv, wait_for};
use crate::oidc::{self, Oidc};
use crate::require;

#[test]
fn provider_down_during_refresh_keeps_the_session() {
    let (oidc, env) = require!(setup(&[], "cosmoscope-cli"), PROVIDER);
    login_as(&env, &oidc, "alice").ok();
    let before = std::fs::read(env.state_dir().join("sessions/dev.json")).expect("session");
    drop(oidc);
    env.run(&["login", "--refresh"])
        .code(1)
        .stderr_has("cannot reach the identity provider")
        .stderr_has("hint:");
    assert_eq!(
        std::fs::read(env.state_dir().join("sessions/dev.json")).expect("session"),
        before,
        "nothing changed"
    );
    assert_eq!(
        env.audit().last().expect("audited")["cause"],
        "provider_unreachable"
    );
    env.run(&["status"]).ok();
}

#[test]
fn a_stale_lock_file_of_a_crashed_process_is_harmless() {
    let (oidc, env) = require!(setup(&[], "cosmoscope-cli"), PROVIDER);
    login_as(&env, &oidc, "alice").ok();
    // A crashed process leaves its lock file behind; the kernel released its lock.
    let lock = env.state_dir().join("locks/dev.lock");
    std::fs::create_dir_all(lock.parent().expect("dir")).expect("mkdir");
    std::fs::write(&lock, b"").expect("stale lock");
    env.run(&["login", "--refresh"]).ok();
    assert_eq!(oidc.token_requests("refresh_token"), 1);
}

#[test]
fn the_keyring_gone_between_two_commands_is_a_clear_error() {
    require!(oidc::available(), "the OpenID provider peer (npm)");
    require!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "a D-Bus session with gnome-keyring"
    );
    let oidc = Oidc::start(&[]);
    let env = TestEnv::new();
    env.write_profile(&oidc.issuer, "cosmoscope-cli", "secret-service");
    login_as(&env, &oidc, "bob").ok();
    let gone = TestEnv::new().with_env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus");
    std::fs::create_dir_all(gone.config_dir()).expect("mkdir");
    std::fs::copy(env.config_file(), gone.config_file()).expect("config");
    copy_dir(&env.state_dir(), &gone.state_dir());
    gone.run(&["login", "--refresh"])
        .code(1)
        .stderr_has("cannot use the OS keyring")
        .stderr_has("hint:");
}

/// A D-Bus session of its own with its own unlocked gnome-keyring, so that a test can lock it
/// without touching the keyring the other tests share.
struct PrivateKeyring {
    address: String,
    _keyring: KillOnDrop,
    _bus: KillOnDrop,
    _dir: tempfile::TempDir,
}

impl PrivateKeyring {
    fn start() -> Option<Self> {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("home");
        let runtime = dir.path().join("run");
        std::fs::create_dir_all(home.join(".cache")).expect("mkdir");
        std::fs::create_dir_all(&runtime).expect("mkdir");
        let socket = dir.path().join("bus");
        let address = format!("unix:path={}", socket.display());
        let bus = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--address", &address])
            .stdout(Stdio::null())
            .spawn()
            .ok()?;
        let bus = KillOnDrop(bus);
        wait_for("the private bus socket", Duration::from_secs(10), || {
            socket.exists().then_some(())
        });
        let mut keyring = Command::new("gnome-keyring-daemon")
            .args(["--foreground", "--unlock", "--components=secrets"])
            .env("HOME", &home)
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("DBUS_SESSION_BUS_ADDRESS", &address)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        {
            use std::io::Write as _;
            let mut stdin = keyring.stdin.take().expect("stdin");
            stdin.write_all(b"pw").expect("password");
        }
        let keyring = KillOnDrop(keyring);
        let this = PrivateKeyring {
            address,
            _keyring: keyring,
            _bus: bus,
            _dir: dir,
        };
        wait_for(
            "gnome-keyring on the private bus",
            Duration::from_secs(10),
            || {
                this.dbus(&[
                    "--dest=org.freedesktop.DBus",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus.NameHasOwner",
                    "string:org.freedesktop.secrets",
                ])
                .contains("boolean true")
                .then_some(())
            },
        );
        Some(this)
    }

    fn dbus(&self, args: &[&str]) -> String {
        let out = Command::new("dbus-send")
            .args(["--print-reply", &format!("--bus={}", self.address)])
            .args(args)
            .output()
            .expect("dbus-send");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// What a screen locker does: the login collection locks, and reading it needs a prompt.
    fn lock(&self) {
        self.dbus(&[
            "--dest=org.freedesktop.secrets",
            "/org/freedesktop/secrets",
            "org.freedesktop.Secret.Service.Lock",
            "array:objpath:/org/freedesktop/secrets/collection/login",
        ]);
        let locked = self.dbus(&[
            "--dest=org.freedesktop.secrets",
            "/org/freedesktop/secrets/collection/login",
            "org.freedesktop.DBus.Properties.Get",
            "string:org.freedesktop.Secret.Collection",
            "string:Locked",
        ]);
        assert!(locked.contains("boolean true"), "locked: {locked}");
    }
}

#[test]
fn a_keyring_locked_between_two_commands_is_a_clear_error() {
    require!(oidc::available(), "the OpenID provider peer (npm)");
    let keyring = require!(
        PrivateKeyring::start(),
        "dbus-daemon and gnome-keyring-daemon"
    );
    let oidc = Oidc::start(&[]);
    let env = TestEnv::new().with_env("DBUS_SESSION_BUS_ADDRESS", &keyring.address);
    env.write_profile(&oidc.issuer, "cosmoscope-cli", "secret-service");
    add_policy(&env);
    login_as(&env, &oidc, "bob").ok();
    env.run(&["status"]).ok();
    keyring.lock();
    let sessions = std::fs::read(env.state_dir().join("sessions/dev.json")).ok();
    // status reads only the session's public half (the file), so it still answers.
    env.run(&["status"]).ok();
    for args in [&["token"][..], &["login", "--refresh"], &["logout"]] {
        env.run(args)
            .code(1)
            .stderr_has("the OS keyring is locked")
            .stderr_has("hint: unlock");
    }
    assert_eq!(
        std::fs::read(env.state_dir().join("sessions/dev.json")).ok(),
        sessions,
        "nothing changed"
    );
    assert_eq!(
        oidc.token_requests("refresh_token"),
        0,
        "no refresh was tried"
    );
    assert_eq!(
        oidc.stats()["device_authorizations"].as_u64(),
        Some(1),
        "the person was not asked to sign in again"
    );
}

#[test]
fn an_audit_log_that_cannot_be_written_stops_data_commands() {
    let (oidc, env) = require!(setup(&[], "cosmoscope-cli"), PROVIDER);
    add_policy(&env);
    login_as(&env, &oidc, "bob").ok();
    // A directory where the log should be: no append can succeed (root ignores file modes).
    let log = env.state_dir().join("audit.jsonl");
    std::fs::remove_file(&log).expect("rm");
    std::fs::create_dir(&log).expect("mkdir");
    env.run(&["query", "-c", "orders", "SELECT c.id FROM c"])
        .code(1)
        .stderr_has("cannot write the audit log, so nothing runs");
    env.run(&["token"])
        .code(1)
        .stderr_has("no credential was exported");
}

/// The test policy and a Cosmos section (nothing listens on its endpoint).
fn add_policy(env: &TestEnv) {
    std::fs::write(
        env.config_dir().join("policy.toml"),
        crate::fixtures::POLICY,
    )
    .expect("policy");
    let mut cfg = std::fs::read_to_string(env.config_file()).expect("config");
    cfg.push_str("\n[profiles.dev.cosmos]\nendpoint = \"https://127.0.0.1:9/\"\ndatabase = \"shop\"\ncredential = \"entra\"\n\n[profiles.dev.policy]\nfile = \"policy.toml\"\n");
    env.write_config(&cfg);
}

/// An audit log that cannot grow (the kernel's file-size limit, which fails a write as a full
/// disk does): the log opens, so the query runs; its record cannot be appended, so it is printed
/// whole on stderr and the command exits 1. A credential export, whose record is written first,
/// does not happen. (The log is never opened through a symbolic link, so `/dev/full` cannot stand
/// in for it.)
#[test]
fn a_full_disk_under_the_audit_log_loses_no_record() {
    let (oidc, _peer, env) = require!(crate::fixtures::stack("bob"), crate::harness::STACK);
    let log = env.state_dir().join("audit.jsonl");
    let size = std::fs::metadata(&log).expect("log").len();
    let limit = size.div_ceil(1024).max(1); // KiB: the log is at the limit or past it
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .and_then(|f| f.set_len(limit * 1024))
        .expect("grow the log to the limit");
    let run = env.run_with_file_limit(
        limit,
        &[
            "query",
            "-c",
            "orders",
            "-o",
            "ndjson",
            "SELECT c.id FROM c",
        ],
    );
    run.code(1)
        .stderr_has("the command ran, but its audit record could not be written")
        .stderr_has("File too large")
        .stderr_has("hint: free space for the audit log");
    assert_eq!(
        run.stdout.lines().count(),
        30,
        "the query's output is whole"
    );
    let printed = run
        .stderr
        .lines()
        .find_map(|l| {
            l.split_once("here it is: ")
                .map(|(_, json)| json.to_string())
        })
        .expect("the record on stderr");
    let record: serde_json::Value = serde_json::from_str(&printed).expect("JSON record");
    assert_eq!(record["action"], "query");
    assert_eq!(record["decision"], "allowed");
    assert_eq!(record["subject"], "bob");
    assert_eq!(record["items"], 30);
    env.run_with_file_limit(limit, &["token"])
        .code(1)
        .stderr_has("no credential was exported");
    // The record printed in place of the log is as clean as the log itself.
    env.assert_no_secrets(&crate::fixtures::stored_tokens(&env, &oidc.issuer));
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir").flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).expect("copy");
        }
    }
}

/// Ctrl-C while a command waits on a provider that never answers: the command ends with exit 130
/// and still leaves its one audit record (`error`, `interrupted`) — the gate, not the process,
/// catches the signal. Checked for a credential export and for a logout.
#[test]
fn an_interrupted_command_still_leaves_its_record() {
    use std::io::Read as _;
    use std::sync::atomic::{AtomicUsize, Ordering};

    require!(
        crate::harness::has_session_keyring(),
        "a kernel session keyring"
    );
    // A provider that accepts connections and never says a word.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let issuer = format!("http://{}", listener.local_addr().expect("addr"));
    let accepted = std::sync::Arc::new(AtomicUsize::new(0));
    let seen = accepted.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            seen.fetch_add(1, Ordering::SeqCst);
            held.push(stream); // kept open, never answered
        }
    });

    let env = TestEnv::new();
    env.write_profile(&issuer, "cosmoscope-cli", "keyutils");
    std::fs::write(
        env.config_dir().join("policy.toml"),
        crate::fixtures::POLICY,
    )
    .expect("policy");
    let mut cfg = std::fs::read_to_string(env.config_file()).expect("config");
    cfg.push_str("\n[profiles.dev.policy]\nfile = \"policy.toml\"\n");
    env.write_config(&cfg);
    // An expired, refreshable session of bob (admin: may export): any use must refresh first.
    let store_session = || {
        let paths = cosmoscope::session::SessionPaths::for_identity(
            &env.state_dir(),
            "dev",
            &issuer,
            "cosmoscope-cli",
        );
        let info: cosmoscope::session::SessionInfo = serde_json::from_value(serde_json::json!({
            "profile": "dev", "issuer": issuer, "client_id": "cosmoscope-cli",
            "subject": "bob", "roles": ["admin"],
            "claims": {"sub": "bob", "https://cosmoscope.test/roles": ["admin"]},
            "expires_at": 1_000, "refreshable": true, "store": "keyutils",
            "logged_in_at": 900, "refreshed_at": null, "method": "device_code",
        }))
        .expect("session info");
        paths.write_info(&info).expect("session file");
        let store = cosmoscope::session::Keyring::Os
            .open(cosmoscope::settings::StoreKind::Keyutils)
            .expect("keyutils");
        cosmoscope::session::Secrets {
            access: secrecy::SecretString::from("interrupt-test-access".to_string()),
            refresh: Some(secrecy::SecretString::from(
                "interrupt-test-refresh".to_string(),
            )),
            id: None,
            fido2_at: None,
        }
        .save(&store, &paths)
        .expect("refresh token");
    };

    for (args, action) in [
        (&["token", "--resource", "idp"][..], "export"),
        (&["logout"][..], "logout"),
    ] {
        store_session();
        let before = env.audit().len();
        let connections = accepted.load(Ordering::SeqCst);
        let mut child = KillOnDrop(env.spawn(args));
        wait_for(
            "the command to reach the silent provider",
            Duration::from_secs(20),
            || (accepted.load(Ordering::SeqCst) > connections).then_some(()),
        );
        let pid = child.0.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-INT", &pid])
                .status()
                .expect("kill")
                .success()
        );
        let status = wait_for("the command to end", Duration::from_secs(20), || {
            child.0.try_wait().expect("try_wait")
        });
        let mut stderr = String::new();
        if let Some(mut e) = child.0.stderr.take() {
            let _ = e.read_to_string(&mut stderr);
        }
        assert_eq!(status.code(), Some(130), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("interrupt-test-refresh"),
            "the refresh token leaked"
        );
        let records = env.audit();
        assert_eq!(records.len(), before + 1, "{args:?}: {records:?}");
        let last = records.last().expect("record");
        assert_eq!(
            (
                last["action"].as_str(),
                last["decision"].as_str(),
                last["cause"].as_str()
            ),
            (Some(action), Some("error"), Some("interrupted")),
            "{last}"
        );
    }
}
