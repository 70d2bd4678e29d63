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
