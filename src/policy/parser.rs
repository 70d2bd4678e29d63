//! Recursive-descent parser (precedence climbing for binary operators).
//!
//! Precedence, loosest first, following the Cosmos DB .NET SDK grammar (`sql.g4`):
//!
//! | level | operators |
//! |---|---|
//! | 1 | `??` |
//! | 2 | `? :` |
//! | 3 | `OR` |
//! | 4 | `AND` |
//! | 5 | prefix `NOT` |
//! | 6 | `[NOT] IN (…)`, `[NOT] LIKE … [ESCAPE …]`, `[NOT] BETWEEN … AND …` (not chainable) |
//! | 7 | `\|\|` |
//! | 8 | `\|` |
//! | 9 | `^` |
//! | 10 | `&` |
//! | 11 | `=` `!=` `<>` |
//! | 12 | `<` `<=` `>` `>=` |
//! | 13 | `<<` `>>` `>>>` |
//! | 14 | `+` `-` |
//! | 15 | `*` `/` `%` |
//! | 16 | unary `-` `+` `~` (and `NOT` after another operator, e.g. `1 + NOT x`) |
//! | 17 | member access `.x`, `[i]`, calls, literals, `(…)` |

use super::ast::*;
use super::lexer::{Kw, Spanned, Tok, tokenize};
use serde::Serialize;

/// A query that the service would reject, with the byte offset of the problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("syntax error at byte {offset}: {message}")]
pub struct SyntaxError {
    pub message: String,
    pub offset: usize,
}

/// Precedence levels (see the module docs).
pub(super) mod prec {
    pub const COALESCE: u8 = 1;
    pub const CONDITIONAL: u8 = 2;
    pub const OR: u8 = 3;
    pub const AND: u8 = 4;
    pub const NOT: u8 = 5;
    pub const PREDICATE: u8 = 6;
    pub const CONCAT: u8 = 7;
    pub const UNARY: u8 = 16;
    pub const PRIMARY: u8 = 17;
}

/// Nesting limit: deeper input is rejected instead of overflowing the stack.
const MAX_DEPTH: usize = 64;
/// Operators chained at one level (`a AND b AND …`, `a + b + …`, `c.a.b…`) in the whole query: a
/// chain builds a tree as deep as it is long, and trees are walked recursively (a 300 KB chain
/// would overflow the stack).
const MAX_LINKS: usize = 10_000;

/// Parses a complete query.
pub fn parse(src: &str) -> Result<Query, SyntaxError> {
    let toks = tokenize(src)?;
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
        links: 0,
    };
    let q = p.query()?;
    if p.peek() != &Tok::Eof {
        return Err(p.unexpected("end of query"));
    }
    Ok(q)
}

/// Parses a single scalar expression (used by tests and tools).
#[cfg(test)]
pub fn parse_expr(src: &str) -> Result<Expr, SyntaxError> {
    let toks = tokenize(src)?;
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
        links: 0,
    };
    let e = p.scalar(0)?;
    if p.peek() != &Tok::Eof {
        return Err(p.unexpected("end of expression"));
    }
    Ok(e)
}

pub(super) fn binary_prec(op: BinaryOp) -> u8 {
    match op {
        BinaryOp::Or => prec::OR,
        BinaryOp::And => prec::AND,
        BinaryOp::Concat => 7,
        BinaryOp::BitOr => 8,
        BinaryOp::BitXor => 9,
        BinaryOp::BitAnd => 10,
        BinaryOp::Eq | BinaryOp::Ne => 11,
        BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => 12,
        BinaryOp::Shl | BinaryOp::Shr | BinaryOp::ShrZeroFill => 13,
        BinaryOp::Add | BinaryOp::Sub => 14,
        BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => 15,
    }
}

fn binary_op(t: &Tok<'_>) -> Option<BinaryOp> {
    Some(match t {
        Tok::PipePipe => BinaryOp::Concat,
        Tok::Pipe => BinaryOp::BitOr,
        Tok::Caret => BinaryOp::BitXor,
        Tok::Amp => BinaryOp::BitAnd,
        Tok::Eq => BinaryOp::Eq,
        Tok::Ne => BinaryOp::Ne,
        Tok::Lt => BinaryOp::Lt,
        Tok::Le => BinaryOp::Le,
        Tok::Gt => BinaryOp::Gt,
        Tok::Ge => BinaryOp::Ge,
        Tok::Shl => BinaryOp::Shl,
        Tok::Shr => BinaryOp::Shr,
        Tok::ShrZero => BinaryOp::ShrZeroFill,
        Tok::Plus => BinaryOp::Add,
        Tok::Minus => BinaryOp::Sub,
        Tok::Star => BinaryOp::Mul,
        Tok::Slash => BinaryOp::Div,
        Tok::Percent => BinaryOp::Mod,
        _ => return None,
    })
}

struct Parser<'a> {
    toks: Vec<Spanned<'a>>,
    pos: usize,
    depth: usize,
    links: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> &Tok<'a> {
        self.peek_at(0)
    }

    fn peek_at(&self, n: usize) -> &Tok<'a> {
        let i = (self.pos + n).min(self.toks.len() - 1);
        &self.toks[i].tok
    }

    fn offset(&self) -> usize {
        self.toks[self.pos.min(self.toks.len() - 1)].offset
    }

    fn bump(&mut self) -> Tok<'a> {
        let i = self.pos.min(self.toks.len() - 1);
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        std::mem::replace(&mut self.toks[i].tok, Tok::Eof)
    }

    fn unexpected(&self, expected: &str) -> SyntaxError {
        SyntaxError {
            message: format!("expected {expected}, found {}", self.peek().describe()),
            offset: self.offset(),
        }
    }

    fn eat(&mut self, t: &Tok<'_>) -> bool {
        if self.peek() == t {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn eat_kw(&mut self, k: Kw) -> bool {
        self.eat(&Tok::Kw(k))
    }

    fn expect(&mut self, t: &Tok<'_>, what: &str) -> Result<(), SyntaxError> {
        if self.eat(t) {
            Ok(())
        } else {
            Err(self.unexpected(what))
        }
    }

    fn expect_kw(&mut self, k: Kw) -> Result<(), SyntaxError> {
        if self.eat_kw(k) {
            Ok(())
        } else {
            Err(self.unexpected(k.as_str()))
        }
    }

    fn ident(&mut self, what: &str) -> Result<String, SyntaxError> {
        match self.peek() {
            Tok::Ident(s) => {
                let s = (*s).to_string();
                self.pos += 1;
                Ok(s)
            }
            _ => Err(self.unexpected(what)),
        }
    }

    /// One more operator in a chain (see [`MAX_LINKS`]).
    fn link(&mut self) -> Result<(), SyntaxError> {
        self.links += 1;
        if self.links > MAX_LINKS {
            return Err(SyntaxError {
                message: format!("query chains more than {MAX_LINKS} operators"),
                offset: self.offset(),
            });
        }
        Ok(())
    }

    fn enter(&mut self) -> Result<(), SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(SyntaxError {
                message: format!("query is nested more than {MAX_DEPTH} levels deep"),
                offset: self.offset(),
            });
        }
        Ok(())
    }

    // ---------------------------------------------------------------- query

    fn query(&mut self) -> Result<Query, SyntaxError> {
        self.enter()?;
        let q = self.query_inner();
        self.depth -= 1;
        q
    }

    fn query_inner(&mut self) -> Result<Query, SyntaxError> {
        self.expect_kw(Kw::Select)?;
        let distinct = self.eat_kw(Kw::Distinct);
        let top = if self.eat_kw(Kw::Top) {
            Some(self.count("a number or @parameter after TOP")?)
        } else {
            None
        };
        let spec = if self.eat(&Tok::Star) {
            SelectSpec::Star
        } else if self.eat_kw(Kw::Value) {
            SelectSpec::Value(self.scalar(0)?)
        } else {
            let mut items = Vec::new();
            loop {
                let expr = self.scalar(0)?;
                let alias = if self.eat_kw(Kw::As) {
                    Some(self.ident("an alias after AS")?)
                } else {
                    None
                };
                items.push(SelectItem { expr, alias });
                if !self.eat(&Tok::Comma) {
                    break;
                }
            }
            SelectSpec::List(items)
        };
        let select = Select {
            distinct,
            top,
            spec,
        };
        let from = if self.eat_kw(Kw::From) {
            let source = self.source()?;
            let mut joins = Vec::new();
            while self.eat_kw(Kw::Join) {
                joins.push(self.source()?);
            }
            Some(FromClause { source, joins })
        } else {
            None
        };
        let where_ = if self.eat_kw(Kw::Where) {
            Some(self.scalar(0)?)
        } else {
            None
        };
        let mut group_by = Vec::new();
        if self.eat_kw(Kw::Group) {
            self.expect_kw(Kw::By)?;
            group_by = self.scalar_list()?;
        }
        let order_by = if self.eat_kw(Kw::Order) {
            self.expect_kw(Kw::By)?;
            Some(self.order_by()?)
        } else {
            None
        };
        let offset_limit = if self.eat_kw(Kw::Offset) {
            let offset = self.count("a number or @parameter after OFFSET")?;
            self.expect_kw(Kw::Limit)?;
            let limit = self.count("a number or @parameter after LIMIT")?;
            Some(OffsetLimit { offset, limit })
        } else {
            None
        };
        Ok(Query {
            select,
            from,
            where_,
            group_by,
            order_by,
            offset_limit,
        })
    }

    fn count(&mut self, what: &str) -> Result<Count, SyntaxError> {
        match self.peek() {
            Tok::Num(n) => {
                let n = *n;
                self.pos += 1;
                Ok(Count::Number(n))
            }
            Tok::Param(p) => {
                let p = (*p).to_string();
                self.pos += 1;
                Ok(Count::Param(p))
            }
            _ => Err(self.unexpected(what)),
        }
    }

    fn order_by(&mut self) -> Result<OrderBy, SyntaxError> {
        // `RANK` is not reserved: it starts a rank clause only when a function
        // name follows it.
        let rank = matches!(self.peek(), Tok::Ident(s) if s.eq_ignore_ascii_case("RANK"))
            && matches!(self.peek_at(1), Tok::Ident(_) | Tok::Kw(Kw::Udf));
        if rank {
            self.pos += 1;
        }
        let mut items = Vec::new();
        loop {
            let at = self.offset();
            let expr = self.scalar(0)?;
            if rank && !matches!(expr, Expr::Call { .. }) {
                return Err(SyntaxError {
                    message: "ORDER BY RANK needs a scoring function call".into(),
                    offset: at,
                });
            }
            let order = if self.eat_kw(Kw::Asc) {
                Some(SortOrder::Asc)
            } else if self.eat_kw(Kw::Desc) {
                Some(SortOrder::Desc)
            } else {
                None
            };
            items.push(OrderItem { expr, order });
            if !self.eat(&Tok::Comma) {
                break;
            }
        }
        Ok(OrderBy { rank, items })
    }

    fn source(&mut self) -> Result<Source, SyntaxError> {
        if matches!(self.peek(), Tok::Ident(_)) && self.peek_at(1) == &Tok::Kw(Kw::In) {
            let alias = self.ident("an alias")?;
            self.pos += 1; // IN
            let collection = self.collection()?;
            return Ok(Source::Iterate { alias, collection });
        }
        let collection = self.collection()?;
        let alias = if self.eat_kw(Kw::As) {
            Some(self.ident("an alias after AS")?)
        } else if matches!(self.peek(), Tok::Ident(_)) {
            Some(self.ident("an alias")?)
        } else {
            None
        };
        Ok(Source::Aliased { collection, alias })
    }

    fn collection(&mut self) -> Result<Collection, SyntaxError> {
        if self.eat(&Tok::LParen) {
            if self.peek() != &Tok::Kw(Kw::Select) {
                return Err(self.unexpected("a subquery (SELECT …)"));
            }
            let q = self.query()?;
            self.expect(&Tok::RParen, "`)` after the subquery")?;
            return Ok(Collection::Subquery(Box::new(q)));
        }
        let root = self.ident("a collection name or `(SELECT …)`")?;
        let mut path = Vec::new();
        loop {
            if self.eat(&Tok::Dot) {
                path.push(PathStep::Field(self.ident("a property name after `.`")?));
            } else if self.eat(&Tok::LBracket) {
                match self.peek() {
                    Tok::Num(_) | Tok::Str(_) => match self.bump() {
                        Tok::Num(n) => path.push(PathStep::Index(n)),
                        Tok::Str(s) => path.push(PathStep::Key(s)),
                        _ => {}
                    },
                    _ => return Err(self.unexpected("a number or string in a FROM path")),
                }
                self.expect(&Tok::RBracket, "`]`")?;
            } else {
                break;
            }
        }
        Ok(Collection::Path { root, path })
    }

    // ----------------------------------------------------------- expressions

    fn scalar_list(&mut self) -> Result<Vec<Expr>, SyntaxError> {
        let mut v = vec![self.scalar(0)?];
        while self.eat(&Tok::Comma) {
            v.push(self.scalar(0)?);
        }
        Ok(v)
    }

    /// `??` and `? :` over logical expressions.
    fn scalar(&mut self, min: u8) -> Result<Expr, SyntaxError> {
        self.enter()?;
        let r = self.scalar_inner(min);
        self.depth -= 1;
        r
    }

    fn scalar_inner(&mut self, min: u8) -> Result<Expr, SyntaxError> {
        let mut lhs = self.or()?;
        loop {
            match self.peek() {
                Tok::Question if prec::CONDITIONAL >= min => {
                    self.pos += 1;
                    let then = self.scalar(0)?;
                    self.expect(&Tok::Colon, "`:` in a conditional expression")?;
                    let els = self.scalar(prec::CONDITIONAL + 1)?;
                    self.link()?;
                    lhs = Expr::Conditional(Box::new(lhs), Box::new(then), Box::new(els));
                }
                Tok::QuestionQuestion if prec::COALESCE >= min => {
                    self.pos += 1;
                    let rhs = self.scalar(prec::COALESCE + 1)?;
                    self.link()?;
                    lhs = Expr::Coalesce(Box::new(lhs), Box::new(rhs));
                }
                _ => return Ok(lhs),
            }
        }
    }

    fn or(&mut self) -> Result<Expr, SyntaxError> {
        let mut lhs = self.and()?;
        while self.eat_kw(Kw::Or) {
            let rhs = self.and()?;
            self.link()?;
            lhs = Expr::Binary(BinaryOp::Or, Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn and(&mut self) -> Result<Expr, SyntaxError> {
        let mut lhs = self.not()?;
        while self.eat_kw(Kw::And) {
            let rhs = self.not()?;
            self.link()?;
            lhs = Expr::Binary(BinaryOp::And, Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn not(&mut self) -> Result<Expr, SyntaxError> {
        if self.peek() == &Tok::Kw(Kw::Not) {
            self.enter()?;
            self.pos += 1;
            let inner = self.not();
            self.depth -= 1;
            return Ok(Expr::Unary(UnaryOp::Not, Box::new(inner?)));
        }
        self.predicate()
    }

    /// `IN`, `LIKE`, `BETWEEN` (one at most: they do not chain).
    fn predicate(&mut self) -> Result<Expr, SyntaxError> {
        let lhs = self.binary(prec::CONCAT)?;
        let not = self.peek() == &Tok::Kw(Kw::Not)
            && matches!(self.peek_at(1), Tok::Kw(Kw::In | Kw::Like | Kw::Between));
        if not {
            self.pos += 1;
        }
        if self.eat_kw(Kw::In) {
            self.expect(&Tok::LParen, "`(` after IN")?;
            let list = self.scalar_list()?;
            self.expect(&Tok::RParen, "`)` closing the IN list")?;
            return Ok(Expr::In {
                expr: Box::new(lhs),
                not,
                list,
            });
        }
        if self.eat_kw(Kw::Like) {
            let pattern = self.binary(prec::CONCAT)?;
            let escape = if self.eat_kw(Kw::Escape) {
                Some(self.string("a string literal after ESCAPE")?)
            } else {
                None
            };
            return Ok(Expr::Like {
                expr: Box::new(lhs),
                not,
                pattern: Box::new(pattern),
                escape,
            });
        }
        if self.eat_kw(Kw::Between) {
            let low = self.binary(prec::CONCAT)?;
            self.expect_kw(Kw::And)?;
            let high = self.binary(prec::CONCAT)?;
            return Ok(Expr::Between {
                expr: Box::new(lhs),
                not,
                low: Box::new(low),
                high: Box::new(high),
            });
        }
        Ok(lhs)
    }

    fn binary(&mut self, min: u8) -> Result<Expr, SyntaxError> {
        let mut lhs = self.unary()?;
        while let Some(op) = binary_op(self.peek()) {
            let p = binary_prec(op);
            if p < min {
                break;
            }
            self.pos += 1;
            self.enter()?;
            let rhs = self.binary(p + 1);
            self.depth -= 1;
            self.link()?;
            lhs = Expr::Binary(op, Box::new(lhs), Box::new(rhs?));
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Expr, SyntaxError> {
        let op = match self.peek() {
            Tok::Minus => UnaryOp::Neg,
            Tok::Plus => UnaryOp::Plus,
            Tok::Tilde => UnaryOp::BitNot,
            Tok::Kw(Kw::Not) => UnaryOp::Not,
            _ => return self.postfix(),
        };
        self.pos += 1;
        self.enter()?;
        let inner = self.unary();
        self.depth -= 1;
        Ok(Expr::Unary(op, Box::new(inner?)))
    }

    fn postfix(&mut self) -> Result<Expr, SyntaxError> {
        let mut e = self.primary()?;
        loop {
            if self.eat(&Tok::Dot) {
                let name = self.ident("a property name after `.`")?;
                self.link()?;
                e = Expr::Member(Box::new(e), name);
            } else if self.eat(&Tok::LBracket) {
                let idx = self.scalar(0)?;
                self.expect(&Tok::RBracket, "`]`")?;
                self.link()?;
                e = Expr::Index(Box::new(e), Box::new(idx));
            } else {
                return Ok(e);
            }
        }
    }

    fn subquery_body(&mut self) -> Result<Box<Query>, SyntaxError> {
        self.expect(&Tok::LParen, "`(`")?;
        if self.peek() != &Tok::Kw(Kw::Select) {
            return Err(self.unexpected("a subquery (SELECT …)"));
        }
        let q = self.query()?;
        self.expect(&Tok::RParen, "`)` after the subquery")?;
        Ok(Box::new(q))
    }

    fn args(&mut self) -> Result<Vec<Expr>, SyntaxError> {
        self.expect(&Tok::LParen, "`(`")?;
        if self.eat(&Tok::RParen) {
            return Ok(Vec::new());
        }
        let args = self.scalar_list()?;
        self.expect(&Tok::RParen, "`,` or `)` in the argument list")?;
        Ok(args)
    }

    fn string(&mut self, what: &str) -> Result<String, SyntaxError> {
        if !matches!(self.peek(), Tok::Str(_)) {
            return Err(self.unexpected(what));
        }
        match self.bump() {
            Tok::Str(s) => Ok(s),
            _ => Err(self.unexpected(what)),
        }
    }

    fn primary(&mut self) -> Result<Expr, SyntaxError> {
        if !matches!(
            self.peek(),
            Tok::Num(_)
                | Tok::Str(_)
                | Tok::Param(_)
                | Tok::Ident(_)
                | Tok::LBracket
                | Tok::LBrace
                | Tok::LParen
                | Tok::Kw(
                    Kw::True
                        | Kw::False
                        | Kw::Null
                        | Kw::Undefined
                        | Kw::Exists
                        | Kw::Array
                        | Kw::Udf
                )
        ) {
            return Err(self.unexpected("an expression"));
        }
        let tok = self.bump();
        Ok(match tok {
            Tok::Num(n) => Expr::Literal(Literal::Number(n)),
            Tok::Str(s) => Expr::Literal(Literal::String(s)),
            Tok::Kw(Kw::True) => Expr::Literal(Literal::Bool(true)),
            Tok::Kw(Kw::False) => Expr::Literal(Literal::Bool(false)),
            Tok::Kw(Kw::Null) => Expr::Literal(Literal::Null),
            Tok::Kw(Kw::Undefined) => Expr::Literal(Literal::Undefined),
            Tok::Param(p) => Expr::Param(p.to_string()),
            Tok::LBracket => {
                let items = if self.eat(&Tok::RBracket) {
                    Vec::new()
                } else {
                    let items = self.scalar_list()?;
                    self.expect(&Tok::RBracket, "`,` or `]` in the array")?;
                    items
                };
                Expr::Array(items)
            }
            Tok::LBrace => {
                let mut props = Vec::new();
                if !self.eat(&Tok::RBrace) {
                    loop {
                        let key = self.string("a string property name")?;
                        self.expect(&Tok::Colon, "`:` after the property name")?;
                        props.push((key, self.scalar(0)?));
                        if !self.eat(&Tok::Comma) {
                            break;
                        }
                    }
                    self.expect(&Tok::RBrace, "`,` or `}` in the object")?;
                }
                Expr::Object(props)
            }
            Tok::LParen => {
                if self.peek() == &Tok::Kw(Kw::Select) {
                    let q = self.query()?;
                    self.expect(&Tok::RParen, "`)` after the subquery")?;
                    Expr::Subquery(SubqueryKind::Scalar, Box::new(q))
                } else {
                    let e = self.scalar(0)?;
                    self.expect(&Tok::RParen, "`)`")?;
                    e
                }
            }
            Tok::Kw(Kw::Exists) => Expr::Subquery(SubqueryKind::Exists, self.subquery_body()?),
            Tok::Kw(Kw::Array) => Expr::Subquery(SubqueryKind::Array, self.subquery_body()?),
            Tok::Kw(Kw::Udf) => {
                self.expect(&Tok::Dot, "`.` after udf")?;
                let name = self.ident("a function name after `udf.`")?;
                let args = self.args()?;
                Expr::Call {
                    udf: true,
                    name,
                    args,
                }
            }
            Tok::Ident(name) => {
                if self.peek() == &Tok::LParen {
                    let kind = if self.peek_at(1) == &Tok::Kw(Kw::Select) {
                        if name.eq_ignore_ascii_case("ALL") {
                            Some(SubqueryKind::All)
                        } else if name.eq_ignore_ascii_case("FIRST") {
                            Some(SubqueryKind::First)
                        } else if name.eq_ignore_ascii_case("LAST") {
                            Some(SubqueryKind::Last)
                        } else {
                            None
                        }
                    } else {
                        None
                    };
                    match kind {
                        Some(k) => Expr::Subquery(k, self.subquery_body()?),
                        None => Expr::Call {
                            udf: false,
                            name: name.to_string(),
                            args: self.args()?,
                        },
                    }
                } else {
                    Expr::Ident(name.to_string())
                }
            }
            _ => return Err(self.unexpected("an expression")),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// Long chains are refused before they build a tree too deep to walk (each of these
    /// overflowed the stack at 150,000 links); a long but reasonable one still parses.
    #[test]
    fn chains_too_long_to_walk_are_refused() {
        for long in [
            format!("SELECT VALUE 1{}", "+1".repeat(150_000)),
            format!("SELECT * FROM c WHERE c.a{}", " OR c.a".repeat(100_000)),
            format!("SELECT VALUE c{}", ".a".repeat(300_000)),
            format!("SELECT VALUE c{}", "[0]".repeat(200_000)),
        ] {
            let e = parse(&long).expect_err("refused");
            assert!(e.message.contains("chains more than"), "{}", e.message);
        }
        let fine = format!(
            "SELECT * FROM c WHERE c.a = 0{}",
            " AND c.a = 1".repeat(500)
        );
        assert!(parse(&fine).is_ok());
    }

    /// Parses, prints, and checks the print reads back as the same tree.
    fn norm(src: &str) -> String {
        let q = parse(src).unwrap_or_else(|e| panic!("{src:?}: {e}"));
        let printed = q.to_string();
        assert_eq!(parse(&printed).as_ref(), Ok(&q), "{printed}");
        printed
    }

    fn e(src: &str) -> String {
        let x = parse_expr(src).unwrap_or_else(|err| panic!("{src:?}: {err}"));
        let printed = x.to_string();
        assert_eq!(parse_expr(&printed).as_ref(), Ok(&x), "{printed}");
        printed
    }

    fn bad(src: &str) -> SyntaxError {
        parse(src).expect_err(src)
    }

    #[test]
    fn select_forms() {
        assert_eq!(norm("select *"), "SELECT *");
        assert_eq!(
            norm("select distinct top 5 value c.a from c"),
            "SELECT DISTINCT TOP 5 VALUE c.a FROM c"
        );
        assert_eq!(
            norm("SELECT TOP @n c.a AS x, c.b FROM c"),
            "SELECT TOP @n c.a AS x, c.b FROM c"
        );
        assert_eq!(norm("SELECT 1 AS ALL"), "SELECT 1 AS ALL");
        bad("SELECT");
        bad("SELECT TOP 'a' *");
        bad("SELECT a b");
    }

    #[test]
    fn from_forms() {
        assert_eq!(norm("SELECT * FROM root r"), "SELECT * FROM root AS r");
        assert_eq!(
            norm("SELECT * FROM c.a['b'][0] x"),
            "SELECT * FROM c.a[\"b\"][0] AS x"
        );
        assert_eq!(norm("SELECT * FROM x IN c.arr"), "SELECT * FROM x IN c.arr");
        assert_eq!(
            norm("SELECT * FROM x IN (SELECT VALUE 1)"),
            "SELECT * FROM x IN (SELECT VALUE 1)"
        );
        assert_eq!(
            norm("select * from c join d in c.kids join e in d.toys"),
            "SELECT * FROM c JOIN d IN c.kids JOIN e IN d.toys"
        );
        assert_eq!(
            norm("SELECT * FROM (SELECT * FROM c) s"),
            "SELECT * FROM (SELECT * FROM c) AS s"
        );
        bad("SELECT * FROM c.a[x]");
        bad("SELECT * FROM 1");
    }

    #[test]
    fn clauses() {
        assert_eq!(
            norm("SELECT * FROM c WHERE c.a GROUP BY c.b, c.c"),
            "SELECT * FROM c WHERE c.a GROUP BY c.b, c.c"
        );
        assert_eq!(
            norm("SELECT * ORDER BY 1 asc, 2 DESC, 3"),
            "SELECT * ORDER BY 1 ASC, 2 DESC, 3"
        );
        assert_eq!(
            norm("SELECT * ORDER BY RANK FullTextScore(c.t, ['x']) desc"),
            "SELECT * ORDER BY RANK FullTextScore(c.t, [\"x\"]) DESC"
        );
        assert_eq!(norm("SELECT * ORDER BY rank"), "SELECT * ORDER BY rank");
        assert_eq!(
            norm("SELECT * OFFSET 1 LIMIT @l"),
            "SELECT * OFFSET 1 LIMIT @l"
        );
        bad("SELECT * ORDER BY RANK 1");
        bad("SELECT * LIMIT 1");
        bad("SELECT * ORDER BY 1,");
    }

    #[test]
    fn precedence() {
        assert_eq!(e("1 + 2 * 3"), "1 + 2 * 3");
        assert_eq!(e("(1 + 2) * 3"), "(1 + 2) * 3");
        assert_eq!(e("1 - (2 - 3)"), "1 - (2 - 3)");
        assert_eq!(e("a OR b AND c"), "a OR b AND c");
        assert_eq!(e("(a OR b) AND c"), "(a OR b) AND c");
        assert_eq!(e("NOT a = 1"), "NOT a = 1");
        assert!(matches!(
            parse_expr("NOT a = 1").unwrap(),
            Expr::Unary(UnaryOp::Not, _)
        ));
        assert_eq!(e("(NOT a) = 1"), "(NOT a) = 1");
        assert_eq!(e("1 + NOT a"), "1 + (NOT a)");
        assert_eq!(e("a ?? b ? c : d"), "a ?? b ? c : d");
        assert_eq!(e("(a ?? b) ? c : d"), "(a ?? b) ? c : d");
        assert_eq!(e("a ? b : (c ? d : e)"), "a ? b : (c ? d : e)");
        assert_eq!(e("a || b = c"), "a || b = c");
        assert_eq!(e("1 << 2 + 3 >>> 1 >> 2"), "1 << 2 + 3 >>> 1 >> 2");
        assert_eq!(e("1 | 2 ^ 3 & 4"), "1 | 2 ^ 3 & 4");
        assert_eq!(e("a <> b"), "a != b");
        assert_eq!(e("- -1"), "- -1"); // never `--1`, which is a comment
        assert_eq!(e("~(1 + 2)"), "~(1 + 2)");
    }

    #[test]
    fn predicates() {
        assert_eq!(e("a not in (1, 2)"), "a NOT IN (1, 2)");
        assert_eq!(e("a like 'x%' escape '!'"), "a LIKE \"x%\" ESCAPE \"!\"");
        assert_eq!(e("a between 1 and 2 and b"), "a BETWEEN 1 AND 2 AND b");
        assert_eq!(e("a NOT BETWEEN 1 + 1 AND 2"), "a NOT BETWEEN 1 + 1 AND 2");
        assert_eq!(e("(a IN (1)) IN (true)"), "(a IN (1)) IN (true)");
        assert!(parse_expr("a BETWEEN 1 AND 2 BETWEEN 3 AND 4").is_err());
        assert!(parse_expr("a IN ()").is_err());
        assert!(parse_expr("a LIKE 'x' ESCAPE 1").is_err());
    }

    #[test]
    fn literals_and_access() {
        assert_eq!(
            e("[1, 'a', true, null, undefined, {}]"),
            "[1, \"a\", true, null, undefined, {}]"
        );
        assert_eq!(e("{'a': 1, \"b\": [2]}"), "{ \"a\": 1, \"b\": [2] }");
        assert_eq!(e("0x10 + 1.5e3 + .5"), "16 + 1500 + 0.5");
        assert_eq!(e("c['a b'][0].x"), "c[\"a b\"][0].x");
        assert_eq!(e("(1).x"), "(1).x");
        assert_eq!(e("'tab\\there'"), "\"tab\\there\"");
        assert_eq!(e("TRUE"), "TRUE");
        assert!(matches!(parse_expr("TRUE").unwrap(), Expr::Ident(_)));
        assert!(parse_expr("{1: 2}").is_err());
        assert!(parse_expr("{'a': 1,}").is_err());
        assert!(parse_expr("c.arr[]").is_err());
        assert!(parse_expr("c.select").is_err());
    }

    #[test]
    fn calls_and_subqueries() {
        assert_eq!(e("udf.f(1, 2)"), "udf.f(1, 2)");
        assert_eq!(e("ST_DISTANCE(a, b)"), "ST_DISTANCE(a, b)");
        assert_eq!(e("PI()"), "PI()");
        assert_eq!(e("exists(select * from c)"), "EXISTS(SELECT * FROM c)");
        assert_eq!(e("Array(select value 1)"), "ARRAY(SELECT VALUE 1)");
        assert_eq!(e("all(select *)"), "ALL(SELECT *)");
        assert_eq!(
            e("FIRST(1, 2) + LAST(SELECT VALUE 1)"),
            "FIRST(1, 2) + LAST(SELECT VALUE 1)"
        );
        assert_eq!(e("(select value 1)"), "(SELECT VALUE 1)");
        assert_eq!(e("ALL((SELECT VALUE 1))"), "ALL((SELECT VALUE 1))");
        assert!(parse_expr("EXISTS(1)").is_err());
        assert!(parse_expr("c.f(1)").is_err());
        assert!(parse_expr("ABS(1,)").is_err());
    }

    #[test]
    fn errors_have_offsets() {
        let err = bad("SELECT * FROM c WHERE");
        assert_eq!(err.offset, 21);
        assert_eq!(err.message, "expected an expression, found end of query");
        let err = bad("SELECT * WHEE true");
        assert_eq!(err.offset, 9);
        let err = bad("SELECT VALUE $42");
        assert_eq!(err.offset, 13);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("SELECT VALUE {}1{}", "(".repeat(5000), ")".repeat(5000));
        assert!(bad(&deep).message.contains("nested"));
        let deep = format!("SELECT VALUE {}1", "-".repeat(5000));
        assert!(bad(&deep).message.contains("nested"));
        let deep = format!("SELECT VALUE {}1", "NOT ".repeat(5000));
        assert!(bad(&deep).message.contains("nested"));
    }
}
