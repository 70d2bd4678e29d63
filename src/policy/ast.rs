//! Syntax tree of a Cosmos DB NoSQL query.
//!
//! Parentheses are not kept: the printer puts back the ones that precedence needs,
//! so `parse(print(q)) == q` for every tree the parser can produce.

/// `SELECT … [FROM …] [WHERE …] [GROUP BY …] [ORDER BY …] [OFFSET … LIMIT …]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub select: Select,
    pub from: Option<FromClause>,
    pub where_: Option<Expr>,
    /// Empty when there is no `GROUP BY`.
    pub group_by: Vec<Expr>,
    pub order_by: Option<OrderBy>,
    pub offset_limit: Option<OffsetLimit>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Select {
    pub distinct: bool,
    pub top: Option<Count>,
    pub spec: SelectSpec,
}

/// A count in `TOP`, `OFFSET` or `LIMIT`: a number literal or a parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Count {
    Number(f64),
    Param(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum SelectSpec {
    /// `SELECT *`
    Star,
    /// `SELECT VALUE expr`
    Value(Expr),
    /// `SELECT expr [AS alias], …`
    List(Vec<SelectItem>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct SelectItem {
    pub expr: Expr,
    pub alias: Option<String>,
}

/// `FROM source [JOIN source]…`
#[derive(Debug, Clone, PartialEq)]
pub struct FromClause {
    pub source: Source,
    pub joins: Vec<Source>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// `collection [[AS] alias]`
    Aliased {
        collection: Collection,
        alias: Option<String>,
    },
    /// `alias IN collection`
    Iterate {
        alias: String,
        collection: Collection,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Collection {
    /// `root.a[0]['b']` — an identifier and a path of constant steps.
    Path { root: String, path: Vec<PathStep> },
    /// `(SELECT …)`
    Subquery(Box<Query>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum PathStep {
    /// `.name`
    Field(String),
    /// `['name']`
    Key(String),
    /// `[3]`
    Index(f64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrderBy {
    /// `ORDER BY RANK score_fn(…)`
    pub rank: bool,
    pub items: Vec<OrderItem>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrderItem {
    pub expr: Expr,
    pub order: Option<SortOrder>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortOrder {
    Asc,
    Desc,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OffsetLimit {
    pub offset: Count,
    pub limit: Count,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    String(String),
    Number(f64),
    Bool(bool),
    Null,
    Undefined,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Neg,
    Plus,
    BitNot,
    Not,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Or,
    And,
    Concat,
    BitOr,
    BitXor,
    BitAnd,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Shl,
    Shr,
    ShrZeroFill,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

impl BinaryOp {
    /// Every operator (the property tests generate from this list).
    pub const ALL: [BinaryOp; 20] = [
        BinaryOp::Or,
        BinaryOp::And,
        BinaryOp::Concat,
        BinaryOp::BitOr,
        BinaryOp::BitXor,
        BinaryOp::BitAnd,
        BinaryOp::Eq,
        BinaryOp::Ne,
        BinaryOp::Lt,
        BinaryOp::Le,
        BinaryOp::Gt,
        BinaryOp::Ge,
        BinaryOp::Shl,
        BinaryOp::Shr,
        BinaryOp::ShrZeroFill,
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Mod,
    ];
}

/// Which kind of subquery expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubqueryKind {
    /// `(SELECT …)`
    Scalar,
    Exists,
    Array,
    All,
    First,
    Last,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Literal(Literal),
    /// A bare identifier: a FROM alias (or an unbound name).
    Ident(String),
    /// `@name`
    Param(String),
    /// `[a, b]`
    Array(Vec<Expr>),
    /// `{"k": v}`
    Object(Vec<(String, Expr)>),
    /// `base.name`
    Member(Box<Expr>, String),
    /// `base[index]`
    Index(Box<Expr>, Box<Expr>),
    /// `name(args)` or `udf.name(args)`
    Call {
        udf: bool,
        name: String,
        args: Vec<Expr>,
    },
    Unary(UnaryOp, Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// `expr [NOT] IN (list)`
    In {
        expr: Box<Expr>,
        not: bool,
        list: Vec<Expr>,
    },
    /// `expr [NOT] LIKE pattern [ESCAPE 'c']`
    Like {
        expr: Box<Expr>,
        not: bool,
        pattern: Box<Expr>,
        escape: Option<String>,
    },
    /// `expr [NOT] BETWEEN low AND high`
    Between {
        expr: Box<Expr>,
        not: bool,
        low: Box<Expr>,
        high: Box<Expr>,
    },
    /// `cond ? then : else`
    Conditional(Box<Expr>, Box<Expr>, Box<Expr>),
    /// `left ?? right`
    Coalesce(Box<Expr>, Box<Expr>),
    Subquery(SubqueryKind, Box<Query>),
}

/// The aggregate functions of the query language.
const AGGREGATES: [&str; 5] = ["COUNT", "SUM", "MIN", "MAX", "AVG"];

impl Query {
    /// Whether the query's answer is a property of the whole result — an order, a window, distinct
    /// values, groups or an aggregate — so answers for parts of the data cannot simply be put
    /// one after the other.
    #[must_use]
    pub fn needs_whole_result(&self) -> bool {
        let select = &self.select;
        self.aggregates()
            || select.distinct
            || select.top.is_some()
            || self.order_by.is_some()
            || self.offset_limit.is_some()
    }
}

impl Query {
    /// Whether the query aggregates (an aggregate in its projection, or GROUP BY): partitions'
    /// answers are partial and must be combined.
    #[must_use]
    pub fn aggregates(&self) -> bool {
        let aggregate = match &self.select.spec {
            SelectSpec::Star => false,
            SelectSpec::Value(e) => e.has_aggregate(),
            SelectSpec::List(items) => items.iter().any(|i| i.expr.has_aggregate()),
        };
        aggregate || !self.group_by.is_empty()
    }

    /// Whether the Cosmos SDK's own cross-partition pipeline cannot give the answer: aggregates
    /// and GROUP BY (it refuses them), DISTINCT (it refuses it without a TOP or LIMIT of at most
    /// 1000).
    #[must_use]
    pub fn beyond_sdk_merge(&self) -> bool {
        self.aggregates() || self.select.distinct
    }
}

impl Expr {
    /// Whether an aggregate function is called here (not inside a subquery, which aggregates
    /// per document).
    #[must_use]
    pub fn has_aggregate(&self) -> bool {
        if let Expr::Call {
            udf: false, name, ..
        } = self
            && AGGREGATES.iter().any(|a| a.eq_ignore_ascii_case(name))
        {
            return true;
        }
        let mut found = false;
        self.for_each_child(|c| found = found || c.has_aggregate());
        found
    }

    /// Calls `f` on every direct child expression (not into subqueries).
    pub fn for_each_child<'a>(&'a self, mut f: impl FnMut(&'a Expr)) {
        match self {
            Expr::Literal(_) | Expr::Ident(_) | Expr::Param(_) | Expr::Subquery(..) => {}
            Expr::Array(items) => items.iter().for_each(f),
            Expr::Object(props) => props.iter().for_each(|(_, v)| f(v)),
            Expr::Member(b, _) => f(b),
            Expr::Index(b, i) => {
                f(b);
                f(i);
            }
            Expr::Call { args, .. } => args.iter().for_each(f),
            Expr::Unary(_, e) => f(e),
            Expr::Binary(_, l, r) | Expr::Coalesce(l, r) => {
                f(l);
                f(r);
            }
            Expr::In { expr, list, .. } => {
                f(expr);
                list.iter().for_each(f);
            }
            Expr::Like { expr, pattern, .. } => {
                f(expr);
                f(pattern);
            }
            Expr::Between {
                expr, low, high, ..
            } => {
                f(expr);
                f(low);
                f(high);
            }
            Expr::Conditional(c, t, e) => {
                f(c);
                f(t);
                f(e);
            }
        }
    }
}

impl Source {
    /// The names this source binds: its alias; without one, an unaliased path `c.a["b"]` binds its
    /// last property (`b`, by `.b` or `["b"]` alike) and, conservatively, its root name too.
    pub fn bound_names(&self) -> Vec<&str> {
        match self {
            Source::Aliased { alias: Some(a), .. } | Source::Iterate { alias: a, .. } => {
                vec![a.as_str()]
            }
            Source::Aliased {
                alias: None,
                collection: Collection::Path { root, path },
            } => {
                let mut names = vec![root.as_str()];
                if let Some(PathStep::Field(n) | PathStep::Key(n)) = path.last() {
                    names.push(n.as_str());
                }
                names
            }
            Source::Aliased {
                alias: None,
                collection: Collection::Subquery(_),
            } => Vec::new(),
        }
    }
}

impl Query {
    /// Every expression that appears directly in this query's clauses (not in
    /// nested subqueries and not in FROM).
    pub fn clause_exprs(&self) -> Vec<&Expr> {
        let mut out = Vec::new();
        match &self.select.spec {
            SelectSpec::Star => {}
            SelectSpec::Value(e) => out.push(e),
            SelectSpec::List(items) => out.extend(items.iter().map(|i| &i.expr)),
        }
        if let Some(w) = &self.where_ {
            out.push(w);
        }
        out.extend(self.group_by.iter());
        if let Some(o) = &self.order_by {
            out.extend(o.items.iter().map(|i| &i.expr));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn whole_result_shapes_are_recognised() {
        let whole = |sql: &str| {
            crate::policy::parse(sql)
                .expect("parses")
                .needs_whole_result()
        };
        for sql in [
            "SELECT VALUE COUNT(1) FROM c",
            "SELECT VALUE count(1) * 2 FROM c",
            "SELECT c.a, MAX(c.b) AS m FROM c GROUP BY c.a",
            "SELECT TOP 3 * FROM c",
            "SELECT DISTINCT c.a FROM c",
            "SELECT * FROM c ORDER BY c.a",
            "SELECT * FROM c OFFSET 0 LIMIT 5",
            "SELECT c.a FROM c GROUP BY c.a",
        ] {
            assert!(whole(sql), "{sql}");
        }
        for sql in [
            "SELECT * FROM c",
            "SELECT c.a, c.b FROM c WHERE c.n > 1",
            // An aggregate inside a subquery is per document.
            "SELECT c.id, (SELECT VALUE COUNT(1) FROM t IN c.tags) AS n FROM c",
            "SELECT VALUE udf.count(c) FROM c",
        ] {
            assert!(!whole(sql), "{sql}");
        }
    }
}
