//! `cosmoscope serve` (issue 16, first slice): the gateway holds the Cosmos credential, verifies
//! every caller's bearer token itself and decides on its claims alone.

use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader};
use std::process::{Child, Stdio};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::cosmos_peer::{JwtKeys, certs};
use crate::fixtures::{POLICY, stack, stored_tokens};
use crate::harness::{STACK, TestEnv};
use crate::require;

const AUDIENCE: &str = "https://cosmos-gateway.test";

pub struct Gateway {
    child: Child,
    pub url: String,
    /// The server's log lines (the lines of its stdout that carry a `level`), one at a time.
    log: std::sync::mpsc::Receiver<String>,
    /// The rest of its stdout (its audit records), read as it comes so the pipe never fills; the
    /// whole text once the server has exited.
    audit: Option<std::thread::JoinHandle<String>>,
    /// Its stderr, whole once it has exited (nothing, unless it failed).
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Gateway {
    /// One request to `path` on this gateway (see [`call`]).
    fn call(
        &self,
        rt: &tokio::runtime::Runtime,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, reqwest::header::HeaderMap, String) {
        call(rt, method, &format!("{}{path}", self.url), token, body)
    }

    /// The audit records the server wrote to stdout, once it has exited.
    fn audit_after_exit(&mut self) -> String {
        whole(&mut self.audit)
    }

    /// What the server wrote to stderr, once it has exited.
    fn stderr_after_exit(&mut self) -> String {
        whole(&mut self.stderr)
    }
}

/// The text a reader thread collected, once its stream has ended (taken once).
fn whole(reader: &mut Option<std::thread::JoinHandle<String>>) -> String {
    reader
        .take()
        .expect("read once")
        .join()
        .expect("the reader thread")
}

impl Gateway {
    /// Waits (at most 20 s) for the log line that has `key`.
    fn event(&self, key: &str) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = self
                .log
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no {key:?} line from the gateway"));
            if let Ok(v) = serde_json::from_str::<Value>(&line)
                && v.get(key).is_some()
            {
                return v;
            }
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start(env: &TestEnv, issuer: &str, endpoint: &str, key: &str) -> Gateway {
    start_with(env, issuer, endpoint, key, "listen = \"127.0.0.1:0\"\n")
}

/// A gateway whose configuration starts with `head` (listen address, TLS files).
fn start_with(env: &TestEnv, issuer: &str, endpoint: &str, key: &str, head: &str) -> Gateway {
    let dir = env.config_dir();
    std::fs::write(dir.join("gateway-policy.toml"), POLICY).expect("policy");
    std::fs::write(
        dir.join("gateway.toml"),
        format!(
            "[server]\n{head}issuer = \"{issuer}\"\naudience = \"{AUDIENCE}\"\nroles_claim = \"https://cosmoscope.test/roles\"\npolicy = \"gateway-policy.toml\"\n\n[server.cosmos]\nendpoint = \"{endpoint}\"\ndatabase = \"shop\"\nhttp2 = false\n"
        ),
    )
    .expect("gateway.toml");
    let mut child = env
        .cmd()
        .args(["serve", "--config"])
        .arg(dir.join("gateway.toml"))
        .env("COSMOSCOPE_GATEWAY_ACCOUNT_KEY", key)
        .env("SSL_CERT_FILE", &certs().ca)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cosmoscope serve");
    // stdout carries both: log lines have a `level`, audit records never do.
    let stdout = child.stdout.take().expect("stdout");
    let (tx, log) = std::sync::mpsc::channel();
    let audit = std::thread::spawn(move || {
        let mut audit = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let is_log =
                serde_json::from_str::<Value>(&line).is_ok_and(|v| v.get("level").is_some());
            if is_log {
                let _ = tx.send(line);
            } else {
                audit.push_str(&line);
                audit.push('\n');
            }
        }
        audit
    });
    let stderr = child.stderr.take().expect("stderr");
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut text);
        text
    });
    let mut gw = Gateway {
        child,
        url: String::new(),
        log,
        audit: Some(audit),
        stderr: Some(stderr),
    };
    gw.url = gw.event("listening")["listening"]
        .as_str()
        .expect("listening")
        .to_string();
    gw
}

fn call(
    rt: &tokio::runtime::Runtime,
    method: reqwest::Method,
    url: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, reqwest::header::HeaderMap, String) {
    rt.block_on(async {
        let mut req = reqwest::Client::new().request(method, url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("gateway answers");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        (status, headers, resp.text().await.unwrap_or_default())
    })
}

/// A current-thread runtime for the test's own HTTP calls.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// A query's NDJSON answer: its documents, and its trailer (`_cosmoscope`), which must be last.
fn stream(body: &str) -> (Vec<Value>, Value) {
    let mut lines: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).expect("ndjson"))
        .collect();
    let last = lines.pop().expect("a trailer line");
    let trailer = last
        .get("_cosmoscope")
        .cloned()
        .unwrap_or_else(|| panic!("the last line is the trailer: {last}"));
    (lines, trailer)
}

/// A token with its payload changed and the signature kept.
fn tampered(token: &str) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims: Value =
        serde_json::from_slice(&b64.decode(parts[1]).expect("b64")).expect("json");
    claims["sub"] = json!("mallory");
    claims["https://cosmoscope.test/roles"] = json!(["admin"]);
    format!(
        "{}.{}.{}",
        parts[0],
        b64.encode(claims.to_string()),
        parts[2]
    )
}

/// The same token under a header that names key `kid`.
fn with_kid(token: &str, kid: &str) -> String {
    let (head, rest) = token.split_once('.').expect("a JWT");
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut header: Value = serde_json::from_slice(&b64.decode(head).expect("b64")).expect("json");
    header["kid"] = json!(kid);
    format!("{}.{rest}", b64.encode(header.to_string()))
}

/// The same claims, `alg: none`, no signature.
fn unsigned(token: &str) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!(
        "{}.{}.",
        b64.encode(r#"{"alg":"none","typ":"JWT"}"#),
        parts[1]
    )
}

#[test]
fn the_gateway_verifies_every_token_and_decides_on_its_claims_alone() {
    let (oidc, peer, env) = require!(stack("alice"), STACK);
    let gw = start(&env, &oidc.issuer, &peer.endpoint, &peer.key);
    let rt = runtime();
    let tokens = stored_tokens(&env, &oidc.issuer);
    let (access, id) = (tokens[0].clone(), tokens.last().cloned().expect("id token"));
    let query = |token: Option<&str>, body: Value| {
        gw.call(&rt, reqwest::Method::POST, "/v1/query", token, Some(body))
    };

    let (status, _, body) = gw.call(&rt, reqwest::Method::GET, "/healthz", None, None);
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = gw.call(&rt, reqwest::Method::GET, "/v1/whoami", Some(&access), None);
    assert_eq!(status, 200, "{body}");
    let me: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(me["subject"], "alice");
    // What the grants allow, with the claim's scope resolved to alice's own tenant.
    let grant = &me["grants"][0];
    assert_eq!(grant["role"], "support", "{me}");
    assert_eq!(grant["actions"], json!(["query", "read"]), "{me}");
    assert_eq!(grant["partition_key"]["values"], json!(["t1"]), "{me}");
    assert_eq!(
        grant["deny_fields"],
        json!(["card_number", "customer.ssn"]),
        "{me}"
    );
    assert_eq!(me["grants"].as_array().map(Vec::len), Some(1), "{me}");

    // The main job: alice's query is pinned to her tenant (t1) by the gateway's policy.
    let sql = "SELECT c.id, c.tenant_id FROM c";
    let (status, headers, body) =
        query(Some(&access), json!({"container": "orders", "query": sql}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["content-type"], "application/x-ndjson");
    let (items, end) = stream(&body);
    assert_eq!(end["items"], json!(items.len()), "{end}");
    assert!(end.get("error").is_none(), "{end}");
    assert!(items.iter().all(|d| d["tenant_id"] == "t1"), "{items:?}");
    let expected = peer.pyquery("shop", "orders", sql, &[], Some(&json!("t1")));
    assert_eq!(items.len(), expected.len());

    // Explain: the `policy explain -o json` shape with the gateway's decision.
    let (status, _, body) = gw.call(
        &rt,
        reqwest::Method::POST,
        "/v1/explain",
        Some(&access),
        Some(json!({"container": "customers", "query": "SELECT c.card_number FROM c"})),
    );
    assert_eq!(status, 200, "{body}");
    let explained: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(explained["valid"], true, "{explained}");
    assert_eq!(explained["allowed"], false, "{explained}");
    assert!(
        explained["reasons"].to_string().contains("card_number"),
        "{explained}"
    );

    // Point operations: alice's grant denies fields, so a whole document is not hers to read;
    // writing is not among her actions; names that leave their container are refused.
    let item = |method: reqwest::Method, path: &str, body: Option<Value>| {
        call(
            &rt,
            method,
            &format!("{}/v1/databases/shop/containers/{path}", gw.url),
            Some(&access),
            body,
        )
    };
    let (status, _, body) = item(
        reqwest::Method::GET,
        "orders/items/o1?partition_key=%22t1%22",
        None,
    );
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("card_number"), "{body}");
    let (status, _, body) = item(
        reqwest::Method::PUT,
        "orders/items/evil?partition_key=%22t1%22",
        Some(json!({"tenant_id": "t1"})),
    );
    assert_eq!(status, 403, "{body}");
    let (status, _, body) = item(
        reqwest::Method::DELETE,
        "orders/items/o1?partition_key=%22t1%22",
        None,
    );
    assert_eq!(status, 403, "{body}");
    let (status, _, body) = item(
        reqwest::Method::GET,
        "orders/items/..%2F..%2Fdbs?partition_key=%22t1%22",
        None,
    );
    assert_eq!(status, 400, "{body}");
    let (status, _, body) = item(reqwest::Method::GET, "orders/items/o1", None);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("partition_key"), "{body}");

    // Listings show what the grants name.
    let (status, _, body) = gw.call(
        &rt,
        reqwest::Method::GET,
        "/v1/databases/shop/containers",
        Some(&access),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let mut names: Vec<String> = serde_json::from_str::<Vec<Value>>(&body)
        .expect("json")
        .iter()
        .filter_map(|c| c["id"].as_str().map(str::to_string))
        .collect();
    names.sort();
    assert_eq!(names, ["customers", "orders"]);
    let (status, _, body) = gw.call(
        &rt,
        reqwest::Method::GET,
        "/v1/databases",
        Some(&access),
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("json"),
        json!([{"id": "shop"}])
    );
    let (status, _, _) = gw.call(
        &rt,
        reqwest::Method::GET,
        "/v1/databases/..%2Fx/containers",
        Some(&access),
        None,
    );
    assert_eq!(status, 400);

    // A denied field: 403 with the policy's reasons, nothing read.
    let (status, _, body) = query(
        Some(&access),
        json!({"container": "customers", "query": "SELECT c.card_number FROM c"}),
    );
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("card_number"), "{body}");

    // Tokens the gateway must refuse: 401, RFC 6750 challenge, a cause, nothing run. Expired
    // and wrong-issuer tokens are the provider's own, signed with its real key.
    let other = JwtKeys::generate();
    let foreign = other.sign(AUDIENCE, &oidc.issuer);
    let mut refresh = tokens[1].clone();
    let mut forged = |mode: &str| {
        oidc.admin("forge", json!({"mode": mode, "target": "access_token"}));
        let answer: Value = reqwest::blocking::Client::new()
            .post(format!("{}/token", oidc.issuer))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh.as_str()),
                ("client_id", "cosmoscope-cli"),
            ])
            .send()
            .and_then(reqwest::blocking::Response::json)
            .expect("a refresh");
        if let Some(r) = answer["refresh_token"].as_str() {
            refresh = r.to_string();
        }
        answer["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("an access token: {answer}"))
            .to_string()
    };
    let expired = forged("expired");
    let wrong_issuer = forged("wrong-iss");
    for (what, token) in [
        ("expired", Some(expired)),
        ("another issuer", Some(wrong_issuer)),
        ("no token", None),
        ("garbage", Some("not-a-jwt".to_string())),
        ("tampered claims", Some(tampered(&access))),
        ("alg none", Some(unsigned(&access))),
        ("another audience (the ID token)", Some(id.clone())),
        ("a key the provider never published", Some(foreign)),
    ] {
        let (status, headers, body) = query(
            token.as_deref(),
            json!({"container": "orders", "query": sql}),
        );
        assert_eq!(status, 401, "{what}: {body}");
        let challenge = headers["www-authenticate"].to_str().unwrap_or_default();
        assert!(
            challenge.starts_with("Bearer ") && challenge.contains("invalid_token"),
            "{what}: {challenge}"
        );
        assert!(!body.contains("\"item\""), "{what}: {body}");
        if let Some(t) = &token {
            assert!(
                !body.contains(t.as_str()),
                "{what}: the token is not echoed"
            );
        }
    }

    // Oversized bodies and unknown fields are refused before anything runs.
    let (status, _, _) = query(
        Some(&access),
        json!({"container": "orders", "query": "x".repeat(100_000)}),
    );
    assert_eq!(status, 413);
    let (status, _, body) = query(
        Some(&access),
        json!({"container": "orders", "query": sql, "roles": ["admin"]}),
    );
    assert_eq!(status, 400, "{body}");

    let (status, _, metrics) = gw.call(&rt, reqwest::Method::GET, "/metrics", None, None);
    assert_eq!(status, 200);
    assert!(
        metrics.contains("cosmoscope_denials_total{cause=\"invalid_token\"} 8"),
        "{metrics}"
    );
    // The card_number query, the explain is no denial of a request; the three point operations.
    assert!(
        metrics.contains("cosmoscope_denials_total{cause=\"policy\"} 4"),
        "{metrics}"
    );
}

/// The CLI against a gateway: the profile names the gateway and nothing else of Cosmos DB — no
/// `[cosmos]` credential, no policy file on this side. `query` keeps its output, exit codes and
/// audit record; the gateway decides on the token's claims.
#[test]
fn the_cli_runs_the_main_job_through_a_gateway_without_a_cosmos_credential() {
    let (oidc, peer, env) = require!(stack("alice"), STACK);
    let gw = start(&env, &oidc.issuer, &peer.endpoint, &peer.key);
    let cfg = std::fs::read_to_string(env.config_file()).expect("config");
    let cut = cfg
        .find("\n[profiles.dev.cosmos]")
        .expect("the stack's cosmos section");
    let cfg = cfg[..cut].replacen(
        "[profiles.dev]\n",
        &format!("[profiles.dev]\ngateway = \"{}\"\n", gw.url),
        1,
    );
    assert!(cfg.contains("gateway = "), "{cfg}");
    env.write_config(&cfg);
    std::fs::remove_file(env.config_dir().join("policy.toml")).expect("no local policy");

    let sql = "SELECT c.id, c.tenant_id FROM c";
    let run = env.run(&["query", "-c", "orders", "-o", "ndjson", sql]);
    run.ok();
    let docs = crate::cosmos_peer::parse_ndjson(run.stdout.as_bytes());
    let expected = peer.pyquery("shop", "orders", sql, &[], Some(&json!("t1")));
    assert_eq!(docs.len(), expected.len());
    assert!(docs.iter().all(|d| d["tenant_id"] == "t1"), "{docs:?}");
    assert!(
        run.stderr.contains(&format!("{} items", docs.len())),
        "{}",
        run.stderr
    );

    // `item get` through the gateway: the gateway's policy holds — alice's grant denies fields,
    // so a point read (the whole document) is refused, with the reason, as it is without a
    // gateway; writing is not among her actions.
    let id = docs[0]["id"].as_str().expect("an id").to_string();
    let run = env.run(&[
        "item",
        "get",
        "-c",
        "orders",
        "--partition-key",
        "\"t1\"",
        &id,
    ]);
    run.code(4).stderr_has("denied fields");
    assert!(run.stdout.is_empty());
    let run = env.run_stdin(
        &[
            "item",
            "upsert",
            "-c",
            "orders",
            "--partition-key",
            "\"t1\"",
            "--yes",
            &id,
        ],
        "{}",
    );
    run.code(4).stderr_has("upsert");

    // `ls` lists what the gateway's grants name, in the same shapes as without a gateway.
    let run = env.run(&["ls", "containers", "-o", "json"]);
    run.ok();
    let listed: Vec<Value> = serde_json::from_str(&run.stdout).expect("json");
    let mut names: Vec<&str> = listed.iter().filter_map(|c| c["id"].as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["customers", "orders"]);
    assert_eq!(listed[0]["database"], "shop");
    let run = env.run(&["ls", "databases", "-o", "json"]);
    run.ok();
    assert_eq!(
        serde_json::from_str::<Value>(&run.stdout).expect("json"),
        json!([{"id": "shop"}])
    );

    // `token --resource gateway` hands scripts the session's token for the gateway's API; an
    // independent client (curl) uses it.
    let run = env.run(&["token", "--resource", "gateway", "--format", "raw"]);
    run.ok();
    let token = run.stdout.trim().to_string();
    let out = std::process::Command::new("curl")
        .args(["-sS", "--fail-with-body", "-H"])
        .arg(format!("Authorization: Bearer {token}"))
        .arg(format!("{}/v1/whoami", gw.url))
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let me: Value = serde_json::from_slice(&out.stdout).expect("whoami");
    assert_eq!(me["subject"], "alice");

    // The gateway's denial is the CLI's exit 4, with the policy's reason.
    let run = env.run(&["query", "-c", "customers", "SELECT c.card_number FROM c"]);
    run.code(4).stderr_has("card_number");
    assert!(run.stdout.is_empty());

    let records: Vec<Value> = env
        .audit()
        .into_iter()
        .filter(|r| r["action"] == "query" || r["action"] == "ls")
        .collect();
    assert_eq!(records.len(), 4, "{records:?}");
    let audit = env.audit();
    assert!(
        audit.iter().any(|r| r["detail"]
            .as_str()
            .is_some_and(|d| d.contains("via gateway"))
            && r["cause"].to_string().contains("denied")),
        "the gateway's denial is audited here too: {audit:?}"
    );
    assert!(
        records[0]["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("via gateway")
    );
}

/// Operations: SIGHUP reloads the policy only when the new file is valid; SIGTERM stops the
/// server cleanly; the server's audit records (stdout) name who did what and never hold a token.
#[test]
fn the_gateway_reloads_its_policy_on_sighup_and_stops_cleanly_on_sigterm() {
    let (oidc, peer, env) = require!(stack("alice"), STACK);
    let mut gw = start(&env, &oidc.issuer, &peer.endpoint, &peer.key);
    let rt = runtime();
    let access = stored_tokens(&env, &oidc.issuer)[0].clone();
    let query = || {
        gw.call(
            &rt,
            reqwest::Method::POST,
            "/v1/query",
            Some(&access),
            Some(json!({"container": "orders", "query": "SELECT VALUE COUNT(1) FROM c"})),
        )
        .0
    };
    assert_eq!(query(), 200);
    let signal = |sig: rustix::process::Signal| {
        let pid = rustix::process::Pid::from_raw(i32::try_from(gw.child.id()).expect("pid"))
            .expect("a pid");
        rustix::process::kill_process(pid, sig).expect("signal the gateway");
    };
    let policy = env.config_dir().join("gateway-policy.toml");
    // A policy that names no role of alice's: after SIGHUP her query is denied.
    std::fs::write(
        &policy,
        "[[roles]]\nname = \"admin\"\nwhen = { claim = \"https://cosmoscope.test/roles\", contains = \"admin\" }\n  [[roles.grants]]\n  database = \"shop\"\n  containers = [\"*\"]\n  actions = [\"query\"]\n  partition_key = \"any\"\n",
    )
    .expect("new policy");
    signal(rustix::process::Signal::HUP);
    gw.event("policy_reloaded");
    assert_eq!(query(), 403, "the reloaded policy applies");
    // A broken file is refused and the running policy stays.
    std::fs::write(&policy, "[[roles]]\nname = 3\n").expect("broken policy");
    signal(rustix::process::Signal::HUP);
    gw.event("policy_reload_failed");
    assert_eq!(query(), 403, "still the last valid policy");
    signal(rustix::process::Signal::TERM);
    let stopped = gw.event("stopped");
    assert_eq!(stopped["streams_cut"], 0, "{stopped}");
    let status = gw.child.wait().expect("exit status");
    assert!(status.success(), "{status:?}");
    let audit = gw.audit_after_exit();
    let records: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON record"))
        .collect();
    assert!(records.len() >= 3, "{audit}");
    assert!(records.iter().all(|r| r["subject"] == "alice"), "{audit}");
    assert!(records.iter().any(|r| r["decision"] == "denied"), "{audit}");
    for t in stored_tokens(&env, &oidc.issuer) {
        assert!(!audit.contains(&t), "no token in the audit");
    }
}

/// Off loopback the gateway speaks TLS only: without a certificate the configuration is refused
/// (exit 2, the reason and the way out); with one, clients that trust its CA get in over HTTPS.
#[test]
fn off_loopback_the_gateway_needs_tls_and_serves_https_with_it() {
    let (oidc, peer, env) = require!(stack("alice"), STACK);
    std::fs::write(
        env.config_dir().join("open.toml"),
        format!(
            "[server]\nlisten = \"0.0.0.0:0\"\nissuer = \"{}\"\naudience = \"{AUDIENCE}\"\npolicy = \"policy.toml\"\n[server.cosmos]\nendpoint = \"{}\"\ndatabase = \"shop\"\n",
            oidc.issuer, peer.endpoint
        ),
    )
    .expect("config");
    let config = env.config_dir().join("open.toml");
    let run = env.run(&["serve", "--config", config.to_str().expect("utf8")]);
    run.code(2).stderr_has("loopback").stderr_has("tls_cert");

    let certs = certs();
    let head = format!(
        "listen = \"127.0.0.1:0\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
        certs.cert.display(),
        certs.key.display()
    );
    let gw = start_with(&env, &oidc.issuer, &peer.endpoint, &peer.key, &head);
    assert!(gw.url.starts_with("https://"), "{}", gw.url);
    let access = stored_tokens(&env, &oidc.issuer)[0].clone();
    let rt = runtime();
    let ca = std::fs::read(&certs.ca).expect("ca");
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("pem"))
        .build()
        .expect("client");
    let (status, body) = rt.block_on(async {
        let r = client
            .get(format!("{}/v1/whoami", gw.url))
            .bearer_auth(&access)
            .send()
            .await
            .expect("https answers");
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    });
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("alice"), "{body}");
}

/// Limits: one subject may run `max_concurrent_per_subject` queries at once; beyond that the
/// gateway answers 429 with `Retry-After`, and the query already running is not disturbed.
#[test]
fn a_subject_over_its_concurrent_queries_gets_429_and_the_running_one_finishes() {
    let (oidc, peer, env) = require!(stack("alice"), STACK);
    let gw = start_with(
        &env,
        &oidc.issuer,
        &peer.endpoint,
        &peer.key,
        "listen = \"127.0.0.1:0\"\nlimits = { max_concurrent_per_subject = 1 }\n",
    );
    let rt = runtime();
    let access = stored_tokens(&env, &oidc.issuer)[0].clone();
    // The peer holds the first query's answer for a while.
    rt.block_on(
        peer.fault(
            json!({"stall_ms": 3000, "count": 1, "path_contains": "/docs", "method": "POST"}),
        ),
    );
    let url = format!("{}/v1/query", gw.url);
    let first = {
        let (url, access) = (url.clone(), access.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            call(
                &rt,
                reqwest::Method::POST,
                &url,
                Some(&access),
                Some(json!({"container": "orders", "query": "SELECT c.id FROM c"})),
            )
        })
    };
    // Wait (polling the gateway's own gauge, with a deadline) until the first stream runs.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (_, _, metrics) = gw.call(&rt, reqwest::Method::GET, "/metrics", None, None);
        if metrics.contains("cosmoscope_streams_in_flight 1") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the first query never started: {metrics}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20)); // poll interval
    }
    let (status, headers, body) = call(
        &rt,
        reqwest::Method::POST,
        &url,
        Some(&access),
        Some(json!({"container": "orders", "query": "SELECT c.id FROM c"})),
    );
    assert_eq!(status, 429, "{body}");
    assert!(headers.contains_key("retry-after"));
    let (status, _, body) = first.join().expect("first query");
    assert_eq!(status, 200, "{body}");
    let (_, end) = stream(&body);
    assert!(end.get("error").is_none(), "{end}");
}

/// A gateway profile for `env`: the gateway's URL, no `[cosmos]` table and no local policy file.
pub fn gateway_profile(env: &TestEnv, url: &str) {
    let cfg = std::fs::read_to_string(env.config_file()).expect("config");
    let cut = cfg
        .find("\n[profiles.dev.cosmos]")
        .expect("the stack's cosmos section");
    let cfg = cfg[..cut].replacen(
        "[profiles.dev]\n",
        &format!("[profiles.dev]\ngateway = \"{url}\"\n"),
        1,
    );
    env.write_config(&cfg);
    let _ = std::fs::remove_file(env.config_dir().join("policy.toml"));
}

/// Writes through the gateway: bob (admin) creates, is asked before replacing (refused without a
/// terminal, nothing changed), replaces with --yes, reads it back and deletes it — the same
/// commands, messages and exit codes as without a gateway; the gateway audits each write before
/// it happens. `policy explain` and `status` ask the gateway.
#[test]
fn writes_explain_and_status_go_through_the_gateway() {
    let (oidc, peer, env) = require!(stack("bob"), STACK);
    let gw = start(&env, &oidc.issuer, &peer.endpoint, &peer.key);
    gateway_profile(&env, &gw.url);
    let upsert = |doc: &str, yes: bool| {
        let mut args = vec![
            "item",
            "upsert",
            "-c",
            "orders",
            "--partition-key",
            "\"t9\"",
        ];
        if yes {
            args.push("--yes");
        }
        args.push("gw-1");
        env.run_stdin(&args, doc)
    };
    upsert(r#"{"tenant_id": "t9", "total": 1}"#, false)
        .ok()
        .stderr_has("created");
    let stored = |id: &str| {
        peer.pyquery(
            "shop",
            "orders",
            &format!("SELECT * FROM c WHERE c.id = '{id}'"),
            &[],
            Some(&json!("t9")),
        )
    };
    assert_eq!(stored("gw-1")[0]["total"], 1);
    // It exists now: replacing needs a confirmation, which a pipe cannot give.
    upsert(r#"{"tenant_id": "t9", "total": 2}"#, false)
        .code(2)
        .stderr_has("confirmation");
    assert_eq!(stored("gw-1")[0]["total"], 1, "nothing changed");
    upsert(r#"{"tenant_id": "t9", "total": 2}"#, true)
        .ok()
        .stderr_has("replaced");
    assert_eq!(stored("gw-1")[0]["total"], 2);
    let run = env.run(&[
        "item",
        "get",
        "-c",
        "orders",
        "--partition-key",
        "\"t9\"",
        "gw-1",
    ]);
    run.ok();
    let doc: Value = serde_json::from_str(&run.stdout).expect("the document");
    assert_eq!(doc["total"], 2);
    env.run(&[
        "item",
        "delete",
        "-c",
        "orders",
        "--partition-key",
        "\"t9\"",
        "--yes",
        "gw-1",
    ])
    .ok()
    .stderr_has("deleted");
    assert!(stored("gw-1").is_empty());
    env.run(&[
        "item",
        "get",
        "-c",
        "orders",
        "--partition-key",
        "\"t9\"",
        "gw-1",
    ])
    .code(1)
    .stderr_has("not found");
    // A traversal in the id is refused before anything is read.
    env.run(&[
        "item",
        "get",
        "-c",
        "orders",
        "--partition-key",
        "\"t9\"",
        "../../dbs/x",
    ])
    .code(2);

    // policy explain: the gateway's decision on bob's token.
    let run = env.run(&[
        "policy",
        "explain",
        "-o",
        "json",
        "--container",
        "orders",
        "SELECT * FROM c",
    ]);
    run.ok();
    let explained: Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(explained["allowed"], true, "{explained}");
    let run = env.run(&[
        "policy",
        "explain",
        "-o",
        "json",
        "--container",
        "orders",
        "SELECT * FROM c",
        "--database",
        "payroll",
    ]);
    run.ok();
    let explained: Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(explained["allowed"], false, "{explained}");

    // status: the gateway, and what it says about the caller.
    let run = env.run(&["status", "-o", "json"]);
    run.ok();
    let status: Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(status["gateway"]["url"], json!(gw.url), "{status}");
    assert_eq!(status["gateway"]["subject"], "bob", "{status}");
    assert!(
        status["gateway"]["grants"]
            .as_array()
            .is_some_and(|g| !g.is_empty()),
        "{status}"
    );
}

/// The gateway decides on the token alone: a session file edited to claim the admin role changes
/// nothing it decides.
#[test]
fn editing_the_local_session_file_changes_nothing_the_gateway_decides() {
    let (oidc, peer, env) = require!(stack("alice"), STACK);
    let gw = start(&env, &oidc.issuer, &peer.endpoint, &peer.key);
    gateway_profile(&env, &gw.url);
    let file = env.state_dir().join("sessions/dev.json");
    let mut session: Value =
        serde_json::from_slice(&std::fs::read(&file).expect("session file")).expect("json");
    session["roles"] = json!(["admin"]);
    session["subject"] = json!("bob");
    if let Some(claims) = session.get_mut("claims").and_then(Value::as_object_mut) {
        claims.insert("https://cosmoscope.test/roles".into(), json!(["admin"]));
        claims.insert("tenant_id".into(), json!("t2"));
    }
    std::fs::write(&file, session.to_string()).expect("edited");
    let run = env.run(&[
        "query",
        "-c",
        "customers",
        "-o",
        "ndjson",
        "SELECT c.card_number FROM c",
    ]);
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    let run = env.run(&[
        "query",
        "-c",
        "orders",
        "-o",
        "ndjson",
        "SELECT c.tenant_id FROM c",
    ]);
    let docs = crate::cosmos_peer::parse_ndjson(run.stdout.as_bytes());
    assert!(docs.iter().all(|d| d["tenant_id"] == "t1"), "{docs:?}");
    let run = env.run_stdin(
        &[
            "item",
            "upsert",
            "-c",
            "orders",
            "--partition-key",
            "\"t2\"",
            "--yes",
            "forged",
        ],
        r#"{"tenant_id": "t2"}"#,
    );
    assert_ne!(run.code, 0);
    assert!(
        peer.pyquery(
            "shop",
            "orders",
            "SELECT * FROM c WHERE c.id = 'forged'",
            &[],
            Some(&json!("t2"))
        )
        .is_empty()
    );
}

/// A request whose audit record cannot be written fails (500), and a write in it never happens;
/// a query's stream then ends with an error trailer, so no client takes it for a whole answer.
#[test]
fn a_request_that_cannot_be_audited_fails_and_changes_nothing() {
    let (oidc, peer, env) = require!(stack("bob"), STACK);
    let gw = start_with(
        &env,
        &oidc.issuer,
        &peer.endpoint,
        &peer.key,
        "listen = \"127.0.0.1:0\"\naudit = \"/dev/full\"\n",
    );
    let rt = runtime();
    let access = stored_tokens(&env, &oidc.issuer)[0].clone();
    let (status, _, body) = gw.call(&rt, reqwest::Method::GET, "/v1/whoami", Some(&access), None);
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("audit"), "{body}");
    let (status, _, body) = call(
        &rt,
        reqwest::Method::PUT,
        &format!(
            "{}/v1/databases/shop/containers/orders/items/unaudited?partition_key=%22t9%22",
            gw.url
        ),
        Some(&access),
        Some(json!({"tenant_id": "t9"})),
    );
    assert_eq!(status, 500, "{body}");
    assert!(
        peer.pyquery(
            "shop",
            "orders",
            "SELECT * FROM c WHERE c.id = 'unaudited'",
            &[],
            Some(&json!("t9"))
        )
        .is_empty(),
        "nothing was written"
    );
    let (status, _, body) = gw.call(
        &rt,
        reqwest::Method::POST,
        "/v1/query",
        Some(&access),
        Some(json!({"container": "orders", "query": "SELECT c.id FROM c"})),
    );
    // The decision is recorded before the first document: it cannot be, so nothing is read.
    assert_eq!(status, 500, "{body}");
    assert!(!body.contains("\"id\""), "{body}");
    gateway_profile(&env, &gw.url);
    env.run(&["query", "-c", "orders", "SELECT c.id FROM c"])
        .code(1)
        .stderr_has("audit");
}

/// Request rate: beyond `requests_per_minute` a subject gets 429 with `Retry-After`.
#[test]
fn a_subject_over_its_request_rate_gets_429_with_retry_after() {
    let (oidc, peer, env) = require!(stack("alice"), STACK);
    let gw = start_with(
        &env,
        &oidc.issuer,
        &peer.endpoint,
        &peer.key,
        "listen = \"127.0.0.1:0\"\nlimits = { requests_per_minute = 3 }\n",
    );
    let rt = runtime();
    let access = stored_tokens(&env, &oidc.issuer)[0].clone();
    let whoami = || gw.call(&rt, reqwest::Method::GET, "/v1/whoami", Some(&access), None);
    for _ in 0..3 {
        assert_eq!(whoami().0, 200);
    }
    let (status, headers, body) = whoami();
    assert_eq!(status, 429, "{body}");
    let wait: u64 = headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&wait), "{wait}");
    gateway_profile(&env, &gw.url);
    env.run(&["ls", "databases"])
        .code(1)
        .stderr_has("slow down");
}

/// Scale: three replicas behind HAProxy (health checks on `/readyz`, retries on a refused
/// connection), under concurrent load; one replica is stopped (SIGTERM) mid-run. Every request
/// gets its whole answer — at most after a retry of the client's — and the stopped replica
/// finishes what it had started before it exits.
#[test]
fn three_replicas_behind_haproxy_lose_no_request_when_one_stops() {
    let Some(haproxy) = ["/usr/sbin/haproxy", "/usr/bin/haproxy"]
        .into_iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.exists())
    else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI installs haproxy (.ci/run)"
        );
        eprintln!("skipped: no haproxy (apt-get install haproxy)");
        return;
    };
    let (oidc, peer, env) = require!(stack("alice"), STACK);
    let head = "listen = \"127.0.0.1:0\"\ntrusted_proxies = [\"127.0.0.1\"]\nlimits = { requests_per_minute = 0 }\n";
    let mut replicas: Vec<Gateway> = (0..3)
        .map(|_| start_with(&env, &oidc.issuer, &peer.endpoint, &peer.key, head))
        .collect();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut servers = String::new();
    for (i, g) in replicas.iter().enumerate() {
        let _ = writeln!(
            servers,
            "  server g{i} {} check",
            g.url.trim_start_matches("http://")
        );
    }
    let cfg = env.config_dir().join("haproxy.cfg");
    std::fs::write(
        &cfg,
        format!(
            "defaults\n  mode http\n  timeout connect 2s\n  timeout client 30s\n  timeout server 30s\n  retries 3\n  option redispatch 1\n  retry-on conn-failure empty-response 503\n  option http-buffer-request\n  option forwardfor\n\nfrontend fe\n  bind 127.0.0.1:{port}\n  default_backend gw\n\nbackend gw\n  balance roundrobin\n  option httpchk GET /readyz\n  http-check expect status 200\n  timeout check 5s\n  default-server inter 300ms fall 3 rise 2\n{servers}"
        ),
    )
    .expect("haproxy.cfg");
    let proxy = KillOnDrop(
        std::process::Command::new(&haproxy)
            .args(["-db", "-f"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("haproxy"),
    );
    let front = format!("http://127.0.0.1:{port}");
    wait_ready(&reqwest::blocking::Client::new(), &front);

    let access = stored_tokens(&env, &oidc.issuer)[0].clone();
    let sql = "SELECT c.id, c.tenant_id FROM c";
    let expected = peer
        .pyquery("shop", "orders", sql, &[], Some(&json!("t1")))
        .len();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (threads, each) = (8, 25);
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (front, access, done) = (front.clone(), access.clone(), done.clone());
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::new();
                let mut retries = 0;
                for _ in 0..each {
                    let mut tries = 0;
                    let body = loop {
                        tries += 1;
                        let answer = client
                            .post(format!("{front}/v1/query"))
                            .bearer_auth(&access)
                            .json(&json!({"container": "orders", "query": sql}))
                            .send()
                            .and_then(|r| {
                                let ok = r.status().is_success();
                                r.text().map(|t| (ok, t))
                            });
                        match answer {
                            Ok((true, text)) => break text,
                            other => {
                                assert!(tries < 6, "no answer after 5 retries: {other:?}");
                                retries += 1;
                                // Retried once the balancer has a ready replica again.
                                wait_ready(&client, &front);
                            }
                        }
                    };
                    let (items, end) = stream(&body);
                    assert!(end.get("error").is_none(), "{end}");
                    assert_eq!(items.len(), expected, "a whole answer");
                    assert!(items.iter().all(|d| d["tenant_id"] == "t1"));
                    done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                retries
            })
        })
        .collect();
    // A third of the way in, one replica is told to stop.
    let deadline = std::time::Instant::now() + std::time::Duration::from_mins(2);
    while done.load(std::sync::atomic::Ordering::Relaxed) < threads * each / 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "the load never got going"
        );
        std::thread::sleep(std::time::Duration::from_millis(10)); // poll interval
    }
    let stopped = &mut replicas[2];
    let pid = rustix::process::Pid::from_raw(i32::try_from(stopped.child.id()).expect("pid"))
        .expect("a pid");
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("SIGTERM");
    let retries: usize = workers
        .into_iter()
        .map(|w| w.join().expect("every request answered whole"))
        .sum();
    assert_eq!(
        done.load(std::sync::atomic::Ordering::Relaxed),
        threads * each
    );
    let line = stopped.event("stopped");
    assert_eq!(line["streams_cut"], 0, "{line}");
    assert!(stopped.child.wait().expect("exit").success());
    drop(proxy);
    eprintln!(
        "{} requests through 3 replicas, one stopped mid-run: {retries} client retries",
        threads * each
    );
}

/// A valid token with no grant: 403 with a reason that names no role of the policy (their names
/// and conditions are not the caller's to learn), the same 403 for a container that does not
/// exist as for one that does, and nothing listed. Hostile requests (a token header of 20 KB,
/// unknown methods, odd paths) get short answers and leave the metrics' labels few.
#[test]
fn a_token_with_no_grant_learns_nothing_of_the_policy_or_the_account() {
    let (oidc, peer, env) = require!(stack("mallory"), STACK);
    let gw = start(&env, &oidc.issuer, &peer.endpoint, &peer.key);
    let rt = runtime();
    let access = stored_tokens(&env, &oidc.issuer)[0].clone();
    let post = |path: &str, body: Value| {
        call(
            &rt,
            reqwest::Method::POST,
            &format!("{}/v1/{path}", gw.url),
            Some(&access),
            Some(body),
        )
    };
    let mut answers = Vec::new();
    for container in ["orders", "no-such-container"] {
        let (status, _, body) = post(
            "query",
            json!({"container": container, "query": "SELECT * FROM c"}),
        );
        assert_eq!(status, 403, "{container}: {body}");
        let v: Value = serde_json::from_str(&body).expect("json");
        answers.push(v.clone());
        assert_eq!(
            v["reasons"],
            json!(["no role of the gateway's policy applies to this identity"]),
            "{v}"
        );
    }
    assert_eq!(answers[0], answers[1], "existence is not told apart");
    let (status, _, body) = post(
        "explain",
        json!({"container": "orders", "query": "SELECT * FROM c"}),
    );
    assert_eq!(status, 200, "{body}");
    for secret in ["support", "admin", "cosmoscope.test/roles"] {
        assert!(!body.contains(secret), "{secret} leaked: {body}");
    }
    for path in ["databases", "databases/shop/containers"] {
        let (status, _, body) = call(
            &rt,
            reqwest::Method::GET,
            &format!("{}/v1/{path}", gw.url),
            Some(&access),
            None,
        );
        assert_eq!((status, body.as_str()), (200, "[]"), "{path}");
    }

    // A token whose header is 20 KB of "alg": refused with a short cause.
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let huge = format!(
        "{}.{}.sig",
        b64.encode(json!({"alg": "X".repeat(20_000)}).to_string()),
        b64.encode("{}")
    );
    let (status, headers, body) =
        gw.call(&rt, reqwest::Method::GET, "/v1/whoami", Some(&huge), None);
    assert_eq!(status, 401);
    assert!(body.len() < 600, "{} bytes", body.len());
    assert!(headers["www-authenticate"].len() < 600);
    // Odd methods and paths: 404, and one label for all of them.
    for (method, path) in [
        ("FOO", "/v1/whoami"),
        ("GET", "////v1/whoami//"),
        ("GET", "/v1/databases//containers"),
    ] {
        let (status, _, _) = call(
            &rt,
            reqwest::Method::from_bytes(method.as_bytes()).expect("method"),
            &format!("{}{path}", gw.url),
            Some(&access),
            None,
        );
        assert_eq!(status, 404, "{method} {path}");
    }
    let (_, _, metrics) = gw.call(&rt, reqwest::Method::GET, "/metrics", None, None);
    assert!(
        !metrics.contains("FOO") && !metrics.contains("////"),
        "{metrics}"
    );
    assert!(metrics.contains("route=\"other\""), "{metrics}");
}

/// Waits (polling, 20 s at most) until the balancer at `front` answers `/readyz` with 200: a
/// replica behind it is up and ready.
fn wait_ready(client: &reqwest::blocking::Client, front: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while client
        .get(format!("{front}/readyz"))
        .send()
        .map_or(true, |r| !r.status().is_success())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no ready replica behind {front}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50)); // poll interval
    }
}

/// A child process killed when the test ends, however it ends.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Secrets scan of the gateway: after allowed, denied and refused requests (tokens tampered with,
/// unsigned, for another audience), neither the server's log lines nor its audit records (both on
/// stdout), its stderr (empty), its answers nor its command line holds a token, a token's signature or the account key.
#[test]
fn no_secret_reaches_the_gateways_log_audit_answers_or_command_line() {
    let (oidc, peer, env) = require!(stack("alice"), STACK);
    let mut gw = start(&env, &oidc.issuer, &peer.endpoint, &peer.key);
    let rt = runtime();
    let tokens = stored_tokens(&env, &oidc.issuer);
    let access = tokens[0].clone();
    let mut answers = String::new();
    let mut ask = |method: reqwest::Method, path: &str, token: &str, body: Option<Value>| {
        let (status, headers, text) =
            call(&rt, method, &format!("{}{path}", gw.url), Some(token), body);
        let _ = writeln!(answers, "{status} {headers:?} {text}");
    };
    let query = json!({"container": "orders", "query": "SELECT c.id FROM c"});
    ask(reqwest::Method::GET, "/v1/whoami", &access, None);
    ask(
        reqwest::Method::POST,
        "/v1/query",
        &access,
        Some(query.clone()),
    );
    ask(
        reqwest::Method::POST,
        "/v1/explain",
        &access,
        Some(query.clone()),
    );
    ask(
        reqwest::Method::POST,
        "/v1/query",
        &access,
        Some(json!({"container": "customers", "query": "SELECT c.card_number FROM c"})),
    );
    for bad in [
        tampered(&access),
        unsigned(&access),
        tokens.last().cloned().expect("id token"),
    ] {
        ask(
            reqwest::Method::POST,
            "/v1/query",
            &bad,
            Some(query.clone()),
        );
    }
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", gw.child.id())).expect("cmdline");
    let environ_of_no_one = String::from_utf8_lossy(&cmdline).to_string();
    let pid =
        rustix::process::Pid::from_raw(i32::try_from(gw.child.id()).expect("pid")).expect("a pid");
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("SIGTERM");
    gw.event("stopped");
    assert!(gw.child.wait().expect("exit").success());
    let audit = gw.audit_after_exit();
    let stderr = gw.stderr_after_exit();
    assert!(stderr.is_empty(), "log lines go to stdout: {stderr}");
    let log: String = gw.log.try_iter().collect::<Vec<_>>().join("\n");
    assert!(audit.lines().count() >= 8, "{audit}");
    let mut secrets: Vec<String> = tokens.clone();
    secrets.extend(
        tokens
            .iter()
            .filter_map(|t| t.split('.').nth(2).map(str::to_string))
            .filter(|s| s.len() > 16),
    );
    secrets.push(peer.key.clone());
    for secret in &secrets {
        for (what, text) in [
            ("log", &log),
            ("audit", &audit),
            ("answers", &answers),
            ("command line", &environ_of_no_one),
        ] {
            assert!(
                !text.contains(secret.as_str()),
                "a secret in the gateway's {what}"
            );
        }
    }
}

/// `[server.otlp]`: every audit record is also exported as an OpenTelemetry log record, to a
/// receiver that parses each request with the OpenTelemetry protos (and fails the first export,
/// as a collector that is restarting does: the export retries).
#[test]
fn audit_records_are_exported_as_opentelemetry_logs() {
    let (oidc, peer, env) = require!(stack("alice"), STACK);
    let python = crate::fixtures::venv_python();
    let mut receiver = KillOnDrop(
        std::process::Command::new(&python)
            .arg(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/peers/otlp/receiver.py"),
            )
            .args(["--fail", "1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the OTLP receiver"),
    );
    let (tx, exported) = std::sync::mpsc::channel::<String>();
    let out = receiver.0.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let hello: Value = serde_json::from_str(
        &exported
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("the receiver's address"),
    )
    .expect("json");
    let endpoint = hello["endpoint"].as_str().expect("endpoint");
    let gw = start_with(
        &env,
        &oidc.issuer,
        &peer.endpoint,
        &peer.key,
        &format!("listen = \"127.0.0.1:0\"\notlp = {{ endpoint = \"{endpoint}\" }}\n"),
    );
    let rt = runtime();
    let access = stored_tokens(&env, &oidc.issuer)[0].clone();
    let mut ids = Vec::new();
    for body in [
        json!({"container": "orders", "query": "SELECT c.id FROM c"}),
        json!({"container": "customers", "query": "SELECT c.card_number FROM c"}),
    ] {
        let (_, headers, _) = gw.call(
            &rt,
            reqwest::Method::POST,
            "/v1/query",
            Some(&access),
            Some(body),
        );
        ids.push(headers["x-request-id"].to_str().expect("id").to_string());
    }
    // Three records: the allowed query's decision and outcome, the denied one's decision.
    let mut records = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while records.len() < 3 {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = exported
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("exported so far: {records:?}"));
        records.push(serde_json::from_str::<Value>(&line).expect("json"));
    }
    let attr = |r: &Value, k: &str| {
        r["attributes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["key"] == k)
            .and_then(|a| a["value"]["stringValue"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    for r in &records {
        assert_eq!(attr(r, "cosmoscope.subject"), "alice", "{r}");
        assert!(ids.contains(&attr(r, "cosmoscope.request_id")), "{r}");
        let audited: Value = serde_json::from_str(r["body"]["stringValue"].as_str().expect("body"))
            .expect("a record");
        assert_eq!(audited["action"], "query", "{audited}");
        assert_eq!(r["scope"], "cosmoscope.audit");
        assert!(
            r["resource"].to_string().contains("cosmoscope-gateway"),
            "{r}"
        );
    }
    let denied = records
        .iter()
        .find(|r| attr(r, "cosmoscope.decision") == "denied")
        .expect("the denial");
    assert_eq!(denied["severityText"], "WARN", "{denied}");
}

/// Faults at the gateway, each with its defined outcome: Cosmos DB throttling past the SDK's
/// retries is 429 with `Retry-After` for a point read and an error trailer for a query; a client
/// that hangs up mid-stream is recorded as gone and frees its query slot; CORS answers only the
/// configured origin; a key file others may read is refused before anything listens.
#[test]
fn cosmos_throttling_a_vanishing_client_cors_and_key_files_have_defined_outcomes() {
    let (oidc, peer, env) = require!(stack("bob"), STACK);
    let mut gw = start_with(
        &env,
        &oidc.issuer,
        &peer.endpoint,
        &peer.key,
        "listen = \"127.0.0.1:0\"\ncors_origins = [\"https://app.example\"]\nlimits = { max_concurrent_per_subject = 1 }\n",
    );
    let rt = runtime();
    let access = stored_tokens(&env, &oidc.issuer)[0].clone();

    // Throttled beyond the retries.
    rt.block_on(peer.fault(
        json!({"status": 429, "retry_after_ms": 10, "count": 50, "path_contains": "/docs"}),
    ));
    let (status, headers, body) = call(
        &rt,
        reqwest::Method::GET,
        &format!(
            "{}/v1/databases/shop/containers/orders/items/x?partition_key=%22t1%22",
            gw.url
        ),
        Some(&access),
        None,
    );
    assert_eq!(status, 429, "{body}");
    assert!(headers.contains_key("retry-after"), "{headers:?}");
    let (status, _, body) = gw.call(
        &rt,
        reqwest::Method::POST,
        "/v1/query",
        Some(&access),
        Some(json!({"container": "orders", "query": "SELECT * FROM c", "partition_key": "t1"})),
    );
    assert_eq!(status, 200, "{body}");
    let (_, trailer) = stream(&body);
    assert!(trailer["error"].to_string().contains("429"), "{trailer}");
    rt.block_on(peer.clear_faults());

    // A client that reads the headers, then hangs up while the peer holds the answer: its slot
    // comes back (the limit is one query at a time) and its outcome says it went away.
    rt.block_on(
        peer.fault(
            json!({"stall_ms": 1500, "count": 1, "path_contains": "/docs", "method": "POST"}),
        ),
    );
    rt.block_on(async {
        let r = reqwest::Client::new()
            .post(format!("{}/v1/query", gw.url))
            .bearer_auth(&access)
            .json(&json!({"container": "orders", "query": "SELECT * FROM c"}))
            .send()
            .await
            .expect("headers");
        assert_eq!(r.status(), 200);
        drop(r);
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (status, _, body) = gw.call(
            &rt,
            reqwest::Method::POST,
            "/v1/query",
            Some(&access),
            Some(json!({"container": "orders", "query": "SELECT c.id FROM c"})),
        );
        if status == 200 {
            assert!(stream(&body).1.get("error").is_none(), "{body}");
            break;
        }
        assert_eq!(status, 429, "{body}");
        assert!(
            std::time::Instant::now() < deadline,
            "the vanished client's slot never came back"
        );
        std::thread::sleep(std::time::Duration::from_millis(50)); // poll interval
    }

    // CORS: the configured origin gets its preflight and headers; any other gets none.
    let preflight = |origin: &str| {
        rt.block_on(async {
            reqwest::Client::new()
                .request(reqwest::Method::OPTIONS, format!("{}/v1/query", gw.url))
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .send()
                .await
                .expect("preflight")
        })
    };
    let ok = preflight("https://app.example");
    assert_eq!(ok.status(), 204);
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let other = preflight("https://evil.example");
    assert_eq!(other.status(), 403);
    assert!(!other.headers().contains_key("access-control-allow-origin"));

    let pid =
        rustix::process::Pid::from_raw(i32::try_from(gw.child.id()).expect("pid")).expect("a pid");
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("SIGTERM");
    gw.event("stopped");
    let _ = gw.child.wait();
    let audit = gw.audit_after_exit();
    assert!(audit.contains("the client went away"), "{audit}");

    // The account key from a file: one others may read is refused, exit 2, before listening.
    let key_file = env.config_dir().join("account.key");
    std::fs::write(&key_file, &peer.key).expect("key file");
    std::fs::set_permissions(
        &key_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .expect("chmod");
    let config = env.config_dir().join("keyfile.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nissuer = \"{}\"\naudience = \"{AUDIENCE}\"\npolicy = \"gateway-policy.toml\"\n[server.cosmos]\nendpoint = \"{}\"\ndatabase = \"shop\"\nkey_file = \"account.key\"\n",
            oidc.issuer, peer.endpoint
        ),
    )
    .expect("config");
    let run = env.run(&["serve", "--config", config.to_str().expect("utf8")]);
    run.code(2).stderr_has("key file");
    assert!(!run.stderr.contains(&peer.key));
}

/// Entra multi-tenant: a gateway that accepts the `organizations` issuer verifies each token's
/// issuer as the template filled with its `tid`, which must be one of `allowed_tenants` — alice's
/// tenant gets in, mallory's (another tenant of the same app) gets 401 naming the tenant rule.
#[test]
fn a_multi_tenant_gateway_accepts_only_its_allowed_tenants() {
    let (oidc, peer, env) = require!(stack("alice"), STACK);
    oidc.admin("personality", json!({"name": "entra-multi-tenant"}));
    let multi = format!("{}/organizations/v2.0", oidc.issuer);
    let tenant = "11111111-1111-1111-1111-111111111111";
    // Each person's own profile allows their own tenant; the gateway allows only alice's.
    let token_of = |user: &str, own_tenant: &str| {
        let person = TestEnv::new().with_env("SSL_CERT_FILE", certs().ca.to_str().expect("utf8"));
        person.write_config(&format!(
            "default_profile = \"dev\"\n[profiles.dev]\nissuer = \"{multi}\"\nclient_id = \"cosmoscope-cli\"\naudience = \"{AUDIENCE}\"\nstore = \"keyutils\"\nallowed_tenants = [\"{own_tenant}\"]\n"
        ));
        crate::fixtures::login_as(&person, &oidc, user);
        (
            crate::fixtures::stored_tokens_of(&person, &multi, "dev"),
            person,
        )
    };
    let (alice, _alice_env) = token_of("alice", tenant);
    let (bob, _bob_env) = token_of("bob", "22222222-2222-2222-2222-222222222222");
    let bob = bob.first().expect("bob's access token").clone();
    let alice = alice.first().expect("alice's access token").clone();
    let gw = start_with(
        &env,
        &multi,
        &peer.endpoint,
        &peer.key,
        &format!("listen = \"127.0.0.1:0\"\nallowed_tenants = [\"{tenant}\"]\n"),
    );
    let rt = runtime();
    let whoami = |token: &str| gw.call(&rt, reqwest::Method::GET, "/v1/whoami", Some(token), None);
    let (status, _, body) = whoami(&alice);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"alice\""), "{body}");
    // A token of another tenant, signed by the same provider for the same audience.
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = alice.split('.').collect();
    let claims: Value = serde_json::from_slice(&b64.decode(parts[1]).expect("b64")).expect("json");
    assert_eq!(claims["tid"], tenant, "{claims}");
    let (status, _, body) = whoami(&bob);
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("allowed_tenants"), "{body}");
    let (status, _, body) = whoami(&tampered(&alice));
    assert_eq!(status, 401, "{body}");
    // The configuration refuses the template issuer without allowed_tenants.
    let config = env.config_dir().join("multi.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nissuer = \"{multi}\"\naudience = \"{AUDIENCE}\"\npolicy = \"gateway-policy.toml\"\n[server.cosmos]\nendpoint = \"{}\"\ndatabase = \"shop\"\n",
            peer.endpoint
        ),
    )
    .expect("config");
    env.run(&[
        "serve",
        "--check",
        "--config",
        config.to_str().expect("utf8"),
    ])
    .code(2)
    .stderr_has("allowed_tenants");
}

/// The gateway's own Entra identity: `credential = "client-secret"` (azure_identity's
/// ClientSecretCredential against a local authority host, the secret from AZURE_CLIENT_SECRET),
/// with no account key anywhere in its environment. Callers still authenticate with their own
/// tokens; the gateway's secret never leaves it.
#[test]
fn the_gateway_reaches_cosmos_with_its_own_entra_identity() {
    let (oidc, _, env) = require!(stack("alice"), STACK);
    let (aad_issuer, aad_audience) = ("http://127.0.0.1/test-issuer", "https://cosmos.azure.com");
    let keys = JwtKeys::generate();
    let peer = crate::cosmos_peer::Peer::start_with(crate::cosmos_peer::PeerOptions {
        jwks_file: Some(keys.jwks()),
        audience: Some(aad_audience.into()),
        issuer: Some(aad_issuer.into()),
        ..crate::cosmos_peer::PeerOptions::default()
    });
    peer.seed_shop();
    let tokens = crate::cosmos_peer::TokenEndpoint::start(
        &keys,
        "gateway-app",
        "gw-s3cret-value",
        aad_issuer,
    );
    let dir = env.config_dir();
    std::fs::write(dir.join("gateway-policy.toml"), POLICY).expect("policy");
    let config = dir.join("entra-gateway.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nissuer = \"{}\"\naudience = \"{AUDIENCE}\"\nroles_claim = \"https://cosmoscope.test/roles\"\npolicy = \"gateway-policy.toml\"\n[server.cosmos]\nendpoint = \"{}\"\ndatabase = \"shop\"\nhttp2 = false\ncredential = \"client-secret\"\ntenant_id = \"test-tenant\"\nclient_id = \"gateway-app\"\nauthority_host = \"{}\"\n",
            oidc.issuer, peer.endpoint, tokens.authority_host
        ),
    )
    .expect("config");
    let mut child = env
        .cmd()
        .args(["serve", "--config"])
        .arg(&config)
        .env("AZURE_CLIENT_SECRET", "gw-s3cret-value")
        .env_remove("COSMOSCOPE_GATEWAY_ACCOUNT_KEY")
        .env("SSL_CERT_FILE", &certs().ca)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    let mut first = String::new();
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    stdout.read_line(&mut first).expect("the listening line");
    // The audit records follow on stdout: read, so the pipe never fills.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let _guard = KillOnDrop(child);
    let url = serde_json::from_str::<Value>(&first).expect("json")["listening"]
        .as_str()
        .expect("listening")
        .to_string();
    let rt = runtime();
    let access = stored_tokens(&env, &oidc.issuer)[0].clone();
    let (status, _, body) = call(
        &rt,
        reqwest::Method::POST,
        &format!("{url}/v1/query"),
        Some(&access),
        Some(json!({"container": "orders", "query": "SELECT c.id, c.tenant_id FROM c"})),
    );
    assert_eq!(status, 200, "{body}");
    let (items, end) = stream(&body);
    assert!(end.get("error").is_none(), "{end}");
    assert!(
        !items.is_empty() && items.iter().all(|d| d["tenant_id"] == "t1"),
        "{items:?}"
    );
    assert!(!body.contains("gw-s3cret-value"));
}

/// A provider whose JWKS endpoint stalls holds up only the request that needs its keys: the
/// gateway fetches without holding the keys every other request verifies with, so a token signed
/// with a key it has is answered meanwhile; the request that asked for the fetch gets its answer
/// (401, the key is unknown) once the provider answers.
#[test]
fn a_stalled_jwks_fetch_holds_up_only_the_request_that_needs_it() {
    let (oidc, peer, env) = require!(stack("alice"), STACK);
    let gw = start(&env, &oidc.issuer, &peer.endpoint, &peer.key);
    let rt = runtime();
    let access = stored_tokens(&env, &oidc.issuer)[0].clone();
    assert_eq!(
        gw.call(&rt, reqwest::Method::GET, "/v1/whoami", Some(&access), None)
            .0,
        200
    );
    oidc.admin("jwks-hold", json!({"hold": true}));
    let unknown = with_kid(&access, "rotated-away");
    let url = format!("{}/v1/whoami", gw.url);
    let waiting = std::thread::spawn(move || {
        call(&runtime(), reqwest::Method::GET, &url, Some(&unknown), None)
    });
    crate::harness::wait_for(
        "the gateway's JWKS request to be held by the provider",
        std::time::Duration::from_secs(20),
        || (oidc.stats()["jwks_held"] == 1).then_some(()),
    );
    let (status, _, body) = gw.call(&rt, reqwest::Method::GET, "/v1/whoami", Some(&access), None);
    assert_eq!(status, 200, "a known key waits for no fetch: {body}");
    assert!(
        !waiting.is_finished(),
        "the request that needs the keys waits for them"
    );
    oidc.admin("jwks-hold", json!({"hold": false}));
    let (status, headers, body) = waiting.join().expect("the waiting request");
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("rotated-away"), "{body}");
    assert!(headers.contains_key("www-authenticate"));
}
