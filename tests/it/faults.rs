//! Faults with a defined outcome: the provider down during a refresh, a stale lock file, the
//! keyring gone between two commands, an audit log that cannot be written.

use crate::harness::TestEnv;
use crate::login::{login_as, setup};
use crate::oidc::{self, Oidc};
use crate::require;

macro_rules! setup_or_skip {
    () => {{
        let s = setup(&[], "cosmoscope-cli");
        require!(
            s.is_some(),
            "the OpenID provider peer (npm) and a kernel session keyring"
        );
        s.expect("checked")
    }};
}

#[test]
fn provider_down_during_refresh_keeps_the_session() {
    let (oidc, env) = setup_or_skip!();
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
    let (oidc, env) = setup_or_skip!();
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

#[test]
fn an_audit_log_that_cannot_be_written_stops_data_commands() {
    let (oidc, env) = setup_or_skip!();
    std::fs::write(env.config_dir().join("policy.toml"), crate::policy::POLICY).expect("policy");
    let mut cfg = std::fs::read_to_string(env.config_file()).expect("config");
    cfg.push_str("\n[profiles.dev.cosmos]\nendpoint = \"https://127.0.0.1:9/\"\ndatabase = \"shop\"\ncredential = \"entra\"\n\n[profiles.dev.policy]\nfile = \"policy.toml\"\n");
    env.write_config(&cfg);
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
