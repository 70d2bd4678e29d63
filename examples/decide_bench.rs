//! One million policy decisions in one process: throughput, and resident memory before and after
//! (it must not grow). `cargo run --release --example decide_bench [N]`

use std::time::Instant;

use cosmoscope::policy::{self, Action, Policy, QueryRequest, Request};
use serde_json::{Map, Value, json};

const POLICY: &str = r#"
[[roles]]
name = "support"
when = { claim = "roles", contains = "support" }
  [[roles.grants]]
  database = "shop"
  containers = ["orders", "customers"]
  actions = ["query", "read"]
  partition_key = { claim = "tenant_id" }
  deny_fields = ["card_number", "customer.ssn"]
  max_items = 1000
"#;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let policy = match Policy::from_toml(POLICY, std::path::Path::new("policy.toml")) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let claims = json!({"roles": ["support"], "tenant_id": "t1"});
    let queries = [
        "SELECT c.id, c.total FROM c WHERE c.tenant_id = 't1'",
        "SELECT * FROM c",
        "SELECT c.id FROM c WHERE c.tenant_id IN ('t1', 't2')",
        "SELECT VALUE COUNT(1) FROM c JOIN i IN c.items WHERE i.qty > @q",
    ];
    let parsed: Vec<_> = queries
        .iter()
        .map(|q| (q.to_string(), policy::parse(q).ok()))
        .collect();
    let mut params = Map::new();
    params.insert("@q".into(), Value::from(2));
    let mut allowed = 0usize;
    let mut run = |count: usize| {
        for i in 0..count {
            let (text, ast) = &parsed[i % parsed.len()];
            let Some(ast) = ast.clone() else { continue };
            let req = Request {
                database: "shop".into(),
                container: "orders".into(),
                action: Action::Query,
                query: Some(QueryRequest {
                    text: text.clone(),
                    ast,
                    params: params.clone(),
                    partition_key_paths: vec!["/tenant_id".into()],
                }),
                partition_key: None,
                max_items: None,
                fido2_fresh: false,
                item_id: None,
                document: None,
            };
            allowed += usize::from(policy::decide(&policy, &claims, &req).allowed());
        }
    };
    run(10_000); // warm up: allocator arenas, caches
    let rss_before = rss_kib();
    let t0 = Instant::now();
    run(n);
    let secs = t0.elapsed().as_secs_f64();
    let rss_after = rss_kib();
    println!(
        "decisions: {n} in {secs:.2} s = {:.0}/s ({allowed} allowed)",
        f64::from(u32::try_from(n).unwrap_or(u32::MAX)) / secs
    );
    println!(
        "RSS after warm-up: {rss_before} KiB, after {n} decisions: {rss_after} KiB (growth {} KiB)",
        rss_after.saturating_sub(rss_before)
    );
}
