//! Decisions: claims → matched roles → grants → [`Decision`] (and a [`ScopedQuery`]).
//!
//! Every grant of every matched role is evaluated in full, so a denial lists each
//! clause that failed for each grant. The first grant (in file order) that passes
//! every clause allows the request.
//!
//! Partition keys: a grant limited to values `V` (fixed, or from a claim)
//! - allows a query whose scope is `Points ⊆ V` and pins execution to those points;
//! - allows a query whose scope is `All` (or `None`) but pins execution to `V`, so
//!   an imprecise analysis can never read outside the grant;
//! - denies a query whose points are not all in `V`, naming the ones outside;
//! - with an explicit partition key (point operations, `--partition-key`) requires
//!   it to be in `V` and pins to it; a point operation without one is denied.
//!
//! A value in `V` may be a prefix of a hierarchical key; a point is inside `V` when
//! it starts with one of them.

use super::ast::Query;
use super::config::{Action, ClaimRef, Grant, PartitionKeyScope, Policy, Role};
use super::fields::{FieldPath, denied_field_accesses};
use super::names::{escaped, resource_name_problem, unbound_names};
use super::scope::{Scope, partition_scope, tuple_eq};
use serde::Serialize;
use serde_json::{Map, Value};

/// A query to check: its text, tree, parameters and the container's key paths.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryRequest {
    pub text: String,
    pub ast: Query,
    /// Parameter values by name (`@tenant` or `tenant`).
    pub params: Map<String, Value>,
    /// The container's partition-key paths, like `["/tenant"]`.
    pub partition_key_paths: Vec<String>,
}

impl QueryRequest {
    /// Parses `text` into a request to check.
    pub fn parse(
        text: &str,
        params: Map<String, Value>,
        partition_key_paths: Vec<String>,
    ) -> Result<QueryRequest, super::parser::SyntaxError> {
        Ok(QueryRequest {
            text: text.to_string(),
            ast: super::parser::parse(text)?,
            params,
            partition_key_paths,
        })
    }
}

/// What the caller wants to do.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub database: String,
    pub container: String,
    pub action: Action,
    /// Required for [`Action::Query`].
    pub query: Option<QueryRequest>,
    /// An explicit partition key (one value per key path).
    pub partition_key: Option<Vec<Value>>,
    pub max_items: Option<u64>,
    /// Whether a FIDO2 step-up happened recently enough.
    pub fido2_fresh: bool,
    /// The item a point operation addresses (`read`, `upsert`, `delete`).
    pub item_id: Option<String>,
    /// The document an `upsert` writes (checked against `deny_fields`).
    pub document: Option<Value>,
}

/// Why a decision came out as it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonKind {
    /// A grant allowed the request.
    Allowed,
    /// No role's `when` matched the identity.
    NoRoleMatched,
    /// This role's `when` did not match.
    RoleNotMatched,
    Database,
    Container,
    Action,
    PartitionKey,
    /// A claim the grant needs is absent.
    MissingClaim,
    DeniedField,
    /// The grant needs a fresh FIDO2 key touch: the CLI can prompt and retry.
    StepUpRequired,
    /// A query action without a query.
    QueryMissing,
    /// The query uses a name that no FROM or JOIN binds (Cosmos DB refuses it too).
    UnboundName,
    /// A database, container or item name that could address something else (`..`, `/`, …).
    UnsafeName,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reason {
    pub kind: ReasonKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// 1-based grant number within the role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant: Option<usize>,
    pub message: String,
}

/// The outcome of [`decide`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    allowed: bool,
    reasons: Vec<Reason>,
    #[serde(skip)]
    scoped: Option<ScopedQuery>,
}

impl Decision {
    pub fn allowed(&self) -> bool {
        self.allowed
    }

    pub fn reasons(&self) -> &[Reason] {
        &self.reasons
    }

    /// The checked operation to run (only when allowed).
    pub fn scoped(&self) -> Option<&ScopedQuery> {
        self.scoped.as_ref()
    }

    pub fn into_scoped(self) -> Option<ScopedQuery> {
        self.scoped
    }

    /// Denied, but some grant would allow it after a FIDO2 step-up.
    pub fn needs_step_up(&self) -> bool {
        !self.allowed
            && self
                .reasons
                .iter()
                .any(|r| r.kind == ReasonKind::StepUpRequired)
    }
}

/// An operation the policy engine has checked. Only this module can build one, so
/// the Cosmos layer cannot run an unchecked query.
#[derive(Debug, Clone, PartialEq)]
pub struct ScopedQuery {
    sql: Option<String>,
    params: Map<String, Value>,
    database: String,
    container: String,
    action: Action,
    partition_keys: Option<Vec<Vec<Value>>>,
    max_items: Option<u64>,
    grant: String,
    /// Fields an upsert must carry over from the stored item (the grant's `deny_fields`): the
    /// writer may neither set nor remove them.
    preserve_fields: Vec<FieldPath>,
    /// The answer is a property of the whole result (ORDER BY, TOP, DISTINCT, OFFSET/LIMIT,
    /// GROUP BY, aggregates).
    whole_result: bool,
    /// The SDK's cross-partition pipeline cannot answer it (see
    /// [`super::ast::Query::beyond_sdk_merge`]).
    beyond_sdk_merge: bool,
}

impl ScopedQuery {
    /// The normalised query text (exactly the tree that was checked); `None` for
    /// point operations.
    pub fn sql(&self) -> Option<&str> {
        self.sql.as_deref()
    }
    pub fn params(&self) -> &Map<String, Value> {
        &self.params
    }
    pub fn database(&self) -> &str {
        &self.database
    }
    pub fn container(&self) -> &str {
        &self.container
    }
    /// Partition keys (or hierarchical prefixes) execution must be limited to;
    /// `None`: any partition.
    pub fn partition_keys(&self) -> Option<&[Vec<Value>]> {
        self.partition_keys.as_deref()
    }
    /// The denied fields an upsert keeps as stored.
    pub fn preserve_fields(&self) -> &[FieldPath] {
        &self.preserve_fields
    }
    /// Whether the answer is a property of the whole result (see [`super::ast::Query::needs_whole_result`]).
    pub fn whole_result(&self) -> bool {
        self.whole_result
    }
    /// Whether the SDK's cross-partition pipeline cannot answer it (see
    /// [`super::ast::Query::beyond_sdk_merge`]).
    pub fn beyond_sdk_merge(&self) -> bool {
        self.beyond_sdk_merge
    }
    pub fn max_items(&self) -> Option<u64> {
        self.max_items
    }
}

fn quoted_list(items: &[String]) -> String {
    let q: Vec<String> = items.iter().map(|s| format!("\"{s}\"")).collect();
    format!("[{}]", q.join(","))
}

fn values_list(v: &[Vec<Value>]) -> String {
    let parts: Vec<String> = v
        .iter()
        .map(|t| match t.as_slice() {
            [one] => one.to_string(),
            many => Value::Array(many.to_vec()).to_string(),
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

/// What an identity may see: the databases and containers that the grants of its matching roles
/// name (`"*"` names every one at its level). Listing is not an action of its own: a grant for any
/// action on a container makes it visible.
#[derive(Debug)]
pub struct Visible {
    /// (database, containers) of each grant that applies.
    grants: Vec<(String, Vec<String>)>,
}

impl Visible {
    #[must_use]
    pub fn database(&self, db: &str) -> bool {
        self.grants.iter().any(|(d, _)| d == "*" || d == db)
    }

    #[must_use]
    pub fn container(&self, db: &str, container: &str) -> bool {
        self.grants
            .iter()
            .any(|(d, cs)| (d == "*" || d == db) && cs.iter().any(|c| c == "*" || c == container))
    }
}

impl Policy {
    /// What `claims` may see (see [`Visible`]).
    #[must_use]
    pub fn visible(&self, claims: &Value) -> Visible {
        Visible {
            grants: self
                .roles
                .iter()
                .filter(|r| r.when.matches(claims))
                .flat_map(|r| r.grants.iter())
                .map(|g| (g.database.clone(), g.containers.clone()))
                .collect(),
        }
    }
}

impl Policy {
    /// What `claims` may do, grant by grant, for a person or agent to plan within (`whoami`):
    /// the role, where, which actions, the partition keys (a claim's scope resolved to this
    /// identity's values), denied fields, caps and whether a key touch is needed.
    #[must_use]
    pub fn grants_for(&self, claims: &Value) -> Vec<Value> {
        self.roles
            .iter()
            .filter(|r| r.when.matches(claims))
            .flat_map(|r| r.grants.iter().map(move |g| (r, g)))
            .map(|(role, g)| {
                let partition_key = match &g.partition_key {
                    PartitionKeyScope::Any => serde_json::json!("any"),
                    PartitionKeyScope::Claim(c) => serde_json::json!({
                        "claim": c.to_string(),
                        "values": match c.resolve(claims) {
                            Some(Value::Array(a)) => a.clone(),
                            Some(v) => vec![v.clone()],
                            None => Vec::new(),
                        },
                    }),
                    PartitionKeyScope::Values(v) => serde_json::json!({"values": v}),
                };
                serde_json::json!({
                    "role": role.name,
                    "database": g.database,
                    "containers": g.containers,
                    "actions": g.actions.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
                    "partition_key": partition_key,
                    "deny_fields": g.deny_fields.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "max_items": g.max_items,
                    "require_fido2": g.require_fido2,
                })
            })
            .collect()
    }
}

/// Decides whether `claims` may perform `req` under `policy`.
pub fn decide(policy: &Policy, claims: &Value, req: &Request) -> Decision {
    // A name that could leave its container (`../../payments/docs/p1`) addresses something the
    // grant does not name: refused before any grant, whatever the grants say.
    let names = [
        ("database", Some(&req.database)),
        ("container", Some(&req.container)),
        ("item id", req.item_id.as_ref()),
    ];
    let unsafe_names: Vec<Reason> = names
        .into_iter()
        .filter_map(|(what, name)| {
            let name = name?;
            let problem = resource_name_problem(name)?;
            Some(Reason {
                kind: ReasonKind::UnsafeName,
                role: None,
                grant: None,
                message: format!("the {what} {} {problem}", escaped(name)),
            })
        })
        .collect();
    if !unsafe_names.is_empty() {
        return Decision {
            allowed: false,
            reasons: unsafe_names,
            scoped: None,
        };
    }
    // A name bound nowhere is refused before any grant: what it stands for is a guess, and a
    // guess must not decide which fields or partitions are read.
    if let Some(q) = &req.query {
        let unbound = unbound_names(&q.ast);
        if !unbound.is_empty() {
            return Decision {
                allowed: false,
                reasons: vec![Reason {
                    kind: ReasonKind::UnboundName,
                    role: None,
                    grant: None,
                    message: format!(
                        "the query uses {}, which no FROM or JOIN binds: name the alias it means \
                         (FROM c[\"customer\"] binds customer; FROM c.customer AS x binds x)",
                        quoted_list(&unbound)
                    ),
                }],
                scoped: None,
            };
        }
    }
    let mut failures: Vec<Reason> = Vec::new();
    let mut not_matched: Vec<Reason> = Vec::new();
    let scope = req.query.as_ref().map(|q| {
        let paths: Vec<&str> = q.partition_key_paths.iter().map(String::as_str).collect();
        partition_scope(&q.ast, &paths, &q.params)
    });
    // Every grant that allows the request is a candidate; the broadest wins (one not pinned to
    // partitions over one that is), so a person with two roles gets what the wider role grants.
    let mut best: Option<(usize, &Role, usize, ScopedQuery)> = None;
    for role in &policy.roles {
        if !role.when.matches(claims) {
            not_matched.push(Reason {
                kind: ReasonKind::RoleNotMatched,
                role: Some(role.name.clone()),
                grant: None,
                message: format!(
                    "role \"{}\" does not apply: needs {}",
                    role.name,
                    role.when.describe()
                ),
            });
            continue;
        }
        for (i, grant) in role.grants.iter().enumerate() {
            match check_grant(role, i, grant, claims, req, scope.as_ref()) {
                Ok(scoped) => {
                    let breadth = usize::from(scoped.partition_keys().is_none());
                    if best.as_ref().is_none_or(|(b, ..)| breadth > *b) {
                        best = Some((breadth, role, i, scoped));
                    }
                }
                Err(mut f) => failures.append(&mut f),
            }
        }
    }
    if let Some((_, role, i, scoped)) = best {
        let pin = match scoped.partition_keys() {
            None => "any partition".to_string(),
            Some(p) => format!("partition keys {}", values_list(p)),
        };
        let what = match req.action {
            Action::Query => "query".to_string(),
            a => a.to_string(),
        };
        return Decision {
            allowed: true,
            reasons: vec![Reason {
                kind: ReasonKind::Allowed,
                role: Some(role.name.clone()),
                grant: Some(i + 1),
                message: format!(
                    "{} allows {what} on {}/{} ({pin})",
                    scoped.grant, req.database, req.container
                ),
            }],
            scoped: Some(scoped),
        };
    }
    if failures.is_empty() {
        failures.push(Reason {
            kind: ReasonKind::NoRoleMatched,
            role: None,
            grant: None,
            message: if policy.roles.is_empty() {
                "the policy defines no roles".to_string()
            } else {
                "no role of the policy applies to this identity".to_string()
            },
        });
    }
    failures.append(&mut not_matched);
    Decision {
        allowed: false,
        reasons: failures,
        scoped: None,
    }
}

/// The grant's denied fields, quoted for a reason.
fn denied_list(grant: &Grant) -> String {
    let names: Vec<String> = grant.deny_fields.iter().map(ToString::to_string).collect();
    quoted_list(&names)
}

/// Whether `doc` holds a value at `path` (arrays on the way are looked into, as a query's
/// `c.items[0].x` reads `items.x`).
fn field_present(doc: &Value, path: &[String]) -> bool {
    let Some((first, rest)) = path.split_first() else {
        return true;
    };
    match doc {
        Value::Object(m) => m.get(first).is_some_and(|v| field_present(v, rest)),
        Value::Array(items) => items.iter().any(|v| field_present(v, path)),
        _ => false,
    }
}

fn in_scope(point: &[Value], allowed: &[Vec<Value>]) -> bool {
    allowed
        .iter()
        .any(|g| g.len() <= point.len() && tuple_eq(&point[..g.len()], g))
}

fn claim_values(c: &ClaimRef, claims: &Value) -> Result<Vec<Vec<Value>>, String> {
    let Some(v) = c.resolve(claims) else {
        return Err(format!(
            "claim \"{c}\" (the grant's partition key) is missing from the token"
        ));
    };
    let scalar = |v: &Value| matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_));
    match v {
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|i| match i {
                Value::Array(t) if !t.is_empty() && t.iter().all(scalar) => Ok(t.clone()),
                s if scalar(s) => Ok(vec![s.clone()]),
                _ => Err(format!(
                    "claim \"{c}\" holds {i}, which is not a partition key value"
                )),
            })
            .collect(),
        s if scalar(s) => Ok(vec![vec![s.clone()]]),
        other => Err(format!(
            "claim \"{c}\" holds {other}, which is not a partition key value"
        )),
    }
}

fn check_grant(
    role: &Role,
    index: usize,
    grant: &Grant,
    claims: &Value,
    req: &Request,
    scope: Option<&Scope>,
) -> Result<ScopedQuery, Vec<Reason>> {
    let label = format!("role \"{}\" grant #{}", role.name, index + 1);
    let mut fails = Vec::new();
    let mut fail = |kind: ReasonKind, message: String| {
        fails.push(Reason {
            kind,
            role: Some(role.name.clone()),
            grant: Some(index + 1),
            message: format!("{label}: {message}"),
        });
    };
    if grant.database != "*" && grant.database != req.database {
        fail(
            ReasonKind::Database,
            format!(
                "database \"{}\" is not \"{}\"",
                req.database, grant.database
            ),
        );
    }
    if !grant
        .containers
        .iter()
        .any(|c| c == "*" || *c == req.container)
    {
        fail(
            ReasonKind::Container,
            format!(
                "container \"{}\" not in {}",
                req.container,
                quoted_list(&grant.containers)
            ),
        );
    }
    if !grant.actions.contains(&req.action) {
        let names: Vec<String> = grant
            .actions
            .iter()
            .map(std::string::ToString::to_string)
            .collect();
        fail(
            ReasonKind::Action,
            format!("action \"{}\" not in {}", req.action, quoted_list(&names)),
        );
    }
    let query = if req.action == Action::Query {
        if req.query.is_none() {
            fail(
                ReasonKind::QueryMissing,
                "a query action needs a query".to_string(),
            );
        }
        req.query.as_ref()
    } else {
        None
    };

    // Partition keys.
    let allowed: Result<Option<Vec<Vec<Value>>>, String> = match &grant.partition_key {
        PartitionKeyScope::Any => Ok(None),
        PartitionKeyScope::Values(v) => Ok(Some(v.clone())),
        PartitionKeyScope::Claim(c) => claim_values(c, claims).map(Some),
    };
    let mut pin: Option<Vec<Vec<Value>>> = None;
    match allowed {
        Err(m) => fail(ReasonKind::MissingClaim, m),
        Ok(None) => pin = req.partition_key.clone().map(|k| vec![k]),
        Ok(Some(v)) => {
            if let Some(k) = &req.partition_key {
                if in_scope(k, &v) {
                    pin = Some(vec![k.clone()]);
                } else {
                    fail(
                        ReasonKind::PartitionKey,
                        format!(
                            "partition key {} is outside the grant's keys {}",
                            values_list(std::slice::from_ref(k)),
                            values_list(&v)
                        ),
                    );
                }
            } else if query.is_some() {
                match scope {
                    Some(Scope::Points(points)) => {
                        let outside: Vec<Vec<Value>> = points
                            .iter()
                            .filter(|p| !in_scope(p, &v))
                            .cloned()
                            .collect();
                        if outside.is_empty() {
                            pin = Some(points.clone());
                        } else {
                            fail(
                                ReasonKind::PartitionKey,
                                format!(
                                    "query touches partition keys {} outside the grant's keys {}",
                                    values_list(&outside),
                                    values_list(&v)
                                ),
                            );
                        }
                    }
                    // Unprovable (or empty) scope: run pinned to the grant's keys.
                    _ => pin = Some(v),
                }
            } else if req.action != Action::Query {
                fail(
                    ReasonKind::PartitionKey,
                    format!(
                        "a partition key is required: the grant is limited to {}",
                        values_list(&v)
                    ),
                );
            }
        }
    }

    // Denied fields.
    if !grant.deny_fields.is_empty() {
        if let Some(q) = query {
            for a in denied_field_accesses(&q.ast, &grant.deny_fields) {
                fail(
                    ReasonKind::DeniedField,
                    format!(
                        "query reads denied field \"{}\" through {} in {}",
                        a.field, a.access, a.clause
                    ),
                );
            }
        } else if req.action == Action::Read {
            fail(
                ReasonKind::DeniedField,
                format!(
                    "a point read returns the whole document, including denied fields {}; use a query that projects allowed fields",
                    denied_list(grant)
                ),
            );
        } else if req.action == Action::Upsert {
            // The stored values of denied fields are carried over (ScopedQuery::preserve_fields);
            // a document that sets one is refused.
            if let Some(doc) = &req.document {
                for f in &grant.deny_fields {
                    if field_present(doc, f.segments()) {
                        fail(
                            ReasonKind::DeniedField,
                            format!(
                                "the document writes denied field \"{f}\"; leave it out (its stored value is kept)"
                            ),
                        );
                    }
                }
            }
        } else if req.action == Action::Delete {
            fail(
                ReasonKind::DeniedField,
                format!(
                    "deleting an item removes its denied fields {} too; ask for a grant without deny_fields",
                    denied_list(grant)
                ),
            );
        }
    }

    if grant.require_fido2 && !req.fido2_fresh {
        fail(
            ReasonKind::StepUpRequired,
            "needs a recent FIDO2 key touch (step-up): run `cosmoscope login --fido2`".to_string(),
        );
    }

    if !fails.is_empty() {
        return Err(fails);
    }
    let max_items = match (req.max_items, grant.max_items) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    Ok(ScopedQuery {
        sql: query.map(|q| q.ast.to_string()),
        params: query.map(|q| q.params.clone()).unwrap_or_default(),
        database: req.database.clone(),
        container: req.container.clone(),
        action: req.action,
        partition_keys: pin,
        max_items,
        grant: label,
        preserve_fields: if req.action == Action::Upsert {
            grant.deny_fields.clone()
        } else {
            Vec::new()
        },
        whole_result: query.is_some_and(|q| q.ast.needs_whole_result()),
        beyond_sdk_merge: query.is_some_and(|q| q.ast.beyond_sdk_merge()),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::Path;

    const POLICY: &str = r#"
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

[[roles]]
name = "admin"
when = { claim = "groups", any_of = ["admins", "root"] }

  [[roles.grants]]
  database = "*"
  containers = ["*"]
  actions = ["query", "read", "delete"]
  partition_key = "any"
  require_fido2 = true

[[roles]]
name = "fixed"
when = { claim = "/org/name", equals = "acme" }

  [[roles.grants]]
  database = "shop"
  containers = ["orders"]
  actions = ["query", "upsert"]
  partition_key = { values = ["t1", "t2"] }
"#;

    fn policy() -> Policy {
        Policy::from_toml(POLICY, Path::new("policy.toml")).unwrap()
    }

    fn support() -> Value {
        json!({"https://example.com/roles": ["support"], "tenant_id": "t1"})
    }

    fn query(sql: &str, container: &str) -> Request {
        Request {
            database: "shop".into(),
            container: container.into(),
            action: Action::Query,
            query: Some(QueryRequest::parse(sql, Map::new(), vec!["/tenant_id".into()]).unwrap()),
            partition_key: None,
            max_items: None,
            fido2_fresh: false,
            item_id: None,
            document: None,
        }
    }

    fn kinds(d: &Decision) -> Vec<ReasonKind> {
        d.reasons().iter().map(|r| r.kind).collect()
    }

    #[test]
    fn allowed_and_pinned_to_the_claim() {
        let d = decide(
            &policy(),
            &support(),
            &query("SELECT c.id FROM c", "orders"),
        );
        assert!(d.allowed(), "{:?}", d.reasons());
        let s = d.scoped().unwrap();
        assert_eq!(s.partition_keys(), Some(&[vec![json!("t1")]][..]));
        assert_eq!(s.max_items(), Some(1000));
        assert_eq!(s.grant, "role \"support\" grant #1");
        assert_eq!(s.sql(), Some("SELECT c.id FROM c"));
        assert_eq!(d.reasons()[0].kind, ReasonKind::Allowed);
    }

    #[test]
    fn points_inside_and_outside() {
        let d = decide(
            &policy(),
            &support(),
            &query("SELECT c.id FROM c WHERE c.tenant_id = 't1'", "orders"),
        );
        assert!(d.allowed());
        let d = decide(
            &policy(),
            &support(),
            &query(
                "SELECT c.id FROM c WHERE c.tenant_id IN ('t1', 't9')",
                "orders",
            ),
        );
        assert!(!d.allowed());
        assert!(
            d.reasons()[0].message.contains("\"t9\""),
            "{:?}",
            d.reasons()
        );
        assert_eq!(d.reasons()[0].kind, ReasonKind::PartitionKey);
    }

    #[test]
    fn every_failed_clause_is_listed() {
        let mut r = query("SELECT * FROM c", "payments");
        r.action = Action::Query;
        let d = decide(&policy(), &support(), &r);
        assert!(!d.allowed());
        let msgs: Vec<&str> = d.reasons().iter().map(|r| r.message.as_str()).collect();
        assert!(msgs.contains(
            &"role \"support\" grant #1: container \"payments\" not in [\"orders\",\"customers\"]"
        ), "{msgs:?}");
        assert!(kinds(&d).contains(&ReasonKind::DeniedField));
        assert!(kinds(&d).contains(&ReasonKind::RoleNotMatched));
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["allowed"], json!(false));
        assert_eq!(json["reasons"][0]["kind"], json!("container"));
    }

    #[test]
    fn step_up_is_its_own_reason() {
        let admin = json!({"groups": ["root"]});
        let d = decide(&policy(), &admin, &query("SELECT * FROM c", "x"));
        assert!(!d.allowed());
        assert!(d.needs_step_up());
        let mut r = query("SELECT * FROM c", "x");
        r.fido2_fresh = true;
        r.max_items = Some(5);
        let d = decide(&policy(), &admin, &r);
        assert!(d.allowed());
        assert_eq!(d.scoped().unwrap().partition_keys(), None);
        assert_eq!(d.scoped().unwrap().max_items(), Some(5));
    }

    #[test]
    fn point_operations() {
        let acme = json!({"org": {"name": "acme"}});
        let mut r = Request {
            database: "shop".into(),
            container: "orders".into(),
            action: Action::Upsert,
            query: None,
            partition_key: Some(vec![json!("t2")]),
            max_items: None,
            fido2_fresh: false,
            item_id: None,
            document: None,
        };
        let d = decide(&policy(), &acme, &r);
        assert!(d.allowed(), "{:?}", d.reasons());
        assert_eq!(d.scoped().unwrap().sql(), None);
        r.partition_key = Some(vec![json!("t3")]);
        assert!(!decide(&policy(), &acme, &r).allowed());
        r.partition_key = None;
        let d = decide(&policy(), &acme, &r);
        assert!(d.reasons()[0].message.contains("partition key is required"));
        r.action = Action::Delete;
        r.partition_key = Some(vec![json!("t1")]);
        assert_eq!(
            kinds(&decide(&policy(), &acme, &r)),
            vec![
                ReasonKind::Action,
                ReasonKind::RoleNotMatched,
                ReasonKind::RoleNotMatched
            ]
        );
        // A point read over a grant with denied fields returns the whole document.
        let mut r = r.clone();
        r.action = Action::Read;
        let d = decide(&policy(), &support(), &r);
        assert!(kinds(&d).contains(&ReasonKind::DeniedField));
    }

    #[test]
    fn missing_claim_and_no_role() {
        let d = decide(
            &policy(),
            &json!({"https://example.com/roles": "support"}),
            &query("SELECT c.id FROM c", "orders"),
        );
        assert_eq!(kinds(&d)[0], ReasonKind::MissingClaim);
        let d = decide(
            &policy(),
            &json!({}),
            &query("SELECT c.id FROM c", "orders"),
        );
        assert_eq!(kinds(&d)[0], ReasonKind::NoRoleMatched);
    }
}

#[cfg(test)]
mod visible_tests {
    use super::*;

    #[test]
    fn only_the_grants_of_matching_roles_are_visible() {
        // The unit-test policy: `admin` has every container of `shop` and may export the whole
        // account's credential (so sees every database), `reader` only `orders`.
        let policy = Policy::from_toml(crate::testing::POLICY, std::path::Path::new("p.toml"))
            .expect("policy");
        let reader = policy.visible(&serde_json::json!({"roles": ["reader"]}));
        assert!(reader.database("shop") && !reader.database("hr"));
        assert!(reader.container("shop", "orders") && !reader.container("shop", "payments"));
        let admin = policy.visible(&serde_json::json!({"roles": ["admin"]}));
        assert!(admin.container("shop", "payments") && admin.database("hr"));
        let nobody = policy.visible(&serde_json::json!({"roles": []}));
        assert!(!nobody.database("shop"));
    }
}
