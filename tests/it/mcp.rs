//! `cosmoscope mcp` (issue 17, first slice): an MCP server on stdio that gives an agent the
//! person's grants and nothing more, driven by the official Python MCP client SDK and by raw
//! JSON-RPC lines, against the real local peers.

use std::io::{BufRead as _, Write as _};
use std::process::Stdio;

use serde_json::{Value, json};

use crate::fixtures::{stack, venv_python};
use crate::harness::{BIN, STACK, TestEnv};
use crate::require;

/// Runs the Python SDK's client against `cosmoscope mcp` in `env` with `calls`.
fn drive(env: &TestEnv, calls: &Value, server_args: &[&str]) -> Value {
    drive_answering(env, calls, server_args, None)
}

/// [`drive`] with a client that answers the server's confirmation requests (`accept` or
/// `decline`); without one it cannot be asked.
fn drive_answering(
    env: &TestEnv,
    calls: &Value,
    server_args: &[&str],
    answer: Option<&str>,
) -> Value {
    let client = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/mcp/client.py");
    let bin = std::fs::canonicalize(BIN).expect("the binary");
    let mut cmd = env.cmd_of(venv_python().to_str().expect("utf8"));
    if let Some(a) = answer {
        cmd.env("MCP_ELICIT", a);
    }
    let out = cmd
        .arg(client)
        .arg(bin)
        .arg(calls.to_string())
        .args(server_args)
        .output()
        .expect("the MCP client");
    assert!(
        out.status.success(),
        "client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the client's JSON")
}

#[test]
fn an_agent_gets_the_persons_grants_and_nothing_more() {
    let (oidc, peer, env) = require!(stack("alice"), STACK);
    let sql = "SELECT c.id, c.tenant_id FROM c";
    let calls = json!([
        {"tool": "whoami"},
        {"tool": "list_containers"},
        {"tool": "query", "arguments": {"container": "orders", "sql": sql}},
        {"tool": "query", "arguments": {"container": "customers", "sql": "SELECT c.card_number FROM c"}},
        {"tool": "explain_query", "arguments": {"container": "customers", "sql": "SELECT c.card_number FROM c"}},
        {"tool": "query", "arguments": {"container": "orders", "sql": sql, "max_items": 2}},
        {"tool": "query", "arguments": {"container": "orders", "sql": sql, "partition_key": "t2"}},
        {"tool": "get_item", "arguments": {"container": "orders", "id": "o1", "partition_key": "t1"}},
        {"tool": "query", "arguments": {"container": "orders", "sql": 5}},
    ]);
    let out = drive(&env, &calls, &[]);
    let version = out["server"]["protocolVersion"]
        .as_str()
        .unwrap_or_default();
    assert!(
        ["2025-11-25", "2025-06-18"].contains(&version),
        "{}",
        out["server"]
    );

    // Tools, with schemas and annotations.
    let tools = out["tools"].as_array().expect("tools");
    let names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "whoami",
            "list_containers",
            "explain_query",
            "query",
            "get_item"
        ]
    );
    for t in tools {
        assert_eq!(t["inputSchema"]["type"], "object", "{t}");
        assert_eq!(t["outputSchema"]["type"], "object", "{t}");
        assert_eq!(t["annotations"]["readOnlyHint"], true, "{t}");
        assert_eq!(t["annotations"]["destructiveHint"], false, "{t}");
    }
    let query_tool = tools.iter().find(|t| t["name"] == "query").expect("query");
    assert_eq!(
        query_tool["inputSchema"]["required"],
        json!(["container", "sql"])
    );

    let call = |i: usize| &out["calls"][i];
    // whoami: the grant, with alice's own partition.
    assert_eq!(call(0)["structured"]["subject"], "alice", "{}", call(0));
    assert_eq!(
        call(0)["structured"]["grants"][0]["partition_key"]["values"],
        json!(["t1"])
    );
    // list_containers: what the grants name.
    let mut containers: Vec<&str> = call(1)["structured"]["containers"]
        .as_array()
        .expect("containers")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    containers.sort_unstable();
    assert_eq!(containers, ["customers", "orders"]);
    // query: the same documents as `cosmoscope query -o json`, only alice's tenant.
    let cli = env.run(&["query", "-c", "orders", "-o", "json", sql]);
    cli.ok();
    let cli_docs: Value = serde_json::from_str(&cli.stdout).expect("json");
    assert_eq!(call(2)["isError"], false, "{}", call(2));
    assert_eq!(call(2)["structured"]["items"], cli_docs);
    assert_eq!(call(2)["structured"]["truncated"], false);
    assert!(
        cli_docs
            .as_array()
            .is_some_and(|d| !d.is_empty() && d.iter().all(|x| x["tenant_id"] == "t1"))
    );
    // A denied field: a tool error with the policy's reasons, not a protocol error.
    assert_eq!(call(3)["isError"], true, "{}", call(3));
    assert!(
        call(3)["text"]
            .as_str()
            .is_some_and(|t| t.contains("card_number") && t.contains("\"denied\":true")),
        "{}",
        call(3)
    );
    assert_eq!(call(4)["structured"]["allowed"], false, "{}", call(4));
    // Over the cap: cut, and says how to narrow.
    assert_eq!(
        call(5)["structured"]["items"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(call(5)["structured"]["truncated"], true);
    assert!(
        call(5)["structured"]["note"]
            .as_str()
            .is_some_and(|n| n.contains("narrow"))
    );
    // Another tenant's partition: denied.
    assert_eq!(call(6)["isError"], true, "{}", call(6));
    // A point read of a whole document with denied fields: denied.
    assert_eq!(call(7)["isError"], true, "{}", call(7));
    // A wrong argument type: a tool error, nothing run.
    assert_eq!(call(8)["isError"], true, "{}", call(8));
    assert!(
        call(8)["text"]
            .as_str()
            .is_some_and(|t| t.contains("sql must be a string"))
    );

    // No token of the session in anything the agent saw.
    let seen = out.to_string();
    for token in crate::fixtures::stored_tokens(&env, &oidc.issuer) {
        assert!(!seen.contains(&token), "a token reached the agent");
        if let Some(sig) = token.split('.').nth(2).filter(|s| s.len() > 16) {
            assert!(!seen.contains(sig), "a token's signature reached the agent");
        }
    }
    // Every call audited with via mcp and the client's name and version.
    let mcp_records: Vec<Value> = env
        .audit()
        .into_iter()
        .filter(|r| r["via"] == "mcp")
        .collect();
    assert_eq!(mcp_records.len(), 9, "{mcp_records:?}");
    assert!(
        mcp_records
            .iter()
            .all(|r| r["client"] == "pytest-agent/9.1" && r["subject"] == "alice")
    );
    assert!(mcp_records.iter().any(|r| r["decision"] == "denied"));
    let _ = peer;
}

/// Raw JSON-RPC: garbage, batches, huge lines, unknown methods and tools get JSON-RPC errors (or a
/// tool error), never a crash, and nothing runs; stdout carries protocol messages only; the server
/// ends when stdin closes.
#[test]
fn malformed_messages_get_errors_and_the_server_ends_with_stdin() {
    let (_oidc, _peer, env) = require!(stack("alice"), STACK);
    let mut child = env
        .cmd()
        .arg("mcp")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cosmoscope mcp");
    let huge = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"ping\",\"params\":{{\"x\":\"{}\"}}}}",
        "a".repeat(2 << 20)
    );
    let lines = [
        "not json".to_string(),
        "[]".to_string(),
        huge,
        r#"{"jsonrpc":"2.0","id":1,"method":"server/discover"}"#.to_string(),
        r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"whoami"}}"#.to_string(),
        r#"{"jsonrpc":"2.0","id":2,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}"#.to_string(),
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_string(),
        r#"{"jsonrpc":"2.0","id":8,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{"elicitation":{}},"clientInfo":{"name":"impostor","version":"0"}}}"#.to_string(),
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"drop_database","arguments":{}}}"#.to_string(),
        r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"query","arguments":"SELECT"}}"#.to_string(),
        r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"query","arguments":{"container":"orders"}}}"#.to_string(),
        r#"{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}"#.to_string(),
        r#"{"jsonrpc":"2.0","id":6,"method":"ping"}"#.to_string(),
    ];
    {
        let mut stdin = child.stdin.take().expect("stdin");
        for l in &lines {
            stdin.write_all(l.as_bytes()).expect("write");
            stdin.write_all(b"\n").expect("write");
        }
    } // stdin closes here: the server must end
    let out = child.wait_with_output().expect("exit");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let replies: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(&l.expect("utf8")).expect("only JSON-RPC on stdout"))
        .collect();
    let code = |i: usize| replies[i]["error"]["code"].as_i64();
    assert_eq!(code(0), Some(-32700), "{:?}", replies[0]);
    assert_eq!(code(1), Some(-32600), "{:?}", replies[1]);
    assert_eq!(code(2), Some(-32600), "{:?}", replies[2]);
    assert_eq!(
        (replies[3]["id"].clone(), code(3)),
        (json!(1), Some(-32601))
    );
    // Nothing runs before the handshake; a second handshake is refused.
    assert_eq!(
        (replies[4]["id"].clone(), code(4)),
        (json!(7), Some(-32600))
    );
    assert_eq!(replies[5]["result"]["protocolVersion"], "2025-06-18");
    assert_eq!(
        (replies[6]["id"].clone(), code(6)),
        (json!(8), Some(-32600))
    );
    assert_eq!(
        (replies[7]["id"].clone(), code(7)),
        (json!(3), Some(-32602))
    );
    assert_eq!(
        (replies[8]["id"].clone(), code(8)),
        (json!(4), Some(-32602))
    );
    assert_eq!(replies[9]["result"]["isError"], true, "{:?}", replies[9]);
    assert_eq!(code(10), Some(-32600));
    assert_eq!(replies[11]["id"], 6);
    assert_eq!(replies.len(), 12);
    let ran: Vec<Value> = env
        .audit()
        .into_iter()
        .filter(|r| r["via"] == "mcp" && r["decision"] != "error")
        .collect();
    assert!(ran.is_empty(), "nothing ran: {ran:?}");
}

/// Writes: not offered without `--allow-writes`; with it, each call is confirmed by the person
/// through the client (MCP elicitation) — accepted writes, declined does not, and a client that
/// cannot ask is refused with the reason.
#[test]
fn writes_need_allow_writes_and_the_persons_confirmation() {
    let (_oidc, peer, env) = require!(stack("bob"), STACK);
    let upsert = json!({"tool": "upsert_item", "arguments": {"container": "orders", "partition_key": "t9", "document": {"id": "agent-1", "tenant_id": "t9", "total": 5}}});
    let stored = || {
        peer.pyquery(
            "shop",
            "orders",
            "SELECT * FROM c WHERE c.id = 'agent-1'",
            &[],
            Some(&json!("t9")),
        )
    };
    // Without --allow-writes the tool does not exist: the SDK's call fails, nothing is written.
    let out = drive(&env, &json!([{"tool": "whoami"}]), &[]);
    assert!(
        out["tools"]
            .as_array()
            .is_some_and(|t| t.iter().all(|t| t["annotations"]["readOnlyHint"] == true))
    );
    // With it, but a client that cannot ask its person: refused with the reason.
    let out = drive(&env, &json!([upsert.clone()]), &["--allow-writes"]);
    assert_eq!(out["calls"][0]["isError"], true, "{}", out["calls"][0]);
    assert!(
        out["calls"][0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("confirmation"))
    );
    assert!(stored().is_empty());
    let out = drive_answering(
        &env,
        &json!([upsert.clone()]),
        &["--allow-writes"],
        Some("decline"),
    );
    assert_eq!(out["calls"][0]["isError"], true, "{}", out["calls"][0]);
    assert!(
        out["asked"][0]
            .as_str()
            .is_some_and(|m| m.contains("agent-1") && m.contains("pytest-agent")),
        "{}",
        out["asked"]
    );
    assert!(stored().is_empty(), "a declined write changes nothing");
    let out = drive_answering(
        &env,
        &json!([upsert, {"tool": "delete_item", "arguments": {"container": "orders", "id": "agent-1", "partition_key": "t9"}}]),
        &["--allow-writes"],
        Some("accept"),
    );
    assert_eq!(
        out["calls"][0]["structured"]["status"], "created",
        "{}",
        out["calls"][0]
    );
    assert_eq!(
        out["calls"][1]["structured"]["status"], "deleted",
        "{}",
        out["calls"][1]
    );
    assert_eq!(out["asked"].as_array().map(Vec::len), Some(2));
    assert!(stored().is_empty());
    let tools: Vec<String> = out["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_string))
        .collect();
    assert!(
        tools.contains(&"upsert_item".to_string()) && tools.contains(&"delete_item".to_string())
    );
    let writes: Vec<Value> = env
        .audit()
        .into_iter()
        .filter(|r| {
            r["via"] == "mcp" && (r["action"] == "item.upsert" || r["action"] == "item.delete")
        })
        .collect();
    assert_eq!(writes.len(), 4, "{writes:?}");
    let causes: Vec<&str> = writes.iter().filter_map(|r| r["cause"].as_str()).collect();
    assert_eq!(
        causes,
        [
            "the client did not declare the elicitation capability",
            "answer: decline"
        ],
        "{writes:?}"
    );
    assert_eq!(
        writes.iter().filter(|r| r["decision"] == "allowed").count(),
        2,
        "{writes:?}"
    );
}

/// The official TypeScript SDK (@modelcontextprotocol/sdk) as the client: the same tools, the
/// same answers as the CLI, a denial as a tool error, the client named in the audit.
#[test]
fn the_typescript_sdk_gets_the_same_answers() {
    let (_oidc, _peer, env) = require!(stack("alice"), STACK);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/mcp");
    if !dir.join("node_modules").exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "scripts/setup-peers installs the SDK"
        );
        return;
    }
    let sql = "SELECT c.id, c.tenant_id FROM c";
    let calls = json!([
        {"tool": "query", "arguments": {"container": "orders", "sql": sql}},
        {"tool": "query", "arguments": {"container": "customers", "sql": "SELECT c.card_number FROM c"}},
    ]);
    let out = env
        .cmd_of("node")
        .arg(dir.join("client.mjs"))
        .arg(std::fs::canonicalize(BIN).expect("the binary"))
        .arg(calls.to_string())
        .output()
        .expect("node");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        out["tools"].as_array().map(Vec::len),
        Some(5),
        "{}",
        out["tools"]
    );
    let cli = env.run(&["query", "-c", "orders", "-o", "json", sql]);
    cli.ok();
    let cli_docs: Value = serde_json::from_str(&cli.stdout).expect("json");
    assert_eq!(
        out["calls"][0]["structured"]["items"], cli_docs,
        "{}",
        out["calls"][0]
    );
    assert_eq!(out["calls"][1]["isError"], true, "{}", out["calls"][1]);
    assert!(
        out["calls"][1]["text"]
            .as_str()
            .is_some_and(|t| t.contains("card_number"))
    );
    assert!(
        env.audit()
            .iter()
            .any(|r| r["via"] == "mcp" && r["client"] == "ts-agent/4.2")
    );
}

/// A grant with `require_fido2`: an agent's call runs only after the person touches the security
/// key (the server's step-up, without a terminal — its notice on stderr); a touch on record that
/// is old does not count.
#[test]
fn a_grant_that_needs_a_key_touch_gets_one_before_the_agents_call() {
    require!(crate::fido2_fuse::available(), "/dev/fuse and root");
    let (oidc, _peer, env) = require!(stack("alice"), STACK);
    let node = match crate::fido2_fuse::HidNode::mount(
        crate::soft_authenticator::SoftAuthenticator::default(),
    ) {
        Ok(n) => n,
        Err(e) => {
            assert!(std::env::var_os("CI").is_none(), "CI cannot mount: {e}");
            return;
        }
    };
    let device = node.path_str();
    let policy = crate::fixtures::POLICY.replacen(
        "  max_items = 1000\n",
        "  max_items = 1000\n  require_fido2 = true\n",
        1,
    );
    std::fs::write(env.config_dir().join("policy.toml"), policy).expect("policy");
    env.run(&["key", "enroll", "--device", &device, "--label", "blue"])
        .ok();
    // A login with the key enrolled seals the session; then its touch is made old.
    env.run(&["logout"]).ok();
    crate::fixtures::login_with(&env, &["--device", &device], |code| {
        oidc.approve(code, "alice");
    })
    .ok();
    let (store, paths, mut secrets) = crate::fixtures::vault(&env, &oidc.issuer);
    secrets.fido2_at = Some(1_000_000_000);
    secrets.save(&store, &paths).expect("save");
    let sql = "SELECT c.id, c.tenant_id FROM c";
    // Without a terminal the CLI cannot ask for the touch…
    env.run(&["query", "-c", "orders", sql])
        .code(3)
        .stderr_has("recent touch");
    let calls = json!([{"tool": "query", "arguments": {"container": "orders", "sql": sql}}]);
    let client = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/mcp/client.py");
    let out = env
        .cmd_of(venv_python().to_str().expect("utf8"))
        .env("COSMOSCOPE_FIDO2_DEVICE", &device)
        .arg(client)
        .arg(std::fs::canonicalize(BIN).expect("bin"))
        .arg(calls.to_string())
        .output()
        .expect("client");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out: Value = serde_json::from_slice(&out.stdout).expect("json");
    let call = &out["calls"][0];
    assert_eq!(call["isError"], false, "{call}");
    assert!(
        call["structured"]["items"]
            .as_array()
            .is_some_and(|d| !d.is_empty() && d.iter().all(|x| x["tenant_id"] == "t1")),
        "{call}"
    );
    let step_ups = env
        .audit()
        .iter()
        .filter(|r| r["action"] == "step_up")
        .count();
    assert_eq!(step_ups, 1, "one touch, asked for by the server");
}

/// A gateway profile: the agent's calls go through `cosmoscope serve`, which decides on the
/// session's token — the same tools, the same answers, no Cosmos credential or policy on this side.
#[test]
fn through_a_gateway_profile_the_gateway_decides() {
    let (oidc, peer, env) = require!(stack("alice"), STACK);
    let gw = crate::gateway::start(&env, &oidc.issuer, &peer.endpoint, &peer.key);
    let sql = "SELECT c.id, c.tenant_id FROM c";
    let direct = env.run(&["query", "-c", "orders", "-o", "json", sql]);
    direct.ok();
    let direct: Value = serde_json::from_str(&direct.stdout).expect("json");
    crate::gateway::gateway_profile(&env, &gw.url);
    let calls = json!([
        {"tool": "whoami"},
        {"tool": "list_containers"},
        {"tool": "query", "arguments": {"container": "orders", "sql": sql}},
        {"tool": "query", "arguments": {"container": "orders", "sql": sql, "max_items": 2}},
        {"tool": "query", "arguments": {"container": "customers", "sql": "SELECT c.card_number FROM c"}},
        {"tool": "explain_query", "arguments": {"container": "customers", "sql": "SELECT c.card_number FROM c"}},
        {"tool": "get_item", "arguments": {"container": "orders", "id": "o1", "partition_key": "t1"}},
    ]);
    let out = drive(&env, &calls, &[]);
    let call = |i: usize| &out["calls"][i];
    assert_eq!(call(0)["structured"]["subject"], "alice", "{}", call(0));
    assert!(
        call(1)["structured"]["containers"]
            .to_string()
            .contains("orders"),
        "{}",
        call(1)
    );
    assert_eq!(call(2)["structured"]["items"], direct, "{}", call(2));
    assert_eq!(call(3)["structured"]["truncated"], true, "{}", call(3));
    assert_eq!(
        call(3)["structured"]["items"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(call(4)["isError"], true, "{}", call(4));
    assert!(
        call(4)["text"]
            .as_str()
            .is_some_and(|t| t.contains("card_number"))
    );
    assert_eq!(call(5)["structured"]["allowed"], false, "{}", call(5));
    assert_eq!(call(6)["isError"], true, "{}", call(6));
    let records: Vec<Value> = env
        .audit()
        .into_iter()
        .filter(|r| r["via"] == "mcp")
        .collect();
    assert_eq!(records.len(), 7, "{records:?}");
    assert!(records.iter().all(|r| {
        r["detail"]
            .as_str()
            .is_some_and(|d| d.contains("via gateway"))
    }));
}
