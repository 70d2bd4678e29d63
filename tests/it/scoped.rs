//! The main job end to end: a device-code login at the real OpenID provider, then `query` against
//! the Cosmos DB peer, which verifies the session's own token (`credential = "entra"`) against the
//! provider's JWKS. The policy decides; partition-scoped grants are pinned so Cosmos itself enforces
//! the scope; every run is audited. Credentials printed by `token`/`exec` are used by the Python SDK.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::cosmos_peer::{certs, parse_ndjson};
use crate::fixtures::stack;
use crate::fixtures::stored_tokens;
use crate::harness::STACK;
use crate::require;

fn tenants(docs: &[Value]) -> BTreeSet<String> {
    docs.iter()
        .filter_map(|d| d["tenant_id"].as_str().map(str::to_string))
        .collect()
}

/// Rows sorted by id: a query across physical partitions has no defined order.
fn by_id(mut docs: Vec<Value>) -> Vec<Value> {
    docs.sort_by(|a, b| a["id"].to_string().cmp(&b["id"].to_string()));
    docs
}

#[test]
fn a_partition_scoped_grant_reads_only_its_partitions() {
    let (_oidc, peer, env) = require!(stack("alice"), STACK);
    // The query's text touches every tenant; alice's grant is pinned to her tenant_id claim (t1).
    let run = env.run(&[
        "query",
        "--container",
        "orders",
        "-o",
        "ndjson",
        "SELECT c.id, c.tenant_id, c.total FROM c",
    ]);
    run.ok();
    let docs = parse_ndjson(run.stdout.as_bytes());
    assert!(!docs.is_empty());
    assert_eq!(
        tenants(&docs),
        BTreeSet::from(["t1".to_string()]),
        "only alice's partition"
    );
    let expected = peer.pyquery(
        "shop",
        "orders",
        "SELECT c.id, c.tenant_id, c.total FROM c",
        &[],
        Some(&json!("t1")),
    );
    assert_eq!(
        docs, expected,
        "the same documents the Python SDK reads from partition t1"
    );
    run.stderr_has(&format!("{} items", docs.len()));

    let last = env.audit().last().cloned().expect("audited");
    assert_eq!(
        (last["action"].as_str(), last["decision"].as_str()),
        (Some("query"), Some("allowed"))
    );
    assert_eq!(last["items"].as_u64(), Some(docs.len() as u64));
    assert!(
        last["request_charge"].as_f64().is_some() && last["duration_ms"].as_u64().is_some(),
        "{last}"
    );
    assert_eq!(last["container"], "orders");
    assert!(
        last["query"]
            .as_str()
            .is_some_and(|q| q.starts_with("SELECT"))
    );
}

#[test]
fn denials_exit_4_with_every_reason_and_are_audited() {
    let (_oidc, _peer, env) = require!(stack("alice"), STACK);
    env.run(&["query", "-c", "orders", "SELECT * FROM c"])
        .code(4)
        .stderr_has("denied by policy")
        .stderr_has("card_number");
    env.run(&[
        "query",
        "-c",
        "orders",
        "SELECT c.id FROM c WHERE c.tenant_id = 't2'",
    ])
    .code(4)
    .stderr_has("outside the grant's keys");
    // A container outside the grant is denied before Cosmos DB is asked whether it exists.
    env.run(&["query", "-c", "payments", "SELECT c.id FROM c"])
        .code(4)
        .stderr_has("container \"payments\" not in");
    env.run(&["query", "-c", "orders", "SELECT c.id FROM c WHERE"])
        .code(2)
        .stderr_has("syntax error");
    let denied: Vec<Value> = env
        .audit()
        .into_iter()
        .filter(|r| r["action"] == "query" && r["decision"] == "denied")
        .collect();
    assert_eq!(denied.len(), 3, "{denied:?}");
    assert!(denied[0]["reasons"].to_string().contains("card_number"));
}

#[test]
fn an_unrestricted_grant_reads_every_partition_with_parameters() {
    let (_oidc, peer, env) = require!(stack("bob"), STACK);
    let sql = "SELECT c.id, c.tenant_id FROM c WHERE c.total > @min";
    let run = env.run(&[
        "query", "-c", "orders", "-o", "ndjson", sql, "--param", "min=50",
    ]);
    run.ok();
    let docs = parse_ndjson(run.stdout.as_bytes());
    let expected = peer.pyquery("shop", "orders", sql, &[("@min", json!(50))], None);
    // Across physical partitions rows come in no defined order.
    assert_eq!(by_id(docs.clone()), by_id(expected));
    assert!(tenants(&docs).len() > 1, "bob sees every tenant");
    let json = env.run(&[
        "query",
        "-c",
        "orders",
        "-o",
        "json",
        "SELECT VALUE c.id FROM c",
        "--max-items",
        "3",
    ]);
    json.ok();
    assert_eq!(
        serde_json::from_str::<Value>(&json.stdout)
            .expect("json array")
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    let table = env.run(&[
        "query",
        "-c",
        "customers",
        "SELECT c.id, c.name FROM c WHERE c.tenant_id = 't2'",
    ]);
    table.ok();
    assert!(
        table.stdout.contains("ID")
            && table.stdout.contains("NAME")
            && table.stdout.contains("c002"),
        "{}",
        table.stdout
    );
}

#[test]
fn printed_credentials_work_for_the_python_sdk_and_wrong_ones_do_not() {
    let (oidc, peer, env) = require!(stack("bob"), STACK);
    let token: Value = serde_json::from_slice(
        &env.cmd()
            .args(["token", "--format", "json"])
            .output()
            .expect("token")
            .stdout,
    )
    .expect("json");
    let token = token["token"].as_str().expect("token").to_string();
    let pyquery = |auth: &[&str], extra_env: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(crate::fixtures::venv_python());
        cmd.current_dir(crate::cosmos_peer::peer_dir())
            .env("REQUESTS_CA_BUNDLE", &certs().ca)
            .env("COSMOS_DISABLE_IMDS", "1")
            .arg("pyquery.py")
            .args(["--endpoint", &peer.endpoint, "--ca"])
            .arg(&certs().ca)
            .args(auth)
            .args([
                "--database",
                "shop",
                "--container",
                "customers",
                "--query",
                "SELECT VALUE c.id FROM c",
            ]);
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        cmd.output().expect("python")
    };
    let ok = pyquery(&["--token", &token], &[]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(parse_ndjson(&ok.stdout).len(), 12);
    // A token with one character changed is refused by the server (401 → the script's exit 5).
    let mut forged = token.clone().into_bytes();
    let last = forged.len() - 2;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let bad = pyquery(
        &["--token", &String::from_utf8(forged).expect("ascii")],
        &[],
    );
    assert_eq!(bad.status.code(), Some(5));

    // Inside `cosmoscope exec`, the child reads COSMOS_TOKEN from its environment.
    let script = crate::cosmos_peer::peer_dir().join("pyquery.py");
    let run = env
        .cmd()
        .current_dir(crate::cosmos_peer::peer_dir())
        .env("REQUESTS_CA_BUNDLE", &certs().ca)
        .args(["exec", "--"])
        .arg(crate::fixtures::venv_python())
        .arg(script)
        .args(["--endpoint", &peer.endpoint, "--ca"])
        .arg(&certs().ca)
        .args([
            "--token-env",
            "COSMOS_TOKEN",
            "--database",
            "shop",
            "--container",
            "orders",
            "--query",
            "SELECT VALUE c.id FROM c",
        ])
        .output()
        .expect("exec");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(parse_ndjson(&run.stdout).len(), 30);
    let _ = &oidc;
    env.assert_no_secrets(&stored_tokens(&env, &oidc.issuer));
}

#[test]
fn point_operations_and_listing_follow_the_grants() {
    let (_oidc, _peer, env) = require!(stack("alice"), STACK);
    // alice's support grant: query and read in her tenant, no delete; deny_fields forbid point
    // reads (a point read returns the whole document, card_number included).
    env.run(&[
        "item",
        "delete",
        "--container",
        "orders",
        "--partition-key",
        "\"t1\"",
        "o007",
        "--yes",
    ])
    .code(4)
    .stderr_has("action \"delete\"");
    env.run(&[
        "item",
        "get",
        "--container",
        "customers",
        "--partition-key",
        "\"t1\"",
        "c001",
    ])
    .code(4);
    let ls = env.run(&["ls", "containers", "-o", "json"]);
    ls.ok();
    let ids: Vec<String> = serde_json::from_str::<Vec<Value>>(&ls.stdout)
        .expect("json")
        .iter()
        .filter_map(|c| c["id"].as_str().map(str::to_string))
        .collect();
    assert_eq!(ids, ["customers", "orders"]);
    let audited: Vec<(String, String)> = env
        .audit()
        .iter()
        .filter(|r| r["action"].as_str().is_some_and(|a| a.starts_with("item.")))
        .map(|r| {
            (
                r["action"].as_str().unwrap_or("").to_string(),
                r["decision"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        audited,
        [
            ("item.delete".to_string(), "denied".to_string()),
            ("item.read".to_string(), "denied".to_string())
        ]
    );
}

#[test]
fn without_a_session_nothing_runs() {
    let (_oidc, _peer, env) = require!(stack("bob"), STACK);
    env.run(&["logout"]).ok();
    env.run(&["query", "-c", "orders", "SELECT c.id FROM c"])
        .code(3)
        .stderr_has("cosmoscope login");
    env.run(&["ls"]).code(3);
}

#[test]
fn doctor_checks_cosmos_with_the_profiles_credential() {
    let (_oidc, _peer, env) = require!(stack("bob"), STACK);
    let run = env.run(&["doctor", "-o", "json"]);
    run.ok();
    let v = run.json();
    let cosmos = v["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == "cosmos")
        .cloned()
        .expect("a cosmos check");
    assert_eq!(cosmos["ok"], true, "{v}");
}

/// Faults a real Cosmos DB produces, injected by the peer, each with a defined outcome: transient
/// ones (503, 410, a connection reset mid-response) are retried and the query completes with every
/// document; a truncated body and sustained throttling fail with exit 1, a clear cause and nothing
/// half-printed on stdout; every run is audited.
#[test]
fn cosmos_faults_have_defined_outcomes() {
    let (_oidc, peer, env) = require!(stack("bob"), STACK);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let inject = |fault: Value| {
        rt.block_on(peer.clear_faults());
        rt.block_on(peer.reset_stats());
        rt.block_on(peer.fault(fault));
    };
    let applied = || {
        rt.block_on(peer.stats())["faults_applied"]
            .as_u64()
            .unwrap_or(0)
    };
    let query = || {
        env.run(&[
            "query",
            "-c",
            "orders",
            "-o",
            "ndjson",
            "SELECT c.id FROM c",
        ])
    };
    for transient in [
        json!({"status": 503, "count": 1, "path_contains": "/docs"}),
        json!({"status": 410, "count": 1, "path_contains": "/docs"}),
        json!({"reset": true, "count": 1, "path_contains": "/docs"}),
    ] {
        inject(transient.clone());
        let run = query();
        run.ok();
        assert_eq!(
            run.stdout.lines().count(),
            30,
            "{transient}: every document after the retry"
        );
        assert_eq!(applied(), 1, "{transient} was served");
    }
    inject(json!({"truncate": true, "count": 1, "path_contains": "/docs"}));
    let run = query();
    run.code(1)
        .stderr_has("failed to deserialize")
        .stderr_has("hint:");
    assert!(run.stdout.is_empty(), "nothing half-printed");
    inject(json!({"status": 429, "retry_after_ms": 20, "count": 50, "path_contains": "/docs"}));
    env.run(&["query", "-c", "orders", "SELECT c.id FROM c"])
        .code(1)
        .stderr_has("throttling");
    let errors = env
        .audit()
        .iter()
        .filter(|r| r["action"] == "query" && r["decision"] == "error")
        .count();
    assert_eq!(errors, 2);
}

/// Load: twenty `query` processes at once against the local server, each with its own parameter.
/// Every one returns exactly what the second client returns, and the shared audit log ends with
/// twenty whole records (appends from concurrent processes never interleave).
#[test]
fn twenty_concurrent_queries_each_get_their_own_answer() {
    let (oidc, peer, env) = require!(stack("bob"), STACK);
    let sql = "SELECT c.id, c.total FROM c WHERE c.total > @min";
    let before = env.audit().len();
    let children: Vec<_> = (0..20)
        .map(|i| {
            let min = format!("min={}", i * 5);
            env.spawn(&[
                "query", "-c", "orders", "-o", "ndjson", sql, "--param", &min,
            ])
        })
        .collect();
    for (i, child) in children.into_iter().enumerate() {
        let run = env.record(child.wait_with_output().expect("wait"));
        run.ok();
        let expected = peer.pyquery("shop", "orders", sql, &[("@min", json!(i * 5))], None);
        assert_eq!(
            by_id(parse_ndjson(run.stdout.as_bytes())),
            by_id(expected),
            "query {i}"
        );
    }
    let records = env.audit();
    let new: Vec<_> = records[before..]
        .iter()
        .filter(|r| r["action"] == "query")
        .collect();
    assert_eq!(new.len(), 20, "one audit record per query");
    assert!(new.iter().all(|r| r["decision"] == "allowed"), "{new:?}");
    assert_eq!(
        oidc.token_requests("refresh_token"),
        0,
        "no refresh was needed"
    );
}

/// A stalled response: the server accepts the request and then says nothing. One stall costs one
/// `request_timeout` and the request is retried to a complete answer; a server that keeps stalling
/// is a clear, audited error after a bounded time, never a hang.
#[test]
fn a_stalled_response_times_out() {
    let (_oidc, peer, env) = require!(stack("bob"), STACK);
    let cfg = std::fs::read_to_string(env.config_file()).expect("config");
    env.write_config(&cfg.replace(
        "http2 = false\n",
        "http2 = false\nrequest_timeout = \"2s\"\n",
    ));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let query = || {
        env.run(&[
            "query",
            "-c",
            "orders",
            "-o",
            "ndjson",
            "SELECT c.id FROM c",
        ])
    };
    rt.block_on(peer.fault(json!({"stall_ms": 8000, "count": 1, "path_contains": "/docs"})));
    let run = query();
    run.ok();
    assert_eq!(
        run.stdout.lines().count(),
        30,
        "the retried request answered in full"
    );
    rt.block_on(peer.clear_faults());
    rt.block_on(peer.fault(json!({"stall_ms": 8000, "count": 100, "path_contains": "/docs"})));
    let run = query();
    run.code(1)
        .stderr_has("Cosmos DB did not answer in time")
        .stderr_has("timed out")
        .stderr_has("hint:")
        .stderr_has("request_timeout");
    assert!(run.stdout.is_empty(), "nothing half-printed");
    rt.block_on(peer.clear_faults());
    let last = env.audit().last().cloned().expect("audited");
    assert_eq!(last["decision"], "error", "{last}");
    assert!(
        last["cause"]
            .as_str()
            .is_some_and(|c| c.contains("did not answer in time")),
        "{last}"
    );
    // A bad value is a located config error, and nothing runs.
    env.write_config(&cfg.replace(
        "http2 = false\n",
        "http2 = false\nrequest_timeout = \"5m\"\n",
    ));
    query()
        .code(1)
        .stderr_has("request_timeout must be between 1s and 65s");
}

/// A grant pinned to several keys: each key is queried and the rows put one after the other, which
/// is the query's answer only when the answer is a set of rows. An ORDER BY, TOP, DISTINCT,
/// OFFSET/LIMIT, GROUP BY or aggregate would be computed per key (TOP 2 over two keys gave four
/// rows, COUNT two counts): refused with exit 2 rather than answered wrong.
#[test]
fn several_pinned_keys_answer_as_one_query() {
    let (_oidc, peer, env) = require!(stack("alice"), STACK);
    std::fs::write(
        env.config_dir().join("policy.toml"),
        "[[roles]]\nname = \"regional\"\nwhen = { claim = \"https://cosmoscope.test/roles\", contains = \"support\" }\n  [[roles.grants]]\n  database = \"shop\"\n  containers = [\"orders\"]\n  actions = [\"query\"]\n  partition_key = { values = [\"t1\", \"t2\"] }\n",
    )
    .expect("policy");
    let run = env.run(&[
        "query",
        "--container",
        "orders",
        "-o",
        "ndjson",
        "SELECT c.id, c.tenant_id FROM c",
    ]);
    run.ok();
    let docs = parse_ndjson(run.stdout.as_bytes());
    assert_eq!(
        tenants(&docs),
        BTreeSet::from(["t1".to_string(), "t2".to_string()])
    );
    let mut expected = peer.pyquery(
        "shop",
        "orders",
        "SELECT c.id, c.tenant_id FROM c",
        &[],
        Some(&json!("t1")),
    );
    expected.extend(peer.pyquery(
        "shop",
        "orders",
        "SELECT c.id, c.tenant_id FROM c",
        &[],
        Some(&json!("t2")),
    ));
    assert_eq!(docs.len(), expected.len());
    // Whole-result shapes are one logical query over both keys, not one answer per key.
    let run = env.run(&[
        "query",
        "--container",
        "orders",
        "-o",
        "ndjson",
        "SELECT VALUE COUNT(1) FROM c",
    ]);
    run.ok();
    assert_eq!(
        parse_ndjson(run.stdout.as_bytes()),
        vec![json!(expected.len())],
        "one count over both keys"
    );
    // One key at a time is exact.
    let run = env.run(&[
        "query",
        "--container",
        "orders",
        "-o",
        "ndjson",
        "--partition-key",
        "\"t2\"",
        "SELECT VALUE COUNT(1) FROM c",
    ]);
    run.ok();
    let count = peer.pyquery(
        "shop",
        "orders",
        "SELECT VALUE COUNT(1) FROM c",
        &[],
        Some(&json!("t2")),
    );
    assert_eq!(parse_ndjson(run.stdout.as_bytes()), count);
}

/// Least privilege: a Data Reader role assigned on one container (the peer checks data-plane
/// RBAC per scope, 403/5301 otherwise) is enough for every query on it — one key, several keys,
/// aggregates merged across partitions — while listing the database's containers is refused with
/// the role and scope it lacks and the `az` command that grants it.
#[test]
fn a_container_scoped_reader_role_can_query_and_is_told_what_listing_needs() {
    let (_oidc, peer, env) = require!(stack("bob"), STACK);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(peer.rbac(json!({
        "bob": [{"role": "reader", "scope": "/dbs/shop/colls/orders"}]
    })));
    for sql in [
        "SELECT c.id FROM c WHERE c.tenant_id = 't1'",
        "SELECT c.id, c.total FROM c ORDER BY c.total DESC",
        "SELECT c.status, COUNT(1) AS n FROM c GROUP BY c.status",
        "SELECT VALUE COUNT(1) FROM c",
    ] {
        let run = env.run(&["query", "-c", "orders", "-o", "ndjson", sql]);
        run.ok();
        assert!(!run.stdout.trim().is_empty(), "{sql}: an answer");
    }
    let run = env.run(&["ls", "containers"]);
    run.code(5)
        .stderr_has("/dbs/shop")
        .stderr_has("az cosmosdb sql role assignment create");
    // The same role on another container reads nothing here.
    rt.block_on(peer.rbac(json!({
        "bob": [{"role": "reader", "scope": "/dbs/shop/colls/customers"}]
    })));
    let run = env.run(&[
        "query",
        "-c",
        "orders",
        "-o",
        "ndjson",
        "SELECT VALUE COUNT(1) FROM c",
    ]);
    assert_ne!(run.code, 0);
    assert!(run.stdout.trim().is_empty());
    assert!(
        run.stderr.contains("/dbs/shop/colls/orders"),
        "{}",
        run.stderr
    );
}
