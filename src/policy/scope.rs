//! Partition-scope analysis: which partition-key values can a query touch?
//!
//! The analysis is *sound*: it answers [`Scope::Points`] or [`Scope::None`] only
//! when the query provably cannot read any other partition; everything it cannot
//! prove becomes [`Scope::All`]. Less precision only over-denies; an unsound answer
//! would let a query read outside its grant.
//!
//! How it works: the WHERE clause is turned into a disjunction of conjunctions of
//! `key = constant` facts (a small DNF). `AND` merges facts (conflicts drop the
//! conjunction), `OR` unions them, `IN (…)` is a union of equalities, a bare key is
//! `key = true`, `NOT key` is `key = false`, `ABS(key) = n` is `key = ±n`, and
//! `BETWEEN a AND a` is `key = a`. Anything else is "unconstrained". The query's
//! scope is `None` when the DNF is empty and `Points` when every conjunction fixes
//! every key path; otherwise `All`.
//!
//! Only the root alias of the FROM clause counts (`FROM c`, `FROM root AS r`, an
//! aliased path `FROM c.a AS x` whose alias stands for `c.a`). A JOIN or IN alias
//! names array elements, not the document; if it shadows the root alias, nothing
//! is proven. A subquery whose FROM names no enclosing alias might read the
//! container again, so it makes the scope `All`.

use super::ast::*;
use serde_json::{Map, Number, Value};

/// The partition-key values a query can touch.
#[derive(Debug, Clone, PartialEq)]
pub enum Scope {
    /// Any partition.
    All,
    /// No container read at all (`WHERE false`, no FROM).
    None,
    /// One entry per touched key; one value per key path (hierarchical keys).
    Points(Vec<Vec<Value>>),
}

/// Upper bound on the DNF size; beyond it a sub-expression counts as unconstrained.
const MAX_CONJUNCTIONS: usize = 256;

/// Computes the partition scope of `q` for a container partitioned on `pk_paths`
/// (like `"/tenant"` or `"/a/b"`), with `params` substituted for `@name` (a missing
/// parameter proves nothing).
pub fn partition_scope(q: &Query, pk_paths: &[&str], params: &Map<String, Value>) -> Scope {
    let paths: Vec<Vec<&str>> = pk_paths
        .iter()
        .map(|p| p.split('/').filter(|s| !s.is_empty()).collect())
        .collect();
    scope_of(q, &paths, params)
}

fn scope_of(q: &Query, paths: &[Vec<&str>], params: &Map<String, Value>) -> Scope {
    let Some(from) = &q.from else {
        // Without FROM nothing is read, unless a subquery names a collection itself.
        return if reads_unbound_collection(q, &[], true) {
            Scope::All
        } else {
            Scope::None
        };
    };
    let mut bound: Vec<&str> = Vec::new();
    collect_aliases(from, &mut bound);
    if reads_unbound_collection(q, &bound, true) {
        return Scope::All;
    }
    // The root binding: (alias, path prefix it stands for).
    let (root, inner): (Option<(&str, Vec<&str>)>, Option<&Query>) = match &from.source {
        Source::Aliased {
            collection: Collection::Path { root, path },
            alias,
        } => {
            let mut prefix = Vec::new();
            let mut ok = true;
            for step in path {
                match step {
                    PathStep::Field(n) | PathStep::Key(n) => prefix.push(n.as_str()),
                    PathStep::Index(_) => ok = false,
                }
            }
            let name = match alias {
                Some(a) => Some(a.as_str()),
                None if path.is_empty() => Some(root.as_str()),
                None => None,
            };
            (name.filter(|_| ok).map(|n| (n, prefix)), None)
        }
        Source::Aliased {
            collection: Collection::Subquery(sub),
            ..
        }
        | Source::Iterate {
            collection: Collection::Subquery(sub),
            ..
        } => (None, Some(sub)),
        Source::Iterate { .. } => (None, None),
    };
    // A JOIN alias with the root's name hides the document.
    let root = root.filter(|(name, _)| {
        !from.joins.iter().any(|j| match j {
            Source::Aliased { collection, alias } => match (alias, collection) {
                (Some(a), _) => a == name,
                (None, Collection::Path { root, path }) => path.is_empty() && root == name,
                (None, Collection::Subquery(_)) => false,
            },
            Source::Iterate { alias, .. } => alias == name,
        })
    });
    let ctx = Ctx {
        root,
        paths,
        params,
    };
    let dnf = match &q.where_ {
        Some(w) => ctx.cond(w),
        None => unconstrained(paths.len()),
    };
    if dnf.is_empty() {
        return Scope::None;
    }
    if let Some(sub) = inner {
        return scope_of(sub, paths, params);
    }
    if ctx.root.is_none() || paths.is_empty() {
        return Scope::All;
    }
    let mut points: Vec<Vec<Value>> = Vec::new();
    for conj in dnf {
        let mut point = Vec::with_capacity(conj.len());
        for v in conj {
            match v {
                Some(v) => point.push(v),
                None => return Scope::All,
            }
        }
        if !points.iter().any(|p| tuple_eq(p, &point)) {
            points.push(point);
        }
    }
    Scope::Points(points)
}

fn collect_aliases<'q>(from: &'q FromClause, out: &mut Vec<&'q str>) {
    for s in std::iter::once(&from.source).chain(&from.joins) {
        source_aliases(s, out);
    }
}

/// Names a FROM source binds ([`Source::bound_names`]).
fn source_aliases<'q>(s: &'q Source, out: &mut Vec<&'q str>) {
    out.extend(s.bound_names());
}

/// Whether some subquery of `q` has a FROM whose collection names no enclosing alias
/// (so it might iterate the container itself). `top` is true for the outer query,
/// whose FROM names the container by definition.
fn reads_unbound_collection<'q>(q: &'q Query, bound: &[&'q str], top: bool) -> bool {
    let mut env: Vec<&'q str> = bound.to_vec();
    if let Some(from) = &q.from {
        for (i, s) in std::iter::once(&from.source).chain(&from.joins).enumerate() {
            let coll = match s {
                Source::Aliased { collection, .. } | Source::Iterate { collection, .. } => {
                    collection
                }
            };
            match coll {
                Collection::Path { root, .. } => {
                    if !(env.contains(&root.as_str()) || top && i == 0) {
                        return true;
                    }
                }
                Collection::Subquery(sub) => {
                    if reads_unbound_collection(sub, &env, top && i == 0) {
                        return true;
                    }
                }
            }
            source_aliases(s, &mut env);
        }
    }
    let mut found = false;
    for e in q.clause_exprs() {
        visit_subqueries(e, &mut |sub| {
            if !found && reads_unbound_collection(sub, &env, false) {
                found = true;
            }
        });
    }
    found
}

fn visit_subqueries<'q>(e: &'q Expr, f: &mut dyn FnMut(&'q Query)) {
    if let Expr::Subquery(_, q) = e {
        f(q);
        return;
    }
    e.for_each_child(|c| visit_subqueries(c, f));
}

type Conj = Vec<Option<Value>>;
type Dnf = Vec<Conj>;

fn unconstrained(n: usize) -> Dnf {
    vec![vec![None; n]]
}

struct Ctx<'a> {
    root: Option<(&'a str, Vec<&'a str>)>,
    paths: &'a [Vec<&'a str>],
    params: &'a Map<String, Value>,
}

impl Ctx<'_> {
    fn n(&self) -> usize {
        self.paths.len()
    }

    fn cond(&self, e: &Expr) -> Dnf {
        match e {
            Expr::Binary(BinaryOp::And, l, r) => {
                let (l, r) = (self.cond(l), self.cond(r));
                let mut out = Vec::new();
                for a in &l {
                    for b in &r {
                        if let Some(m) = merge(a, b) {
                            out.push(m);
                            if out.len() > MAX_CONJUNCTIONS {
                                return unconstrained(self.n());
                            }
                        }
                    }
                }
                out
            }
            Expr::Binary(BinaryOp::Or, l, r) => {
                let mut l = self.cond(l);
                let r = self.cond(r);
                l.extend(r);
                if l.len() > MAX_CONJUNCTIONS || l.iter().any(|c| c.iter().all(Option::is_none)) {
                    return unconstrained(self.n());
                }
                l
            }
            Expr::Binary(BinaryOp::Eq, l, r) => {
                if let Some(d) = self.equality(l, r).or_else(|| self.equality(r, l)) {
                    return d;
                }
                unconstrained(self.n())
            }
            Expr::In {
                expr,
                not: false,
                list,
            } => {
                let Some(k) = self.key(expr) else {
                    return unconstrained(self.n());
                };
                let mut out = Vec::new();
                for item in list {
                    let Some(v) = self.constant(item) else {
                        return unconstrained(self.n());
                    };
                    out.push(self.fact(k, v));
                }
                if out.len() > MAX_CONJUNCTIONS {
                    return unconstrained(self.n());
                }
                out
            }
            Expr::Between {
                expr,
                not: false,
                low,
                high,
            } => match (self.key(expr), self.constant(low), self.constant(high)) {
                (Some(k), Some(a), Some(b)) if json_eq(&a, &b) && is_ordered_scalar(&a) => {
                    vec![self.fact(k, a)]
                }
                _ => unconstrained(self.n()),
            },
            Expr::Literal(Literal::Bool(false)) => Vec::new(),
            Expr::Unary(UnaryOp::Not, inner) => match &**inner {
                Expr::Literal(Literal::Bool(true)) => Vec::new(),
                other => match self.key(other) {
                    Some(k) => vec![self.fact(k, Value::Bool(false))],
                    None => unconstrained(self.n()),
                },
            },
            other => match self.key(other) {
                Some(k) => vec![self.fact(k, Value::Bool(true))],
                None => unconstrained(self.n()),
            },
        }
    }

    /// `key = constant` or `ABS(key) = number`.
    fn equality(&self, keyside: &Expr, valside: &Expr) -> Option<Dnf> {
        let v = self.constant(valside)?;
        if let Some(k) = self.key(keyside) {
            return Some(vec![self.fact(k, v)]);
        }
        if let Expr::Call {
            udf: false,
            name,
            args,
        } = keyside
            && name.eq_ignore_ascii_case("ABS")
            && args.len() == 1
        {
            let k = self.key(&args[0])?;
            let n = v.as_f64()?;
            return Some(if n > 0.0 {
                vec![self.fact(k, num(-n)?), self.fact(k, num(n)?)]
            } else if n == 0.0 {
                vec![self.fact(k, num(0.0)?)]
            } else {
                Vec::new()
            });
        }
        None
    }

    fn fact(&self, k: usize, v: Value) -> Conj {
        let mut c = vec![None; self.n()];
        c[k] = Some(v);
        c
    }

    /// Which partition-key path `e` names, if it is a path on the root alias.
    fn key(&self, e: &Expr) -> Option<usize> {
        let (root, prefix) = self.root.as_ref()?;
        let mut segs: Vec<&str> = Vec::new();
        let mut cur = e;
        loop {
            match cur {
                Expr::Member(b, name) => {
                    segs.push(name);
                    cur = b;
                }
                Expr::Index(b, idx) => match &**idx {
                    Expr::Literal(Literal::String(s)) => {
                        segs.push(s);
                        cur = b;
                    }
                    _ => return None,
                },
                Expr::Ident(n) if n == root => break,
                _ => return None,
            }
        }
        segs.reverse();
        let full: Vec<&str> = prefix.iter().copied().chain(segs).collect();
        self.paths.iter().position(|p| *p == full)
    }

    fn constant(&self, e: &Expr) -> Option<Value> {
        Some(match e {
            Expr::Literal(Literal::String(s)) => Value::String(s.clone()),
            Expr::Literal(Literal::Number(n)) => num(*n)?,
            Expr::Literal(Literal::Bool(b)) => Value::Bool(*b),
            Expr::Literal(Literal::Null) => Value::Null,
            Expr::Unary(UnaryOp::Neg, inner) => match &**inner {
                Expr::Literal(Literal::Number(n)) => num(-*n)?,
                _ => return None,
            },
            Expr::Param(p) => self
                .params
                .get(p.as_str())
                .or_else(|| self.params.get(&format!("@{p}")))?
                .clone(),
            Expr::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|i| self.constant(i))
                    .collect::<Option<_>>()?,
            ),
            Expr::Object(props) => Value::Object(
                props
                    .iter()
                    .map(|(k, v)| Some((k.clone(), self.constant(v)?)))
                    .collect::<Option<_>>()?,
            ),
            _ => return None,
        })
    }
}

fn is_ordered_scalar(v: &Value) -> bool {
    matches!(v, Value::Number(_) | Value::String(_) | Value::Bool(_))
}

/// A JSON number; integral values print without a fraction.
pub(super) fn num(n: f64) -> Option<Value> {
    if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 {
        #[allow(clippy::cast_possible_truncation)]
        return Some(Value::from(n as i64));
    }
    Number::from_f64(n).map(Value::Number)
}

fn merge(a: &Conj, b: &Conj) -> Option<Conj> {
    let mut out = a.clone();
    for (slot, v) in out.iter_mut().zip(b) {
        match (slot.as_ref(), v) {
            (_, None) => {}
            (None, Some(v)) => *slot = Some(v.clone()),
            (Some(x), Some(y)) => {
                if !json_eq(x, y) {
                    return None;
                }
            }
        }
    }
    Some(out)
}

/// JSON equality with numbers compared by value (`1 == 1.0`).
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

pub(super) fn tuple_eq(a: &[Value], b: &[Value]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| json_eq(x, y))
}

/// `{"kind":"all"}`, `{"kind":"none"}` or `{"kind":"points","values":[[…]]}`.
impl serde::Serialize for Scope {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        match self {
            Scope::All => m.serialize_entry("kind", "all")?,
            Scope::None => m.serialize_entry("kind", "none")?,
            Scope::Points(v) => {
                m.serialize_entry("kind", "points")?;
                m.serialize_entry("values", v)?;
            }
        }
        m.end()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::super::parser::parse;
    use super::*;
    use serde_json::json;

    fn scope(q: &str, paths: &[&str]) -> Scope {
        partition_scope(&parse(q).unwrap(), paths, &Map::new())
    }

    fn pts(v: Value) -> Scope {
        Scope::Points(serde_json::from_value(v).unwrap())
    }

    #[test]
    fn equality_either_side_and_brackets() {
        assert_eq!(
            scope("SELECT * FROM c WHERE c.k = 1", &["/k"]),
            pts(json!([[1]]))
        );
        assert_eq!(
            scope("SELECT * FROM c WHERE 'a' = c.k", &["/k"]),
            pts(json!([["a"]]))
        );
        assert_eq!(
            scope("SELECT * FROM c WHERE c['k'] = 2", &["/k"]),
            pts(json!([[2]]))
        );
        assert_eq!(
            scope("SELECT * FROM c WHERE c.k = -2", &["/k"]),
            pts(json!([[-2]]))
        );
    }

    #[test]
    fn and_or_in_not() {
        assert_eq!(
            scope("SELECT * FROM c WHERE c.k IN (1, 2) AND c.x = 3", &["/k"]),
            pts(json!([[1], [2]]))
        );
        assert_eq!(
            scope("SELECT * FROM c WHERE c.k = 1 OR c.x = 3", &["/k"]),
            Scope::All
        );
        assert_eq!(
            scope("SELECT * FROM c WHERE NOT (c.k = 1)", &["/k"]),
            Scope::All
        );
        assert_eq!(
            scope("SELECT * FROM c WHERE c.k NOT IN (1)", &["/k"]),
            Scope::All
        );
        assert_eq!(scope("SELECT * FROM c WHERE c.k != 1", &["/k"]), Scope::All);
        assert_eq!(
            scope("SELECT * FROM c WHERE c.k = 1 AND false", &["/k"]),
            Scope::None
        );
        assert_eq!(
            scope("SELECT * FROM c WHERE c.k BETWEEN 3 AND 3", &["/k"]),
            pts(json!([[3]]))
        );
    }

    #[test]
    fn params() {
        let q = parse("SELECT * FROM c WHERE c.k = @t").unwrap();
        let mut p = Map::new();
        assert_eq!(partition_scope(&q, &["/k"], &p), Scope::All);
        p.insert("@t".into(), json!("x"));
        assert_eq!(partition_scope(&q, &["/k"], &p), pts(json!([["x"]])));
    }

    #[test]
    fn hierarchical_needs_every_path() {
        let paths = ["/a", "/b"];
        assert_eq!(scope("SELECT * FROM c WHERE c.a = 1", &paths), Scope::All);
        assert_eq!(
            scope("SELECT * FROM c WHERE c.a = 1 AND c.b = 'x'", &paths),
            pts(json!([[1, "x"]]))
        );
    }

    #[test]
    fn only_the_root_alias_counts() {
        assert_eq!(
            scope("SELECT * FROM r JOIN c IN r.kids WHERE c.k = 1", &["/k"]),
            Scope::All
        );
        assert_eq!(
            scope("SELECT * FROM c JOIN c IN c.kids WHERE c.k = 1", &["/k"]),
            Scope::All
        );
        assert_eq!(
            scope("SELECT * FROM x IN c.arr WHERE x.k = 1", &["/k"]),
            Scope::All
        );
        assert_eq!(
            scope("SELECT * FROM c.a AS x WHERE x.b = 1", &["/a/b"]),
            pts(json!([[1]]))
        );
        assert_eq!(
            scope(
                "SELECT * FROM c WHERE c.k = 1 AND EXISTS(SELECT * FROM other)",
                &["/k"]
            ),
            Scope::All
        );
        assert_eq!(
            scope(
                "SELECT * FROM (SELECT * FROM c WHERE c.k = 1) AS s",
                &["/k"]
            ),
            pts(json!([[1]]))
        );
        assert_eq!(scope("SELECT 1", &["/k"]), Scope::None);
    }
}
