//! `deploy/`: the container image definition and the Kubernetes manifests of the gateway (issue
//! 16). The manifests are checked against the Kubernetes API's own schemas (kubernetes-validate,
//! strict: an unknown field fails), and the configuration they ship is checked by `cosmoscope
//! serve --check`, so a rollout never starts from a file the gateway would refuse.

use std::path::{Path, PathBuf};

use crate::harness::TestEnv;

fn deploy_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

const MANIFESTS: [&str; 6] = [
    "serviceaccount.yaml",
    "configmap.yaml",
    "deployment.yaml",
    "service.yaml",
    "hpa.yaml",
    "pdb.yaml",
];

fn validator() -> Option<PathBuf> {
    let v =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/peers-venv/bin/kubernetes-validate");
    if v.exists() {
        Some(v)
    } else {
        assert!(
            std::env::var_os("CI").is_none(),
            "scripts/setup-peers installs kubernetes-validate"
        );
        eprintln!("skipped: run ./scripts/setup-peers for kubernetes-validate");
        None
    }
}

fn validate(validator: &Path, files: &[PathBuf]) -> std::process::Output {
    std::process::Command::new(validator)
        .args(["--strict", "--kubernetes-version", "1.30.0"])
        .args(files)
        .output()
        .expect("kubernetes-validate")
}

#[test]
fn the_kubernetes_manifests_follow_the_api_schemas() {
    let Some(validator) = validator() else { return };
    let dir = deploy_dir().join("kubernetes");
    let files: Vec<PathBuf> = MANIFESTS.iter().map(|f| dir.join(f)).collect();
    let out = validate(&validator, &files);
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert_eq!(text.matches(" passed ").count(), MANIFESTS.len(), "{text}");

    // The check is strict: a misspelt field is an error, not a silently ignored key.
    let tmp = tempfile::tempdir().expect("tmp");
    let typo = tmp.path().join("deployment.yaml");
    let text = std::fs::read_to_string(dir.join("deployment.yaml")).expect("deployment");
    std::fs::write(&typo, text.replacen("readinessProbe:", "readinesProbe:", 1)).expect("typo");
    assert!(!validate(&validator, &[typo]).status.success());

    // What the issue asks of the Deployment: probes on the gateway's own endpoints, limits,
    // a non-root user, and the workload identity's service account.
    for needed in [
        "path: /healthz",
        "path: /readyz",
        "limits:",
        "runAsNonRoot: true",
        "serviceAccountName: cosmoscope-gateway",
        "azure.workload.identity/use: \"true\"",
        "readOnlyRootFilesystem: true",
    ] {
        assert!(text.contains(needed), "deployment.yaml lacks {needed}");
    }
}

/// The ConfigMap's `server.toml` and `policy.toml`, as the pod sees them.
fn configmap_files(dir: &Path) {
    let text =
        std::fs::read_to_string(deploy_dir().join("kubernetes/configmap.yaml")).expect("configmap");
    for name in ["server.toml", "policy.toml"] {
        let start = text
            .find(&format!("  {name}: |\n"))
            .unwrap_or_else(|| panic!("{name} in the ConfigMap"));
        let mut body = String::new();
        for line in text[start..]
            .lines()
            .skip(1)
            .take_while(|l| l.is_empty() || l.starts_with("    "))
        {
            body.push_str(line.get(4..).unwrap_or_default());
            body.push('\n');
        }
        std::fs::write(dir.join(name), body).expect("write");
    }
}

#[test]
fn the_shipped_gateway_configuration_passes_serve_check() {
    let env = TestEnv::new();
    let dir = tempfile::tempdir().expect("tmp");
    configmap_files(dir.path());
    let config = dir.path().join("server.toml");
    let run = env.run(&[
        "serve",
        "--check",
        "--config",
        config.to_str().expect("utf8"),
        "-o",
        "json",
    ]);
    run.ok();
    let summary: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(
        summary["cosmos"]["credential"], "workload-identity",
        "{summary}"
    );
    assert_eq!(summary["tls"], true, "{summary}");
    assert_eq!(summary["policy"]["roles"], 1, "{summary}");

    // --check refuses what serve would refuse: here an unknown key.
    let text = std::fs::read_to_string(&config).expect("server.toml");
    std::fs::write(
        &config,
        text.replacen("[server]\n", "[server]\nlisten_on = 1\n", 1),
    )
    .expect("bad");
    env.run(&[
        "serve",
        "--check",
        "--config",
        config.to_str().expect("utf8"),
    ])
    .code(2)
    .stderr_has("listen_on");
}

#[test]
fn the_container_image_is_multi_stage_and_runs_unprivileged() {
    let text = std::fs::read_to_string(deploy_dir().join("Dockerfile")).expect("Dockerfile");
    let stages: Vec<&str> = text.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(
        stages.len(),
        2,
        "a build stage and a runtime stage: {stages:?}"
    );
    assert!(
        stages[1].contains("slim"),
        "a small runtime base: {}",
        stages[1]
    );
    let runtime = &text[text.rfind("\nFROM ").expect("runtime stage")..];
    assert!(
        runtime.contains("COPY --from=build"),
        "only the binary crosses over"
    );
    let user = runtime
        .lines()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER in the runtime stage");
    let uid: u32 = user
        .split(':')
        .next()
        .unwrap_or_default()
        .parse()
        .expect("a numeric uid");
    assert_ne!(uid, 0, "not root");
    assert!(runtime.contains("ENTRYPOINT [\"/usr/local/bin/cosmoscope\", \"serve\"]"));
    assert!(
        !text.to_ascii_lowercase().contains("account_key"),
        "no secret baked in"
    );
}
