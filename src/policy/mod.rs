//! The policy engine: the Cosmos DB NoSQL query language, partition-scope analysis,
//! denied-field detection, the `policy.toml` model and access decisions.
//!
//! - [`parse`] turns query text into an [`ast::Query`]; `Display` prints it in
//!   normalised form (upper-case keywords, canonical spacing, minimal parentheses),
//!   and `parse(&q.to_string()) == Ok(q)`.
//! - [`partition_scope`] says which partition-key values a query can touch, soundly.
//! - [`denied_field_accesses`] finds every way a query reaches a denied field.
//! - [`Policy::from_toml`] reads and validates a policy file (errors with line and
//!   column); [`decide`] maps claims and a [`Request`] to a [`Decision`], whose
//!   [`ScopedQuery`] is the only thing the Cosmos layer will run.
//! - [`explain`] / [`explain_line`] produce the `policy explain -o json` shape.
//!
//! The lexer and parser are written by hand (a tokeniser plus recursive descent with
//! precedence climbing) rather than with a parser-combinator or generator library:
//! they are several times faster, report errors as "expected X, found Y" at an exact
//! byte offset, need no dependency, and let contextual keywords (`ALL`, `FIRST`,
//! `LAST`, `RANK` are identifiers except where the grammar gives them a meaning)
//! follow the service's grammar exactly. The grammar and operator precedence follow
//! the Azure Cosmos DB .NET SDK's `sql.g4`; see [`parser`] for the table.
//!
//! This folder refers to its own files only through `super::`, so it can be moved
//! between crates as is.

#![allow(clippy::wildcard_imports)] // the AST's many node types read best unqualified

pub mod ast;
mod config;
pub mod decide;
mod fields;
mod lexer;
mod names;
mod parser;
mod printer;
mod scope;

pub use ast::Query;
pub use config::{Action, Policy};
pub use decide::{
    Decision, QueryRequest, Reason, ReasonKind, Request, ScopedQuery, Visible, decide,
};
pub use fields::{FieldPath, denied_field_accesses};
pub use names::{resource_name_problem, unbound_names};
pub use parser::{SyntaxError, parse};
pub use scope::{Scope, partition_scope};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The offline part of `policy explain`: validity, normalised text, partition scope.
#[derive(Debug, Clone, PartialEq)]
pub enum Explanation {
    Valid {
        normalized: String,
        partition_scope: Scope,
    },
    Invalid {
        error: SyntaxError,
    },
}

impl Serialize for Explanation {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        match self {
            Explanation::Valid {
                normalized,
                partition_scope,
            } => {
                m.serialize_entry("valid", &true)?;
                m.serialize_entry("normalized", normalized)?;
                m.serialize_entry("partition_scope", partition_scope)?;
            }
            Explanation::Invalid { error } => {
                m.serialize_entry("valid", &false)?;
                m.serialize_entry("error", error)?;
            }
        }
        m.end()
    }
}

/// Parses `query`, normalises it and computes its partition scope.
pub fn explain(
    query: &str,
    partition_key_paths: &[&str],
    params: &Map<String, Value>,
) -> Explanation {
    match parse(query) {
        Ok(q) => Explanation::Valid {
            partition_scope: partition_scope(&q, partition_key_paths, params),
            normalized: q.to_string(),
        },
        Err(error) => Explanation::Invalid { error },
    }
}

/// One line of `policy explain --queries FILE`.
#[derive(Debug, Deserialize)]
struct ExplainInput {
    query: String,
    #[serde(default)]
    partition_key_paths: Vec<String>,
    #[serde(default)]
    parameters: Map<String, Value>,
}

/// Answers one NDJSON line `{"query":…,"partition_key_paths":[…]}` (optionally
/// `"parameters":{…}`) with one JSON line (no newline) in the `policy explain -o
/// json` shape. A line that is not such an object answers as an invalid query.
pub fn explain_line(input: &str) -> String {
    let explanation = match serde_json::from_str::<ExplainInput>(input) {
        Ok(i) => {
            let paths: Vec<&str> = i.partition_key_paths.iter().map(String::as_str).collect();
            explain(&i.query, &paths, &i.parameters)
        }
        Err(e) => Explanation::Invalid {
            error: SyntaxError {
                message: format!("invalid input line: {e}"),
                offset: 0,
            },
        },
    };
    serde_json::to_string(&explanation).unwrap_or_else(|_| {
        r#"{"valid":false,"error":{"message":"internal serialisation error","offset":0}}"#
            .to_string()
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn explain_line_shapes() {
        assert_eq!(
            explain_line(
                r#"{"query":"select * from c where c.k in (1,'a')","partition_key_paths":["/k"]}"#
            ),
            r#"{"valid":true,"normalized":"SELECT * FROM c WHERE c.k IN (1, \"a\")","partition_scope":{"kind":"points","values":[[1],["a"]]}}"#
        );
        assert_eq!(
            explain_line(r#"{"query":"SELECT 1","partition_key_paths":["/k"]}"#),
            r#"{"valid":true,"normalized":"SELECT 1","partition_scope":{"kind":"none"}}"#
        );
        assert_eq!(
            explain_line(
                r#"{"query":"SELECT * FROM c WHERE c.k = @t","partition_key_paths":["/k"],"parameters":{"@t":"x"}}"#
            ),
            r#"{"valid":true,"normalized":"SELECT * FROM c WHERE c.k = @t","partition_scope":{"kind":"points","values":[["x"]]}}"#
        );
        assert_eq!(
            explain_line(r#"{"query":"SELECT * FROM","partition_key_paths":[]}"#),
            r#"{"valid":false,"error":{"message":"expected a collection name or `(SELECT …)`, found end of query","offset":13}}"#
        );
        assert!(
            explain_line("nope")
                .starts_with(r#"{"valid":false,"error":{"message":"invalid input line"#)
        );
    }
}
