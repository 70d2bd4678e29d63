//! `token` and `exec`: the policy gate, every format, --min-ttl, the audit trail, and one refresh
//! for fifty processes across an expiry.

use serde_json::Value;

use crate::fixtures::POLICY;
use crate::fixtures::venv_python;
use crate::fixtures::{login_as, setup, stored_tokens};
use crate::harness::PROVIDER;
use crate::harness::TestEnv;
use crate::oidc::Oidc;
use crate::require;

fn with_policy(envs: &[(&str, &str)], user: &str) -> Option<(Oidc, TestEnv)> {
    let (oidc, env) = setup(envs, "cosmoscope-cli")?;
    std::fs::write(env.config_dir().join("policy.toml"), POLICY).expect("policy");
    let mut cfg = std::fs::read_to_string(env.config_file()).expect("config");
    cfg.push_str("\n[profiles.dev.cosmos]\nendpoint = \"https://127.0.0.1:8081/\"\ndatabase = \"shop\"\ncredential = \"entra\"\n\n[profiles.dev.policy]\nfile = \"policy.toml\"\n");
    env.write_config(&cfg);
    login_as(&env, &oidc, user).ok();
    Some((oidc, env))
}

#[test]
fn export_needs_a_grant_and_is_audited() {
    let (oidc, env) = require!(with_policy(&[], "alice"), PROVIDER);
    let run = env.run(&["token", "--format", "json"]);
    run.code(4).stderr_has("does not allow exporting");
    assert_eq!(
        run.json()["error"]["exit_code"],
        4,
        "JSON formats answer errors in JSON"
    );
    let last = env.audit().last().cloned().expect("audited");
    assert_eq!(
        (last["action"].as_str(), last["decision"].as_str()),
        (Some("export"), Some("denied"))
    );
    env.assert_no_secrets(&stored_tokens(&env, &oidc.issuer));
}

#[test]
fn every_format_carries_the_session_token() {
    let (oidc, env) = require!(with_policy(&[], "bob"), PROVIDER);
    let tokens = stored_tokens(&env, &oidc.issuer);
    let access = &tokens[0];
    let raw = env.run(&["token"]);
    raw.ok();
    assert_eq!(raw.stdout.trim_end(), access);
    let json: Value = serde_json::from_str(
        &env.run(&["token", "--format", "json", "--resource", "idp"])
            .stdout,
    )
    .expect("json");
    assert_eq!(
        (
            json["version"].as_u64(),
            json["token"].as_str(),
            json["resource"].as_str()
        ),
        (Some(1), Some(access.as_str()), Some("idp"))
    );
    assert!(
        json["expires_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    let k8s: Value =
        serde_json::from_str(&env.run(&["token", "--format", "exec-credential"]).stdout)
            .expect("json");
    assert_eq!(k8s["kind"], "ExecCredential");
    assert_eq!(k8s["status"]["token"].as_str(), Some(access.as_str()));
    let az: Value =
        serde_json::from_str(&env.run(&["token", "--format", "azure-cli"]).stdout).expect("json");
    assert_eq!(az["accessToken"].as_str(), Some(access.as_str()));
    assert_eq!(az["tokenType"], "Bearer");
    // The env format is valid shell: eval it and read the values back.
    let env_lines = env.run(&["token", "--format", "env"]).stdout.clone();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{env_lines}\nprintf '%s|%s' \"$COSMOS_ENDPOINT\" \"$COSMOS_TOKEN\""
        ))
        .output()
        .expect("sh");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("https://127.0.0.1:8081/|{access}")
    );
    // Every export is audited, without the token.
    let exports = env
        .audit()
        .iter()
        .filter(|r| r["action"] == "export" && r["decision"] == "allowed")
        .count();
    assert_eq!(exports, 5);
    let audit_text = std::fs::read_to_string(env.state_dir().join("audit.jsonl")).expect("audit");
    assert!(!audit_text.contains(access.as_str()));
}

#[test]
fn exec_passes_the_token_in_the_environment_and_the_exit_code_back() {
    let (oidc, env) = require!(with_policy(&[], "bob"), PROVIDER);
    let access = stored_tokens(&env, &oidc.issuer)[0].clone();
    let script = "test \"$COSMOS_TOKEN\" = \"$COSMOSDB_SHELL_TOKEN\" && test -n \"$COSMOS_TOKEN_EXPIRES_AT\" && case \"$(tr '\\0' ' ' < /proc/$$/cmdline)\" in *\"$COSMOS_TOKEN\"*) exit 99;; esac; printf %s \"$COSMOS_TOKEN\" > \"$OUT\"; exit 7";
    let out_file = env.dir.path().join("seen");
    let run = env
        .cmd()
        .env("OUT", &out_file)
        .args(["exec", "--", "sh", "-c", script])
        .output()
        .expect("spawn");
    assert_eq!(
        run.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        run.stderr.is_empty(),
        "the child's exit is passed through silently"
    );
    assert_eq!(
        std::fs::read_to_string(out_file).expect("child wrote"),
        access
    );
    env.run(&["exec", "--", "/nonexistent/cmd"])
        .code(1)
        .stderr_has("cannot run /nonexistent/cmd");
}

#[test]
fn min_ttl_beyond_the_providers_lifetime_is_login_required() {
    let (_oidc, env) = require!(with_policy(&[("OIDC_ACCESS_TTL", "600")], "bob"), PROVIDER);
    env.run(&["token", "--min-ttl", "5m"]).ok();
    env.run(&["token", "--min-ttl", "2h"])
        .code(3)
        .stderr_has("short of --min-ttl");
    env.run(&["token", "--min-ttl", "soon"]).code(2);
}

#[test]
fn a_hundred_tokens_across_an_expiry_refresh_once() {
    let (oidc, env) = require!(with_policy(&[], "bob"), PROVIDER);
    // Force the expiry: the session file says the access token is already past its time.
    let path = env.state_dir().join("sessions/dev.json");
    let mut info: Value =
        serde_json::from_slice(&std::fs::read(&path).expect("session")).expect("json");
    info["expires_at"] = Value::from(1_000_000_000u64);
    std::fs::write(&path, serde_json::to_vec(&info).expect("json")).expect("write");
    let children: Vec<_> = (0..100)
        .map(|_| env.spawn(&["token", "--resource", "idp"]))
        .collect();
    let mut printed = std::collections::BTreeSet::new();
    for child in children {
        let run = env.record(child.wait_with_output().expect("wait"));
        run.ok();
        printed.insert(run.stdout.trim_end().to_string());
    }
    assert_eq!(
        oidc.token_requests("refresh_token"),
        1,
        "one refresh for a hundred processes"
    );
    assert_eq!(printed.len(), 1, "all hundred printed the refreshed token");
}

#[test]
fn the_kubernetes_client_loads_the_exec_credential() {
    require!(
        venv_python().exists(),
        "the Python venv (target/peers-venv)"
    );
    let (oidc, env) = require!(with_policy(&[], "bob"), PROVIDER);
    let access = stored_tokens(&env, &oidc.issuer)[0].clone();
    let d = env.dir.path();
    let kubeconfig = d.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: 'https://127.0.0.1:6443'}}\ncontexts:\n- name: c\n  context: {{cluster: c, user: cosmos}}\ncurrent-context: c\nusers:\n- name: cosmos\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: {bin}\n      args: [token, --format, exec-credential]\n      interactiveMode: Never\n      env:\n      - {{name: HOME, value: '{home}'}}\n      - {{name: XDG_CONFIG_HOME, value: '{cfg}'}}\n      - {{name: XDG_STATE_HOME, value: '{state}'}}\n",
            bin = crate::harness::BIN,
            home = d.join("home").display(),
            cfg = d.join("config").display(),
            state = d.join("state").display(),
        ),
    )
    .expect("kubeconfig");
    let script =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers/k8s_exec.py");
    let out = std::process::Command::new(venv_python())
        .arg(script)
        .arg(&kubeconfig)
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).trim() == access,
        "the client did not get the session token"
    );
}
