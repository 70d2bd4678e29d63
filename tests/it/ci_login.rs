//! Logging in without a person: client credentials against the real OpenID provider, and workload
//! identity federation against a local federation peer that verifies the CI token it is handed.

use crate::fixtures::setup;
use crate::harness::PROVIDER;
use crate::harness::TestEnv;
use crate::require;

const SECRET: &str = "ci-secret-for-tests";

#[test]
fn client_credentials_from_the_environment() {
    let (oidc, env) = require!(setup(&[], "cosmoscope-cli"), PROVIDER);
    let env = env
        .with_env("COSMOSCOPE_CLIENT_ID", "cosmoscope-ci")
        .with_env("COSMOSCOPE_CLIENT_SECRET", SECRET);
    let run = env.run(&["login", "--client-credentials", "-o", "json"]);
    run.ok();
    let ev: serde_json::Value =
        serde_json::from_str(run.stdout.lines().last().expect("event")).expect("json");
    assert_eq!(ev["subject"], "cosmoscope-ci");
    let status = env.run(&["status", "-o", "json"]);
    status.ok();
    assert_eq!(
        status.json()["refreshable"],
        false,
        "client credentials give no refresh token"
    );
    assert_eq!(oidc.token_requests("client_credentials"), 1);
    env.assert_no_secrets(&[SECRET.to_string()]);
}

#[test]
fn client_secret_from_stdin_and_wrong_secret_refused() {
    let (_oidc, env) = require!(setup(&[], "cosmoscope-cli"), PROVIDER);
    let env = env.with_env("COSMOSCOPE_CLIENT_ID", "cosmoscope-ci");
    env.run_stdin(
        &["login", "--client-credentials", "--client-secret-stdin"],
        &format!("{SECRET}\n"),
    )
    .ok();
    let wrong = TestEnv::new()
        .with_env("COSMOSCOPE_CLIENT_ID", "cosmoscope-ci")
        .with_env("COSMOSCOPE_CLIENT_SECRET", "not-the-secret-at-all");
    std::fs::create_dir_all(wrong.config_dir()).expect("mkdir");
    std::fs::copy(env.config_file(), wrong.config_file()).expect("copy");
    wrong
        .run(&["login", "--client-credentials"])
        .code(5)
        .stderr_has("refused");
    assert!(!wrong.state_dir().join("sessions/dev.json").exists());
    wrong
        .run(&["login", "--client-credentials"])
        .stderr_has("invalid_client");
}

#[test]
fn ci_never_prompts() {
    let (_oidc, env) = require!(setup(&[], "cosmoscope-cli"), PROVIDER);
    env.run(&["login", "--no-input"])
        .code(3)
        .stderr_has("--client-credentials");
    env.run(&["login", "--client-credentials"])
        .code(2)
        .stderr_has("COSMOSCOPE_CLIENT_SECRET");
    env.run(&["login", "--federated"])
        .code(3)
        .stderr_has("no CI token source");
}

/// The federation peer (a CI token service and a provider that verifies what it is handed) and a
/// profile for its federated client.
fn federation() -> Option<(crate::oidc::Oidc, TestEnv, String)> {
    if !crate::oidc::peer_dir("federation")
        .join("node_modules/jose")
        .is_dir()
        || !crate::harness::has_session_keyring()
    {
        return None;
    }
    let fed = crate::oidc::Oidc::start_peer("federation", &[]);
    let ci = fed.hello["ci_issuer"]
        .as_str()
        .expect("ci_issuer")
        .to_string();
    let env = TestEnv::new();
    env.write_profile(&fed.issuer, "cosmoscope-federated", "keyutils");
    Some((fed, env, ci))
}

fn mint(fed: &crate::oidc::Oidc, body: serde_json::Value) -> String {
    fed.admin("mint", body)["token"]
        .as_str()
        .expect("token")
        .to_string()
}

#[test]
fn federated_login_with_github_actions_token_service() {
    let (fed, env, ci) = require!(
        federation(),
        "the federation peer (npm) and a kernel session keyring"
    );
    let env = env
        .with_env(
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            &format!("{ci}/github-token"),
        )
        .with_env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "gh-request-token");
    env.run(&["login", "--federated"])
        .ok()
        .stderr_has("Logged in as ci:repo:acme/shop:ref:refs/heads/main (roles: ci-deployer)");
    let status = env.run(&["status", "-o", "json"]);
    assert_eq!(status.json()["roles"], serde_json::json!(["ci-deployer"]));
    assert_eq!(
        fed.stats()["token_requests"]["client_credentials"].as_u64(),
        Some(1)
    );
    let audit = env.audit();
    assert!(
        audit.last().expect("audited")["detail"]
            .as_str()
            .is_some_and(|d| d.contains("GitHub Actions"))
    );
}

#[test]
fn federated_login_from_azure_pipelines_and_gitlab() {
    let (fed, env, ci) = require!(
        federation(),
        "the federation peer (npm) and a kernel session keyring"
    );
    let ado = env
        .with_env(
            "SYSTEM_OIDCREQUESTURI",
            &format!("{ci}/azure-pipelines-token"),
        )
        .with_env("SYSTEM_ACCESSTOKEN", "ado-access-token");
    ado.run(&["login", "--federated"]).ok();
    let token = mint(
        &fed,
        serde_json::json!({"aud": "api://AzureADTokenExchange"}),
    );
    let gitlab = TestEnv::new().with_env("COSMOSCOPE_ID_TOKEN", &token);
    gitlab.write_profile(&fed.issuer, "cosmoscope-federated", "keyutils");
    gitlab
        .run(&["login", "--federated", "--exchange", "token-exchange"])
        .ok();
    gitlab.assert_no_secrets(&[token]);
}

#[test]
fn federated_token_file_with_each_exchange() {
    let (fed, env, _ci) = require!(
        federation(),
        "the federation peer (npm) and a kernel session keyring"
    );
    let file = env.dir.path().join("ci-token");
    for exchange in ["client-assertion", "jwt-bearer", "token-exchange"] {
        let token = mint(
            &fed,
            serde_json::json!({"aud": "api://AzureADTokenExchange"}),
        );
        std::fs::write(&file, &token).expect("write");
        env.run(&[
            "login",
            "--federated-token-file",
            file.to_str().expect("utf8"),
            "--exchange",
            exchange,
        ])
        .ok();
    }
    let stats = fed.stats();
    assert_eq!(
        stats["issued"]["client_credentials"].as_u64(),
        Some(1),
        "{stats}"
    );
}

#[test]
fn forged_or_expired_ci_tokens_are_refused_by_the_provider() {
    let (fed, env, _ci) = require!(
        federation(),
        "the federation peer (npm) and a kernel session keyring"
    );
    let file = env.dir.path().join("ci-token");
    for (body, reason) in [
        (
            serde_json::json!({"aud": "api://AzureADTokenExchange", "sign_with": "rogue"}),
            "signature",
        ),
        (
            serde_json::json!({"aud": "api://AzureADTokenExchange", "exp_in": -600}),
            "expired",
        ),
        (
            serde_json::json!({"aud": "https://somewhere.else"}),
            "audience",
        ),
        (
            serde_json::json!({"aud": "api://AzureADTokenExchange", "sub": "repo:evil/fork:ref:refs/heads/main"}),
            "subject",
        ),
    ] {
        std::fs::write(&file, mint(&fed, body)).expect("write");
        env.run(&[
            "login",
            "--federated-token-file",
            file.to_str().expect("utf8"),
        ])
        .code(5)
        .stderr_has(reason);
    }
    assert!(!env.state_dir().join("sessions/dev.json").exists());
}
