//! The OS keyring for real: Secret Service (gnome-keyring on a private D-Bus) and, with none
//! reachable, a clear error that writes nothing.

use crate::fixtures::login_as;
use crate::harness::TestEnv;
use crate::oidc::{self, Oidc};
use crate::require;

#[test]
fn secret_service_holds_the_session() {
    require!(oidc::available(), "the OpenID provider peer (npm)");
    require!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "a D-Bus session with gnome-keyring"
    );
    let oidc = Oidc::start(&[]);
    let env = TestEnv::new();
    env.write_profile(&oidc.issuer, "cosmoscope-cli", "secret-service");
    login_as(&env, &oidc, "bob").ok();
    let status = env.run(&["status", "-o", "json"]);
    status.ok();
    assert_eq!(status.json()["store"], "secret-service");
    env.run(&["login", "--refresh"]).ok();
    env.run(&["logout"]).ok();
    env.run(&["status"]).code(3);
}

#[test]
fn no_keyring_is_a_clear_error_and_nothing_is_written() {
    require!(oidc::available(), "the OpenID provider peer (npm)");
    let oidc = Oidc::start(&[]);
    let env = TestEnv::new().with_env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus");
    env.write_profile(&oidc.issuer, "cosmoscope-cli", "secret-service");
    env.run(&["login", "--no-browser"])
        .code(1)
        .stderr_has("cannot use the OS keyring")
        .stderr_has("hint:");
    assert!(
        !env.state_dir().join("sessions").exists(),
        "no session file"
    );
    assert_eq!(
        oidc.stats()["device_authorizations"].as_u64().unwrap_or(0),
        0,
        "the person was never asked to sign in"
    );
}

/// `token` on a Secret Service session reads a copy of the short-lived tokens from the kernel
/// session keyring (no D-Bus): never the refresh token, verified like the stored tokens, dropped
/// when it does not verify or when the session changes.
#[test]
fn secret_service_sessions_answer_token_from_a_kernel_keyring_copy() {
    use cosmoscope::session::{Secrets, SessionPaths, cache};
    require!(oidc::available(), "the OpenID provider peer (npm)");
    require!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "a D-Bus session with gnome-keyring"
    );
    require!(
        crate::harness::has_session_keyring(),
        "a private kernel session keyring"
    );
    let oidc = Oidc::start(&[]);
    let env = TestEnv::new();
    env.write_profile(&oidc.issuer, "cosmoscope-cli", "secret-service");
    login_as(&env, &oidc, "bob").ok();
    crate::fixtures::export_policy(&env, "https://cosmoscope.test/roles");
    let paths = SessionPaths::for_identity(&env.state_dir(), "dev", &oidc.issuer, "cosmoscope-cli");
    let info = || paths.read_info().expect("read").expect("a session file");
    assert!(
        cache::get(&paths, &info()).is_none(),
        "nothing is copied before a use"
    );
    let first = env.run(&["token", "--resource", "idp", "--format", "raw"]);
    first.ok();
    let copy = cache::get(&paths, &info()).expect("the first use leaves a copy");
    assert!(
        copy.refresh.is_none(),
        "the refresh token stays in the Secret Service"
    );
    let token = first.stdout.trim().to_string();
    assert_eq!(secrecy::ExposeSecret::expose_secret(&copy.access), token);
    env.run(&["token", "--resource", "idp", "--format", "raw"])
        .ok();
    // A forged copy (someone who can write to the session keyring) grants nothing: it fails
    // verification, is dropped, and the Secret Service's tokens answer.
    let forged = Secrets {
        access: secrecy::SecretString::from("forged.access.token".to_string()),
        refresh: None,
        id: copy.id.as_ref().map(|id| {
            let t = secrecy::ExposeSecret::expose_secret(id);
            let (head, _) = t.rsplit_once('.').expect("jwt");
            secrecy::SecretString::from(format!("{head}.AAAA"))
        }),
        fido2_at: None,
    };
    cache::put(
        &paths,
        &info(),
        &forged,
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs()
            + 600,
    );
    let after = env.run(&["token", "--resource", "idp", "--format", "raw"]);
    after.ok();
    assert_eq!(after.stdout.trim(), token);
    // A session with a security-key touch on record is never copied: the touch time is the
    // store's to say.
    let touched = Secrets {
        fido2_at: Some(1),
        ..cache::get(&paths, &info()).expect("the store's tokens were copied again")
    };
    cache::forget(&paths);
    let soon = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + 600;
    cache::put(&paths, &info(), &touched, soon);
    assert!(
        cache::get(&paths, &info()).is_none(),
        "a touch time is never cached"
    );
    // A refresh changes the session: the copy goes with the old tokens.
    env.run(&["login", "--refresh"]).ok();
    assert!(
        cache::get(&paths, &info()).is_none(),
        "a refresh drops the copy"
    );
    env.run(&["token", "--resource", "idp"]).ok();
    assert!(cache::get(&paths, &info()).is_some());
    // A refresh or a new login from another session keyring (another terminal) cannot forget
    // this keyring's copy, but it changes the session file: the copy no longer matches it and
    // is dropped (here the file's refresh count moves as that refresh would move it).
    let before = info();
    let file = std::fs::read_to_string(&paths.info).expect("session file");
    let mut v: serde_json::Value = serde_json::from_str(&file).expect("json");
    v["refresh_seq"] = serde_json::json!(before.refresh_seq + 1);
    std::fs::write(&paths.info, v.to_string()).expect("write");
    assert!(
        cache::get(&paths, &info()).is_none(),
        "a copy of another refresh is ignored"
    );
    assert!(cache::get(&paths, &before).is_none(), "…and dropped");
    env.run(&["logout"]).ok();
    assert!(
        cache::get(&paths, &before).is_none(),
        "logout drops the copy"
    );
}
