#![no_main]
//! Any UTF-8 input as a query: parsing never panics, and a parsed query prints to text that
//! parses back to the same tree; scope and field analysis never panic either. Name and field
//! analysis give the same answer for the query and its printed-then-reparsed form: normalisation
//! changes neither the set of unbound names (`unbound_names`) nor whether a denied field
//! (`customer.ssn`, `card_number`) is reached (`denied_field_accesses`).
//!
//! The policy decision too, against a fixed grant (support, tenant "t1", two denied fields): it
//! never panics, and whatever it allows stays inside the grant — execution is pinned to partition
//! "t1", and the checked query it hands on reparses, names no other partition and reads no denied
//! field.

use std::sync::OnceLock;

use cosmoscope::policy::{
    self, Action, FieldPath, Policy, QueryRequest, Request, Scope, denied_field_accesses, parse,
    partition_scope, unbound_names,
};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};

const POLICY: &str = r#"
[[roles]]
name = "support"
when = { claim = "roles", contains = "support" }
  [[roles.grants]]
  database = "shop"
  containers = ["orders"]
  actions = ["query"]
  partition_key = { claim = "tenant_id" }
  deny_fields = ["card_number", "customer.ssn"]
"#;

fn policy() -> &'static Policy {
    static P: OnceLock<Policy> = OnceLock::new();
    P.get_or_init(|| {
        Policy::from_toml(POLICY, std::path::Path::new("policy.toml")).expect("the fixed policy")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(q) = parse(text) else {
        return;
    };
    let printed = q.to_string();
    let again = match parse(&printed) {
        Ok(again) => {
            assert_eq!(again, q, "round trip changed the tree: {printed}");
            again
        }
        Err(e) => panic!("printed form does not parse: {printed:?}: {e}"),
    };
    // Normalisation must not change what is unbound or denied.
    let unbound = unbound_names(&q);
    assert_eq!(
        unbound,
        unbound_names(&again),
        "unbound names differ after printing: {text:?} -> {printed:?}"
    );
    let watched = [
        FieldPath::parse("customer.ssn").expect("field path"),
        FieldPath::parse("card_number").expect("field path"),
    ];
    assert_eq!(
        denied_field_accesses(&q, &watched).is_empty(),
        denied_field_accesses(&again, &watched).is_empty(),
        "denied-field answer differs after printing: {text:?} -> {printed:?}"
    );
    let _ = partition_scope(&q, &["/k", "/a/b"], &Map::new());
    let denied: Vec<FieldPath> = ["card_number", "customer.ssn"]
        .iter()
        .filter_map(|f| FieldPath::parse(f))
        .collect();

    let mut params = Map::new();
    params.insert("@p".into(), json!("t1"));
    params.insert("@q".into(), json!("t2"));
    let request = Request {
        database: "shop".into(),
        container: "orders".into(),
        action: Action::Query,
        query: Some(QueryRequest {
            text: text.to_string(),
            ast: q,
            params: params.clone(),
            partition_key_paths: vec!["/tenant_id".into()],
        }),
        partition_key: None,
        max_items: None,
        fido2_fresh: false,
        item_id: None,
        document: None,
    };
    let claims = json!({"roles": ["support"], "tenant_id": "t1"});
    let decision = policy::decide(policy(), &claims, &request);
    if !decision.allowed() {
        return;
    }
    let scoped = decision.scoped().expect("an allowed query is scoped");
    let keys = scoped.partition_keys().expect("the grant limits partitions");
    assert!(
        keys.iter().all(|k| k.as_slice() == [Value::from("t1")]),
        "allowed outside tenant t1: {text:?} -> {keys:?}"
    );
    let sql = scoped.sql().expect("a query has text");
    let checked = parse(sql).unwrap_or_else(|e| panic!("the checked query does not parse: {sql:?}: {e}"));
    assert!(
        denied_field_accesses(&checked, &denied).is_empty(),
        "allowed a denied field: {text:?}"
    );
    match partition_scope(&checked, &["/tenant_id"], scoped.params()) {
        Scope::None => {}
        Scope::Points(points) => assert!(
            points.iter().all(|p| p.as_slice() == [Value::from("t1")]),
            "checked query reaches {points:?}: {text:?}"
        ),
        // Unprovable from the text: execution is pinned to the keys checked above.
        Scope::All => {}
    }
});
