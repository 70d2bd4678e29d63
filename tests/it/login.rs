//! Device-code login against the real OpenID provider: the happy path, every refusal, token
//! verification against forged tokens, key rotation, refresh with rotation and single-flight refresh.

use std::time::Duration;

use serde_json::Value;

use crate::fixtures::{login_as, login_with, setup, stored_tokens};
use crate::harness::PROVIDER;
use crate::harness::{TestEnv, wait_for};
use crate::require;

fn session_file(env: &TestEnv) -> std::path::PathBuf {
    env.state_dir().join("sessions/dev.json")
}

#[test]
fn device_login_status_refresh_logout_end_to_end() {
    let (oidc, env) = require!(setup(&[], "cosmoscope-cli"), PROVIDER);
    let run = login_as(&env, &oidc, "alice");
    run.ok();
    let events: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("NDJSON"))
        .collect();
    assert_eq!(events.len(), 2, "{}", run.stdout);
    assert_eq!(
        events[0]["verification_uri"],
        format!("{}/device", oidc.issuer)
    );
    assert!(events[0]["expires_in"].as_u64().is_some());
    assert!(
        events[0]["verification_uri_complete"]
            .as_str()
            .is_some_and(|u| u.contains("user_code="))
    );
    assert_eq!(events[1]["event"], "logged_in");
    assert_eq!(events[1]["subject"], "alice");
    assert_eq!(events[1]["roles"], serde_json::json!(["support"]));
    run.stderr_has("enter the code");
    let mut secrets = stored_tokens(&env, &oidc.issuer);
    assert_eq!(secrets.len(), 3, "access, refresh and ID token are kept");

    let status = env.run(&["status", "-o", "json"]);
    status.ok();
    let s = status.json();
    for key in [
        "profile",
        "logged_in",
        "subject",
        "issuer",
        "roles",
        "expires_at",
        "refreshable",
        "store",
    ] {
        assert!(s.get(key).is_some(), "status lacks {key}: {s}");
    }
    assert_eq!(
        (
            s["logged_in"].as_bool(),
            s["refreshable"].as_bool(),
            s["store"].as_str()
        ),
        (Some(true), Some(true), Some("keyutils"))
    );
    env.run(&["status"]).ok();

    // A forced refresh spends the refresh token once and rotates it.
    env.run(&["login", "--refresh"])
        .ok()
        .stderr_has("Session refreshed as alice");
    assert_eq!(oidc.token_requests("refresh_token"), 1);
    let after = stored_tokens(&env, &oidc.issuer);
    assert_ne!(after[1], secrets[1], "the refresh token rotated");
    env.run(&["login", "--refresh"]).ok();
    assert_eq!(oidc.token_requests("refresh_token"), 2);
    secrets.extend(stored_tokens(&env, &oidc.issuer));

    env.run(&["logout"]).ok().stderr_has("revoked");
    assert_eq!(oidc.stats()["revocations"].as_u64(), Some(1));
    assert!(
        stored_tokens(&env, &oidc.issuer).is_empty(),
        "logout deletes the keyring entries"
    );
    assert!(!session_file(&env).exists());
    env.run(&["status", "-o", "json"]).code(3);

    let actions: Vec<(String, String)> = env
        .audit()
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap_or("").into(),
                r["decision"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("login", "ok"),
            ("refresh", "ok"),
            ("refresh", "ok"),
            ("logout", "ok")
        ]
        .map(|(a, d)| (a.to_string(), d.to_string()))
    );
    assert_eq!(env.audit()[0]["subject"], "alice");
    env.assert_no_secrets(&secrets);
}

#[test]
fn declined_sign_in_is_refused_and_stores_nothing() {
    let (oidc, env) = require!(setup(&[], "cosmoscope-cli"), PROVIDER);
    login_with(&env, &[], |code| oidc.abort(code))
        .code(5)
        .stderr_has("declined")
        .stderr_has("hint:");
    assert!(!session_file(&env).exists());
    assert_eq!(
        env.audit().last().expect("audited")["cause"],
        "access_denied"
    );
}

#[test]
fn entra_error_names_are_understood() {
    let (oidc, env) = require!(setup(&[], "cosmoscope-cli"), PROVIDER);
    oidc.admin(
        "entra-errors",
        serde_json::json!({"error": "authorization_declined", "count": 1}),
    );
    login_with(&env, &[], |_| {}).code(5).stderr_has("declined");
    oidc.admin(
        "entra-errors",
        serde_json::json!({"error": "bad_verification_code", "count": 1}),
    );
    login_with(&env, &[], |_| {})
        .code(1)
        .stderr_has("did not recognise the device code");
    assert!(!session_file(&env).exists());
}

#[test]
fn expired_device_code_is_its_own_error() {
    let (_oidc, env) = require!(setup(&[], "cosmoscope-short"), PROVIDER);
    login_with(&env, &[], |_| {})
        .code(3)
        .stderr_has("expired before it was approved");
    assert_eq!(
        env.audit().last().expect("audited")["cause"],
        "expired_token"
    );
}

#[test]
fn slow_down_adds_five_seconds_to_the_interval() {
    let (oidc, env) = require!(setup(&[], "cosmoscope-cli"), PROVIDER);
    oidc.admin("slowdown", serde_json::json!({"count": 1}));
    let run = login_with(&env, &[], |code| {
        // Approve only after the slowed-down poll, so the next poll shows the new interval.
        wait_for("the first poll", Duration::from_secs(20), || {
            (!oidc.stats()["device_poll_times_ms"].as_array()?.is_empty()).then_some(())
        });
        oidc.approve(code, "bob");
    });
    run.ok();
    let times: Vec<u64> = oidc.stats()["device_poll_times_ms"]
        .as_array()
        .expect("times")
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    assert!(times.len() >= 2, "{times:?}");
    assert!(
        times[1] - times[0] >= 5_900,
        "after slow_down the interval is 1 s + 5 s: {times:?}"
    );
}

fn forged_login_is_rejected(mode: &str, target: &str, cause: &str, code: &str) {
    forged_with_is_rejected(
        &serde_json::json!({"mode": mode, "target": target}),
        cause,
        code,
    );
}

fn forged_with_is_rejected(forge: &serde_json::Value, cause: &str, code: &str) {
    let (oidc, env) = require!(setup(&[], "cosmoscope-cli"), PROVIDER);
    oidc.admin("forge", forge.clone());
    let run = login_as(&env, &oidc, "alice");
    run.code(1)
        .stderr_has("failed verification")
        .stderr_has(cause);
    assert!(
        !session_file(&env).exists(),
        "a rejected token is never stored"
    );
    let last = env.audit().last().cloned().expect("audited");
    assert!(
        last["cause"].as_str().is_some_and(|c| c.contains(code)),
        "{last}"
    );
}

#[test]
fn forged_alg_none_is_rejected() {
    forged_login_is_rejected(
        "alg-none",
        "id_token",
        "algorithm \"none\" is not allowed",
        "algorithm",
    );
}
#[test]
fn forged_hs256_with_public_key_is_rejected() {
    forged_login_is_rejected(
        "hs256-pubkey",
        "id_token",
        "algorithm \"HS256\" is not allowed",
        "algorithm",
    );
}
#[test]
fn forged_wrong_audience_is_rejected() {
    forged_login_is_rejected(
        "wrong-aud",
        "id_token",
        "audience does not match",
        "audience",
    );
}
#[test]
fn forged_access_token_audience_is_rejected() {
    forged_login_is_rejected(
        "wrong-aud",
        "access_token",
        "audience does not match",
        "audience",
    );
}
#[test]
fn forged_wrong_issuer_is_rejected() {
    forged_login_is_rejected("wrong-iss", "id_token", "issuer does not match", "issuer");
}
#[test]
fn forged_expired_token_is_rejected() {
    forged_login_is_rejected("expired", "id_token", "has expired", "expired");
}
#[test]
fn forged_nbf_in_future_is_rejected() {
    forged_login_is_rejected("nbf-future", "id_token", "not valid yet", "not_yet_valid");
}
/// The provider's clock runs ahead of ours: within the 60 s bound the login goes through, beyond it
/// the token is not valid yet for us, and it is rejected rather than trusted.
#[test]
fn clock_skew_within_the_bound_is_tolerated() {
    let (oidc, env) = require!(setup(&[], "cosmoscope-cli"), PROVIDER);
    for target in ["id_token", "access_token"] {
        oidc.admin(
            "forge",
            serde_json::json!({"mode": "clock-ahead", "target": target, "skew": 30}),
        );
        login_as(&env, &oidc, "alice").ok();
    }
}

#[test]
fn clock_skew_beyond_the_bound_is_rejected() {
    forged_with_is_rejected(
        &serde_json::json!({"mode": "clock-ahead", "target": "id_token", "skew": 300}),
        "not valid yet",
        "not_yet_valid",
    );
}

#[test]
fn forged_bad_signature_is_rejected() {
    forged_login_is_rejected(
        "bad-signature",
        "id_token",
        "signature does not verify",
        "signature",
    );
}
#[test]
fn forged_unknown_kid_is_rejected_after_one_refetch() {
    forged_login_is_rejected(
        "unknown-kid",
        "id_token",
        "JWKS does not contain",
        "unknown_key",
    );
}

/// The JWKS endpoint failing: a first login cannot verify anything, so it stores nothing; with the
/// keys cached, a refresh still verifies; after a rotation (an unknown kid) it cannot, and the
/// session stays as it was.
#[test]
fn a_failing_jwks_endpoint_has_defined_outcomes() {
    let (oidc, env) = require!(setup(&[], "cosmoscope-cli"), PROVIDER);
    oidc.admin("jwks-fail", serde_json::json!({"count": 100}));
    let run = login_as(&env, &oidc, "carol");
    run.code(1)
        .stderr_has("the identity provider is unavailable")
        .stderr_has("JWKS")
        .stderr_has("hint: it answered with a server error: retry");
    assert!(!session_file(&env).exists(), "nothing stored");
    oidc.admin("jwks-fail", serde_json::json!({"count": 0}));
    login_as(&env, &oidc, "carol").ok();
    oidc.admin("jwks-fail", serde_json::json!({"count": 100}));
    env.run(&["login", "--refresh"]).ok();
    let before = std::fs::read(session_file(&env)).expect("session");
    oidc.admin("rotate-keys?drop_old=1", serde_json::json!({}));
    let run = env.run(&["login", "--refresh"]);
    run.code(1)
        .stderr_has("JWKS")
        .stderr_has("hint: it answered with a server error: retry");
    assert_eq!(
        std::fs::read(session_file(&env)).expect("session"),
        before,
        "unchanged"
    );
}

#[test]
fn key_rotation_mid_session_refetches_the_jwks() {
    let (oidc, env) = require!(setup(&[], "cosmoscope-cli"), PROVIDER);
    login_as(&env, &oidc, "carol").ok();
    let old_kid = oidc.admin("rotate-keys?drop_old=1", serde_json::json!({}))["kid"].clone();
    assert!(old_kid.is_string());
    // The cached JWKS knows only the old key: the refreshed tokens' new kid forces one refetch.
    env.run(&["login", "--refresh"]).ok();
    let cached = std::fs::read_dir(env.state_dir().join("jwks"))
        .expect("jwks cache")
        .next()
        .expect("one")
        .expect("entry")
        .path();
    let jwks: Value = serde_json::from_slice(&std::fs::read(cached).expect("read")).expect("json");
    assert!(
        jwks["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .any(|k| k["kid"] == old_kid),
        "the cache now has the new key"
    );
}

#[test]
fn concurrent_refreshes_reach_the_provider_once() {
    let (oidc, env) = require!(setup(&[], "cosmoscope-cli"), PROVIDER);
    login_as(&env, &oidc, "alice").ok();
    // Hold the refresh lock while ten processes line up behind it, so all of them began before
    // the one refresh happens; then let them go.
    let lock_path = env.state_dir().join("locks/dev.lock");
    std::fs::create_dir_all(lock_path.parent().expect("dir")).expect("mkdir");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .expect("lock file");
    lock.lock().expect("lock");
    let children: Vec<_> = (0..10)
        .map(|_| env.spawn(&["login", "--refresh"]))
        .collect();
    for child in &children {
        let fd_dir = format!("/proc/{}/fd", child.id());
        wait_for(
            "each process to open the lock",
            Duration::from_secs(30),
            || {
                std::fs::read_dir(&fd_dir)
                    .ok()?
                    .flatten()
                    .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t == lock_path))
                    .then_some(())
            },
        );
    }
    lock.unlock().expect("unlock");
    for child in children {
        let out = child.wait_with_output().expect("wait");
        env.record(out).ok();
    }
    assert_eq!(
        oidc.token_requests("refresh_token"),
        1,
        "exactly one refresh reached the provider"
    );
    let secrets = stored_tokens(&env, &oidc.issuer);
    env.assert_no_secrets(&secrets);
}

#[test]
fn logout_all_ends_every_profile() {
    let (oidc, env) = require!(setup(&[], "cosmoscope-cli"), PROVIDER);
    let cfg = std::fs::read_to_string(env.config_file()).expect("config");
    env.write_config(&format!(
        "{cfg}\n{}",
        cfg.split("[profiles.dev]")
            .nth(1)
            .map(|p| format!("[profiles.ops]{p}"))
            .expect("profile")
    ));
    login_as(&env, &oidc, "alice").ok();
    login_with(&env, &["--profile", "ops"], |code| {
        oidc.approve(code, "bob");
    })
    .ok();
    env.run(&["status", "--profile", "ops"]).ok();
    env.run(&["logout", "--all"])
        .ok()
        .stderr_has("Logged out of profile \"dev\"")
        .stderr_has("Logged out of profile \"ops\"");
    env.run(&["status", "--profile", "dev"]).code(3);
    env.run(&["status", "--profile", "ops"]).code(3);
    assert_eq!(oidc.stats()["revocations"].as_u64(), Some(2));
}

/// Issue 14: a refresh answer without a refresh token (RFC 6749 §6 allows it; Auth0 without
/// rotation, Google and Cognito do it) keeps the stored one, and the session stays refreshable.
#[test]
fn a_refresh_without_a_new_refresh_token_keeps_the_old_one() {
    let (oidc, env) = require!(
        setup(
            &[("OIDC_ACCESS_TTL", "1"), ("OIDC_ROTATE_REFRESH", "0")],
            "cosmoscope-cli"
        ),
        PROVIDER
    );
    crate::fixtures::export_policy(&env, "https://cosmoscope.test/roles");
    login_as(&env, &oidc, "bob").ok();
    let before = crate::fixtures::stored_tokens(&env, &oidc.issuer);
    oidc.admin(
        "forge",
        serde_json::json!({"mode": "drop", "target": "refresh_token"}),
    );
    // A one-second access token is never fresh: every `token` renews the session.
    env.run(&["token", "--resource", "idp"]).ok();
    let after = crate::fixtures::stored_tokens(&env, &oidc.issuer);
    assert_eq!(after[1], before[1], "the refresh token is kept");
    assert_ne!(after[0], before[0], "the access token is new");
    assert_eq!(
        env.run(&["status", "-o", "json"]).json()["refreshable"],
        true
    );
    let refreshes = oidc.token_requests("refresh_token");
    env.run(&["token", "--resource", "idp"]).ok();
    assert!(
        oidc.token_requests("refresh_token") > refreshes,
        "it renews again with the kept refresh token"
    );
    assert_eq!(
        env.run(&["status", "-o", "json"]).json()["refreshable"],
        true
    );
}

/// Issue 14: Okta refuses the device (or refresh) grant with access_denied when its access policy
/// does not allow it; the provider's words are shown with the next step, not "declined".
#[test]
fn a_provider_policy_refusal_is_shown_with_its_reason() {
    let (oidc, env) = require!(setup(&[], "cosmoscope-cli"), PROVIDER);
    oidc.admin(
        "grant-errors",
        serde_json::json!({"grant": "device_code", "error": "access_denied",
            "description": "Policy evaluation failed for this request, please check the policy configurations."}),
    );
    let run = login_with(&env, &[], |_| {});
    assert_eq!(run.code, 5, "{}", run.stderr);
    run.stderr_has("the provider refused the sign-in")
        .stderr_has("Policy evaluation failed")
        .stderr_has("access policy rule");
}

/// Issue 14: Entra answers a refresh with interaction_required, or invalid_grant with AADSTS50076
/// (MFA now required): exit 3, "sign in again" with the reason, and the session no longer says it
/// can be renewed.
#[test]
fn a_refresh_that_needs_the_person_says_sign_in_again() {
    for (error, description) in [
        (
            "interaction_required",
            "AADSTS50079: Due to a configuration change made by your administrator, you must enroll in multi-factor authentication.",
        ),
        (
            "invalid_grant",
            "AADSTS50076: Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication.",
        ),
    ] {
        let (oidc, env) = require!(
            setup(&[("OIDC_ACCESS_TTL", "1")], "cosmoscope-cli"),
            PROVIDER
        );
        crate::fixtures::export_policy(&env, "https://cosmoscope.test/roles");
        login_as(&env, &oidc, "bob").ok();
        oidc.admin(
            "grant-errors",
            serde_json::json!({"grant": "refresh_token", "error": error, "description": description}),
        );
        let run = env.run(&["token", "--resource", "idp"]);
        run.code(3)
            .stderr_has("the session can no longer be refreshed")
            .stderr_has(&description[..11])
            .stderr_has("cosmoscope login");
        assert!(run.stdout.is_empty());
        assert_eq!(
            env.run(&["status", "-o", "json"]).json()["refreshable"],
            false
        );
    }
}

/// Issue 14: Keycloak puts realm roles only into an access token for the `account` audience,
/// issued to the client (`azp`). That token is verified (signature, issuer, lifetime, `azp`) at
/// login and at every use, and its claims count.
#[test]
fn keycloak_realm_roles_in_the_access_token_count() {
    let (oidc, env) = require!(setup(&[], "cosmoscope-cli"), PROVIDER);
    let cfg = std::fs::read_to_string(env.config_file())
        .expect("config")
        .replace("audience = \"https://cosmos-gateway.test\"\n", "")
        .replace(
            "roles_claim = \"https://cosmoscope.test/roles\"",
            "roles_claim = \"/realm_access/roles\"",
        );
    env.write_config(&cfg);
    crate::fixtures::export_policy(&env, "/realm_access/roles");
    oidc.admin(
        "forge",
        serde_json::json!({"mode": "keycloak", "target": "access_token"}),
    );
    login_as(&env, &oidc, "bob").ok();
    let status = env.run(&["status", "-o", "json"]).json();
    assert_eq!(
        status["roles"],
        serde_json::json!(["admin", "support"]),
        "{status}"
    );
    let token = env
        .cmd()
        .args(["token", "--resource", "idp"])
        .output()
        .expect("token");
    assert_eq!(
        token.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&token.stderr)
    );
}
