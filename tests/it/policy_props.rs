//! Property tests: printing round-trips, and denied fields never slip through.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use cosmoscope::policy::ast::*;
use cosmoscope::policy::{FieldPath, denied_field_accesses, parse, unbound_names};
use proptest::prelude::*;

fn ident() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("c"),
        Just("r"),
        Just("x"),
        Just("ALL"),
        Just("first"),
        Just("Rank"),
        Just("TRUE"),
        Just("Größe"),
        Just("_a1"),
        Just("名前"),
    ]
    .prop_map(String::from)
}

fn number() -> impl Strategy<Value = f64> {
    prop_oneof![
        (0u32..1000).prop_map(f64::from),
        prop::num::f64::POSITIVE | prop::num::f64::ZERO,
    ]
    .prop_map(f64::abs)
}

fn literal() -> impl Strategy<Value = Expr> {
    prop_oneof![
        any::<String>().prop_map(Literal::String),
        number().prop_map(Literal::Number),
        any::<bool>().prop_map(Literal::Bool),
        Just(Literal::Null),
        Just(Literal::Undefined),
    ]
    .prop_map(Expr::Literal)
}

fn binop() -> impl Strategy<Value = BinaryOp> {
    prop::sample::select(BinaryOp::ALL.to_vec())
}

fn unop() -> impl Strategy<Value = UnaryOp> {
    prop::sample::select(vec![
        UnaryOp::Neg,
        UnaryOp::Plus,
        UnaryOp::BitNot,
        UnaryOp::Not,
    ])
}

fn expr_with(query: BoxedStrategy<Query>) -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![
        literal(),
        ident().prop_map(Expr::Ident),
        ident().prop_map(Expr::Param),
    ];
    leaf.prop_recursive(4, 24, 3, move |inner| {
        let b = |e: Expr| Box::new(e);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Expr::Array),
            prop::collection::vec((any::<String>(), inner.clone()), 0..3).prop_map(Expr::Object),
            (inner.clone(), ident()).prop_map(move |(e, n)| Expr::Member(b(e), n)),
            (inner.clone(), inner.clone()).prop_map(move |(e, i)| Expr::Index(b(e), b(i))),
            (
                any::<bool>(),
                ident(),
                prop::collection::vec(inner.clone(), 0..3)
            )
                .prop_map(|(udf, name, args)| Expr::Call { udf, name, args }),
            (unop(), inner.clone()).prop_map(move |(op, e)| Expr::Unary(op, b(e))),
            (binop(), inner.clone(), inner.clone()).prop_map(move |(op, l, r)| Expr::Binary(
                op,
                b(l),
                b(r)
            )),
            (
                inner.clone(),
                any::<bool>(),
                prop::collection::vec(inner.clone(), 1..3)
            )
                .prop_map(move |(e, not, list)| Expr::In {
                    expr: b(e),
                    not,
                    list
                }),
            (
                inner.clone(),
                any::<bool>(),
                inner.clone(),
                prop::option::of(any::<String>())
            )
                .prop_map(move |(e, not, p, escape)| Expr::Like {
                    expr: b(e),
                    not,
                    pattern: b(p),
                    escape
                }),
            (inner.clone(), any::<bool>(), inner.clone(), inner.clone()).prop_map(
                move |(e, not, l, h)| Expr::Between {
                    expr: b(e),
                    not,
                    low: b(l),
                    high: b(h)
                }
            ),
            (inner.clone(), inner.clone(), inner.clone())
                .prop_map(move |(c, t, e)| Expr::Conditional(b(c), b(t), b(e))),
            (inner.clone(), inner.clone()).prop_map(move |(l, r)| Expr::Coalesce(b(l), b(r))),
            (
                prop::sample::select(vec![
                    SubqueryKind::Scalar,
                    SubqueryKind::Exists,
                    SubqueryKind::Array,
                    SubqueryKind::All,
                    SubqueryKind::First,
                    SubqueryKind::Last
                ]),
                query.clone()
            )
                .prop_map(|(k, q)| Expr::Subquery(k, Box::new(q))),
        ]
    })
}

fn count() -> impl Strategy<Value = Count> {
    prop_oneof![
        number().prop_map(Count::Number),
        ident().prop_map(Count::Param)
    ]
}

fn path_step() -> impl Strategy<Value = PathStep> {
    prop_oneof![
        ident().prop_map(PathStep::Field),
        any::<String>().prop_map(PathStep::Key),
        number().prop_map(PathStep::Index),
    ]
}

fn query_with(depth: u32) -> BoxedStrategy<Query> {
    let sub: BoxedStrategy<Query> = if depth == 0 {
        Just(Query {
            select: Select {
                distinct: false,
                top: None,
                spec: SelectSpec::Star,
            },
            from: None,
            where_: None,
            group_by: vec![],
            order_by: None,
            offset_limit: None,
        })
        .boxed()
    } else {
        query_with(depth - 1)
    };
    let e = expr_with(sub.clone()).boxed();
    let collection = prop_oneof![
        (ident(), prop::collection::vec(path_step(), 0..3))
            .prop_map(|(root, path)| Collection::Path { root, path }),
        sub.clone().prop_map(|q| Collection::Subquery(Box::new(q))),
    ];
    let source = prop_oneof![
        (collection.clone(), prop::option::of(ident()))
            .prop_map(|(collection, alias)| Source::Aliased { collection, alias }),
        (ident(), collection).prop_map(|(alias, collection)| Source::Iterate { alias, collection }),
    ];
    let spec = prop_oneof![
        Just(SelectSpec::Star),
        e.clone().prop_map(SelectSpec::Value),
        prop::collection::vec(
            (e.clone(), prop::option::of(ident()))
                .prop_map(|(expr, alias)| SelectItem { expr, alias }),
            1..3
        )
        .prop_map(SelectSpec::List),
    ];
    let call = (
        any::<bool>(),
        ident(),
        prop::collection::vec(e.clone(), 0..2),
    )
        .prop_map(|(udf, name, args)| Expr::Call { udf, name, args });
    let order = prop_oneof![
        Just(None),
        Just(Some(SortOrder::Asc)),
        Just(Some(SortOrder::Desc))
    ];
    let order_by = prop_oneof![
        prop::collection::vec((e.clone(), order.clone()), 1..3).prop_map(|items| OrderBy {
            rank: false,
            items: items
                .into_iter()
                .map(|(expr, order)| OrderItem { expr, order })
                .collect()
        }),
        prop::collection::vec((call, order), 1..3).prop_map(|items| OrderBy {
            rank: true,
            items: items
                .into_iter()
                .map(|(expr, order)| OrderItem { expr, order })
                .collect()
        }),
    ];
    (
        (any::<bool>(), prop::option::of(count()), spec),
        prop::option::of((source.clone(), prop::collection::vec(source, 0..2))),
        prop::option::of(e.clone()),
        prop::collection::vec(e, 0..2),
        prop::option::of(order_by),
        prop::option::of((count(), count())),
    )
        .prop_map(
            |((distinct, top, spec), from, where_, group_by, order_by, ol)| Query {
                select: Select {
                    distinct,
                    top,
                    spec,
                },
                from: from.map(|(source, joins)| FromClause { source, joins }),
                where_,
                group_by,
                order_by,
                offset_limit: ol.map(|(offset, limit)| OffsetLimit { offset, limit }),
            },
        )
        .boxed()
}

/// The generated trees are deep and proptest's nested strategy types have large
/// frames in debug builds, so the property runs on a thread with a roomy stack.
#[test]
fn print_then_parse_gives_the_same_tree() {
    let handle = std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(|| {
            let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
                cases: 512,
                ..ProptestConfig::default()
            });
            runner
                .run(&query_with(1), |q| {
                    let printed = q.to_string();
                    let back = parse(&printed);
                    prop_assert_eq!(back.as_ref(), Ok(&q), "printed: {}", printed);
                    Ok(())
                })
                .unwrap();
        })
        .unwrap();
    handle.join().unwrap();
}

// ----------------------------------------------------------- denied fields

const DENY: [&str; 2] = ["secret", "customer.ssn"];

/// Ways to reach a denied field: (extra FROM text, expression); `{a}` is the root alias.
fn reach() -> impl Strategy<Value = (String, String)> {
    prop::sample::select(vec![
        ("", "{a}.secret"),
        ("", "{a}['secret']"),
        ("", "{a}[\"secret\"].x"),
        ("", "{a}.secret[0]"),
        ("", "{a}"),
        ("", "{a}.customer"),
        ("", "{a}.customer.ssn"),
        ("", "{a}['customer'].ssn.last4"),
        ("", "{a}[@field]"),
        ("", "{a}.customer[@field]"),
        ("", "{a}.customer[LOWER('SSN')]"),
        (" JOIN j IN {a}.customer", "j.ssn"),
        (" JOIN j IN {a}.customer", "j"),
        (" JOIN j IN {a}.customer.ssn", "1"),
        (" JOIN k IN {a}.kids JOIN j IN {a}.customer", "j['ssn']"),
    ])
    .prop_map(|(f, e)| (f.to_string(), e.to_string()))
}

/// Wraps an expression in a random context.
fn wrap() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0usize..14, 0..4)
}

fn apply(mut e: String, wraps: &[usize]) -> String {
    for w in wraps {
        e = match w {
            0 => format!("LOWER({e})"),
            1 => format!("udf.f(1, {e})"),
            2 => format!("[{e}]"),
            3 => format!("{{'k': {e}}}"),
            4 => format!("({e}) ?? 1"),
            5 => format!("1 + ({e})"),
            6 => format!("NOT ({e})"),
            7 => format!("({e}) IN (1, 2)"),
            8 => format!("IS_DEFINED({e}) ? 1 : 2"),
            9 => format!("(SELECT VALUE {e})"),
            10 => format!("EXISTS(SELECT VALUE {e})"),
            11 => format!("ARRAY(SELECT VALUE {e})"),
            12 => format!("({e}) BETWEEN 1 AND 2"),
            _ => format!("CONCAT('a', ({e}))"),
        };
    }
    e
}

fn placement() -> impl Strategy<Value = usize> {
    0usize..9
}

fn place(p: usize, a: &str, from_extra: &str, e: &str) -> String {
    match p {
        0 => format!("SELECT {e} AS v FROM {a}{from_extra}"),
        1 => format!("SELECT VALUE {e} FROM {a}{from_extra}"),
        2 => format!("SELECT {a}.id FROM {a}{from_extra} WHERE {e}"),
        3 => format!("SELECT {a}.id FROM {a}{from_extra} ORDER BY {e} DESC"),
        4 => format!("SELECT COUNT(1) FROM {a}{from_extra} GROUP BY {e}"),
        5 => format!("SELECT s.v FROM (SELECT {e} AS v FROM {a}{from_extra}) AS s"),
        6 => format!(
            "SELECT {a}.id FROM {a}{from_extra} WHERE EXISTS(SELECT VALUE 1 FROM z IN {a}.items WHERE {e})"
        ),
        7 => format!("SELECT {a}.id FROM {a}{from_extra} ORDER BY RANK FullTextScore({e}, ['x'])"),
        _ => format!(
            "SELECT {a}.id, {e} AS w FROM {a}{from_extra} WHERE {a}.id = 1 OFFSET 0 LIMIT 5"
        ),
    }
}

fn denied(sql: &str) -> bool {
    let deny: Vec<FieldPath> = DENY.iter().map(|d| FieldPath::parse(d).unwrap()).collect();
    let q = parse(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    !denied_field_accesses(&q, &deny).is_empty()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, .. ProptestConfig::default() })]

    #[test]
    fn a_denied_field_never_survives_any_rewrite(
        (from_extra, reach) in reach(),
        wraps in wrap(),
        p in placement(),
        alias in prop::sample::select(vec!["c", "r", "doc", "ALL"]),
    ) {
        let e = apply(reach.replace("{a}", alias), &wraps);
        let from_extra = from_extra.replace("{a}", alias);
        let sql = place(p, alias, &from_extra, &e);
        prop_assert!(denied(&sql), "not denied: {}", sql);
        // Normalising must not hide it either.
        let normalized = parse(&sql).unwrap().to_string();
        prop_assert!(denied(&normalized), "normalised form not denied: {}", normalized);
    }

    #[test]
    fn allowed_fields_stay_allowed(
        wraps in wrap(),
        p in placement(),
        field in prop::sample::select(vec!["{a}.customer.name", "{a}['id']", "{a}.items[0].sku", "{a}.secretive"]),
    ) {
        let e = apply(field.replace("{a}", "c"), &wraps);
        let sql = place(p, "c", "", &e);
        prop_assert!(!denied(&sql), "denied: {}", sql);
    }

    /// A FROM path binds its last name whether written `.customer`, `["customer"]` or
    /// `['customer']`, aliased or not: a denied field below it is denied through every spelling.
    #[test]
    fn a_from_path_binds_its_name_however_it_is_spelled(
        from in prop::sample::select(vec![
            ("c.customer", "customer"),
            ("c[\"customer\"]", "customer"),
            ("c['customer']", "customer"),
            ("c.customer AS x", "x"),
            ("c[\"customer\"] AS x", "x"),
            ("c['customer'] x", "x"),
            ("c JOIN x IN c[\"customer\"]", "x"),
        ]),
        reach in prop::sample::select(vec!["{n}.ssn", "{n}[\"ssn\"]", "{n}['ssn'].last4", "{n}", "{n}[@f]"]),
        wraps in wrap(),
        p in 0usize..6,
    ) {
        let (source, name) = from;
        let e = apply(reach.replace("{n}", name), &wraps);
        let sql = match p {
            0 => format!("SELECT {e} AS v FROM {source}"),
            1 => format!("SELECT VALUE {e} FROM {source}"),
            2 => format!("SELECT {name}.id FROM {source} WHERE {e}"),
            3 => format!("SELECT {name}.id FROM {source} ORDER BY {e}"),
            4 => format!("SELECT COUNT(1) FROM {source} GROUP BY {e}"),
            _ => format!("SELECT s.v FROM (SELECT {e} AS v FROM {source}) AS s"),
        };
        prop_assert!(unbound_names(&parse(&sql).unwrap()).is_empty(), "unbound: {}", sql);
        prop_assert!(denied(&sql), "not denied: {}", sql);
    }

    /// A name bound nowhere is found wherever it hides, so the policy refuses the query instead
    /// of guessing that it means the document.
    #[test]
    fn a_name_bound_nowhere_is_always_found(
        source in prop::sample::select(vec!["c", "c[\"customer\"]", "c.customer AS x", "c JOIN t IN c.tags"]),
        wraps in wrap(),
        p in 0usize..6,
    ) {
        let e = apply("nowhere.ssn".to_string(), &wraps);
        let sql = match p {
            0 => format!("SELECT {e} AS v FROM {source}"),
            1 => format!("SELECT VALUE {e} FROM {source}"),
            2 => format!("SELECT 1 FROM {source} WHERE {e}"),
            3 => format!("SELECT 1 FROM {source} ORDER BY {e}"),
            4 => format!("SELECT COUNT(1) FROM {source} GROUP BY {e}"),
            _ => format!("SELECT s.v FROM (SELECT {e} AS v FROM {source}) AS s"),
        };
        let unbound = unbound_names(&parse(&sql).unwrap());
        prop_assert!(unbound.contains(&"nowhere".to_string()), "{}: {:?}", sql, unbound);
    }
}
