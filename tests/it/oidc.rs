//! The real OpenID provider (`oidc-provider` from npm, tests/peers/oidc), started per test on an
//! ephemeral loopback port, with its test-only admin endpoints.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::harness::{KillOnDrop, startup_line};

use serde_json::{Value, json};

pub struct Oidc {
    _child: KillOnDrop,
    pub issuer: String,
    /// The peer's whole first line (the federation peer also names its CI issuer there).
    pub hello: Value,
}

pub fn peer_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/peers")
        .join(name)
}

pub fn available() -> bool {
    peer_dir("oidc").join("node_modules/oidc-provider").is_dir()
}

impl Oidc {
    /// Starts the provider with a 1 s device polling interval and the given extra settings.
    pub fn start(envs: &[(&str, &str)]) -> Self {
        Self::start_peer("oidc", envs)
    }

    /// Starts a Node peer under tests/peers/NAME that prints `{"issuer":…}` when it listens.
    pub fn start_peer(name: &str, envs: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new("node");
        cmd.arg("server.mjs")
            .current_dir(peer_dir(name))
            .env("OIDC_DEVICE_INTERVAL", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .expect("start node tests/peers/oidc/server.mjs (run ./scripts/test to install it)");
        let v = startup_line(&mut child, "the OpenID provider");
        let issuer = v["issuer"].as_str().expect("issuer").to_string();
        Self {
            _child: KillOnDrop(child),
            issuer,
            hello: v,
        }
    }

    /// One admin request on a thread of its own: the blocking client must never live inside an
    /// async test's runtime.
    fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/__admin/{path}", self.issuer);
        std::thread::spawn(move || {
            let client = reqwest::blocking::Client::new();
            let mut req = client.request(method, &url);
            if let Some(b) = body {
                req = req.json(&b);
            }
            let resp = req.send().expect("admin call");
            let status = resp.status();
            let v: Value = resp.json().unwrap_or(Value::Null);
            assert!(status.is_success(), "admin {url} failed: {status} {v}");
            v
        })
        .join()
        .expect("admin thread")
    }

    #[allow(clippy::needless_pass_by_value)] // json!() literals read best inline
    pub fn admin(&self, path: &str, body: Value) -> Value {
        self.call(reqwest::Method::POST, path, Some(body))
    }

    pub fn stats(&self) -> Value {
        self.call(reqwest::Method::GET, "stats", None)
    }

    pub fn token_requests(&self, grant: &str) -> u64 {
        self.stats()["token_requests"][grant].as_u64().unwrap_or(0)
    }

    pub fn approve(&self, user_code: &str, login: &str) {
        self.admin(
            "approve",
            json!({"user_code": user_code, "login": login, "abort": false}),
        );
    }

    pub fn abort(&self, user_code: &str) {
        self.admin(
            "approve",
            json!({"user_code": user_code, "login": "alice", "abort": true}),
        );
    }
}
