//! Normalised printing: upper-case keywords, single spaces, double-quoted strings and
//! only the parentheses that precedence needs. `parse(&q.to_string()) == Ok(q)`.

use super::ast::*;
use super::parser::{binary_prec, prec};
use std::fmt::{self, Display, Formatter, Write};

impl Display for Query {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write_query(f, self)
    }
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write_expr(f, self, 0)
    }
}

fn write_query<W: Write>(w: &mut W, q: &Query) -> fmt::Result {
    w.write_str("SELECT ")?;
    if q.select.distinct {
        w.write_str("DISTINCT ")?;
    }
    if let Some(top) = &q.select.top {
        w.write_str("TOP ")?;
        write_count(w, top)?;
        w.write_char(' ')?;
    }
    match &q.select.spec {
        SelectSpec::Star => w.write_char('*')?,
        SelectSpec::Value(e) => {
            w.write_str("VALUE ")?;
            write_expr(w, e, 0)?;
        }
        SelectSpec::List(items) => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    w.write_str(", ")?;
                }
                write_expr(w, &item.expr, 0)?;
                if let Some(a) = &item.alias {
                    w.write_str(" AS ")?;
                    w.write_str(a)?;
                }
            }
        }
    }
    if let Some(from) = &q.from {
        w.write_str(" FROM ")?;
        write_source(w, &from.source)?;
        for j in &from.joins {
            w.write_str(" JOIN ")?;
            write_source(w, j)?;
        }
    }
    if let Some(e) = &q.where_ {
        w.write_str(" WHERE ")?;
        write_expr(w, e, 0)?;
    }
    if !q.group_by.is_empty() {
        w.write_str(" GROUP BY ")?;
        write_list(w, &q.group_by)?;
    }
    if let Some(o) = &q.order_by {
        w.write_str(" ORDER BY ")?;
        if o.rank {
            w.write_str("RANK ")?;
        }
        for (i, item) in o.items.iter().enumerate() {
            if i > 0 {
                w.write_str(", ")?;
            }
            write_expr(w, &item.expr, 0)?;
            match item.order {
                Some(SortOrder::Asc) => w.write_str(" ASC")?,
                Some(SortOrder::Desc) => w.write_str(" DESC")?,
                None => {}
            }
        }
    }
    if let Some(ol) = &q.offset_limit {
        w.write_str(" OFFSET ")?;
        write_count(w, &ol.offset)?;
        w.write_str(" LIMIT ")?;
        write_count(w, &ol.limit)?;
    }
    Ok(())
}

fn write_count<W: Write>(w: &mut W, c: &Count) -> fmt::Result {
    match c {
        Count::Number(n) => write_number(w, *n),
        Count::Param(p) => {
            w.write_char('@')?;
            w.write_str(p)
        }
    }
}

fn write_source<W: Write>(w: &mut W, s: &Source) -> fmt::Result {
    match s {
        Source::Aliased { collection, alias } => {
            write_collection(w, collection)?;
            if let Some(a) = alias {
                w.write_str(" AS ")?;
                w.write_str(a)?;
            }
            Ok(())
        }
        Source::Iterate { alias, collection } => {
            w.write_str(alias)?;
            w.write_str(" IN ")?;
            write_collection(w, collection)
        }
    }
}

fn write_collection<W: Write>(w: &mut W, c: &Collection) -> fmt::Result {
    match c {
        Collection::Path { root, path } => {
            w.write_str(root)?;
            for step in path {
                match step {
                    PathStep::Field(n) => {
                        w.write_char('.')?;
                        w.write_str(n)?;
                    }
                    PathStep::Key(k) => {
                        w.write_char('[')?;
                        write_string(w, k)?;
                        w.write_char(']')?;
                    }
                    PathStep::Index(i) => {
                        w.write_char('[')?;
                        write_number(w, *i)?;
                        w.write_char(']')?;
                    }
                }
            }
            Ok(())
        }
        Collection::Subquery(q) => {
            w.write_char('(')?;
            write_query(w, q)?;
            w.write_char(')')
        }
    }
}

/// Writes a number literal so that it reads back as the same `f64`.
pub(super) fn write_number<W: Write>(w: &mut W, n: f64) -> fmt::Result {
    if n.is_finite() {
        write!(w, "{n}")
    } else {
        // Only reachable from a literal too large for f64, which also reads as inf.
        w.write_str("1e999")
    }
}

/// Writes a double-quoted string literal.
pub(super) fn write_string<W: Write>(w: &mut W, s: &str) -> fmt::Result {
    w.write_char('"')?;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let esc = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            '\u{8}' => "\\b",
            '\u{c}' => "\\f",
            c if (c as u32) < 0x20 => "",
            _ => continue,
        };
        w.write_str(&s[start..i])?;
        if esc.is_empty() {
            write!(w, "\\u{:04x}", c as u32)?;
        } else {
            w.write_str(esc)?;
        }
        start = i + c.len_utf8();
    }
    w.write_str(&s[start..])?;
    w.write_char('"')
}

fn write_list<W: Write>(w: &mut W, items: &[Expr]) -> fmt::Result {
    for (i, e) in items.iter().enumerate() {
        if i > 0 {
            w.write_str(", ")?;
        }
        write_expr(w, e, 0)?;
    }
    Ok(())
}

/// Precedence level of an expression as printed.
pub(super) fn expr_prec(e: &Expr) -> u8 {
    match e {
        Expr::Literal(_)
        | Expr::Ident(_)
        | Expr::Param(_)
        | Expr::Array(_)
        | Expr::Object(_)
        | Expr::Member(..)
        | Expr::Index(..)
        | Expr::Call { .. }
        | Expr::Subquery(..) => prec::PRIMARY,
        Expr::Unary(UnaryOp::Not, _) => prec::NOT,
        Expr::Unary(..) => prec::UNARY,
        Expr::Binary(op, ..) => binary_prec(*op),
        Expr::In { .. } | Expr::Like { .. } | Expr::Between { .. } => prec::PREDICATE,
        Expr::Conditional(..) => prec::CONDITIONAL,
        Expr::Coalesce(..) => prec::COALESCE,
    }
}

fn binary_symbol(op: BinaryOp) -> &'static str {
    match op {
        BinaryOp::Or => "OR",
        BinaryOp::And => "AND",
        BinaryOp::Concat => "||",
        BinaryOp::BitOr => "|",
        BinaryOp::BitXor => "^",
        BinaryOp::BitAnd => "&",
        BinaryOp::Eq => "=",
        BinaryOp::Ne => "!=",
        BinaryOp::Lt => "<",
        BinaryOp::Le => "<=",
        BinaryOp::Gt => ">",
        BinaryOp::Ge => ">=",
        BinaryOp::Shl => "<<",
        BinaryOp::Shr => ">>",
        BinaryOp::ShrZeroFill => ">>>",
        BinaryOp::Add => "+",
        BinaryOp::Sub => "-",
        BinaryOp::Mul => "*",
        BinaryOp::Div => "/",
        BinaryOp::Mod => "%",
    }
}

fn write_expr<W: Write>(w: &mut W, e: &Expr, min: u8) -> fmt::Result {
    let p = expr_prec(e);
    if p < min {
        w.write_char('(')?;
        write_expr_bare(w, e)?;
        w.write_char(')')
    } else {
        write_expr_bare(w, e)
    }
}

#[allow(clippy::many_single_char_names)] // w, e, a, b, c: writer, expression, operands
fn write_expr_bare<W: Write>(w: &mut W, e: &Expr) -> fmt::Result {
    match e {
        Expr::Literal(l) => match l {
            Literal::String(s) => write_string(w, s),
            Literal::Number(n) => write_number(w, *n),
            Literal::Bool(true) => w.write_str("true"),
            Literal::Bool(false) => w.write_str("false"),
            Literal::Null => w.write_str("null"),
            Literal::Undefined => w.write_str("undefined"),
        },
        Expr::Ident(n) => w.write_str(n),
        Expr::Param(p) => {
            w.write_char('@')?;
            w.write_str(p)
        }
        Expr::Array(items) => {
            w.write_char('[')?;
            write_list(w, items)?;
            w.write_char(']')
        }
        Expr::Object(props) => {
            if props.is_empty() {
                return w.write_str("{}");
            }
            w.write_str("{")?;
            for (i, (k, v)) in props.iter().enumerate() {
                w.write_str(if i > 0 { ", " } else { " " })?;
                write_string(w, k)?;
                w.write_str(": ")?;
                write_expr(w, v, 0)?;
            }
            w.write_str(" }")
        }
        Expr::Member(base, name) => {
            write_postfix_base(w, base)?;
            w.write_char('.')?;
            w.write_str(name)
        }
        Expr::Index(base, idx) => {
            write_postfix_base(w, base)?;
            w.write_char('[')?;
            write_expr(w, idx, 0)?;
            w.write_char(']')
        }
        Expr::Call { udf, name, args } => {
            if *udf {
                w.write_str("udf.")?;
            }
            w.write_str(name)?;
            w.write_char('(')?;
            write_list(w, args)?;
            w.write_char(')')
        }
        Expr::Unary(op, inner) => {
            let (sym, min) = match op {
                UnaryOp::Neg => ("-", prec::UNARY),
                UnaryOp::Plus => ("+", prec::UNARY),
                UnaryOp::BitNot => ("~", prec::UNARY),
                UnaryOp::Not => ("NOT ", prec::NOT),
            };
            w.write_str(sym)?;
            if *op == UnaryOp::Neg {
                // `-(-x)` must never print as `--x`, which is a comment.
                let mut operand = String::new();
                write_expr(&mut operand, inner, min)?;
                if operand.starts_with('-') {
                    w.write_char(' ')?;
                }
                return w.write_str(&operand);
            }
            write_expr(w, inner, min)
        }
        Expr::Binary(op, l, r) => {
            let p = binary_prec(*op);
            write_expr(w, l, p)?;
            w.write_char(' ')?;
            w.write_str(binary_symbol(*op))?;
            w.write_char(' ')?;
            write_expr(w, r, p + 1)
        }
        Expr::In { expr, not, list } => {
            write_expr(w, expr, prec::CONCAT)?;
            w.write_str(if *not { " NOT IN (" } else { " IN (" })?;
            write_list(w, list)?;
            w.write_char(')')
        }
        Expr::Like {
            expr,
            not,
            pattern,
            escape,
        } => {
            write_expr(w, expr, prec::CONCAT)?;
            w.write_str(if *not { " NOT LIKE " } else { " LIKE " })?;
            write_expr(w, pattern, prec::CONCAT)?;
            if let Some(esc) = escape {
                w.write_str(" ESCAPE ")?;
                write_string(w, esc)?;
            }
            Ok(())
        }
        Expr::Between {
            expr,
            not,
            low,
            high,
        } => {
            write_expr(w, expr, prec::CONCAT)?;
            w.write_str(if *not { " NOT BETWEEN " } else { " BETWEEN " })?;
            write_expr(w, low, prec::CONCAT)?;
            w.write_str(" AND ")?;
            write_expr(w, high, prec::CONCAT)
        }
        Expr::Conditional(c, t, e) => {
            write_expr(w, c, prec::CONDITIONAL)?;
            w.write_str(" ? ")?;
            write_expr(w, t, 0)?;
            w.write_str(" : ")?;
            write_expr(w, e, prec::CONDITIONAL + 1)
        }
        Expr::Coalesce(l, r) => {
            write_expr(w, l, prec::COALESCE)?;
            w.write_str(" ?? ")?;
            write_expr(w, r, prec::COALESCE + 1)
        }
        Expr::Subquery(kind, q) => {
            w.write_str(match kind {
                SubqueryKind::Scalar => "(",
                SubqueryKind::Exists => "EXISTS(",
                SubqueryKind::Array => "ARRAY(",
                SubqueryKind::All => "ALL(",
                SubqueryKind::First => "FIRST(",
                SubqueryKind::Last => "LAST(",
            })?;
            write_query(w, q)?;
            w.write_char(')')
        }
    }
}

fn write_postfix_base<W: Write>(w: &mut W, base: &Expr) -> fmt::Result {
    // `1.x` would lex as the number `1.` followed by `x`.
    if matches!(base, Expr::Literal(Literal::Number(_))) {
        w.write_char('(')?;
        write_expr_bare(w, base)?;
        return w.write_char(')');
    }
    write_expr(w, base, prec::PRIMARY)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::parser::parse;

    /// `--` starts a comment: a printed double negation must not read as one.
    #[test]
    fn a_double_negation_never_prints_as_a_comment() {
        for q in [
            "SELECT -(-c.x) FROM c",
            "SELECT -(-1) FROM c",
            "SELECT - -c.x FROM c WHERE c.id = 1",
        ] {
            let ast = parse(q).unwrap();
            let printed = ast.to_string();
            assert!(!printed.contains("--"), "{q} → {printed}");
            assert_eq!(parse(&printed).unwrap(), ast, "{q} → {printed}");
        }
    }
}
