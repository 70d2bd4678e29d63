//! Denied-field detection.
//!
//! A denied field is a dotted path from the document root (`customer.ssn`). A query
//! *touches* it when any expression evaluates a document path `P` such that `P` is a
//! prefix of the denied path (reading `c.customer` exposes `customer.ssn`, and so
//! does `SELECT *` or `SELECT VALUE c`) or the denied path is a prefix of `P`
//! (`c.customer.ssn.last4`). Paths are followed through aliases (`FROM c.customer
//! AS x`, `JOIN x IN c.items`), string brackets (`c["customer"]`), array indexes
//! (transparent: `c.items[0].ssn` is `items.ssn`), subqueries (correlated or in FROM)
//! and every clause. A bracket with a computed key (`c[@f]`, `c.customer[x]`) may
//! name any field below its base, so the base counts as read whole. A query that uses an
//! identifier bound nowhere is refused before this runs (`names`); here one still counts as the
//! document itself.
//!
//! A FROM/JOIN source path is checked only for lying *inside* a denied field
//! (`JOIN s IN c.customer.ssn`); an ancestor source is fine because every use of its
//! alias is checked with the full path.

use super::ast::*;
use serde::Serialize;

/// A dotted field path such as `customer.ssn`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct FieldPath(Vec<String>);

impl FieldPath {
    /// Parses `a.b.c`; `None` for an empty path or an empty segment.
    pub fn parse(dotted: &str) -> Option<FieldPath> {
        let segs: Vec<String> = dotted.split('.').map(str::to_string).collect();
        if segs.iter().any(String::is_empty) {
            return None;
        }
        Some(FieldPath(segs))
    }

    pub fn segments(&self) -> &[String] {
        &self.0
    }
}

impl std::fmt::Display for FieldPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("."))
    }
}

impl From<FieldPath> for String {
    fn from(p: FieldPath) -> String {
        p.to_string()
    }
}

/// One place where a query touches a denied field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldAccess {
    /// The denied field (`customer.ssn`).
    pub field: String,
    /// What the query evaluates (`c.customer`, `SELECT *`).
    pub access: String,
    /// The clause where it happens (`SELECT`, `WHERE`, `FROM`, …).
    pub clause: &'static str,
}

#[derive(Clone)]
enum Binding {
    /// The alias stands for these document paths (several when ambiguous).
    Doc(Vec<Vec<String>>),
    /// The alias stands for something already checked (a subquery's output).
    Opaque,
}

type Env = Vec<(String, Binding)>;

/// Most alternative readings kept for one alias.
const MAX_READINGS: usize = 8;

/// Every access of `q` to a field in `denied` (empty: no denied field is touched).
pub fn denied_field_accesses(q: &Query, denied: &[FieldPath]) -> Vec<FieldAccess> {
    let mut w = Walker {
        denied,
        out: Vec::new(),
    };
    if !denied.is_empty() {
        w.query(q, &Vec::new());
    }
    w.out
}

struct Walker<'d> {
    denied: &'d [FieldPath],
    out: Vec<FieldAccess>,
}

fn lookup(env: &Env, name: &str) -> Binding {
    env.iter()
        .rev()
        .find(|(n, _)| n == name)
        .map_or_else(|| Binding::Doc(vec![Vec::new()]), |(_, b)| b.clone())
}

fn describe(alias: &str, segs: &[String]) -> String {
    let mut s = alias.to_string();
    for seg in segs {
        s.push('.');
        s.push_str(seg);
    }
    s
}

fn is_prefix(a: &[String], b: &[String]) -> bool {
    a.len() <= b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

impl Walker<'_> {
    /// `path` is evaluated (with anything below it possibly read).
    fn touch(&mut self, path: &[String], access: impl Fn() -> String, clause: &'static str) {
        for d in self.denied {
            if is_prefix(path, &d.0) || is_prefix(&d.0, path) {
                self.out.push(FieldAccess {
                    field: d.to_string(),
                    access: access(),
                    clause,
                });
            }
        }
    }

    fn query(&mut self, q: &Query, outer: &Env) {
        let mut env = outer.clone();
        let mut own: Vec<(String, Binding)> = Vec::new();
        if let Some(from) = &q.from {
            for (i, s) in std::iter::once(&from.source).chain(&from.joins).enumerate() {
                let clause = if i == 0 { "FROM" } else { "JOIN" };
                let (Source::Aliased { collection, .. } | Source::Iterate { collection, .. }) = s;
                let names: Vec<String> = s.bound_names().into_iter().map(String::from).collect();
                let binding = match collection {
                    Collection::Subquery(sub) => {
                        self.query(sub, &env);
                        Binding::Opaque
                    }
                    Collection::Path { root, path } => match lookup(&env, root) {
                        Binding::Opaque => Binding::Opaque,
                        Binding::Doc(bases) => {
                            let steps: Vec<String> = path
                                .iter()
                                .filter_map(|p| match p {
                                    PathStep::Field(n) | PathStep::Key(n) => Some(n.clone()),
                                    PathStep::Index(_) => None,
                                })
                                .collect();
                            let mut cands = Vec::new();
                            for base in bases {
                                let mut full = base.clone();
                                full.extend(steps.iter().cloned());
                                // A source inside a denied field exposes it.
                                for d in self.denied {
                                    if is_prefix(&d.0, &full) {
                                        self.out.push(FieldAccess {
                                            field: d.to_string(),
                                            access: describe(root, &steps),
                                            clause,
                                        });
                                    }
                                }
                                cands.push(full);
                            }
                            // Without an alias, the root name may still mean the
                            // document itself: keep both readings.
                            if let (Source::Aliased { alias: None, .. }, false) =
                                (s, path.is_empty())
                                && let Binding::Doc(b) = lookup(&env, root)
                            {
                                cands.extend(b);
                            }
                            cands.sort();
                            cands.dedup();
                            // Chains of unaliased JOINs could double the readings each
                            // time; past a few, fall back to "the whole document", which
                            // is the most conservative reading.
                            if cands.len() > MAX_READINGS {
                                cands = vec![Vec::new()];
                            }
                            Binding::Doc(cands)
                        }
                    },
                };
                for n in names {
                    env.push((n.clone(), binding.clone()));
                    own.push((n, binding.clone()));
                }
            }
        }
        match &q.select.spec {
            SelectSpec::Star => {
                for (name, b) in &own {
                    if let Binding::Doc(paths) = b {
                        for p in paths {
                            self.touch(p, || format!("SELECT * (all of {name})"), "SELECT");
                        }
                    }
                }
            }
            SelectSpec::Value(e) => self.expr(e, &env, "SELECT"),
            SelectSpec::List(items) => {
                for i in items {
                    self.expr(&i.expr, &env, "SELECT");
                }
            }
        }
        if let Some(w) = &q.where_ {
            self.expr(w, &env, "WHERE");
        }
        for g in &q.group_by {
            self.expr(g, &env, "GROUP BY");
        }
        if let Some(o) = &q.order_by {
            for i in &o.items {
                self.expr(&i.expr, &env, "ORDER BY");
            }
        }
    }

    fn expr(&mut self, e: &Expr, env: &Env, clause: &'static str) {
        match e {
            Expr::Ident(_) | Expr::Member(..) | Expr::Index(..) => {
                if let Some((alias, bases, segs)) = constant_path(e, env) {
                    for b in &bases {
                        let mut full = b.clone();
                        full.extend(segs.iter().cloned());
                        self.touch(&full, || describe(alias, &segs), clause);
                    }
                    return;
                }
                match e {
                    // A computed key: the base may be read at any field.
                    Expr::Index(base, idx) => {
                        self.expr(idx, env, clause);
                        if let Some((alias, bases, segs)) = constant_path(base, env) {
                            for b in &bases {
                                let mut full = b.clone();
                                full.extend(segs.iter().cloned());
                                self.touch(
                                    &full,
                                    || format!("{}[…]", describe(alias, &segs)),
                                    clause,
                                );
                            }
                        } else {
                            self.expr(base, env, clause);
                        }
                    }
                    Expr::Member(base, _) => self.expr(base, env, clause),
                    _ => {}
                }
            }
            Expr::Subquery(_, q) => self.query(q, env),
            other => other.for_each_child(|c| self.expr(c, env, clause)),
        }
    }
}

/// `alias.a["b"][0].c` → (alias, candidate bases, `["a","b","c"]`); `None` when the
/// expression is not a constant path on a document alias.
/// (alias, candidate base paths, steps below the alias).
type ConstPath<'e> = (&'e str, Vec<Vec<String>>, Vec<String>);

fn constant_path<'e>(e: &'e Expr, env: &Env) -> Option<ConstPath<'e>> {
    let mut segs = Vec::new();
    let mut cur = e;
    loop {
        match cur {
            Expr::Member(b, name) => {
                segs.push(name.clone());
                cur = b;
            }
            Expr::Index(b, idx) => {
                match &**idx {
                    Expr::Literal(Literal::String(s)) => segs.push(s.clone()),
                    Expr::Literal(Literal::Number(_)) => {}
                    _ => return None,
                }
                cur = b;
            }
            Expr::Ident(n) => {
                segs.reverse();
                return match lookup(env, n) {
                    Binding::Doc(bases) => Some((n.as_str(), bases, segs)),
                    Binding::Opaque => None,
                };
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::super::parser::parse;
    use super::*;

    fn denied(q: &str) -> bool {
        let deny = [
            FieldPath::parse("card_number").unwrap(),
            FieldPath::parse("customer.ssn").unwrap(),
        ];
        !denied_field_accesses(&parse(q).unwrap(), &deny).is_empty()
    }

    #[test]
    fn projections_and_star() {
        assert!(denied("SELECT * FROM c"));
        assert!(denied("SELECT VALUE c FROM c"));
        assert!(denied("SELECT c FROM c"));
        assert!(denied("SELECT c.card_number FROM c"));
        assert!(denied("SELECT c.customer FROM c"));
        assert!(!denied("SELECT c.customer.name, c.id FROM c"));
        assert!(denied("SELECT c.customer.ssn.x FROM c"));
    }

    #[test]
    fn clauses_and_functions() {
        assert!(denied("SELECT c.id FROM c WHERE c.card_number = '1'"));
        assert!(denied("SELECT c.id FROM c ORDER BY c.card_number"));
        assert!(denied("SELECT COUNT(1) FROM c GROUP BY c.customer.ssn"));
        assert!(denied("SELECT LOWER(c.card_number) FROM c"));
        assert!(denied("SELECT udf.f(c) FROM c"));
        assert!(denied("SELECT VALUE { 'x': c.customer } FROM c"));
        assert!(!denied("SELECT VALUE { 'x': c.customer.name } FROM c"));
    }

    #[test]
    fn aliases_joins_brackets_subqueries() {
        assert!(denied("SELECT x.ssn FROM c JOIN x IN c.customer"));
        assert!(!denied("SELECT x.name FROM c JOIN x IN c.customer"));
        assert!(denied("SELECT x.ssn FROM c.customer AS x"));
        assert!(denied("SELECT * FROM c.customer"));
        // A bracket FROM path binds its last name exactly as `.name` does.
        assert!(denied("SELECT customer.ssn FROM c[\"customer\"]"));
        assert!(denied("SELECT customer[\"ssn\"] FROM c[\"customer\"]"));
        assert!(denied("SELECT customer.ssn FROM c['customer']"));
        assert!(denied("SELECT * FROM c['customer']"));
        assert!(!denied("SELECT customer.name FROM c[\"customer\"]"));
        assert!(denied("SELECT c['card_number'] FROM c"));
        assert!(denied("SELECT c[@f] FROM c"));
        assert!(denied("SELECT c.customer[@f] FROM c"));
        assert!(!denied("SELECT c.orders[@i] FROM c"));
        assert!(denied(
            "SELECT c.id FROM c WHERE EXISTS(SELECT VALUE 1 FROM x IN c.customer WHERE x.ssn = 1)"
        ));
        assert!(denied(
            "SELECT s.x FROM (SELECT c.card_number AS x FROM c) AS s"
        ));
        assert!(!denied("SELECT s.x FROM (SELECT c.id AS x FROM c) AS s"));
        assert!(denied("SELECT (SELECT VALUE c.card_number) FROM c"));
        assert!(denied("SELECT c.id FROM c JOIN s IN c.customer.ssn"));
        assert!(denied("SELECT c.items[0].x, c.card_number[0] FROM c"));
    }

    /// Fuzzer finding: unaliased path JOINs used to double the alias readings each
    /// time (exponential memory).
    #[test]
    fn many_unaliased_path_joins_stay_cheap() {
        let q = format!(
            "SELECT c.customer FROM c {}",
            "JOIN c.u.r JOIN ev.ch ".repeat(40)
        );
        assert!(denied(&q));
        let q = "SELECT * FROM crrT JOIN c .ulr JOIN c .u.r JOIN ev.chT JOIN c .ulr JOIN c .u.r JOIN ev.chaT JOIN c .ulr JOIN c.arz JOIN c .ulr JOIN c.arrrT JOIN c .ulr JOIN c .u.r JOIN ev.caT JOIN c .ulr JOIN c.arr JOIN c .ulr JOIN c.arrrT JOIN c .ulr JOIN c .u.r JOIN ev.chaT JOI JOIN c .u.r JOIN ev.chaT JOIN c .ulr JOIN c.arz JOIN c .ulr Jlr JOIN c .u.r JOIN ev.cha asdf";
        assert!(denied(q));
    }
}
