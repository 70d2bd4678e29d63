//! `policy.toml`: the model and its validation.
//!
//! Errors name the file, the 1-based line and column, and say what to do. Besides
//! syntax, unknown keys and unknown actions, these grants are rejected as
//! contradictory or meaningless:
//!
//! - `partition_key = { values = [] }`: a grant that can never match a partition;
//! - `max_items = 0`: a grant that can never return anything;
//! - `export` together with `deny_fields` or a restricted `partition_key`: an
//!   exported credential is not bound by field or partition limits, so the grant
//!   would promise a restriction it cannot keep;
//! - `containers` listing `"*"` next to names (the names mean nothing), or empty;
//! - a `when` with no claim, or with zero or several of `contains`/`equals`/`any_of`,
//!   or an empty `any_of`;
//! - two roles with the same name (decisions and audit records name roles).

use super::fields::FieldPath;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// What a grant lets a caller do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Query,
    Read,
    Create,
    Upsert,
    Replace,
    Delete,
    Export,
}

impl Action {
    pub const ALL: [Action; 7] = [
        Action::Query,
        Action::Read,
        Action::Create,
        Action::Upsert,
        Action::Replace,
        Action::Delete,
        Action::Export,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Query => "query",
            Action::Read => "read",
            Action::Create => "create",
            Action::Upsert => "upsert",
            Action::Replace => "replace",
            Action::Delete => "delete",
            Action::Export => "export",
        }
    }

    fn valid_list() -> String {
        Action::ALL.map(Action::as_str).join(", ")
    }
}

impl std::str::FromStr for Action {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown action \"{s}\"; valid actions are {}",
                    Action::valid_list()
                )
            })
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A claim: a top-level name (which may contain `/` and `:`, like
/// `https://example.com/roles`) or, when it starts with `/`, a JSON pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimRef {
    Name(String),
    Pointer(String),
}

impl ClaimRef {
    pub fn new(s: &str) -> ClaimRef {
        if s.starts_with('/') {
            ClaimRef::Pointer(s.to_string())
        } else {
            ClaimRef::Name(s.to_string())
        }
    }

    /// The claim's value in `claims`, if present.
    pub fn resolve<'c>(&self, claims: &'c Value) -> Option<&'c Value> {
        match self {
            ClaimRef::Name(n) => claims.get(n),
            ClaimRef::Pointer(p) => claims.pointer(p),
        }
    }
}

impl std::fmt::Display for ClaimRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClaimRef::Name(s) | ClaimRef::Pointer(s) => f.write_str(s),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum MatchTest {
    /// A string claim equal to the value, or an array claim containing it.
    Contains(Value),
    /// The claim equals the value exactly.
    Equals(Value),
    /// Any of the values is present (as with `contains`).
    AnyOf(Vec<Value>),
}

/// A role's `when`.
#[derive(Debug, Clone, PartialEq)]
pub struct Matcher {
    pub claim: ClaimRef,
    pub test: MatchTest,
}

fn contains(claim: &Value, v: &Value) -> bool {
    match claim {
        Value::Array(items) => items.iter().any(|i| i == v),
        other => other == v,
    }
}

impl Matcher {
    pub fn matches(&self, claims: &Value) -> bool {
        let Some(c) = self.claim.resolve(claims) else {
            return false;
        };
        match &self.test {
            MatchTest::Contains(v) => contains(c, v),
            MatchTest::Equals(v) => c == v,
            MatchTest::AnyOf(vs) => vs.iter().any(|v| contains(c, v)),
        }
    }

    /// Human description, e.g. `claim "roles" contains "support"`.
    pub fn describe(&self) -> String {
        match &self.test {
            MatchTest::Contains(v) => format!("claim \"{}\" contains {v}", self.claim),
            MatchTest::Equals(v) => format!("claim \"{}\" equals {v}", self.claim),
            MatchTest::AnyOf(v) => {
                format!(
                    "claim \"{}\" contains any of {}",
                    self.claim,
                    Value::Array(v.clone())
                )
            }
        }
    }
}

/// Which partition-key values a grant covers.
#[derive(Debug, Clone, PartialEq)]
pub enum PartitionKeyScope {
    Any,
    /// The values of a claim (a string, number or boolean, or an array of them).
    Claim(ClaimRef),
    /// Fixed values; each is a key prefix (one element per hierarchical level; a
    /// plain value in the file is a one-element prefix).
    Values(Vec<Vec<Value>>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    pub database: String,
    /// `"*"` means any container.
    pub containers: Vec<String>,
    pub actions: Vec<Action>,
    pub partition_key: PartitionKeyScope,
    pub deny_fields: Vec<FieldPath>,
    pub max_items: Option<u64>,
    pub require_fido2: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    pub name: String,
    pub when: Matcher,
    pub grants: Vec<Grant>,
}

/// A validated policy file.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub roles: Vec<Role>,
}

/// A policy file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}:{column}: {message}", file.display())]
pub struct PolicyError {
    pub file: PathBuf,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    roles: Vec<Spanned<RawRole>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRole {
    name: Spanned<String>,
    when: Spanned<RawWhen>,
    #[serde(default)]
    grants: Vec<Spanned<RawGrant>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWhen {
    claim: Option<Spanned<String>>,
    contains: Option<Spanned<toml::Value>>,
    equals: Option<Spanned<toml::Value>>,
    any_of: Option<Spanned<Vec<toml::Value>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGrant {
    database: Spanned<String>,
    containers: Spanned<Vec<Spanned<String>>>,
    actions: Spanned<Vec<Spanned<String>>>,
    partition_key: Option<Spanned<toml::Value>>,
    #[serde(default)]
    deny_fields: Option<Spanned<Vec<Spanned<String>>>>,
    max_items: Option<Spanned<i64>>,
    #[serde(default)]
    require_fido2: bool,
}

fn to_json(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => {
            serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
        }
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.iter().map(to_json).collect()),
        toml::Value::Table(t) => {
            Value::Object(t.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
        }
    }
}

struct Ctx<'a> {
    text: &'a str,
    path: &'a Path,
}

impl Ctx<'_> {
    fn err(&self, span: Range<usize>, message: impl Into<String>) -> PolicyError {
        let at = span.start.min(self.text.len());
        let before = &self.text[..at];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        PolicyError {
            file: self.path.to_path_buf(),
            line,
            column,
            message: message.into(),
        }
    }
}

impl Policy {
    /// Parses and validates a policy file; `path` is only used in error messages.
    pub fn from_toml(text: &str, path: &Path) -> Result<Policy, PolicyError> {
        let cx = Ctx { text, path };
        let raw: RawPolicy = toml::from_str(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            cx.err(span, e.message().trim_end().to_string())
        })?;
        let mut roles: Vec<Role> = Vec::new();
        let mut seen: Vec<(String, Range<usize>)> = Vec::new();
        for raw_role in raw.roles {
            let role_span = raw_role.span();
            let r = raw_role.into_inner();
            let name = r.name.get_ref().trim().to_string();
            if name.is_empty() {
                return Err(cx.err(r.name.span(), "role name must not be empty"));
            }
            if let Some((_, first)) = seen.iter().find(|(n, _)| *n == name) {
                let first = cx.err(first.clone(), "");
                return Err(cx.err(
                    r.name.span(),
                    format!(
                        "duplicate role name \"{name}\" (first defined at line {})",
                        first.line
                    ),
                ));
            }
            seen.push((name.clone(), r.name.span()));
            let when = matcher(&cx, r.when)?;
            let mut grants = Vec::new();
            for g in r.grants {
                grants.push(grant(&cx, g)?);
            }
            let _ = role_span;
            roles.push(Role { name, when, grants });
        }
        Ok(Policy { roles })
    }
}

fn matcher(cx: &Ctx<'_>, w: Spanned<RawWhen>) -> Result<Matcher, PolicyError> {
    let span = w.span();
    let w = w.into_inner();
    let Some(claim) = w.claim else {
        return Err(cx.err(
            span,
            "`when` needs `claim = \"…\"` naming the claim to test",
        ));
    };
    if claim.get_ref().is_empty() {
        return Err(cx.err(claim.span(), "`claim` must not be empty"));
    }
    let claim_ref = ClaimRef::new(claim.get_ref());
    let count = usize::from(w.contains.is_some())
        + usize::from(w.equals.is_some())
        + usize::from(w.any_of.is_some());
    if count != 1 {
        return Err(cx.err(
            span,
            format!(
                "`when` needs exactly one of `contains`, `equals` or `any_of` (found {})",
                if count == 0 {
                    "none".to_string()
                } else {
                    count.to_string()
                }
            ),
        ));
    }
    let test = if let Some(v) = w.contains {
        MatchTest::Contains(to_json(v.get_ref()))
    } else if let Some(v) = w.equals {
        MatchTest::Equals(to_json(v.get_ref()))
    } else if let Some(v) = w.any_of {
        if v.get_ref().is_empty() {
            return Err(cx.err(v.span(), "`any_of` must list at least one value"));
        }
        MatchTest::AnyOf(v.get_ref().iter().map(to_json).collect())
    } else {
        return Err(cx.err(span, "`when` needs one of `contains`, `equals` or `any_of`"));
    };
    Ok(Matcher {
        claim: claim_ref,
        test,
    })
}

fn grant(cx: &Ctx<'_>, g: Spanned<RawGrant>) -> Result<Grant, PolicyError> {
    let span = g.span();
    let g = g.into_inner();
    if g.database.get_ref().is_empty() {
        return Err(cx.err(
            g.database.span(),
            "`database` must not be empty (use \"*\" for any)",
        ));
    }
    let containers: Vec<String> = g
        .containers
        .get_ref()
        .iter()
        .map(|c| c.get_ref().clone())
        .collect();
    if containers.is_empty() {
        return Err(cx.err(
            g.containers.span(),
            "`containers` must list at least one container (use [\"*\"] for any)",
        ));
    }
    for c in g.containers.get_ref() {
        if c.get_ref().is_empty() {
            return Err(cx.err(c.span(), "container names must not be empty"));
        }
    }
    if containers.len() > 1 && containers.iter().any(|c| c == "*") {
        return Err(cx.err(
            g.containers.span(),
            "`containers` lists \"*\" (any container) next to names; keep only one of them",
        ));
    }
    let mut actions = Vec::new();
    for a in g.actions.get_ref() {
        let act: Action = a
            .get_ref()
            .parse()
            .map_err(|m: String| cx.err(a.span(), m))?;
        if !actions.contains(&act) {
            actions.push(act);
        }
    }
    if actions.is_empty() {
        return Err(cx.err(
            g.actions.span(),
            format!(
                "`actions` must list at least one of {}",
                Action::valid_list()
            ),
        ));
    }
    let Some(pk) = g.partition_key else {
        return Err(cx.err(
            span,
            "grant needs `partition_key`: \"any\", { claim = \"…\" } or { values = [\"…\"] }",
        ));
    };
    let partition_key = partition_key(cx, &pk)?;
    let mut deny_fields = Vec::new();
    if let Some(df) = &g.deny_fields {
        for f in df.get_ref() {
            let text = f.get_ref();
            let Some(p) = FieldPath::parse(text).filter(|_| !text.starts_with('/')) else {
                let hint = if text.starts_with('/') {
                    " (write fields dotted, like \"customer.ssn\", not as a path)"
                } else {
                    ""
                };
                return Err(cx.err(
                    f.span(),
                    format!("invalid field \"{text}\": empty name or segment{hint}"),
                ));
            };
            deny_fields.push(p);
        }
    }
    let max_items = match &g.max_items {
        None => None,
        Some(m) => {
            let v = *m.get_ref();
            if v < 1 {
                return Err(cx.err(
                    m.span(),
                    "`max_items` must be at least 1 (a grant that returns nothing is a contradiction; remove the grant instead)",
                ));
            }
            u64::try_from(v).ok()
        }
    };
    if actions.contains(&Action::Export) {
        // An exported credential is the whole broker identity (or the person's own token): the
        // grant that hands it out must say so instead of seeming narrower than what leaves.
        if g.database.get_ref() != "*" {
            return Err(cx.err(
                g.database.span(),
                "`export` needs database = \"*\": an exported credential works on every database of the account (put export in a grant of its own)",
            ));
        }
        if containers != ["*"] {
            return Err(cx.err(
                g.containers.span(),
                "`export` needs containers = [\"*\"]: an exported credential works on every container",
            ));
        }
        if let Some(m) = &g.max_items {
            return Err(cx.err(
                m.span(),
                "`export` cannot be combined with `max_items`: an exported credential is not capped",
            ));
        }
        if let Some(df) = g.deny_fields.as_ref().filter(|d| !d.get_ref().is_empty()) {
            return Err(cx.err(
                df.span(),
                "`export` cannot be combined with `deny_fields`: an exported credential can read every field",
            ));
        }
        if partition_key != PartitionKeyScope::Any {
            return Err(cx.err(
                pk.span(),
                "`export` needs partition_key = \"any\": an exported credential is not limited to partitions",
            ));
        }
    }
    Ok(Grant {
        database: g.database.into_inner(),
        containers,
        actions,
        partition_key,
        deny_fields,
        max_items,
        require_fido2: g.require_fido2,
    })
}

fn partition_key(
    cx: &Ctx<'_>,
    pk: &Spanned<toml::Value>,
) -> Result<PartitionKeyScope, PolicyError> {
    const SHAPES: &str = "\"any\", { claim = \"…\" } or { values = [\"…\"] }";
    match pk.get_ref() {
        toml::Value::String(s) if s == "any" => Ok(PartitionKeyScope::Any),
        toml::Value::Table(t) => {
            if let Some(k) = t.keys().find(|k| *k != "claim" && *k != "values") {
                return Err(cx.err(
                    pk.span(),
                    format!("unknown key `{k}` in partition_key; expected {SHAPES}"),
                ));
            }
            match (t.get("claim"), t.get("values")) {
                (Some(toml::Value::String(c)), None) if !c.is_empty() => {
                    Ok(PartitionKeyScope::Claim(ClaimRef::new(c)))
                }
                (None, Some(toml::Value::Array(vals))) => {
                    if vals.is_empty() {
                        return Err(cx.err(
                            pk.span(),
                            "partition_key.values is empty, so the grant could never match a partition; list values or use \"any\"",
                        ));
                    }
                    let mut out = Vec::new();
                    for v in vals {
                        let j = to_json(v);
                        let tuple = match j {
                            Value::Array(parts) if !parts.is_empty() && parts.iter().all(is_key_scalar) => parts,
                            ref s if is_key_scalar(s) => vec![j],
                            _ => {
                                return Err(cx.err(
                                    pk.span(),
                                    format!("partition_key value {} must be a string, number, boolean or a non-empty array of them (a hierarchical key prefix)", to_json(v)),
                                ));
                            }
                        };
                        out.push(tuple);
                    }
                    Ok(PartitionKeyScope::Values(out))
                }
                _ => Err(cx.err(
                    pk.span(),
                    format!("partition_key needs exactly one of a non-empty `claim` string or a `values` array; expected {SHAPES}"),
                )),
            }
        }
        _ => Err(cx.err(
            pk.span(),
            format!("invalid partition_key; expected {SHAPES}"),
        )),
    }
}

fn is_key_scalar(v: &Value) -> bool {
    matches!(
        v,
        Value::String(_) | Value::Number(_) | Value::Bool(_) | Value::Null
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[[roles]]
name = "support"
when = { claim = "https://example.com/roles", contains = "support" }

  [[roles.grants]]
  database = "shop"
  containers = ["orders", "customers"]
  actions = ["query", "read"]
  partition_key = { claim = "tenant_id" }
  deny_fields = ["card_number", "customer.ssn"]
  max_items = 1000
  require_fido2 = false
"#;

    fn err(text: &str) -> PolicyError {
        Policy::from_toml(text, Path::new("policy.toml")).unwrap_err()
    }

    #[test]
    fn parses_the_design_example() {
        let p = Policy::from_toml(GOOD, Path::new("policy.toml")).unwrap();
        assert_eq!(p.roles.len(), 1);
        let g = &p.roles[0].grants[0];
        assert_eq!(g.actions, vec![Action::Query, Action::Read]);
        assert_eq!(
            g.partition_key,
            PartitionKeyScope::Claim(ClaimRef::Name("tenant_id".into()))
        );
        assert_eq!(g.deny_fields.len(), 2);
        assert_eq!(g.max_items, Some(1000));
    }

    #[test]
    fn unknown_key_has_line_and_column() {
        let e = err(&GOOD.replace("max_items = 1000", "max_itemz = 1000"));
        assert_eq!((e.line, e.column), (12, 3), "{e}");
        assert!(e.message.contains("max_itemz"), "{e}");
        assert!(e.to_string().starts_with("policy.toml:12:3: "));
    }

    #[test]
    fn unknown_action_lists_valid_ones() {
        let e = err(&GOOD.replace("\"read\"]", "\"raed\"]"));
        assert_eq!(e.line, 9);
        assert!(
            e.message
                .contains("query, read, create, upsert, replace, delete, export"),
            "{e}"
        );
    }

    #[test]
    fn bad_matchers() {
        let e = err(&GOOD.replace(", contains = \"support\"", ""));
        assert!(e.message.contains("exactly one"), "{e}");
        assert_eq!(e.line, 4);
        let e = err(&GOOD.replace("contains = \"support\"", "contains = \"a\", equals = \"b\""));
        assert!(e.message.contains("found 2"), "{e}");
        let e = err(&GOOD.replace("claim = \"https://example.com/roles\", ", ""));
        assert!(e.message.contains("claim"), "{e}");
        let e = err(&GOOD.replace("contains = \"support\"", "any_of = []"));
        assert!(e.message.contains("any_of"), "{e}");
    }

    #[test]
    fn contradictions() {
        let e = err(&GOOD.replace("{ claim = \"tenant_id\" }", "{ values = [] }"));
        assert!(e.message.contains("never match"), "{e}");
        let e = err(&GOOD.replace("[\"orders\", \"customers\"]", "[]"));
        assert!(e.message.contains("at least one container"), "{e}");
        let e = err(&GOOD.replace("\"query\", \"read\"", "\"export\""));
        assert!(e.message.contains("export"), "{e}");
        // An export grant must cover what the credential covers, or it fails at its line.
        let export = "[[roles]]\nname = \"x\"\nwhen = { claim = \"r\", contains = \"x\" }\n[[roles.grants]]\ndatabase = \"shop\"\ncontainers = [\"*\"]\nactions = [\"export\"]\npartition_key = \"any\"\n";
        let e = err(export);
        assert!(e.message.contains("database = \"*\""), "{e}");
        assert_eq!((e.line, e.column), (5, 12), "{e}");
        let e = err(&export
            .replace("\"shop\"", "\"*\"")
            .replace("[\"*\"]", "[\"orders\"]"));
        assert!(e.message.contains("containers = [\"*\"]"), "{e}");
        assert_eq!(e.line, 6, "{e}");
        let e = err(&format!(
            "{}max_items = 5\n",
            export.replace("\"shop\"", "\"*\"")
        ));
        assert!(e.message.contains("max_items"), "{e}");
        assert!(
            Policy::from_toml(&export.replace("\"shop\"", "\"*\""), Path::new("p.toml")).is_ok()
        );
        let e = err(&GOOD.replace("1000", "0"));
        assert!(e.message.contains("max_items"), "{e}");
        let e = err(&format!("{GOOD}{GOOD}"));
        assert!(e.message.contains("duplicate role"), "{e}");
        let e = err(&GOOD.replace("\"card_number\"", "\"/card_number\""));
        assert!(e.message.contains("dotted"), "{e}");
    }

    #[test]
    fn partition_key_shapes() {
        let p = Policy::from_toml(
            &GOOD.replace(
                "{ claim = \"tenant_id\" }",
                "{ values = [\"t1\", [\"t2\", 3]] }",
            ),
            Path::new("p"),
        )
        .unwrap();
        assert_eq!(
            p.roles[0].grants[0].partition_key,
            PartitionKeyScope::Values(vec![
                vec![Value::from("t1")],
                vec![Value::from("t2"), Value::from(3)]
            ])
        );
        let p = Policy::from_toml(
            &GOOD.replace("{ claim = \"tenant_id\" }", "\"any\""),
            Path::new("p"),
        )
        .unwrap();
        assert_eq!(p.roles[0].grants[0].partition_key, PartitionKeyScope::Any);
        let e = err(&GOOD.replace("{ claim = \"tenant_id\" }", "\"all\""));
        assert!(e.message.contains("invalid partition_key"), "{e}");
        let e = err(&GOOD.replace("  partition_key = { claim = \"tenant_id\" }\n", ""));
        assert!(e.message.contains("needs `partition_key`"), "{e}");
    }

    #[test]
    fn matchers_and_claims() {
        let m = Matcher {
            claim: ClaimRef::new("https://example.com/roles"),
            test: MatchTest::Contains("support".into()),
        };
        assert!(m.matches(&serde_json::json!({"https://example.com/roles": ["a", "support"]})));
        assert!(m.matches(&serde_json::json!({"https://example.com/roles": "support"})));
        assert!(!m.matches(&serde_json::json!({"roles": ["support"]})));
        let m = Matcher {
            claim: ClaimRef::new("/realm_access/roles"),
            test: MatchTest::AnyOf(vec!["x".into(), "y".into()]),
        };
        assert!(m.matches(&serde_json::json!({"realm_access": {"roles": ["y"]}})));
        let m = Matcher {
            claim: ClaimRef::new("tier"),
            test: MatchTest::Equals(serde_json::json!(["gold"])),
        };
        assert!(m.matches(&serde_json::json!({"tier": ["gold"]})));
        assert!(!m.matches(&serde_json::json!({"tier": ["gold", "x"]})));
    }
}
