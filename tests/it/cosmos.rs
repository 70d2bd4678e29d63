//! cosmoscope against the local Cosmos DB peer: key mode, error mapping, queries cross-checked
//! with the Python SDK, partition pinning, paging, throttling, point operations.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use cosmoscope::commands::run_query::stream_query;
use cosmoscope::cosmos::client::{self, CosmosAuth};
use cosmoscope::cosmos::{Cosmos, CosmosError, ExecOptions, QueryPlan, QueryStats};
use cosmoscope::error::CommandError;
use cosmoscope::output::Ui;
use cosmoscope::output::{ColorChoice, OutputFormat};
use cosmoscope::settings::{CosmosSettings, CredentialKind};
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::cosmos_peer::{CliEnv, JwtKeys, Peer, PeerOptions, TokenEndpoint, certs, parse_ndjson};

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn quiet_ui() -> Ui {
    Ui::new(None, true, 0, ColorChoice::Never, true, true)
}

fn settings(peer: &Peer) -> CosmosSettings {
    let _ = certs(); // trust the test CA and disable the IMDS probe before building
    let mut s = CosmosSettings::new(peer.endpoint.clone(), CredentialKind::Key);
    s.database = Some("shop".into());
    s.http2 = false;
    s
}

async fn connect_with_key(peer: &Peer, key: &str) -> Result<Cosmos, CosmosError> {
    client::build(
        &settings(peer),
        CosmosAuth::Key(SecretString::from(key.to_string())),
    )
    .await
}

async fn connect(peer: &Peer) -> Cosmos {
    connect_with_key(peer, &peer.key).await.expect("client")
}

/// Runs a plan through the same path as `cosmoscope query -o ndjson`.
async fn ndjson(
    cosmos: &Cosmos,
    plan: &QueryPlan,
    exec: ExecOptions,
) -> Result<(Vec<Value>, QueryStats), CommandError> {
    let buf = Buf::default();
    let stats = stream_query(
        &quiet_ui(),
        cosmos,
        plan,
        OutputFormat::Ndjson,
        exec,
        Box::new(buf.clone()),
    )
    .await?;
    let bytes = buf.0.lock().expect("lock").clone();
    Ok((parse_ndjson(&bytes), stats))
}

fn plan(container: &str, sql: &str) -> QueryPlan {
    QueryPlan::for_tests("shop", container, sql, Vec::new(), None, None)
}

fn sorted(mut v: Vec<Value>) -> Vec<Value> {
    v.sort_by_key(ToString::to_string);
    v
}

/// (container, sql, params, partition key, ordered)
type Case = (
    &'static str,
    &'static str,
    Vec<(&'static str, Value)>,
    Option<Value>,
    bool,
);

#[tokio::test]
async fn queries_match_the_python_sdk() {
    let peer = Peer::start();
    peer.seed_shop();
    let cosmos = connect(&peer).await;
    let cases: Vec<Case> = vec![
        ("orders", "SELECT * FROM c", vec![], None, false),
        (
            "customers",
            "SELECT * FROM c WHERE c.tenant_id = 't2'",
            vec![],
            Some(json!("t2")),
            false,
        ),
        (
            "orders",
            "SELECT c.id, c.total FROM c WHERE c.total > @min AND c.status = @status",
            vec![("@min", json!(100)), ("@status", json!("shipped"))],
            None,
            false,
        ),
        (
            "orders",
            "SELECT c.id, c.total FROM c ORDER BY c.total DESC",
            vec![],
            None,
            true,
        ),
        (
            "orders",
            "SELECT TOP 5 c.id, c.order_date FROM c ORDER BY c.order_date",
            vec![],
            None,
            true,
        ),
        (
            "customers",
            "SELECT c.id FROM c ORDER BY c.id OFFSET 3 LIMIT 4",
            vec![],
            None,
            true,
        ),
        (
            "orders",
            "SELECT o.id, i.sku, i.qty FROM o JOIN i IN o.items WHERE i.qty > 1",
            vec![],
            None,
            false,
        ),
        (
            "customers",
            "SELECT c.id, c.address.city, {\"tier\": c.tier, \"year\": c.profile.customer.birth_year} AS facts, ARRAY_LENGTH(c.tags) AS ntags FROM c",
            vec![],
            None,
            false,
        ),
        (
            "orders",
            "SELECT VALUE o.shipping.address.city FROM o WHERE o.tenant_id = @t",
            vec![("@t", json!("t3"))],
            Some(json!("t3")),
            false,
        ),
    ];
    for (container, sql, params, pk, ordered) in cases {
        let expected = peer.pyquery("shop", container, sql, &params, pk.as_ref());
        assert!(!expected.is_empty(), "fixture gives rows for {sql}");
        let p = QueryPlan::for_tests(
            "shop",
            container,
            sql,
            params
                .iter()
                .map(|(n, v)| ((*n).to_string(), v.clone()))
                .collect(),
            pk.map(|k| vec![vec![k]]),
            None,
        );
        let (got, stats) = ndjson(&cosmos, &p, ExecOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{sql}: {}", e.render()));
        assert_eq!(stats.items, got.len() as u64);
        if ordered {
            assert_eq!(got, expected, "{sql}");
        } else {
            assert_eq!(sorted(got), sorted(expected), "{sql}");
        }
    }
}

#[tokio::test]
async fn pinned_partitions_return_only_those_partitions() {
    let peer = Peer::start();
    peer.seed_shop();
    let cosmos = connect(&peer).await;
    let p = QueryPlan::for_tests(
        "shop",
        "orders",
        "SELECT * FROM c",
        Vec::new(),
        Some(vec![vec![json!("t1")], vec![json!("t3")]]),
        None,
    );
    let (got, _) = ndjson(&cosmos, &p, ExecOptions::default())
        .await
        .expect("query");
    let tenants: std::collections::BTreeSet<&str> =
        got.iter().filter_map(|d| d["tenant_id"].as_str()).collect();
    assert_eq!(tenants.into_iter().collect::<Vec<_>>(), ["t1", "t3"]);
    let mut expected = peer.pyquery("shop", "orders", "SELECT * FROM c", &[], Some(&json!("t1")));
    expected.extend(peer.pyquery("shop", "orders", "SELECT * FROM c", &[], Some(&json!("t3"))));
    assert_eq!(sorted(got), sorted(expected));
}

#[tokio::test]
async fn small_pages_return_everything_and_max_items_stops() {
    let peer = Peer::start();
    peer.seed_shop();
    let cosmos = connect(&peer).await;
    peer.reset_stats().await;
    let exec = ExecOptions {
        page_size: NonZeroU32::new(4),
        ..ExecOptions::default()
    };
    let (got, stats) = ndjson(&cosmos, &plan("orders", "SELECT * FROM c"), exec)
        .await
        .expect("query");
    assert_eq!(got.len(), 30);
    assert!(stats.pages >= 8, "30 documents in pages of 4: {stats:?}");
    assert!(stats.request_charge > 0.0, "{stats:?}");
    let s = peer.stats().await;
    let recent = s["recent"].as_array().expect("recent");
    assert!(
        recent
            .iter()
            .any(|r| r["max_item_count"] == json!(4) || r["max_item_count"] == json!("4")),
        "the page size reached the server: {s}"
    );

    let limited = QueryPlan::for_tests(
        "shop",
        "orders",
        "SELECT * FROM c",
        Vec::new(),
        None,
        Some(7),
    );
    let (got, stats) = ndjson(&cosmos, &limited, exec).await.expect("query");
    assert_eq!(got.len(), 7);
    assert!(stats.truncated);
}

#[tokio::test]
async fn throttling_is_retried_with_retry_after() {
    let peer = Peer::start();
    peer.seed_shop();
    let cosmos = connect(&peer).await;
    // Warm up (metadata requests), then throttle the next two document queries.
    ndjson(
        &cosmos,
        &plan("orders", "SELECT * FROM c"),
        ExecOptions::default(),
    )
    .await
    .expect("warm-up");
    peer.fault(json!({"status": 429, "retry_after_ms": 50, "count": 2, "path_contains": "/docs"}))
        .await;
    let (got, _) = ndjson(
        &cosmos,
        &plan("orders", "SELECT * FROM c"),
        ExecOptions::default(),
    )
    .await
    .expect("retried");
    assert_eq!(got.len(), 30);
    let s = peer.stats().await;
    assert!(s["faults_applied"].as_u64().unwrap_or(0) >= 2, "{s}");

    // More throttling than the bounded retries allow: reported as throttled, not hung.
    peer.fault(json!({"status": 429, "retry_after_ms": 10, "count": 50, "path_contains": "/docs"}))
        .await;
    let err = ndjson(
        &cosmos,
        &plan("orders", "SELECT * FROM c"),
        ExecOptions::default(),
    )
    .await
    .expect_err("429");
    assert!(err.render().contains("429"), "{}", err.render());
    peer.clear_faults().await;
}

#[tokio::test]
async fn wrong_key_and_untrusted_ca_are_mapped() {
    let peer = Peer::start();
    peer.seed_shop();
    let wrong = "d3Jvbmcga2V5IHdyb25nIGtleSB3cm9uZyBrZXkgd3Jvbmcga2V5IHdyb25nIGtleQ==";
    let e = match connect_with_key(&peer, wrong).await {
        Err(e) => e,
        Ok(cosmos) => match ndjson(
            &cosmos,
            &plan("orders", "SELECT * FROM c"),
            ExecOptions::default(),
        )
        .await
        {
            Err(e) => panic!("expected a CosmosError, got {}", e.render()),
            Ok(_) => panic!("a wrong key must be refused"),
        },
    };
    assert!(matches!(e, CosmosError::Unauthorized { .. }), "{e:?}");
    let ce: CommandError = e.into();
    assert_eq!(ce.exit.code(), 5, "{}", ce.render());
    assert!(ce.render().contains("hint:"), "{}", ce.render());
}

#[tokio::test]
async fn cli_key_mode_items_and_errors() {
    let peer = Peer::start();
    peer.seed_shop();
    let env = CliEnv::new(&peer, "");

    // ls through the stored key.
    let (code, out, err) = env.run_with_key(&peer.key, &["ls", "containers", "-o", "json"], "");
    assert_eq!(code, 0, "{err}");
    let ids: Vec<String> = serde_json::from_str::<Vec<Value>>(&out)
        .expect("json")
        .iter()
        .map(|c| c["id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(ids, ["customers", "orders"]);

    // get
    let (code, out, err) = env.run_with_key(
        &peer.key,
        &[
            "item",
            "get",
            "--container",
            "customers",
            "--partition-key",
            "\"t1\"",
            "c001",
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(doc["name"], "Ada Lovelace");
    assert!(err.contains("1 item ·"), "{err}");

    // upsert a new item (no confirmation needed), then over it: refused without --yes.
    let new_doc = r#"{"id": "c900", "tenant_id": "t1", "name": "New"}"#;
    let (code, _, err) = env.run_with_key(
        &peer.key,
        &[
            "item",
            "upsert",
            "--container",
            "customers",
            "--partition-key",
            "\"t1\"",
            "c900",
        ],
        new_doc,
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("created"), "{err}");
    let (code, _, err) = env.run_with_key(
        &peer.key,
        &[
            "--no-input",
            "item",
            "upsert",
            "--container",
            "customers",
            "--partition-key",
            "\"t1\"",
            "c900",
        ],
        new_doc,
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--yes"), "{err}");
    let changed = r#"{"id": "c900", "tenant_id": "t1", "name": "Changed"}"#;
    let (code, _, err) = env.run_with_key(
        &peer.key,
        &[
            "--no-input",
            "item",
            "upsert",
            "--container",
            "customers",
            "--partition-key",
            "\"t1\"",
            "c900",
            "--yes",
        ],
        changed,
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("replaced"), "{err}");
    let check = peer.pyquery(
        "shop",
        "customers",
        "SELECT c.name FROM c WHERE c.id = 'c900'",
        &[],
        Some(&json!("t1")),
    );
    assert_eq!(check, [json!({"name": "Changed"})]);

    // delete, then a get of the missing item: exit 1 naming the item.
    let (code, _, err) = env.run_with_key(
        &peer.key,
        &[
            "item",
            "delete",
            "--container",
            "customers",
            "--partition-key",
            "\"t1\"",
            "c900",
            "--yes",
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = env.run_with_key(
        &peer.key,
        &[
            "item",
            "get",
            "--container",
            "customers",
            "--partition-key",
            "\"t1\"",
            "c900",
        ],
        "",
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("item does not exist"), "{err}");
    let (code, _, err) = env.run_with_key(
        &peer.key,
        &[
            "item",
            "get",
            "--container",
            "nope",
            "--partition-key",
            "\"t1\"",
            "c1",
        ],
        "",
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("container"), "{err}");

    // A wrong stored key: 401 → exit 5 with a hint.
    let (code, _, err) = env.run_with_key("d3Jvbmcga2V5", &["ls", "databases"], "");
    assert_eq!(code, 5, "{err}");
    assert!(
        err.contains("error: Cosmos DB rejected the credential") && err.contains("hint:"),
        "{err}"
    );

    // No key stored at all.
    let (code, _, err) = env.run(&["ls", "databases"], "");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("account-key set"), "{err}");

    // The account key went in on stdin only: no output, file or audit record of any command
    // above holds it.
    env.env.assert_no_secrets(std::slice::from_ref(&peer.key));
}

#[tokio::test]
async fn cli_local_auth_disabled_is_exit_5() {
    let peer = Peer::start_with(PeerOptions {
        deny_local_auth: true,
        ..PeerOptions::default()
    });
    let env = CliEnv::new(&peer, "");
    let (code, _, err) = env.run_with_key(&peer.key, &["ls", "databases"], "");
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("local authorization is disabled"), "{err}");
    assert!(err.contains("credential = \"entra\""), "{err}");
}

#[tokio::test]
async fn a_cross_partition_aggregate_is_merged_from_the_gateways_plan() {
    let peer = Peer::start();
    peer.seed_shop();
    let cosmos = connect(&peer).await;
    // Across the peer's three physical partitions: the gateway's plan, one partial count per
    // range, one merged answer.
    let (got, _) = ndjson(
        &cosmos,
        &plan("orders", "SELECT COUNT(1) AS n FROM c"),
        ExecOptions::default(),
    )
    .await
    .expect("merged aggregate");
    let total = peer
        .pyquery("shop", "orders", "SELECT VALUE COUNT(1) FROM c", &[], None)
        .first()
        .and_then(Value::as_u64)
        .expect("python count");
    assert_eq!(got, vec![json!({"n": total})]);
    // A gateway that refuses the plan (400/1004 injected on it): exit 2, and the way around it.
    peer.fault(json!({
        "status": 400, "substatus": 1004, "count": 1, "path_contains": "/docs", "method": "POST",
        "message": "The provided cross partition query can not be directly served by the gateway."
    }))
    .await;
    let r = ndjson(
        &cosmos,
        &plan("orders", "SELECT COUNT(1) AS n FROM c"),
        ExecOptions::default(),
    )
    .await;
    peer.clear_faults().await;
    let err = r.expect_err("refused across partitions");
    assert_eq!(err.exit.code(), 2, "{}", err.render());
    assert!(err.render().contains("--partition-key"), "{}", err.render());
}

const AAD_AUDIENCE: &str = "https://cosmos.azure.com";
const AAD_ISSUER: &str = "http://127.0.0.1/test-issuer";

/// `credential = "entra"`: the session's own token reaches Cosmos through the TokenCredential.
#[tokio::test]
async fn entra_session_token_reaches_cosmos() {
    use cosmoscope::cosmos::credential::{SessionTokenCredential, TokenSource};
    use std::sync::atomic::{AtomicUsize, Ordering};

    let keys = JwtKeys::generate();
    let peer = Peer::start_with(PeerOptions {
        jwks_file: Some(keys.jwks()),
        audience: Some(AAD_AUDIENCE.into()),
        issuer: Some(AAD_ISSUER.into()),
        ..PeerOptions::default()
    });
    peer.seed_shop();

    let session = |token: String, calls: Arc<AtomicUsize>| -> TokenSource {
        Arc::new(move || {
            calls.fetch_add(1, Ordering::SeqCst);
            let token = token.clone();
            Box::pin(async move { Ok((SecretString::from(token), 4_000_000_000)) })
        })
    };
    let calls = Arc::new(AtomicUsize::new(0));
    let good = keys.sign(AAD_AUDIENCE, AAD_ISSUER);
    let cosmos = client::build(
        &settings(&peer),
        CosmosAuth::Token(SessionTokenCredential::new(session(good, calls.clone()))),
    )
    .await
    .expect("client with the session token");
    let (got, _) = ndjson(
        &cosmos,
        &plan("orders", "SELECT * FROM c"),
        ExecOptions::default(),
    )
    .await
    .expect("query with the session token");
    assert_eq!(got.len(), 30);
    // Every request of the command (account, container, partition ranges, pages) carries the
    // token, and the session is asked for it once.
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the session is asked for its token once per command"
    );
    let s = peer.stats().await;
    assert_eq!(s["auth_failures"], json!(0), "{s}");

    // A token for another audience: 401 → exit 5, with a hint about the Cosmos scope.
    let wrong = keys.sign("https://graph.example", AAD_ISSUER);
    let err: CommandError = match client::build(
        &settings(&peer),
        CosmosAuth::Token(SessionTokenCredential::new(session(wrong, calls.clone()))),
    )
    .await
    {
        Err(e) => e.into(),
        Ok(cosmos) => ndjson(
            &cosmos,
            &plan("orders", "SELECT * FROM c"),
            ExecOptions::default(),
        )
        .await
        .expect_err("wrong audience refused"),
    };
    assert_eq!(err.exit.code(), 5, "{}", err.render());
    assert!(
        err.render().contains("another audience"),
        "{}",
        err.render()
    );
    assert!(
        err.render().contains("cosmos.azure.com/.default"),
        "{}",
        err.render()
    );
}

/// `credential = "client-secret"`: azure_identity's ClientSecretCredential against a local
/// authority host; the secret comes from AZURE_CLIENT_SECRET only.
#[tokio::test]
async fn cli_client_secret_broker_identity() {
    let keys = JwtKeys::generate();
    let peer = Peer::start_with(PeerOptions {
        jwks_file: Some(keys.jwks()),
        audience: Some(AAD_AUDIENCE.into()),
        issuer: Some(AAD_ISSUER.into()),
        deny_local_auth: true,
        ..PeerOptions::default()
    });
    let tokens = TokenEndpoint::start(&keys, "broker-app", "s3cret-value", AAD_ISSUER);
    let env = CliEnv::new(&peer, "");
    let config = std::fs::read_to_string(&env.config).expect("config").replace(
        "credential = \"key\"",
        &format!(
            "credential = \"client-secret\"\ntenant_id = \"test-tenant\"\nclient_id = \"broker-app\"\nauthority_host = \"{}\"",
            tokens.authority_host
        ),
    );
    std::fs::write(&env.config, config).expect("config");

    let (code, out, err) = env.run_env(
        &["ls", "databases", "-o", "json"],
        "",
        &[("AZURE_CLIENT_SECRET", "s3cret-value")],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).expect("json"),
        json!([])
    );

    let (code, _, err) = env.run_env(
        &["ls", "databases"],
        "",
        &[("AZURE_CLIENT_SECRET", "wrong")],
    );
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("cannot get a token"), "{err}");
    assert!(!err.contains("wrong"), "the secret is never echoed: {err}");

    let (code, _, err) = env.run(&["ls", "databases"], "");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("AZURE_CLIENT_SECRET"), "{err}");

    // The broker's token leaves only through `token`, because bob's grant allows export.
    let (code, out, err) = env.run_env(
        &["token", "--format", "json"],
        "",
        &[("AZURE_CLIENT_SECRET", "s3cret-value")],
    );
    assert_eq!(code, 0, "{err}");
    let printed: Value = serde_json::from_str(&out).expect("json");
    let token = printed["token"].as_str().expect("token");
    let claims = cosmoscope::identity::verify::unverified_claims(token).expect("a JWT");
    assert_eq!(claims["iss"], json!(AAD_ISSUER));
    assert!(!err.contains("s3cret-value"));
}

/// `credential = "azure-cli"`: azure_identity's AzureCliCredential starts `az` for every token it
/// is asked for, and the Cosmos driver asks on every request; behind cosmoscope's cache one command
/// starts it once. (The real Azure CLI cannot sign in here — it needs an Entra tenant — so `az` is a
/// script that answers as `az account get-access-token --output json` does and counts its runs.)
#[tokio::test]
async fn cli_azure_cli_starts_az_once_per_command() {
    let keys = JwtKeys::generate();
    let peer = Peer::start_with(PeerOptions {
        jwks_file: Some(keys.jwks()),
        audience: Some(AAD_AUDIENCE.into()),
        issuer: Some(AAD_ISSUER.into()),
        ..PeerOptions::default()
    });
    peer.seed_shop();
    let env = CliEnv::new(&peer, "");
    let config = std::fs::read_to_string(&env.config)
        .expect("config")
        .replace("credential = \"key\"", "credential = \"azure-cli\"");
    std::fs::write(&env.config, config).expect("config");
    let bin = tempfile::tempdir().expect("tempdir");
    let runs = bin.path().join("runs");
    let token = keys.sign(AAD_AUDIENCE, AAD_ISSUER);
    let az = bin.path().join("az");
    std::fs::write(
        &az,
        format!(
            "#!/bin/sh\necho \"$*\" >> {}\nprintf '%s' '{{\"accessToken\":\"{token}\",\"expiresOn\":\"2099-01-01 00:00:00.000000\",\"expires_on\":4070908800,\"tokenType\":\"Bearer\"}}'\n",
            runs.display()
        ),
    )
    .expect("az");
    std::fs::set_permissions(&az, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let (code, out, err) = env.run_env(
        &[
            "query",
            "--container",
            "orders",
            "-o",
            "ndjson",
            "SELECT * FROM c",
        ],
        "",
        &[("PATH", &path)],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().count() > 1, "{out}");
    let started = std::fs::read_to_string(&runs).expect("az ran");
    assert_eq!(started.lines().count(), 1, "az started once: {started}");
    assert!(started.contains("get-access-token"), "{started}");
    assert!(!err.contains(&token) && !out.contains(&token));
}

/// `query` over every order with the account key: it must succeed with rows; returns stderr.
fn query_all_orders(env: &CliEnv, peer: &Peer) -> String {
    let (code, out, err) = env.run_with_key(
        &peer.key,
        &[
            "query",
            "--container",
            "orders",
            "-o",
            "ndjson",
            "SELECT * FROM c",
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().count() > 1, "{out}");
    err
}

/// A server that speaks only HTTP/1.1 (the local peer, some proxies and emulators) refuses the
/// SDK's `h2`-only TLS offer with `no_application_protocol`; the client falls back to HTTP/1.1
/// by itself, without `http2 = false`.
#[tokio::test]
async fn cli_a_server_without_http2_is_reached_over_http11() {
    let peer = Peer::start();
    peer.seed_shop();
    let env = CliEnv::new(&peer, "");
    let config = std::fs::read_to_string(&env.config)
        .expect("config")
        .replace("http2 = false\n", "");
    std::fs::write(&env.config, config).expect("config");
    let err = query_all_orders(&env, &peer);
    assert!(!err.contains("NoApplicationProtocol"), "{err}");
}

/// Least privilege: `query` reads the one container it queries, never the database's list of
/// containers — a data-plane role assigned on that container alone (no `readMetadata` at database
/// scope) is enough.
#[tokio::test]
async fn cli_query_reads_only_its_container_never_the_database_listing() {
    let peer = Peer::start();
    peer.seed_shop();
    let env = CliEnv::new(&peer, "");
    peer.reset_stats().await;
    query_all_orders(&env, &peer);
    let stats = peer.stats().await;
    let paths: Vec<&str> = stats["recent"]
        .as_array()
        .expect("recent")
        .iter()
        .filter_map(|r| r["path"].as_str())
        .collect();
    assert!(
        paths
            .iter()
            .any(|p| p.starts_with("/dbs/shop/colls/orders")),
        "{paths:?}"
    );
    assert!(
        !paths
            .iter()
            .any(|p| p.trim_end_matches('/') == "/dbs/shop/colls"),
        "no listing of the database's containers: {paths:?}"
    );
    // A container that does not exist is named, with the next step.
    let (code, _, err) = env.run_with_key(
        &peer.key,
        &["query", "--container", "nope", "SELECT * FROM c"],
        "",
    );
    assert_ne!(code, 0);
    assert!(err.contains("\"nope\""), "{err}");
}

/// A data-plane role missing at some scope (the service's 403/5301, injected as a fault: the peer
/// does not model role assignments): the error names the scope that was refused and the command
/// that grants the role there.
#[tokio::test]
async fn cli_a_missing_role_names_its_scope_and_the_az_command() {
    let peer = Peer::start();
    peer.seed_shop();
    let env = CliEnv::new(&peer, "");
    let forbidden = |path: &str| {
        json!({"status": 403, "substatus": 5301, "path_contains": path,
               "message": "Request blocked by Auth: principal does not have required RBAC permissions"})
    };
    peer.fault(forbidden("/dbs/shop/colls")).await;
    let (code, _, err) = env.run_with_key(&peer.key, &["ls", "containers"], "");
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("scope /dbs/shop "), "{err}");
    assert!(
        err.contains("az cosmosdb sql role assignment create")
            && err.contains("--scope \"/dbs/shop\""),
        "{err}"
    );
    peer.clear_faults().await;
    peer.fault(forbidden("/dbs/shop/colls/orders")).await;
    let (code, _, err) = env.run_with_key(
        &peer.key,
        &["query", "--container", "orders", "SELECT * FROM c"],
        "",
    );
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("--scope \"/dbs/shop/colls/orders\""), "{err}");
}

/// TLS trust and reachability failures get their own messages and next steps.
#[tokio::test]
async fn cli_untrusted_certificate_and_unreachable_endpoint() {
    let peer = Peer::start();
    let env = CliEnv::new(&peer, "");
    let other_ca = tempfile::tempdir().expect("tempdir");
    let status = std::process::Command::new(crate::fixtures::venv_python())
        .arg(crate::cosmos_peer::peer_dir().join("gen_cert.py"))
        .arg(other_ca.path())
        .output()
        .expect("gen_cert.py");
    assert!(status.status.success());
    let other = other_ca.path().join("ca.pem");
    let start = std::time::Instant::now();
    let (code, _, err) = {
        let script_env = [("SSL_CERT_FILE", other.to_str().expect("utf-8"))];
        env.run_with_key_env(&peer.key, &["ls", "databases"], "", &script_env)
    };
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("TLS connection"), "{err}");
    assert!(err.contains("SSL_CERT_FILE"), "{err}");
    // The SDK's emulator switches cannot turn the check off (issue 13, finding 9).
    let (code, _, err) = {
        let script_env = [
            ("SSL_CERT_FILE", other.to_str().expect("utf-8")),
            (
                "AZURE_COSMOS_EMULATOR_SERVER_CERT_VALIDATION_DISABLED",
                "true",
            ),
            ("AZURE_COSMOS_EMULATOR_HOST", "127.0.0.1"),
        ];
        env.run_with_key_env(&peer.key, &["ls", "databases"], "", &script_env)
    };
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("TLS connection"), "{err}");

    // A port nobody listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let cfg = std::fs::read_to_string(&env.config)
        .expect("config")
        .replace(&peer.endpoint, &format!("https://127.0.0.1:{closed}/"));
    std::fs::write(&env.config, cfg).expect("config");
    let (code, _, err) = env.run_with_key_env(&peer.key, &["ls", "databases"], "", &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot reach Cosmos DB"), "{err}");
    assert!(
        start.elapsed() < std::time::Duration::from_mins(1),
        "failures are reported promptly: {:?}",
        start.elapsed()
    );
}
