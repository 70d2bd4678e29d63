//! The policy holding against the person it limits: each test is an attack through the installed
//! binary (issue 13's findings), and asserts that it fails with the contract's exit code, changes
//! nothing, and leaves a record of the refusal.

use cosmoscope::session::Secrets;
use serde_json::{Value, json};

use crate::cosmos_peer::parse_ndjson;
use crate::fixtures::{stack, vault};
use crate::harness::{Run, STACK, TestEnv};
use crate::require;

/// A grant on `shop/orders` only, pinned to the caller's tenant, that may read and write items.
const ORDERS_ONLY: &str = r#"
[[roles]]
name = "orders"
when = { claim = "https://cosmoscope.test/roles", contains = "support" }

  [[roles.grants]]
  database = "shop"
  containers = ["orders"]
  actions = ["query", "read", "upsert", "delete"]
  partition_key = { claim = "tenant_id" }

[[roles]]
name = "admin"
when = { claim = "https://cosmoscope.test/roles", contains = "admin" }

  [[roles.grants]]
  database = "shop"
  containers = ["*"]
  actions = ["query", "read", "upsert", "delete"]
  partition_key = "any"
"#;

/// A grant to export the account's credential (appended to a role).
const EXPORT_GRANT: &str = "\n  [[roles.grants]]\n  database = \"*\"\n  containers = [\"*\"]\n  actions = [\"export\"]\n  partition_key = \"any\"\n";

fn use_policy(env: &TestEnv, policy: &str) {
    std::fs::write(env.config_dir().join("policy.toml"), policy).expect("policy");
}

fn last_record(env: &TestEnv) -> Value {
    env.audit().last().cloned().expect("an audit record")
}

/// The refusal was audited as a denial of `action`, naming what the command addressed.
fn assert_denied(env: &TestEnv, run: &Run, action: &str) {
    run.code(4);
    let last = last_record(env);
    assert_eq!(
        (last["action"].as_str(), last["decision"].as_str()),
        (Some(action), Some("denied")),
        "{last}"
    );
}

fn customer_ids(peer: &crate::cosmos_peer::Peer, tenant: &str) -> Vec<Value> {
    peer.pyquery(
        "shop",
        "customers",
        "SELECT VALUE c.id FROM c",
        &[],
        Some(&json!(tenant)),
    )
}

/// Finding 2: an item id with `..` segments, `/` or a `%`-escape cannot reach another container
/// or database; it is refused by the policy before any request, whatever the grant.
#[test]
fn item_ids_cannot_leave_their_container() {
    let (_oidc, peer, env) = require!(stack("alice"), STACK);
    use_policy(&env, ORDERS_ONLY);
    let before = customer_ids(&peer, "t1");
    assert!(before.contains(&json!("c001")), "{before:?}");
    for id in [
        "../../customers/docs/c001",
        "../../../../dbs/shop/colls/customers/docs/c001",
        "..%2F..%2Fcustomers%2Fdocs%2Fc001",
        "..",
        "c001\\..\\x",
        "o001?x=1",
        "o001#frag",
        "o\u{1b}[2J",
        ".. ",
        "c001 ",
    ] {
        for verb in [&["get"][..], &["delete"][..], &["upsert", "--yes"][..]] {
            let mut args = vec!["item"];
            args.extend_from_slice(verb);
            args.extend(["--container", "orders", "--partition-key", "\"t1\"", id]);
            let run = env.run_stdin(&args, "{\"tenant_id\": \"t1\"}");
            let action = match verb[0] {
                "get" => "item.read".to_string(),
                other => format!("item.{other}"),
            };
            assert_denied(&env, &run, &action);
            run.stderr_has("item id");
            assert!(
                !run.stderr.contains('\u{1b}'),
                "the id is shown escaped: {}",
                run.stderr
            );
            let last = last_record(&env);
            assert_eq!(
                (last["database"].as_str(), last["container"].as_str()),
                (Some("shop"), Some("orders"))
            );
        }
    }
    // A container or database name is held to the same rule, even under a "*" grant.
    let (_oidc2, _peer2, admin) = require!(stack("bob"), STACK);
    use_policy(&admin, ORDERS_ONLY);
    for (flag, name) in [
        ("--container", "orders/docs/o001/../../../customers"),
        ("--container", ".."),
        ("--database", "../dbs/shop"),
    ] {
        let args: Vec<&str> = if flag == "--container" {
            vec![
                "item",
                "get",
                "--container",
                name,
                "--partition-key",
                "\"t1\"",
                "c001",
            ]
        } else {
            vec![
                "item",
                "get",
                "--database",
                name,
                "--container",
                "customers",
                "--partition-key",
                "\"t1\"",
                "c001",
            ]
        };
        let run = admin.run(&args);
        assert_denied(&admin, &run, "item.read");
    }
    // Nothing was deleted or written anywhere.
    assert_eq!(customer_ids(&peer, "t1"), before);
    // An item command on a container that does not exist says so, after the decision.
    admin
        .run(&[
            "item",
            "get",
            "--container",
            "nosuch",
            "--partition-key",
            "\"t1\"",
            "x1",
        ])
        .code(1)
        .stderr_has("nosuch");
}

/// Finding 4: a FROM path written with brackets binds its name like `.name`, so a denied field
/// below it is denied; a name bound nowhere is refused instead of being taken for the document.
#[test]
fn bracket_from_paths_do_not_hide_denied_fields() {
    let (_oidc, _peer, env) = require!(stack("alice"), STACK);
    for sql in [
        "SELECT customer.ssn FROM c[\"customer\"]",
        "SELECT customer[\"ssn\"] FROM c[\"customer\"]",
        "SELECT customer.ssn FROM c['customer']",
        "SELECT VALUE x FROM c[\"customer\"] x",
    ] {
        let run = env.run(&["query", "-c", "customers", sql]);
        assert_denied(&env, &run, "query");
        run.stderr_has("customer.ssn");
    }
    let run = env.run(&[
        "query",
        "-c",
        "customers",
        "SELECT y.ssn FROM c[\"customer\"]",
    ]);
    assert_denied(&env, &run, "query");
    run.stderr_has("no FROM or JOIN binds");
    // The same answers from `policy explain`, without a session or Cosmos DB.
    let explain = env.run(&[
        "policy",
        "explain",
        "-o",
        "json",
        "--container",
        "customers",
        "--partition-key-path",
        "/tenant_id",
        "SELECT customer.ssn FROM c[\"customer\"]",
    ]);
    assert!(
        explain.stdout.contains("customer.ssn"),
        "{}",
        explain.stdout
    );
}

/// Finding 5: an export grant narrower than the credential fails validation at its line, and a
/// profile using it exports nothing.
#[test]
fn export_grants_must_cover_the_credential() {
    let (_oidc, _peer, env) = require!(stack("bob"), STACK);
    use_policy(
        &env,
        "[[roles]]\nname = \"admin\"\nwhen = { claim = \"https://cosmoscope.test/roles\", contains = \"admin\" }\n\n  [[roles.grants]]\n  database = \"shop\"\n  containers = [\"*\"]\n  actions = [\"export\"]\n  partition_key = \"any\"\n",
    );
    let run = env.run(&["policy", "validate"]);
    assert_ne!(run.code, 0);
    run.stderr_has("policy.toml:6:");
    run.stderr_has("database = \"*\"");
    let token = env.run(&["token"]);
    assert_ne!(token.code, 0, "{}", token.stdout);
    assert!(token.stdout.is_empty(), "nothing is printed");
}

/// Finding 6: `exec` hands the child the credential and none of the secrets cosmoscope reads.
#[test]
fn exec_gives_the_child_no_secret_of_ours() {
    let (_oidc, _peer, env) = require!(stack("bob"), STACK);
    use_policy(&env, &format!("{}{EXPORT_GRANT}", crate::fixtures::POLICY));
    let secrets = [
        ("AZURE_CLIENT_SECRET", "azure-client-secret-value-1"),
        ("COSMOSCOPE_CLIENT_SECRET", "cosmoscope-client-secret-2"),
        ("COSMOSCOPE_FIDO2_PIN", "fido2-pin-value-3"),
        ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "actions-request-token-4"),
        ("SYSTEM_ACCESSTOKEN", "azure-devops-access-token-5"),
        ("COSMOSCOPE_ID_TOKEN", "ci-id-token-value-6"),
    ];
    let run = env.run_with(&secrets, &["exec", "--", "env"]);
    run.ok();
    assert!(run.stdout.contains("COSMOS_TOKEN="), "{}", run.stdout);
    for (name, value) in secrets {
        assert!(
            !run.stdout.contains(value) && !run.stdout.contains(&format!("{name}=")),
            "{name} reached the child"
        );
    }
}

/// Finding 13: what a document holds cannot drive the terminal.
#[test]
fn documents_cannot_write_to_the_terminal() {
    let (_oidc, _peer, env) = require!(stack("bob"), STACK);
    let forged = "\u{1b}]0;owned\u{7}\u{1b}[2J\u{1b}[HSession expired: run evil-login\u{202e}";
    let doc = json!({"id": "o999", "tenant_id": "t1", "note": forged, forged: 1});
    env.run_stdin(
        &[
            "item",
            "upsert",
            "--container",
            "orders",
            "--partition-key",
            "\"t1\"",
            "o999",
            "--yes",
        ],
        &doc.to_string(),
    )
    .ok();
    let run = env.run(&[
        "query",
        "-c",
        "orders",
        "-o",
        "table",
        "SELECT * FROM c WHERE c.id = 'o999'",
    ]);
    run.ok();
    assert!(
        !run.stdout.contains('\u{1b}') && !run.stdout.contains('\u{7}'),
        "{:?}",
        run.stdout
    );
    assert!(run.stdout.contains("\\u{1b}"), "{:?}", run.stdout);
    // JSON output keeps the data exact (escaped by JSON itself).
    let json = env.run(&[
        "query",
        "-c",
        "orders",
        "-o",
        "ndjson",
        "SELECT c.note FROM c WHERE c.id = 'o999'",
    ]);
    assert_eq!(
        parse_ndjson(json.stdout.as_bytes())[0]["note"],
        json!(forged)
    );
}

/// Finding 17: a profile name is a plain name, never a path.
#[test]
fn profile_names_are_plain_names() {
    let env = TestEnv::new();
    env.write_config(
        "[profiles.\"../../x\"]\nissuer = \"https://login.example.com/\"\nclient_id = \"c\"\n",
    );
    let run = env.run(&["status"]);
    assert_ne!(run.code, 0);
    run.stderr_has("profile name");
    assert!(!env.dir.path().join("x.json").exists());
    let fresh = TestEnv::new();
    fresh
        .run(&[
            "--profile",
            "../evil",
            "init",
            "--issuer",
            "https://login.example.com/",
            "--client-id",
            "c",
        ])
        .code(2)
        .stderr_has("profile name");
    assert!(!fresh.config_file().exists(), "nothing was written");
}

/// Finding 18: a denied query learns nothing about the container it names.
#[test]
fn a_denied_query_does_not_learn_whether_a_container_exists() {
    let (_oidc, _peer, env) = require!(stack("alice"), STACK);
    for container in ["payments", "nosuch"] {
        let run = env.run(&["query", "-c", container, "SELECT c.id FROM c"]);
        assert_denied(&env, &run, "query");
        assert!(!run.stderr.contains("not found"), "{}", run.stderr);
    }
}

/// Finding 19: an upsert may neither write nor remove a denied field; a delete (which removes it)
/// is refused under a grant with denied fields.
#[test]
fn writes_cannot_touch_denied_fields() {
    let (oidc, peer, env) = require!(stack("alice"), STACK);
    use_policy(
        &env,
        "[[roles]]\nname = \"support\"\nwhen = { claim = \"https://cosmoscope.test/roles\", contains = \"support\" }\n\n  [[roles.grants]]\n  database = \"shop\"\n  containers = [\"orders\"]\n  actions = [\"query\", \"upsert\", \"delete\"]\n  partition_key = { claim = \"tenant_id\" }\n  deny_fields = [\"payment.card_number\"]\n",
    );
    let stored = || {
        peer.pyquery(
            "shop",
            "orders",
            "SELECT * FROM c WHERE c.id = 'o001'",
            &[],
            Some(&json!("t1")),
        )[0]
        .clone()
    };
    let before = stored();
    let card = before["payment"]["card_number"].clone();
    assert!(card.is_string(), "{before}");
    let upsert = |doc: &Value| {
        env.run_stdin(
            &[
                "item",
                "upsert",
                "--container",
                "orders",
                "--partition-key",
                "\"t1\"",
                "o001",
                "--yes",
            ],
            &doc.to_string(),
        )
    };
    // Writing the denied field: refused, nothing changed.
    let run = upsert(&json!({"id": "o001", "tenant_id": "t1", "payment": {"card_number": "0000"}}));
    assert_denied(&env, &run, "item.upsert");
    run.stderr_has("payment.card_number");
    assert_eq!(stored(), before);
    // Leaving it out: the write happens and the stored value is kept.
    upsert(&json!({"id": "o001", "tenant_id": "t1", "status": "shipped"})).ok();
    let after = stored();
    assert_eq!(after["status"], json!("shipped"));
    assert_eq!(after["payment"]["card_number"], card, "{after}");
    // A delete would remove it.
    let run = env.run(&[
        "item",
        "delete",
        "--container",
        "orders",
        "--partition-key",
        "\"t1\"",
        "o001",
        "--yes",
    ]);
    assert_denied(&env, &run, "item.delete");
    assert_eq!(stored()["id"], json!("o001"));
    env.assert_no_secrets(&crate::fixtures::stored_tokens(&env, &oidc.issuer));
}

/// Finding 10: an expiry at or beyond year 10000 in the session file never panics.
#[test]
fn an_absurd_expiry_never_panics() {
    let (_oidc, _peer, env) = require!(stack("bob"), STACK);
    let file = env.state_dir().join("sessions/dev.json");
    let mut info: Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("session")).expect("json");
    for at in [json!(253_402_300_800_u64), json!(u64::MAX)] {
        info["expires_at"] = at;
        std::fs::write(&file, info.to_string()).expect("write");
        for args in [&["status"][..], &["status", "-o", "json"], &["token"]] {
            let run = env.run(args);
            assert!(!run.stderr.contains("panicked"), "{args:?}: {}", run.stderr);
            assert!([0, 3, 4].contains(&run.code), "{args:?}: {}", run.stderr);
        }
    }
}

/// Finding 21: a normalised double negation is never printed as a comment.
#[test]
fn a_double_negation_is_never_printed_as_a_comment() {
    let env = TestEnv::new();
    let explain = env.run(&[
        "policy",
        "explain",
        "-o",
        "json",
        "SELECT -(-c.x) AS v FROM c",
    ]);
    explain.ok();
    let normalized = explain.json()["normalized"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        !normalized.is_empty() && !normalized.contains("--"),
        "{}",
        explain.stdout
    );
}

fn tenants_read(env: &TestEnv) -> Vec<Value> {
    let run = env.run(&[
        "query",
        "-c",
        "orders",
        "-o",
        "ndjson",
        "SELECT c.id, c.tenant_id FROM c",
    ]);
    run.ok();
    let mut t: Vec<Value> = parse_ndjson(run.stdout.as_bytes())
        .into_iter()
        .map(|d| d["tenant_id"].clone())
        .collect();
    t.dedup();
    t
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Finding 3: the session file is what `status` shows, never what decides. Another tenant,
/// another role, another subject, a fresh touch and an expiry far away, written into it, change
/// nothing a command may do.
#[test]
fn an_edited_session_file_grants_nothing() {
    let (oidc, _peer, env) = require!(stack("alice"), STACK);
    assert_eq!(tenants_read(&env), [json!("t1")]);
    let file = env.state_dir().join("sessions/dev.json");
    let mut info: Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("session")).expect("json");
    info["subject"] = json!("bob");
    info["roles"] = json!(["admin"]);
    info["claims"] = json!({"sub": "bob", "tenant_id": "t2",
        "https://cosmoscope.test/roles": ["admin", "support"]});
    info["fido2_at"] = json!(now());
    info["expires_at"] = json!(4_000_000_000_u64);
    std::fs::write(&file, info.to_string()).expect("write");
    assert_eq!(
        tenants_read(&env),
        [json!("t1")],
        "still alice's tenant only"
    );
    let last = last_record(&env);
    assert_eq!(last["subject"], json!("alice"), "{last}");
    // An admin-only action stays denied.
    let run = env.run(&[
        "item",
        "delete",
        "--container",
        "orders",
        "--partition-key",
        "\"t2\"",
        "o002",
        "--yes",
    ]);
    assert_denied(&env, &run, "item.delete");
    // Nothing printed or written carries a token.
    env.assert_no_secrets(&crate::fixtures::stored_tokens(&env, &oidc.issuer));
}

/// Finding 3: a token in the keyring that the provider did not issue (a changed payload, `alg:
/// none`, a different key, or any string as the access token) is refused at use, and audited.
#[test]
fn a_forged_token_in_the_keyring_is_refused() {
    use base64::Engine as _;
    let (oidc, _peer, env) = require!(stack("alice"), STACK);
    let (store, paths, original) = vault(&env, &oidc.issuer);
    let id = secrecy::ExposeSecret::expose_secret(original.id.as_ref().expect("an ID token"))
        .to_string();
    let access = secrecy::ExposeSecret::expose_secret(&original.access).to_string();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = id.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&b64.decode(parts[1]).expect("b64")).expect("json");
    claims["tenant_id"] = json!("t2");
    let forged_payload = b64.encode(claims.to_string());
    let none_header = b64.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let hs_header = b64.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
    let forgeries = [
        ("id", format!("{}.{forged_payload}.{}", parts[0], parts[2])),
        ("id", format!("{none_header}.{forged_payload}.")),
        ("id", format!("{hs_header}.{forged_payload}.c2lnbmF0dXJl")),
        ("access", "any-string-at-all".to_string()),
        (
            "access",
            format!("{}.{forged_payload}.{}", parts[0], parts[2]),
        ),
    ];
    for (slot, forged) in forgeries {
        let secret = secrecy::SecretString::from(forged);
        let tampered = Secrets {
            access: if slot == "access" {
                secret.clone()
            } else {
                secrecy::SecretString::from(access.clone())
            },
            refresh: original.refresh.clone(),
            id: Some(if slot == "id" {
                secret
            } else {
                secrecy::SecretString::from(id.clone())
            }),
            fido2_at: None,
        };
        tampered.save(&store, &paths).expect("save");
        let run = env.run(&["query", "-c", "orders", "SELECT c.id FROM c"]);
        run.code(3).stderr_has("failed verification");
        let last = last_record(&env);
        assert!(
            last["cause"]
                .as_str()
                .is_some_and(|c| c.contains("verification")),
            "{last}"
        );
        assert!(run.stdout.is_empty());
    }
    original.save(&store, &paths).expect("restore");
    assert_eq!(tenants_read(&env), [json!("t1")]);
    env.assert_no_secrets(&[id, access]);
}

/// Finding 3: an expiry moved far into the future in the session file does not keep a session
/// alive: the tokens' own expiry decides (their lifetime here is one second).
#[test]
fn a_far_future_expiry_in_the_session_file_keeps_nothing_alive() {
    let (oidc, env) = require!(
        crate::fixtures::setup(
            &[("OIDC_ACCESS_TTL", "1"), ("OIDC_ID_TTL", "1")],
            "cosmoscope-cli",
        ),
        crate::harness::PROVIDER
    );
    // No offline_access: the session cannot be renewed.
    let cfg = std::fs::read_to_string(env.config_file())
        .expect("config")
        .replace(", \"offline_access\"", "");
    env.write_config(&cfg);
    crate::fixtures::export_policy(&env, "https://cosmoscope.test/roles");
    crate::fixtures::login_as(&env, &oidc, "bob").ok();
    let file = env.state_dir().join("sessions/dev.json");
    let mut info: Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("session")).expect("json");
    info["expires_at"] = json!(4_000_000_000_u64);
    std::fs::write(&file, info.to_string()).expect("write");
    let run = env.run(&["token", "--resource", "idp"]);
    run.code(3).stderr_has("expired");
    assert!(run.stdout.is_empty(), "no token leaves");
    let last = last_record(&env);
    assert_eq!(
        (last["action"].as_str(), last["decision"].as_str()),
        (Some("export"), Some("error")),
        "{last}"
    );
}

/// A provider that lies: it answers each request with what `route(method, path, base)` says and
/// counts the requests it got. A hand-written peer, because these are faults no real provider
/// sends on purpose.
struct Hostile {
    base: String,
    hits: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

type Reply = (u16, Vec<(String, String)>, Vec<u8>);

impl Hostile {
    fn start(route: impl Fn(&str, &str, &str) -> Reply + Send + 'static) -> Hostile {
        use std::fmt::Write as _;
        use std::io::{BufRead as _, Read as _, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (b, h) = (base.clone(), hits.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut reader = std::io::BufReader::new(&stream);
                let mut line = String::new();
                let _ = reader.read_line(&mut line);
                let mut parts = line.split_whitespace();
                let (method, path) = (
                    parts.next().unwrap_or("").to_string(),
                    parts.next().unwrap_or("").to_string(),
                );
                let mut length = 0usize;
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                        break;
                    }
                    if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let (status, headers, payload) = route(&method, &path, &b);
                let mut out = &stream;
                let mut head = format!("HTTP/1.1 {status} X\r\nconnection: close\r\n");
                for (k, v) in headers {
                    let _ = write!(head, "{k}: {v}\r\n");
                }
                head.push_str("\r\n");
                let _ = out.write_all(head.as_bytes());
                let _ = out.write_all(&payload);
            }
        });
        Hostile { base, hits }
    }

    fn hits(&self) -> usize {
        self.hits.load(std::sync::atomic::Ordering::SeqCst)
    }
}

fn json_reply(v: &Value) -> Reply {
    (
        200,
        vec![("content-type".into(), "application/json".into())],
        v.to_string().into_bytes(),
    )
}

fn discovery(base: &str, overrides: &Value) -> Value {
    let mut d = json!({
        "issuer": base,
        "token_endpoint": format!("{base}/token"),
        "jwks_uri": format!("{base}/jwks"),
        "device_authorization_endpoint": format!("{base}/device"),
    });
    for (k, v) in overrides.as_object().expect("object") {
        d[k] = v.clone();
    }
    d
}

fn login_against(hostile: &Hostile) -> Run {
    let env = TestEnv::new();
    env.write_profile(&hostile.base, "cosmoscope-cli", "keyutils");
    let run = env.run(&["login", "--no-browser", "-o", "json"]);
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains('\u{1b}'), "{:?}", run.stderr);
    assert!(!env.state_dir().join("sessions/dev.json").exists());
    run
}

/// Finding 7: a body larger than 1 MiB is refused without being read whole, with or without a
/// Content-Length.
#[test]
fn an_oversized_provider_answer_is_refused() {
    for announce in [true, false] {
        let hostile = Hostile::start(move |_, _, _| {
            let body = vec![b' '; 2 << 20];
            let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
            if announce {
                headers.push(("content-length".into(), body.len().to_string()));
            }
            (200, headers, body)
        });
        login_against(&hostile).stderr_has("larger than 1024 KiB");
    }
}

/// Finding 8: a POST follows no redirect (the form is never re-sent to another origin), a GET
/// follows none to plain http, and every URL of the discovery document must be https (or
/// loopback).
#[test]
fn redirects_and_plain_http_endpoints_are_refused() {
    // The device request is answered with a 307 to a second server, which must see nothing.
    let thief = Hostile::start(|_, _, _| json_reply(&json!({})));
    let thief_url = format!("{}/steal", thief.base);
    let hostile = Hostile::start(move |method, path, base| match (method, path) {
        ("GET", "/.well-known/openid-configuration") => json_reply(&discovery(base, &json!({}))),
        _ => (
            307,
            vec![("location".into(), thief_url.clone())],
            Vec::new(),
        ),
    });
    login_against(&hostile);
    assert_eq!(thief.hits(), 0, "the form went to another origin");

    // Discovery redirected to plain http on another host: not followed.
    let hostile = Hostile::start(|_, _, _| {
        (
            302,
            vec![(
                "location".into(),
                "http://login.example.com/.well-known/openid-configuration".into(),
            )],
            Vec::new(),
        )
    });
    login_against(&hostile).stderr_has("not https");

    // Endpoints on plain http (not loopback) in the discovery document.
    for key in [
        "token_endpoint",
        "jwks_uri",
        "device_authorization_endpoint",
        "revocation_endpoint",
    ] {
        let hostile = Hostile::start(move |_, _, base| {
            json_reply(&discovery(
                base,
                &json!({ key: "http://login.example.com/x" }),
            ))
        });
        login_against(&hostile).stderr_has(key);
    }
}

/// Finding 20: the device answer's URL is opened or shown only when it is https (or loopback),
/// and a user code with control characters is refused.
#[test]
fn provider_strings_never_drive_the_terminal_or_the_browser() {
    for (uri, code) in [
        ("javascript:alert(1)", "ABCD-EFGH"),
        ("file:///etc/passwd", "ABCD-EFGH"),
        (
            "https://login.example.com/device",
            "AB\u{1b}]0;owned\u{7}CD",
        ),
    ] {
        let hostile = Hostile::start(move |method, _, base| {
            if method == "GET" {
                json_reply(&discovery(base, &json!({})))
            } else {
                json_reply(&json!({
                    "device_code": "d", "user_code": code, "verification_uri": uri,
                    "expires_in": 600, "interval": 1
                }))
            }
        });
        let run = login_against(&hostile);
        run.stderr_has("device authorization endpoint");
        assert!(
            !run.stdout.contains("\"event\":\"device_code\""),
            "{}",
            run.stdout
        );
    }
}

/// Finding 14: a state or config directory, a config or policy file that another user may write,
/// or an audit log that is a symbolic link, is refused; nothing is written through it.
#[test]
fn shared_or_linked_state_and_config_are_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let (_oidc, _peer, env) = require!(stack("alice"), STACK);
    let query = ["query", "-c", "orders", "SELECT c.id FROM c"];
    let chmod = |path: &std::path::Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    };
    let audit_len =
        || std::fs::metadata(env.state_dir().join("audit.jsonl")).map_or(0, |m| m.len());
    for (path, mode, restore, says) in [
        (
            env.state_dir(),
            0o777,
            0o700,
            "may be written by other users",
        ),
        (
            env.state_dir().join("sessions"),
            0o770,
            0o700,
            "may be written by other users",
        ),
        (
            env.config_dir(),
            0o757,
            0o755,
            "may be written by other users",
        ),
        (
            env.config_file(),
            0o666,
            0o644,
            "may be written by other users",
        ),
        (
            env.config_dir().join("policy.toml"),
            0o646,
            0o644,
            "may be written by other users",
        ),
    ] {
        chmod(&path, mode);
        let before = audit_len();
        let run = env.run(&query);
        assert_ne!(run.code, 0, "{}: {}", path.display(), run.stdout);
        run.stderr_has(says);
        assert!(run.stdout.is_empty());
        // Nothing was written, or only the record of the refusal.
        if audit_len() != before {
            let last = last_record(&env);
            assert_eq!(last["decision"], json!("error"), "{last}");
            assert!(
                last["cause"].as_str().is_some_and(|c| c.contains(says)),
                "{last}"
            );
        }
        chmod(&path, restore);
    }
    env.run(&query).ok();
    // The audit log as a link to a file elsewhere: not followed, nothing runs.
    let log = env.state_dir().join("audit.jsonl");
    let elsewhere = env.dir.path().join("elsewhere.jsonl");
    std::fs::rename(&log, &elsewhere).expect("move");
    std::os::unix::fs::symlink(&elsewhere, &log).expect("symlink");
    let before = std::fs::metadata(&elsewhere).expect("log").len();
    env.run(&query)
        .code(1)
        .stderr_has("cannot write the audit log");
    assert_eq!(std::fs::metadata(&elsewhere).expect("log").len(), before);
}

/// A locked system configuration (the bastion recipe): the invoking user's flags, environment and
/// own config file cannot replace it or its policy.
#[test]
fn a_locked_system_config_cannot_be_replaced() {
    let (_oidc, _peer, env) = require!(stack("alice"), STACK);
    // The user's own config allows alice her tenant; the administrator's allows nothing to her.
    let etc = env.dir.path().join("etc");
    std::fs::create_dir_all(&etc).expect("mkdir");
    let admin_only = "[[roles]]\nname = \"admin\"\nwhen = { claim = \"https://cosmoscope.test/roles\", contains = \"admin\" }\n  [[roles.grants]]\n  database = \"shop\"\n  containers = [\"*\"]\n  actions = [\"query\"]\n  partition_key = \"any\"\n";
    std::fs::write(etc.join("policy.toml"), admin_only).expect("policy");
    let user_config = std::fs::read_to_string(env.config_file()).expect("config");
    let system = etc.join("config.toml");
    std::fs::write(&system, format!("locked = true\n{user_config}")).expect("system config");
    let query = ["query", "-c", "orders", "SELECT c.id FROM c"];
    env.run(&query).ok();
    let env = env.with_env("COSMOSCOPE_SYSTEM_CONFIG", system.to_str().expect("utf-8"));
    let run = env.run(&query);
    assert_denied(&env, &run, "query");
    run.stderr_has("role \"admin\" does not apply");
    let user_file = env.config_file();
    let user_file = user_file.to_str().expect("utf-8");
    env.run(&[
        "--config",
        user_file,
        "query",
        "-c",
        "orders",
        "SELECT c.id FROM c",
    ])
    .code(2)
    .stderr_has("is locked");
    env.run_with(&[("COSMOSCOPE_CONFIG", user_file)], &query)
        .code(2)
        .stderr_has("is locked");
    env.run(&[
        "init",
        "--issuer",
        "https://login.example.com/",
        "--client-id",
        "c",
    ])
    .code(2)
    .stderr_has("is locked");
    // A system configuration without `locked` is only the fallback for a user without one.
    std::fs::write(&system, &user_config).expect("unlocked");
    env.run(&query).ok();
}

/// Finding 15: with `redact_queries = true` the audit log keeps neither the query nor a hash a
/// dictionary could reverse.
#[test]
fn redacted_queries_leave_nothing_to_reverse() {
    let (_oidc, _peer, env) = require!(stack("bob"), STACK);
    let cfg = std::fs::read_to_string(env.config_file()).expect("config");
    env.write_config(&format!("{cfg}\n[audit]\nredact_queries = true\n"));
    let sql = "SELECT c.id FROM c WHERE c.customer_id = 'c004'";
    env.run(&["query", "-c", "orders", sql]).ok();
    let last = last_record(&env);
    assert_eq!(last["query_redacted"], json!(true), "{last}");
    assert!(
        last.get("query").is_none() && last.get("query_sha256").is_none(),
        "{last}"
    );
    let log = std::fs::read_to_string(env.state_dir().join("audit.jsonl")).expect("log");
    assert!(!log.contains("c004"), "the literal is nowhere in the log");
}

/// Finding 1: with a broker credential, `token` and `exec` still need a live, verified session of
/// the person: a session expired days ago, not refreshable, with nothing in the keyring, exports
/// nothing (the broker is never asked).
#[test]
fn a_dead_session_exports_no_broker_credential() {
    let (oidc, _peer, env) = require!(stack("bob"), STACK);
    let cfg = std::fs::read_to_string(env.config_file())
        .expect("config")
        .replace(
            "credential = \"entra\"",
            "credential = \"client-secret\"\ntenant_id = \"t\"\nclient_id = \"broker\"\nauthority_host = \"https://127.0.0.1:9/\"",
        );
    env.write_config(&cfg);
    use_policy(&env, &format!("{}{EXPORT_GRANT}", crate::fixtures::POLICY));
    // Days ago, not refreshable, and the keyring emptied.
    let (store, paths, _) = vault(&env, &oidc.issuer);
    Secrets::delete(&store, &paths).expect("delete");
    let file = env.state_dir().join("sessions/dev.json");
    let mut info: Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("session")).expect("json");
    info["expires_at"] = json!(now() - 3 * 86_400);
    info["refreshable"] = json!(false);
    std::fs::write(&file, info.to_string()).expect("write");
    for args in [&["token"][..], &["exec", "--", "true"]] {
        let run = env.run_with(&[("AZURE_CLIENT_SECRET", "broker-secret-value")], args);
        run.code(3).stderr_has("expired");
        assert!(run.stdout.is_empty());
        let last = last_record(&env);
        assert_eq!(
            (last["action"].as_str(), last["decision"].as_str()),
            (Some("export"), Some("error")),
            "{last}"
        );
    }
    env.assert_no_secrets(&["broker-secret-value".to_string()]);
}

/// Finding 11: a refresh answered for another subject — a properly signed ID token for someone
/// else — is refused and changes nothing; a refresh answer without an ID token keeps the session
/// (the stored ID token still proves who it is, and must still verify).
#[test]
fn a_refresh_for_another_subject_is_refused() {
    let (oidc, env) = require!(
        crate::fixtures::setup(
            &[("OIDC_ACCESS_TTL", "1"), ("OIDC_ID_TTL", "1")],
            "cosmoscope-cli",
        ),
        crate::harness::PROVIDER
    );
    crate::fixtures::export_policy(&env, "https://cosmoscope.test/roles");
    crate::fixtures::login_as(&env, &oidc, "bob").ok();
    let before = crate::fixtures::stored_tokens(&env, &oidc.issuer);
    // (A one-second session is never fresh: every command refreshes.)
    oidc.admin("forge", json!({"mode": "other-sub", "target": "id_token"}));
    let run = env.run(&["token", "--resource", "idp"]);
    run.code(3)
        .stderr_has("renewed the session for another person");
    assert!(run.stdout.is_empty());
    let refresh = env
        .audit()
        .into_iter()
        .rev()
        .find(|r| r["action"] == "refresh")
        .expect("a refresh record");
    assert_eq!(refresh["cause"], json!("subject_changed"), "{refresh}");
    assert_eq!(crate::fixtures::stored_tokens(&env, &oidc.issuer), before);
    let status = env.run(&["status", "-o", "json"]);
    assert_eq!(status.json()["subject"], json!("bob"));
    // The refused answer spent the rotated refresh token at the provider: sign in again. Then an
    // answer without an ID token: the session goes on, still bob's.
    crate::fixtures::login_as(&env, &oidc, "bob").ok();
    oidc.admin("forge", json!({"mode": "drop", "target": "id_token"}));
    let out = env
        .cmd()
        .args(["token", "--resource", "idp"])
        .output()
        .expect("token");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = env.run(&["status", "-o", "json"]);
    assert_eq!(status.json()["subject"], json!("bob"));
}
