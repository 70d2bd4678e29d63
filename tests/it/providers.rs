//! Browser sign-in (authorization code + PKCE, loopback redirect) and the real providers' quirks,
//! each against a personality of the OpenID peer (tests/peers/oidc/README.md says which real
//! behaviour each one reproduces, and its source).

use std::io::{BufRead as _, BufReader, Read as _, Write as _};

use serde_json::{Value, json};

use crate::fixtures::{login_as, login_with, setup, stored_tokens};
use crate::harness::{Run, TestEnv};
use crate::oidc::Oidc;

/// Runs `login -o json ARGS`, hands the browser URL to `act` once it is shown, and returns the
/// run with the whole stdout.
fn browser_login(env: &TestEnv, args: &[&str], act: impl FnOnce(&str)) -> Run {
    crate::fixtures::login_on_event(env, args, "browser", "url", act)
}

fn query(url: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(url)
        .expect("url")
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// A raw GET to the loopback listener, as any local program (or a hostile page) could send.
fn get_loopback(redirect_uri: &str, target: &str) -> String {
    let port = url::Url::parse(redirect_uri)
        .expect("redirect uri")
        .port()
        .expect("port");
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(s, "GET {target} HTTP/1.1\r\nHost: localhost\r\n\r\n").expect("write");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

fn session_file(env: &TestEnv) -> std::path::PathBuf {
    env.state_dir().join("sessions/dev.json")
}

#[test]
fn browser_sign_in_with_pkce_end_to_end() {
    let Some((oidc, env)) = setup(&[], "cosmoscope-cli") else {
        return;
    };
    let mut delivered = Value::Null;
    let run = browser_login(&env, &["--browser", "--no-browser"], |url| {
        let q = query(url);
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["code_challenge"].len(), 43, "{url}");
        assert!(q["state"].len() >= 32 && q["nonce"].len() >= 32, "{url}");
        assert!(q["redirect_uri"].starts_with("http://localhost:"), "{url}");
        assert!(!url.contains("code_verifier"), "{url}");
        delivered = oidc.admin("authorize", json!({"url": url, "login": "bob"}));
    });
    run.ok();
    assert_eq!(delivered["status"], 200, "{delivered}");
    assert!(
        delivered["page"]
            .as_str()
            .unwrap_or("")
            .contains("signed in as bob"),
        "{delivered}"
    );
    let last: Value =
        serde_json::from_str(run.stdout.lines().last().expect("events")).expect("json");
    assert_eq!(last["event"], "logged_in");
    assert_eq!(last["subject"], "bob");
    assert_eq!(last["roles"], json!(["admin", "support"]));
    // The provider saw PKCE and gave a refresh token; the session renews without the browser.
    assert_eq!(oidc.token_requests("authorization_code"), 1);
    let status = env.run(&["status", "-o", "json"]).ok().json();
    assert_eq!(status["refreshable"], true, "{status}");
    env.run(&["login", "--refresh"]).ok();
    assert_eq!(oidc.token_requests("refresh_token"), 1);
    let audit = env.audit();
    assert!(
        audit
            .iter()
            .any(|r| r["action"] == "login" && r["detail"] == "browser"),
        "{audit:?}"
    );
    env.assert_no_secrets(&stored_tokens(&env, &oidc.issuer));
}

#[test]
fn a_stray_or_forged_answer_on_the_loopback_port_changes_nothing() {
    let Some((oidc, env)) = setup(&[], "cosmoscope-cli") else {
        return;
    };
    let run = browser_login(&env, &["--browser", "--no-browser"], |url| {
        let q = query(url);
        let redirect = &q["redirect_uri"];
        // Another page or program guessing: wrong state, another path, a duplicated parameter,
        // a POST — each answered and ignored, the sign-in keeps waiting.
        for (target, status) in [
            ("/?code=stolen&state=guess", "400"),
            ("/favicon.ico", "404"),
            (&*format!("/?code=a&code=b&state={}", q["state"]), "400"),
        ] {
            let answer = get_loopback(redirect, target);
            assert!(
                answer.starts_with(&format!("HTTP/1.1 {status}")),
                "{target}: {answer}"
            );
        }
        assert!(!session_file(&env).exists());
        let delivered = oidc.admin("authorize", json!({"url": url, "login": "alice"}));
        assert_eq!(delivered["status"], 200, "{delivered}");
    });
    run.ok();
    assert_eq!(oidc.token_requests("authorization_code"), 1);
}

#[test]
fn an_answer_from_another_issuer_is_a_mix_up_and_stores_nothing() {
    let Some((oidc, env)) = setup(&[], "cosmoscope-cli") else {
        return;
    };
    let run = browser_login(&env, &["--browser", "--no-browser"], |url| {
        let q = query(url);
        let target = format!(
            "/?code=c0de&state={}&iss=http%3A%2F%2F127.0.0.1%3A9%2Fevil",
            q["state"]
        );
        let answer = get_loopback(&q["redirect_uri"], &target);
        assert!(answer.contains("did not complete"), "{answer}");
    });
    run.code(1)
        .stderr_has("did not come from the profile's provider");
    assert!(!session_file(&env).exists());
    // No code was ever sent to the token endpoint.
    assert_eq!(oidc.token_requests("authorization_code"), 0);
}

#[test]
fn a_cancelled_browser_sign_in_is_refused_and_stores_nothing() {
    let Some((oidc, env)) = setup(&[], "cosmoscope-cli") else {
        return;
    };
    let run = browser_login(&env, &["--browser", "--no-browser"], |url| {
        let delivered = oidc.admin("authorize", json!({"url": url, "deny": true}));
        assert_eq!(delivered["status"], 400, "{delivered}");
    });
    run.code(5).stderr_has("declined");
    assert!(!session_file(&env).exists());
    let audit = env.audit();
    assert_eq!(audit.last().expect("record")["cause"], "access_denied");
}

#[test]
fn a_redirect_port_held_on_either_loopback_is_refused() {
    let Some((oidc, env)) = setup(&[], "cosmoscope-cli") else {
        return;
    };
    // Another local user listens on [::1] at the profile's fixed port, where a browser may go first
    // for `localhost`: the sign-in does not start rather than hand them the answer.
    let Ok(squatter) = std::net::TcpListener::bind("[::1]:0") else {
        return; // no IPv6 loopback on this machine
    };
    let port = squatter.local_addr().expect("addr").port();
    let cfg = std::fs::read_to_string(env.config_file()).expect("config");
    env.write_config(&format!("{cfg}redirect_port = {port}\n"));
    env.run(&["login", "--browser", "--no-browser", "-o", "json"])
        .code(1)
        .stderr_has("[::1]");
    assert!(!session_file(&env).exists());
    assert_eq!(oidc.stats()["authorization_requests"], Value::Null);
}

#[test]
fn a_browser_sign_in_that_never_comes_back_times_out_cleanly() {
    let Some((_oidc, env)) = setup(&[], "cosmoscope-cli") else {
        return;
    };
    let run = browser_login(
        &env,
        &["--browser", "--no-browser", "--timeout", "2s"],
        |_| {},
    );
    run.code(3)
        .stderr_has("did not finish in time")
        .stderr_has("--device-code");
    assert!(!session_file(&env).exists());
}

#[test]
fn auto_picks_the_browser_on_a_desktop_and_the_device_code_over_ssh() {
    let Some((oidc, env)) = setup(&[], "cosmoscope-cli") else {
        return;
    };
    // A desktop (BROWSER names a program that "opens" the URL and does nothing): the browser flow.
    let desktop = TestEnv::new().with_env("BROWSER", "true");
    desktop.write_profile(&oidc.issuer, "cosmoscope-cli", "keyutils");
    browser_login(&desktop, &[], |url| {
        oidc.admin("authorize", json!({"url": url, "login": "alice"}));
    })
    .ok()
    .stderr_has("Opened your browser");
    // Over SSH, with a display forwarded: the device code, whose page opens anywhere.
    let ssh = env;
    let ssh = ssh
        .with_env("DISPLAY", ":0")
        .with_env("SSH_CONNECTION", "10.0.0.1 2 10.0.0.2 22");
    login_with(&ssh, &[], |code| oidc.approve(code, "alice")).ok();
    // The profile can say it too.
    let forced = TestEnv::new().with_env("BROWSER", "true");
    forced.write_config(&format!(
        "default_profile = \"dev\"\n[profiles.dev]\nissuer = \"{}\"\nclient_id = \"cosmoscope-cli\"\nstore = \"keyutils\"\nlogin_flow = \"device-code\"\n",
        oidc.issuer
    ));
    login_with(&forced, &[], |code| oidc.approve(code, "alice")).ok();
}

/// A real browser: Debian's chromium, headless, driven through the DevTools protocol
/// (playwright-core) by the program `BROWSER` names — it opens the URL cosmoscope gives it, signs
/// in on oidc-provider's own login and consent pages, and waits for cosmoscope's answer page.
#[test]
fn a_real_headless_browser_signs_in() {
    let chromium = std::path::Path::new("/usr/bin/chromium");
    if !chromium.exists() {
        assert!(
            std::env::var("CI").is_err(),
            "CI installs chromium (.ci/run); the real-browser test cannot be skipped there"
        );
        eprintln!("skipped: /usr/bin/chromium is not installed");
        return;
    }
    let Some((oidc, _)) = setup(&[], "cosmoscope-cli") else {
        return;
    };
    let driver = crate::oidc::peer_dir("oidc").join("headless-browser.mjs");
    let shot = tempfile::tempdir().expect("tempdir");
    let env = TestEnv::new()
        .with_env("BROWSER", &driver.display().to_string())
        .with_env("HEADLESS_LOGIN", "carol")
        .with_env(
            "HEADLESS_SCREENSHOT",
            &shot.path().join("done.png").display().to_string(),
        );
    env.write_profile(&oidc.issuer, "cosmoscope-cli", "keyutils");
    let run = env.run(&["login", "--browser"]);
    run.ok().stderr_has("Opened your browser");
    let status = env.run(&["status", "-o", "json"]).ok().json();
    assert_eq!(status["subject"], "carol", "{status}");
    assert_eq!(status["roles"], json!(["analyst"]));
    // The browser got cosmoscope's page (the driver waits for it before it exits).
    crate::harness::wait_for(
        "the browser's screenshot",
        std::time::Duration::from_secs(30),
        || shot.path().join("done.png").exists().then_some(()),
    );
}

// ---- Google: an installed app's secret, `verification_url`, refresh answers without a token ----

fn google_profile(env: &TestEnv, issuer: &str) {
    env.write_config(&format!(
        "default_profile = \"dev\"\n[profiles.dev]\nissuer = \"{issuer}\"\nclient_id = \"cosmoscope-google\"\nstore = \"keyutils\"\nclient_secret_env = \"GOOGLE_CLIENT_SECRET\"\n"
    ));
}

#[test]
fn google_installed_app_secret_is_sent_from_the_environment_only() {
    let Some((oidc, _)) = setup(&[], "cosmoscope-cli") else {
        return;
    };
    // Without the variable: a usage error that names it, before anything is asked of anyone.
    let bare = TestEnv::new();
    google_profile(&bare, &oidc.issuer);
    bare.run(&["login", "--no-browser", "--device-code", "-o", "json"])
        .code(2)
        .stderr_has("GOOGLE_CLIENT_SECRET");
    // A wrong secret: the provider refuses the client.
    let wrong = TestEnv::new().with_env("GOOGLE_CLIENT_SECRET", "not-it");
    google_profile(&wrong, &oidc.issuer);
    wrong
        .run(&["login", "--no-browser", "--device-code", "-o", "json"])
        .code(5);
    // The right one: the device flow (Google's `verification_url`), then a refresh whose answer
    // has no refresh token keeps the stored one.
    let env = TestEnv::new().with_env("GOOGLE_CLIENT_SECRET", "google-installed-app-secret");
    google_profile(&env, &oidc.issuer);
    let run = login_with(&env, &["--device-code"], |code| oidc.approve(code, "alice"));
    run.ok();
    let first: Value =
        serde_json::from_str(run.stdout.lines().next().expect("event")).expect("json");
    assert!(
        first["verification_uri"]
            .as_str()
            .unwrap_or("")
            .contains("/device"),
        "{first}"
    );
    env.run(&["login", "--refresh"]).ok();
    env.run(&["login", "--refresh"]).ok();
    assert_eq!(oidc.token_requests("refresh_token"), 2);
    let status = env.run(&["status", "-o", "json"]).ok().json();
    assert_eq!(status["refreshable"], true, "{status}");
    // The secret is never in an output, an argument or the audit log.
    env.assert_no_secrets(&["google-installed-app-secret".to_string()]);
}

// ---- Entra: multi-tenant issuers, CI identities, Cosmos tokens that are not ours ----

const ALICE_TENANT: &str = "11111111-1111-1111-1111-111111111111";

fn entra_multi_tenant_profile(env: &TestEnv, oidc: &Oidc, allowed: &str) {
    env.write_config(&format!(
        "default_profile = \"dev\"\n[profiles.dev]\nissuer = \"{}/organizations/v2.0\"\nclient_id = \"cosmoscope-cli\"\nstore = \"keyutils\"\n{allowed}\n",
        oidc.issuer
    ));
}

#[test]
fn entra_multi_tenant_sign_in_checks_the_tenant_at_every_use() {
    let Some((oidc, env)) = setup(&[], "cosmoscope-cli") else {
        return;
    };
    oidc.admin("personality", json!({"name": "entra-multi-tenant"}));
    // The template issuer without allowed_tenants: refused before anyone signs in.
    entra_multi_tenant_profile(&env, &oidc, "");
    env.run(&["login", "--no-browser", "-o", "json"])
        .code(2)
        .stderr_has("allowed_tenants");
    // With the tenant allowed: the issuer is the template filled with the token's tid.
    entra_multi_tenant_profile(
        &env,
        &oidc,
        &format!("allowed_tenants = [\"{ALICE_TENANT}\"]"),
    );
    login_as(&env, &oidc, "alice").ok();
    let status = env.run(&["status", "-o", "json"]).ok().json();
    assert_eq!(status["subject"], "alice", "{status}");
    // The browser sign-in too (Entra sends no `iss` in the answer).
    browser_login(&env, &["--browser", "--no-browser"], |url| {
        let delivered = oidc.admin("authorize", json!({"url": url, "login": "carol"}));
        assert_eq!(delivered["status"], 200, "{delivered}");
    })
    .ok();
    // Someone from another tenant signs in to the same multi-tenant app: not one of ours.
    let other = TestEnv::new();
    entra_multi_tenant_profile(
        &other,
        &oidc,
        &format!("allowed_tenants = [\"{ALICE_TENANT}\"]"),
    );
    login_as(&other, &oidc, "mallory")
        .code(1)
        .stderr_has("allowed_tenants");
    assert!(!other.state_dir().join("sessions/dev.json").exists());
    // The profile stops allowing alice's tenant: her stored session no longer counts.
    entra_multi_tenant_profile(
        &env,
        &oidc,
        "allowed_tenants = [\"22222222-2222-2222-2222-222222222222\"]",
    );
    crate::fixtures::export_policy(&env, "roles");
    env.run(&["token", "--resource", "idp"])
        .code(3)
        .stderr_has("tenant");
}

#[test]
fn entra_ci_login_takes_its_identity_from_a_token_for_the_app_never_the_cosmos_token() {
    let Some((oidc, env)) = setup(&[], "cosmoscope-cli") else {
        return;
    };
    env.write_config(&format!(
        "default_profile = \"dev\"\n[profiles.dev]\nissuer = \"{}\"\nclient_id = \"cosmoscope-ci\"\nstore = \"keyutils\"\nscopes = [\"https://cosmos.azure.com/.default\"]\n",
        oidc.issuer
    ));
    let env = env.with_env("COSMOSCOPE_CLIENT_SECRET", "ci-secret-for-tests");
    env.run(&["login", "--client-credentials"]).ok();
    // Two token requests: Cosmos DB's token, and one for the app itself.
    assert_eq!(oidc.token_requests("client_credentials"), 2);
    let status = env.run(&["status", "-o", "json"]).ok().json();
    assert_eq!(status["subject"], "sp-cosmoscope-ci", "{status}");
    assert_eq!(status["roles"], json!(["ci-deployer"]));
    // The session's access token is Cosmos DB's (v1 issuer, Cosmos audience), kept as it came.
    let tokens = stored_tokens(&env, &oidc.issuer);
    let cosmos = tokens
        .iter()
        .filter_map(|t| cosmoscope::identity::verify::unverified_claims(t))
        .find(|c| c["aud"] == "https://cosmos.azure.com")
        .unwrap_or_else(|| panic!("the Cosmos token is stored: {tokens:?}"));
    assert!(
        cosmos["iss"]
            .as_str()
            .unwrap_or("")
            .starts_with("https://sts.windows.net/"),
        "{cosmos:?}"
    );
    env.assert_no_secrets(&tokens);
}

#[test]
fn the_browser_is_given_a_one_time_start_link_not_the_authorization_url() {
    let Some((oidc, _)) = setup(&[], "cosmoscope-cli") else {
        return;
    };
    // A "browser" that only writes down the command line it was started with (what another
    // user could read in /proc).
    let dir = tempfile::tempdir().expect("tempdir");
    let seen = dir.path().join("argv");
    let script = dir.path().join("browser.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nprintf '%s' \"$1\" > {}\n", seen.display()),
    )
    .expect("script");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let env = TestEnv::new().with_env("BROWSER", &script.display().to_string());
    env.write_profile(&oidc.issuer, "cosmoscope-cli", "keyutils");
    browser_login(&env, &["--browser"], |url| {
        let q = query(url);
        let argv = crate::harness::wait_for(
            "the browser's argv",
            std::time::Duration::from_secs(10),
            || {
                std::fs::read_to_string(&seen)
                    .ok()
                    .filter(|s| !s.is_empty())
            },
        );
        assert!(
            argv.starts_with(&format!("{}/start/", q["redirect_uri"])),
            "{argv}"
        );
        assert!(
            !argv.contains(&q["state"]) && !argv.contains(&q["code_challenge"]),
            "{argv}"
        );
        let target = argv.trim_start_matches(&*q["redirect_uri"]);
        let first = get_loopback(&q["redirect_uri"], target);
        assert!(first.starts_with("HTTP/1.1 302"), "{first}");
        assert!(
            first.contains(&q["state"]),
            "the start link leads to the provider: {first}"
        );
        let again = get_loopback(&q["redirect_uri"], target);
        assert!(again.starts_with("HTTP/1.1 404"), "used once only: {again}");
        oidc.admin("authorize", json!({"url": url, "login": "alice"}));
    })
    .ok();
}

#[test]
fn ctrl_c_ends_a_sign_in_cleanly() {
    let Some((_oidc, env)) = setup(&[], "cosmoscope-cli") else {
        return;
    };
    for flow in ["--browser", "--device-code"] {
        let mut child = env.spawn(&["login", "-o", "json", "--no-browser", flow]);
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut first = String::new();
        stdout.read_line(&mut first).expect("the first event");
        let status = std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let out = child.wait_with_output().expect("wait");
        assert_eq!(
            out.status.code(),
            Some(130),
            "{flow}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains("interrupted"));
        assert!(!session_file(&env).exists());
        let audit = env.audit();
        assert_eq!(
            audit.last().expect("record")["cause"],
            "interrupted",
            "{flow}"
        );
    }
}

#[test]
fn a_client_not_set_up_for_the_browser_says_how_and_offers_the_device_code() {
    let Some((oidc, env)) = setup(&[], "cosmoscope-cli") else {
        return;
    };
    // What a provider sends back when the client may not use the authorization-code grant.
    let run = browser_login(&env, &["--browser", "--no-browser"], |url| {
        let q = query(url);
        let target = format!(
            "/?error=unauthorized_client&error_description=grant%20not%20allowed&state={}&iss={}",
            q["state"],
            url::form_urlencoded::byte_serialize(oidc.issuer.as_bytes()).collect::<String>()
        );
        let answer = get_loopback(&q["redirect_uri"], &target);
        assert!(answer.contains("did not complete"), "{answer}");
    });
    run.code(5)
        .stderr_has("refused the browser sign-in")
        .stderr_has("grant not allowed")
        .stderr_has("--device-code");
    assert!(!session_file(&env).exists());
    assert_eq!(oidc.token_requests("authorization_code"), 0);
}
