//! The service's own verdicts (from the Azure Cosmos DB .NET SDK baselines).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use cosmoscope::policy::{Scope, parse, partition_scope};
use serde_json::Value;
use std::path::PathBuf;

fn corpus(name: &str) -> Vec<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn parser_agrees_with_the_service_on_every_line() {
    let lines = corpus("cosmos-sql-parse.ndjson");
    let mut disagree = Vec::new();
    for l in &lines {
        let q = l["query"].as_str().unwrap();
        let valid = l["valid"].as_bool().unwrap();
        let got = parse(q);
        if got.is_ok() != valid {
            disagree.push(format!("{q:?}: service says {valid}, we say {got:?}"));
        }
        if let Ok(ast) = got {
            let printed = ast.to_string();
            let again = parse(&printed).unwrap_or_else(|e| panic!("{printed:?}: {e}"));
            assert_eq!(again, ast, "round trip of {q:?} via {printed:?}");
        }
    }
    println!(
        "parse corpus: {}/{} agree",
        lines.len() - disagree.len(),
        lines.len()
    );
    assert!(disagree.is_empty(), "{}", disagree.join("\n"));
}

fn num_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| num_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| num_eq(v, w)))
        }
        _ => a == b,
    }
}

fn same_points(a: &[Vec<Value>], b: &[Value]) -> bool {
    a.len() == b.len()
        && b.iter()
            .all(|want| a.iter().any(|got| num_eq(&Value::Array(got.clone()), want)))
}

#[test]
fn partition_scope_is_sound_on_every_line() {
    let lines = corpus("cosmos-partition-scope.ndjson");
    let mut exact = 0;
    let mut unsound = Vec::new();
    let mut imprecise = Vec::new();
    for l in &lines {
        let q = l["query"].as_str().unwrap();
        let paths: Vec<&str> = l["partition_key_paths"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap())
            .collect();
        let ast = parse(q).unwrap_or_else(|e| panic!("{q:?}: {e}"));
        let got = partition_scope(&ast, &paths, &serde_json::Map::new());
        let want = &l["expected_scope"];
        let kind = want["kind"].as_str().unwrap();
        let ok = match (&got, kind) {
            (Scope::All, "all") | (Scope::None, "none") => true,
            (Scope::Points(p), "points") => same_points(p, want["values"].as_array().unwrap()),
            _ => false,
        };
        if ok {
            exact += 1;
        } else if kind == "all" || matches!(got, Scope::Points(_)) && kind != "points" {
            unsound.push(format!("{q:?} {paths:?}: service {want}, we {got:?}"));
        } else if let (Scope::Points(p), "points") = (&got, kind) {
            // Points that differ from the service's: sound only if ours cover theirs.
            let theirs = want["values"].as_array().unwrap();
            let covered = theirs
                .iter()
                .all(|t| p.iter().any(|g| num_eq(&Value::Array(g.clone()), t)));
            if covered {
                imprecise.push(format!("{q:?}: service {want}, we {got:?}"));
            } else {
                unsound.push(format!("{q:?} {paths:?}: service {want}, we {got:?}"));
            }
        } else if matches!(got, Scope::None) {
            unsound.push(format!("{q:?} {paths:?}: service {want}, we {got:?}"));
        } else {
            imprecise.push(format!("{q:?}: service {want}, we {got:?}"));
        }
    }
    println!(
        "scope corpus: {exact}/{} exact, {} less precise, {} unsound",
        lines.len(),
        imprecise.len(),
        unsound.len()
    );
    for i in &imprecise {
        println!("  less precise: {i}");
    }
    assert!(unsound.is_empty(), "UNSOUND:\n{}", unsound.join("\n"));
}
