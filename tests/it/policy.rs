//! `policy explain` and `policy validate` through the binary: offline, batch, and with a session
//! (decisions with reasons from the signed-in identity's verified claims).

use serde_json::Value;

use crate::fixtures::POLICY;
use crate::fixtures::{login_as, setup};
use crate::harness::TestEnv;
use crate::require;

#[test]
fn explain_offline_needs_no_config() {
    let env = TestEnv::new();
    let run = env.run(&[
        "policy",
        "explain",
        "-o",
        "json",
        "select c.id from c where c.tenant_id = 't1' or c.tenant_id = @t",
        "--partition-key-path",
        "/tenant_id",
        "--param",
        "t=\"t2\"",
    ]);
    run.ok();
    let v = run.json();
    assert_eq!(v["valid"], true);
    assert_eq!(
        v["normalized"], "SELECT c.id FROM c WHERE c.tenant_id = \"t1\" OR c.tenant_id = @t",
        "{v}"
    );
    assert_eq!(
        v["partition_scope"],
        serde_json::json!({"kind": "points", "values": [["t1"], ["t2"]]})
    );
    assert!(v.get("allowed").is_none(), "no session, no decision");
}

#[test]
fn explain_reports_syntax_errors_with_offset_and_exit_2() {
    let env = TestEnv::new();
    let run = env.run(&["policy", "explain", "-o", "json", "SELECT * FROM c WHERE"]);
    run.code(2);
    let v = run.json();
    assert_eq!(v["valid"], false);
    assert_eq!(v["error"]["offset"], 21);
    env.run(&["policy", "explain", "SELECT * FRM c"])
        .code(2)
        .stderr_has("byte 9");
}

#[test]
fn explain_batch_answers_one_line_per_query() {
    let env = TestEnv::new();
    let input = env.dir.path().join("q.ndjson");
    std::fs::write(&input, "{\"query\":\"SELECT * FROM c WHERE c.k = 1\",\"partition_key_paths\":[\"/k\"]}\n{\"query\":\"SELECT\",\"partition_key_paths\":[]}\n\n{\"query\":\"SELECT 1\"}\n").expect("write");
    let run = env.run(&[
        "policy",
        "explain",
        "--queries",
        input.to_str().expect("utf8"),
    ]);
    run.ok();
    let lines: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(
        lines[0]["partition_scope"]["values"],
        serde_json::json!([[1]])
    );
    assert_eq!(lines[1]["valid"], false);
    assert_eq!(lines[2]["partition_scope"]["kind"], "none");
}

#[test]
fn validate_reports_file_line_and_column() {
    let env = TestEnv::new();
    let good = env.dir.path().join("policy.toml");
    std::fs::write(&good, POLICY).expect("write");
    env.run(&["policy", "validate", good.to_str().expect("utf8")])
        .ok()
        .stderr_has("2 roles, 3 grants");
    let bad = env.dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        POLICY.replace(
            "actions = [\"query\", \"read\"]",
            "actions = [\"query\", \"raed\"]",
        ),
    )
    .expect("write");
    let run = env.run(&["policy", "validate", bad.to_str().expect("utf8")]);
    run.code(1)
        .stderr_has(&format!("{}:9:23:", bad.display()))
        .stderr_has("raed");
}

#[test]
fn explain_with_a_session_gives_the_decision_and_reasons() {
    let (oidc, env) = require!(setup(&[], "cosmoscope-cli"), crate::harness::PROVIDER);
    std::fs::write(env.config_dir().join("policy.toml"), POLICY).expect("policy");
    let mut cfg = std::fs::read_to_string(env.config_file()).expect("config");
    cfg.push_str("\n[profiles.dev.cosmos]\nendpoint = \"https://127.0.0.1:8081/\"\ndatabase = \"shop\"\ncredential = \"key\"\n\n[profiles.dev.policy]\nfile = \"policy.toml\"\n");
    env.write_config(&cfg);
    login_as(&env, &oidc, "alice").ok();

    let explain = |sql: &str| {
        let run = env.run(&[
            "policy",
            "explain",
            "-o",
            "json",
            sql,
            "--container",
            "orders",
            "--partition-key-path",
            "/tenant_id",
        ]);
        run.ok();
        run.json()
    };
    let v = explain("SELECT c.id, c.total FROM c WHERE c.tenant_id = 't1'");
    assert_eq!(v["allowed"], true, "{v}");
    let v = explain("SELECT c.id FROM c WHERE c.tenant_id = 't2'");
    assert_eq!(v["allowed"], false, "alice's tenant is t1: {v}");
    let v = explain("SELECT * FROM c");
    assert_eq!(v["allowed"], false, "SELECT * reaches card_number: {v}");
    let reasons = v["reasons"].to_string();
    assert!(reasons.contains("card_number"), "{reasons}");
    let v = explain("SELECT c.id FROM c WHERE c.card_number = '4111'");
    assert_eq!(v["allowed"], false, "{v}");
    let run = env.run(&[
        "policy",
        "explain",
        "SELECT c.id FROM c",
        "--container",
        "payments",
        "--partition-key-path",
        "/tenant_id",
    ]);
    run.ok();
    assert!(
        run.stdout.contains("denied") && run.stdout.contains("payments"),
        "{}",
        run.stdout
    );
}
