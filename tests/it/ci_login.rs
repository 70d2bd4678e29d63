//! Logging in without a person: client credentials against the real OpenID provider, and workload
//! identity federation against a local federation peer that verifies the CI token it is handed.

use crate::harness::TestEnv;
use crate::login::setup;
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

const SECRET: &str = "ci-secret-for-tests";

#[test]
fn client_credentials_from_the_environment() {
    let (oidc, env) = setup_or_skip!();
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
    let (_oidc, env) = setup_or_skip!();
    let env = env.with_env("COSMOSCOPE_CLIENT_ID", "cosmoscope-ci");
    let mut child = env
        .cmd()
        .args(["login", "--client-credentials", "--client-secret-stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    std::io::Write::write_all(
        &mut child.stdin.take().expect("stdin"),
        format!("{SECRET}\n").as_bytes(),
    )
    .expect("write");
    env.record(child.wait_with_output().expect("wait")).ok();
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
    let (_oidc, env) = setup_or_skip!();
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
