//! Names that must not be guessed at: identifiers a query uses but binds nowhere, and resource
//! names (database, container, item id) that could address something other than what they name.
//!
//! Cosmos DB refuses a query whose identifier no FROM or JOIN binds; the policy refuses it too,
//! before any grant is checked, instead of guessing what the name stands for (a guess that reads
//! it as the document root once let `FROM c["customer"]` hide a denied field). The first FROM's
//! collection names the container whatever it is called (`FROM c`, `FROM Families f`); a subquery's
//! FROM must name something the enclosing query binds.

use super::ast::{Collection, Expr, Query, Source};

/// The longest id Cosmos DB accepts, in bytes.
const MAX_NAME_BYTES: usize = 255;

/// Why `name` cannot be a database, container or item id, or `None` when it can. The SDK puts a
/// name into the request path unencoded (`…/colls/orders/docs/{id}`), so a `/`, a `..` segment or a
/// `%`-escape would let it address another container or database; the service refuses `/`, `\`,
/// `?`, `#` and control characters in ids anyway.
pub fn resource_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("is empty");
    }
    if name.len() > MAX_NAME_BYTES {
        return Some("is longer than 255 bytes");
    }
    if name == "." || name == ".." {
        return Some("is a relative path segment");
    }
    // The URL parser drops spaces at the end of the whole URL (the id is its last segment), so
    // ".. " would climb out of `docs/` and "a " would address "a".
    if name.starts_with(char::is_whitespace) || name.ends_with(char::is_whitespace) {
        return Some("begins or ends with a space, which the request URL would drop");
    }
    if name.chars().any(char::is_control) {
        return Some("contains a control character");
    }
    match name
        .chars()
        .find(|c| matches!(c, '/' | '\\' | '?' | '#' | '%'))
    {
        Some('%') => Some("contains '%', which the service would decode into another path"),
        Some(_) => Some("contains '/', '\\', '?' or '#', which Cosmos DB ids cannot hold"),
        None => None,
    }
}

/// `name` quoted for a message, control characters escaped (it may come from an attacker).
pub fn escaped(name: &str) -> String {
    let shown: String = name.chars().take(80).collect();
    let more = if shown.len() < name.len() { "…" } else { "" };
    format!("{shown:?}{more}")
}

/// Every identifier `q` uses without binding it, sorted and without repeats.
pub fn unbound_names(q: &Query) -> Vec<String> {
    let mut out = Vec::new();
    walk(q, &[], true, &mut out);
    out.sort();
    out.dedup();
    out
}

fn walk<'q>(q: &'q Query, outer: &[&'q str], top: bool, out: &mut Vec<String>) {
    let mut env: Vec<&'q str> = outer.to_vec();
    if let Some(from) = &q.from {
        for (i, s) in std::iter::once(&from.source).chain(&from.joins).enumerate() {
            let (Source::Aliased { collection, .. } | Source::Iterate { collection, .. }) = s;
            match collection {
                Collection::Path { root, .. } => {
                    if !(env.contains(&root.as_str()) || top && i == 0) {
                        out.push(root.clone());
                    }
                }
                Collection::Subquery(sub) => walk(sub, &env, top && i == 0, out),
            }
            env.extend(s.bound_names());
        }
    }
    for e in q.clause_exprs() {
        expr(e, &env, out);
    }
}

fn expr<'q>(e: &'q Expr, env: &[&'q str], out: &mut Vec<String>) {
    match e {
        Expr::Ident(n) if !env.contains(&n.as_str()) => out.push(n.clone()),
        Expr::Subquery(_, q) => walk(q, env, false, out),
        _ => e.for_each_child(|c| expr(c, env, out)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::parser::parse;
    use super::*;

    fn unbound(q: &str) -> Vec<String> {
        unbound_names(&parse(q).unwrap())
    }

    #[test]
    fn names_that_could_leave_their_container_are_refused() {
        for bad in [
            "../../payments/docs/p1",
            "..",
            ".",
            "a/b",
            "a\\b",
            "a?b",
            "a#b",
            "..%2F..%2Fpayments",
            "a\u{1b}[2J",
            "a\nb",
            "",
            // Fuzzer findings: the URL parser trims the URL's trailing spaces before resolving.
            ".. ",
            "..  ",
            ". ",
            "a ",
            " a",
        ] {
            assert!(resource_name_problem(bad).is_some(), "{bad:?}");
        }
        assert!(resource_name_problem(&"x".repeat(256)).is_some());
        for good in [
            "o1",
            "order 1",
            "ünïcödé",
            "a.b",
            "...",
            "x".repeat(255).as_str(),
        ] {
            assert_eq!(resource_name_problem(good), None, "{good:?}");
        }
        assert_eq!(escaped("a\u{1b}b"), "\"a\\u{1b}b\"");
    }

    #[test]
    fn bound_names_pass() {
        for q in [
            "SELECT * FROM c",
            "SELECT f.id FROM Families f WHERE f.x = 1",
            "SELECT customer.ssn FROM c.customer",
            "SELECT customer.ssn FROM c[\"customer\"]",
            "SELECT t FROM c JOIN t IN c.tags",
            "SELECT VALUE (SELECT VALUE COUNT(1) FROM t IN c.tags) FROM c",
            "SELECT x.id FROM (SELECT * FROM c) x",
            "SELECT 1",
            "SELECT @p FROM c",
        ] {
            assert!(unbound(q).is_empty(), "{q}: {:?}", unbound(q));
        }
    }

    #[test]
    fn names_bound_nowhere_are_found() {
        assert_eq!(unbound("SELECT x.ssn FROM c[\"customer\"]"), ["x"]);
        assert_eq!(unbound("SELECT Families.id FROM Families f"), ["Families"]);
        assert_eq!(unbound("SELECT c.id FROM c WHERE d.x = 1"), ["d"]);
        assert_eq!(unbound("SELECT x"), ["x"]);
        assert_eq!(
            unbound("SELECT VALUE (SELECT VALUE 1 FROM other) FROM c"),
            ["other"]
        );
        assert_eq!(
            unbound("SELECT c.id FROM c WHERE EXISTS(SELECT VALUE t FROM t IN c.tags WHERE u = 1)"),
            ["u"]
        );
    }
}
