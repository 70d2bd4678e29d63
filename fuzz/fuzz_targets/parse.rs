#![no_main]
//! Any UTF-8 input: parsing never panics, and a parsed query prints to text that
//! parses back to the same tree; scope and field analysis never panic either.

use libfuzzer_sys::fuzz_target;
use cosmoscope::policy::{FieldPath, denied_field_accesses, parse, partition_scope};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(q) = parse(text) {
        let printed = q.to_string();
        match parse(&printed) {
            Ok(again) => assert_eq!(again, q, "round trip changed the tree: {printed}"),
            Err(e) => panic!("printed form does not parse: {printed:?}: {e}"),
        }
        let _ = partition_scope(&q, &["/k", "/a/b"], &serde_json::Map::new());
        if let Some(f) = FieldPath::parse("a.b") {
            let _ = denied_field_accesses(&q, &[f]);
        }
    }
});
