//! The local Cosmos DB peer (tests/peers/cosmos): certificates from gen_cert.py, `server.mjs` on
//! an ephemeral HTTPS port (killed on drop), seeding and cross-checks through the Python SDK.
//!
//! The process environment gets `COSMOS_DISABLE_IMDS=1` and `SSL_CERT_FILE=<test CA>` once, before
//! the first in-process client is built (the SDK reads both from the environment only).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::harness::{KillOnDrop, TestEnv, startup_line};
use std::sync::OnceLock;

use serde_json::Value;

/// The emulator's well-known key: the peer's default master key.
pub const EMULATOR_KEY: &str =
    "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==";

pub fn peer_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/cosmos")
}

pub struct Certs {
    _dir: tempfile::TempDir,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

fn run_ok(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The peer's npm packages and the Python venv come from scripts/test (never installed from a
/// test: parallel test processes would race).
fn ensure_installed() {
    let venv = crate::fixtures::venv_python();
    assert!(
        peer_dir().join("node_modules").exists() && venv.exists(),
        "the Cosmos peer is not installed: run ./scripts/test (npm ci in tests/peers/cosmos, and the venv {})",
        venv.display()
    );
}

/// One CA and server certificate per test process; the process trusts the CA from here on.
pub fn certs() -> &'static Certs {
    static CERTS: OnceLock<Certs> = OnceLock::new();
    CERTS.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        run_ok(
            Command::new(crate::fixtures::venv_python())
                .arg(peer_dir().join("gen_cert.py"))
                .arg(dir.path()),
            "gen_cert.py",
        );
        let certs = Certs {
            ca: dir.path().join("ca.pem"),
            cert: dir.path().join("server.pem"),
            key: dir.path().join("server-key.pem"),
            _dir: dir,
        };
        set_process_env(&certs.ca);
        certs
    })
}

#[allow(unsafe_code)]
fn set_process_env(ca: &Path) {
    // SAFETY: done once, inside a OnceLock initialiser that every Cosmos test passes before it
    // builds a client. The SDK reads these two variables from the process environment only:
    // COSMOS_DISABLE_IMDS keeps it off the instance-metadata address (network rule), SSL_CERT_FILE makes its
    // rustls verifier trust the test CA. Tests that spawn cosmoscope pass them explicitly.
    unsafe {
        std::env::set_var("COSMOS_DISABLE_IMDS", "1");
        std::env::set_var("SSL_CERT_FILE", ca);
    }
}

#[derive(Default, Clone)]
pub struct PeerOptions {
    pub master_key: Option<String>,
    pub deny_local_auth: bool,
    pub jwks_uri: Option<String>,
    pub jwks_file: Option<PathBuf>,
    pub audience: Option<String>,
    pub issuer: Option<String>,
}

pub struct Peer {
    _child: KillOnDrop,
    pub endpoint: String,
    pub key: String,
}

impl Peer {
    pub fn start() -> Peer {
        Self::start_with(PeerOptions::default())
    }

    pub fn start_with(options: PeerOptions) -> Peer {
        ensure_installed();
        let certs = certs();
        let mut cmd = Command::new("node");
        cmd.arg("server.mjs")
            .args(["--port", "0", "--cert"])
            .arg(&certs.cert)
            .arg("--key")
            .arg(&certs.key)
            .current_dir(peer_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(k) = &options.master_key {
            cmd.args(["--master-key", k]);
        }
        if options.deny_local_auth {
            cmd.arg("--deny-local-auth");
        }
        if let Some(u) = &options.jwks_uri {
            cmd.args(["--jwks-uri", u]);
        }
        if let Some(f) = &options.jwks_file {
            cmd.arg("--jwks-file").arg(f);
        }
        if let Some(a) = &options.audience {
            cmd.args(["--audience", a]);
        }
        if let Some(i) = &options.issuer {
            cmd.args(["--issuer", i]);
        }
        let mut child = cmd.spawn().expect("start node server.mjs");
        let v = startup_line(&mut child, "the Cosmos peer");
        let endpoint = v["endpoint"].as_str().expect("endpoint").to_string();
        Peer {
            _child: KillOnDrop(child),
            endpoint,
            key: options
                .master_key
                .unwrap_or_else(|| EMULATOR_KEY.to_string()),
        }
    }

    fn python() -> Command {
        let mut cmd = Command::new(crate::fixtures::venv_python());
        cmd.current_dir(peer_dir())
            .env("REQUESTS_CA_BUNDLE", &certs().ca)
            .env("COSMOS_DISABLE_IMDS", "1");
        cmd
    }

    /// Seeds fixtures/shop.json (database `shop`).
    pub fn seed_shop(&self) {
        self.seed("fixtures/shop.json");
    }

    /// Seeds a fixture of the peer's directory (its database and containers).
    pub fn seed(&self, fixture: &str) {
        let mut cmd = Self::python();
        cmd.arg("seed.py")
            .args(["--endpoint", &self.endpoint, "--key", &self.key, "--ca"])
            .arg(&certs().ca)
            .args(["--fixture", fixture]);
        run_ok(&mut cmd, "seed.py");
    }

    /// What the Python SDK returns for a query (the independent second client).
    pub fn pyquery(
        &self,
        database: &str,
        container: &str,
        sql: &str,
        params: &[(&str, Value)],
        partition_key: Option<&Value>,
    ) -> Vec<Value> {
        self.try_pyquery(database, container, sql, params, partition_key)
            .unwrap_or_else(|e| panic!("pyquery.py {sql:?} failed: {e}"))
    }

    /// [`pyquery`](Self::pyquery), or the error the Python SDK printed.
    pub fn try_pyquery(
        &self,
        database: &str,
        container: &str,
        sql: &str,
        params: &[(&str, Value)],
        partition_key: Option<&Value>,
    ) -> Result<Vec<Value>, String> {
        let mut cmd = Self::python();
        cmd.arg("pyquery.py")
            .args(["--endpoint", &self.endpoint, "--key", &self.key, "--ca"])
            .arg(&certs().ca)
            .args([
                "--database",
                database,
                "--container",
                container,
                "--query",
                sql,
            ]);
        for (name, value) in params {
            cmd.arg("--param").arg(format!("{name}={value}"));
        }
        if let Some(pk) = partition_key {
            cmd.arg("--partition-key").arg(pk.to_string());
        }
        let out = cmd.output().expect("pyquery.py");
        if out.status.success() {
            Ok(parse_ndjson(&out.stdout))
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let ca = std::fs::read(&certs().ca).expect("ca.pem");
        let client = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("pem"))
            .build()
            .expect("client");
        let mut req = client.request(
            method,
            format!("{}{}", self.endpoint, path.trim_start_matches('/')),
        );
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("admin request");
        assert!(
            resp.status().is_success(),
            "admin {path}: {}",
            resp.status()
        );
        resp.json().await.unwrap_or(Value::Null)
    }

    pub async fn clear_faults(&self) {
        self.admin(reqwest::Method::DELETE, "/__admin/faults", None)
            .await;
    }

    /// Queues faults (`POST /__admin/faults`).
    pub async fn fault(&self, fault: Value) {
        self.admin(reqwest::Method::POST, "/__admin/faults", Some(fault))
            .await;
    }

    pub async fn stats(&self) -> Value {
        self.admin(reqwest::Method::GET, "/__admin/stats", None)
            .await
    }

    /// Turns on data-plane RBAC: principal (`sub` of the token) → `[{role, scope}]`.
    pub async fn rbac(&self, assignments: Value) {
        self.admin(reqwest::Method::POST, "/__admin/rbac", Some(assignments))
            .await;
    }

    pub async fn reset_stats(&self) {
        self.admin(reqwest::Method::DELETE, "/__admin/stats", None)
            .await;
    }
}

pub fn parse_ndjson(bytes: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect()
}

/// A `credential = "key"` profile named `local` against a Cosmos peer, with `bob` (roles admin,
/// support) logged in at a provider of its own: data commands need a session. It is a fixture on
/// a [`TestEnv`], which runs every command and records every output for the secrets scan.
pub struct CliEnv {
    pub env: TestEnv,
    pub config: PathBuf,
    oidc: crate::oidc::Oidc,
}

impl CliEnv {
    pub fn new(peer: &Peer, extra_cosmos: &str) -> CliEnv {
        let oidc = crate::oidc::Oidc::start(&[]);
        let env = TestEnv::new().with_env("SSL_CERT_FILE", certs().ca.to_str().expect("utf-8"));
        env.write_config(&format!(
            r#"default_profile = "local"

[profiles.local]
issuer = "{issuer}"
client_id = "cosmoscope-cli"
audience = "https://cosmos-gateway.test"
roles_claim = "https://cosmoscope.test/roles"
store = "secret-service"

[profiles.local.policy]
file = "policy.toml"

[profiles.local.cosmos]
endpoint = "{}"
database = "shop"
credential = "key"
http2 = false
{extra_cosmos}
"#,
            peer.endpoint,
            issuer = oidc.issuer,
        ));
        std::fs::write(
            env.config_dir().join("policy.toml"),
            crate::fixtures::POLICY,
        )
        .expect("policy");
        let config = env.config_file();
        let cli = CliEnv { env, config, oidc };
        cli.login_as("bob");
        cli
    }

    /// A device-code login approved at the provider.
    fn login_as(&self, user: &str) {
        use std::io::BufRead as _;
        let mut child = self.env.spawn(&["login", "-o", "json", "--no-browser"]);
        let mut first = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut first)
            .expect("event");
        let ev: Value = serde_json::from_str(&first).expect("device_code event");
        self.oidc
            .approve(ev["user_code"].as_str().expect("user_code"), user);
        let out = child.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "login: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.env.record(out);
    }

    /// Runs cosmoscope with `stdin` text; returns (exit code, stdout, stderr).
    pub fn run(&self, args: &[&str], stdin: &str) -> (i32, String, String) {
        self.run_env(args, stdin, &[])
    }

    /// [`Self::run`] with extra environment variables.
    pub fn run_env(
        &self,
        args: &[&str],
        stdin: &str,
        envs: &[(&str, &str)],
    ) -> (i32, String, String) {
        let run = self.env.run_full(envs, args, stdin);
        (run.code, run.stdout, run.stderr)
    }

    /// Stores the account key, runs `args`, and removes the key again.
    pub fn run_with_key(&self, key: &str, args: &[&str], stdin: &str) -> (i32, String, String) {
        self.run_with_key_env(key, args, stdin, &[])
    }

    /// [`Self::run_with_key`] with extra environment variables.
    pub fn run_with_key_env(
        &self,
        key: &str,
        args: &[&str],
        stdin: &str,
        envs: &[(&str, &str)],
    ) -> (i32, String, String) {
        let (code, _, err) = self.run_env(&["account-key", "set"], key, envs);
        assert_eq!(code, 0, "account-key set: {err}");
        let result = self.run_env(args, stdin, envs);
        self.run_env(&["account-key", "remove"], "", envs);
        result
    }
}

/// RS256 keys for AAD-style tokens (jwt-tool.mjs), and tokens signed with them.
pub struct JwtKeys {
    dir: tempfile::TempDir,
}

impl JwtKeys {
    pub fn generate() -> JwtKeys {
        ensure_installed();
        let dir = tempfile::tempdir().expect("tempdir");
        run_ok(
            Command::new("node")
                .arg("jwt-tool.mjs")
                .arg("keygen")
                .arg(dir.path())
                .current_dir(peer_dir()),
            "jwt-tool keygen",
        );
        JwtKeys { dir }
    }

    pub fn jwks(&self) -> PathBuf {
        self.dir.path().join("jwks.json")
    }

    pub fn private(&self) -> PathBuf {
        self.dir.path().join("private.jwk.json")
    }

    pub fn sign(&self, audience: &str, issuer: &str) -> String {
        let out = Command::new("node")
            .arg("jwt-tool.mjs")
            .arg("sign")
            .arg(self.private())
            .args(["--aud", audience, "--iss", issuer])
            .current_dir(peer_dir())
            .output()
            .expect("jwt-tool sign");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

/// tests/peers/cosmos/token-endpoint.mjs: a loopback HTTPS Entra-style token endpoint.
pub struct TokenEndpoint {
    _child: KillOnDrop,
    pub authority_host: String,
}

impl TokenEndpoint {
    pub fn start(
        keys: &JwtKeys,
        client_id: &str,
        client_secret: &str,
        issuer: &str,
    ) -> TokenEndpoint {
        let certs = certs();
        let mut child = Command::new("node")
            .arg("token-endpoint.mjs")
            .arg("--cert")
            .arg(&certs.cert)
            .arg("--key")
            .arg(&certs.key)
            .arg("--jwk")
            .arg(keys.private())
            .args([
                "--client-id",
                client_id,
                "--client-secret",
                client_secret,
                "--iss",
                issuer,
            ])
            .current_dir(peer_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start token-endpoint.mjs");
        let v = startup_line(&mut child, "the token endpoint");
        TokenEndpoint {
            _child: KillOnDrop(child),
            authority_host: v["authority_host"]
                .as_str()
                .expect("authority_host")
                .to_string(),
        }
    }
}
