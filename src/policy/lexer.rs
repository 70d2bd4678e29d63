//! Tokeniser for the Cosmos DB NoSQL query language.
//!
//! The lexer works on bytes (identifiers may be any Unicode letters) and hands out
//! tokens with byte offsets so that syntax errors can point at the exact spot.

use super::parser::SyntaxError;

/// Reserved words. `true`, `false`, `null` and `undefined` are reserved only in
/// lower case (as in the service's grammar); the others in any case. `ALL`, `FIRST`,
/// `LAST` and `RANK` are *not* reserved: they are ordinary identifiers that the
/// parser recognises by context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kw {
    And,
    Array,
    As,
    Asc,
    Between,
    By,
    Desc,
    Distinct,
    Escape,
    Exists,
    False,
    From,
    Group,
    In,
    Join,
    Like,
    Limit,
    Not,
    Null,
    Offset,
    Or,
    Order,
    Select,
    Top,
    True,
    Udf,
    Undefined,
    Value,
    Where,
}

impl Kw {
    /// Upper-case spelling used in messages and by the printer.
    pub fn as_str(self) -> &'static str {
        match self {
            Kw::And => "AND",
            Kw::Array => "ARRAY",
            Kw::As => "AS",
            Kw::Asc => "ASC",
            Kw::Between => "BETWEEN",
            Kw::By => "BY",
            Kw::Desc => "DESC",
            Kw::Distinct => "DISTINCT",
            Kw::Escape => "ESCAPE",
            Kw::Exists => "EXISTS",
            Kw::False => "false",
            Kw::From => "FROM",
            Kw::Group => "GROUP",
            Kw::In => "IN",
            Kw::Join => "JOIN",
            Kw::Like => "LIKE",
            Kw::Limit => "LIMIT",
            Kw::Not => "NOT",
            Kw::Null => "null",
            Kw::Offset => "OFFSET",
            Kw::Or => "OR",
            Kw::Order => "ORDER",
            Kw::Select => "SELECT",
            Kw::Top => "TOP",
            Kw::True => "true",
            Kw::Udf => "udf",
            Kw::Undefined => "undefined",
            Kw::Value => "VALUE",
            Kw::Where => "WHERE",
        }
    }
}

/// Returns the keyword spelled by `word`, if any.
pub fn keyword(word: &str) -> Option<Kw> {
    // Case-sensitive literals first.
    match word {
        "true" => return Some(Kw::True),
        "false" => return Some(Kw::False),
        "null" => return Some(Kw::Null),
        "undefined" => return Some(Kw::Undefined),
        _ => {}
    }
    if word.len() < 2 || word.len() > 8 || !word.is_ascii() {
        return None;
    }
    let mut buf = [0u8; 8];
    let up = &mut buf[..word.len()];
    up.copy_from_slice(word.as_bytes());
    up.make_ascii_uppercase();
    Some(match &*up {
        b"AND" => Kw::And,
        b"ARRAY" => Kw::Array,
        b"AS" => Kw::As,
        b"ASC" => Kw::Asc,
        b"BETWEEN" => Kw::Between,
        b"BY" => Kw::By,
        b"DESC" => Kw::Desc,
        b"DISTINCT" => Kw::Distinct,
        b"ESCAPE" => Kw::Escape,
        b"EXISTS" => Kw::Exists,
        b"FROM" => Kw::From,
        b"GROUP" => Kw::Group,
        b"IN" => Kw::In,
        b"JOIN" => Kw::Join,
        b"LIKE" => Kw::Like,
        b"LIMIT" => Kw::Limit,
        b"NOT" => Kw::Not,
        b"OFFSET" => Kw::Offset,
        b"OR" => Kw::Or,
        b"ORDER" => Kw::Order,
        b"SELECT" => Kw::Select,
        b"TOP" => Kw::Top,
        b"UDF" => Kw::Udf,
        b"VALUE" => Kw::Value,
        b"WHERE" => Kw::Where,
        _ => return None,
    })
}

fn is_ident_start(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic() || (!c.is_ascii() && c.is_alphabetic())
}

fn is_ident_continue(c: char) -> bool {
    c == '_' || c.is_ascii_alphanumeric() || (!c.is_ascii() && c.is_alphanumeric())
}

#[derive(Debug, Clone, PartialEq)]
pub enum Tok<'a> {
    Ident(&'a str),
    Kw(Kw),
    Param(&'a str),
    Str(String),
    Num(f64),
    LParen,
    RParen,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    Comma,
    Dot,
    Colon,
    Star,
    Slash,
    Percent,
    Plus,
    Minus,
    Tilde,
    Amp,
    Pipe,
    PipePipe,
    Caret,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Shl,
    Shr,
    ShrZero,
    Question,
    QuestionQuestion,
    Eof,
}

impl Tok<'_> {
    /// How the token is named in error messages.
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("identifier `{s}`"),
            Tok::Kw(k) => format!("keyword {}", k.as_str()),
            Tok::Param(p) => format!("parameter @{p}"),
            Tok::Str(_) => "string literal".to_string(),
            Tok::Num(_) => "number".to_string(),
            Tok::Eof => "end of query".to_string(),
            other => format!("`{}`", punct(other)),
        }
    }
}

fn punct(t: &Tok<'_>) -> &'static str {
    match t {
        Tok::LParen => "(",
        Tok::RParen => ")",
        Tok::LBracket => "[",
        Tok::RBracket => "]",
        Tok::LBrace => "{",
        Tok::RBrace => "}",
        Tok::Comma => ",",
        Tok::Dot => ".",
        Tok::Colon => ":",
        Tok::Star => "*",
        Tok::Slash => "/",
        Tok::Percent => "%",
        Tok::Plus => "+",
        Tok::Minus => "-",
        Tok::Tilde => "~",
        Tok::Amp => "&",
        Tok::Pipe => "|",
        Tok::PipePipe => "||",
        Tok::Caret => "^",
        Tok::Eq => "=",
        Tok::Ne => "!=",
        Tok::Lt => "<",
        Tok::Le => "<=",
        Tok::Gt => ">",
        Tok::Ge => ">=",
        Tok::Shl => "<<",
        Tok::Shr => ">>",
        Tok::ShrZero => ">>>",
        Tok::Question => "?",
        Tok::QuestionQuestion => "??",
        _ => "",
    }
}

/// A token and the byte offset where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned<'a> {
    pub tok: Tok<'a>,
    pub offset: usize,
}

/// Splits `src` into tokens (the last one is always [`Tok::Eof`]).
pub fn tokenize(src: &str) -> Result<Vec<Spanned<'_>>, SyntaxError> {
    let mut lx = Lexer {
        src,
        bytes: src.as_bytes(),
        pos: 0,
    };
    let mut out = Vec::with_capacity(src.len() / 3 + 2);
    loop {
        let t = lx.next()?;
        let eof = t.tok == Tok::Eof;
        out.push(t);
        if eof {
            return Ok(out);
        }
    }
}

struct Lexer<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

fn err(message: impl Into<String>, offset: usize) -> SyntaxError {
    SyntaxError {
        message: message.into(),
        offset,
    }
}

impl<'a> Lexer<'a> {
    fn peek(&self, ahead: usize) -> u8 {
        self.bytes.get(self.pos + ahead).copied().unwrap_or(0)
    }

    fn next(&mut self) -> Result<Spanned<'a>, SyntaxError> {
        while let Some(&b) = self.bytes.get(self.pos) {
            if matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0x0b | 0x0c) {
                self.pos += 1;
            } else {
                break;
            }
        }
        let start = self.pos;
        let Some(&b) = self.bytes.get(start) else {
            return Ok(Spanned {
                tok: Tok::Eof,
                offset: start,
            });
        };
        let (tok, len) = match b {
            b'(' => (Tok::LParen, 1),
            b')' => (Tok::RParen, 1),
            b'[' => (Tok::LBracket, 1),
            b']' => (Tok::RBracket, 1),
            b'{' => (Tok::LBrace, 1),
            b'}' => (Tok::RBrace, 1),
            b',' => (Tok::Comma, 1),
            b':' => (Tok::Colon, 1),
            b'*' => (Tok::Star, 1),
            b'/' => (Tok::Slash, 1),
            b'%' => (Tok::Percent, 1),
            b'+' => (Tok::Plus, 1),
            b'-' => (Tok::Minus, 1),
            b'~' => (Tok::Tilde, 1),
            b'&' => (Tok::Amp, 1),
            b'^' => (Tok::Caret, 1),
            b'=' => (Tok::Eq, 1),
            b'|' if self.peek(1) == b'|' => (Tok::PipePipe, 2),
            b'|' => (Tok::Pipe, 1),
            b'!' if self.peek(1) == b'=' => (Tok::Ne, 2),
            b'<' if self.peek(1) == b'=' => (Tok::Le, 2),
            b'<' if self.peek(1) == b'>' => (Tok::Ne, 2),
            b'<' if self.peek(1) == b'<' => (Tok::Shl, 2),
            b'<' => (Tok::Lt, 1),
            b'>' if self.peek(1) == b'=' => (Tok::Ge, 2),
            b'>' if self.peek(1) == b'>' && self.peek(2) == b'>' => (Tok::ShrZero, 3),
            b'>' if self.peek(1) == b'>' => (Tok::Shr, 2),
            b'>' => (Tok::Gt, 1),
            b'?' if self.peek(1) == b'?' => (Tok::QuestionQuestion, 2),
            b'?' => (Tok::Question, 1),
            b'.' if self.peek(1).is_ascii_digit() => return self.number(start),
            b'.' => (Tok::Dot, 1),
            b'0'..=b'9' => return self.number(start),
            b'"' | b'\'' => return self.string(start, b),
            b'@' => {
                self.pos += 1;
                let word = self.word();
                if word.is_empty() {
                    return Err(err("expected a parameter name after `@`", start));
                }
                return Ok(Spanned {
                    tok: Tok::Param(word),
                    offset: start,
                });
            }
            _ => {
                let word = self.word();
                if word.is_empty() {
                    let ch = self.src[start..].chars().next().unwrap_or('\u{fffd}');
                    return Err(err(format!("unexpected character `{ch}`"), start));
                }
                let tok = match keyword(word) {
                    Some(k) => Tok::Kw(k),
                    None => Tok::Ident(word),
                };
                return Ok(Spanned { tok, offset: start });
            }
        };
        self.pos += len;
        Ok(Spanned { tok, offset: start })
    }

    /// Reads an identifier at the current position (possibly empty).
    fn word(&mut self) -> &'a str {
        let start = self.pos;
        let rest = &self.src[start..];
        let mut end = 0;
        for (i, c) in rest.char_indices() {
            let ok = if i == 0 {
                is_ident_start(c)
            } else {
                is_ident_continue(c)
            };
            if !ok {
                break;
            }
            end = i + c.len_utf8();
        }
        self.pos += end;
        &rest[..end]
    }

    fn number(&mut self, start: usize) -> Result<Spanned<'a>, SyntaxError> {
        let b = self.bytes;
        let mut i = start;
        if b[i] == b'0' && matches!(self.peek(1), b'x' | b'X') {
            i += 2;
            let digits = i;
            while i < b.len() && b[i].is_ascii_hexdigit() {
                i += 1;
            }
            if i == digits {
                return Err(err("expected hexadecimal digits after `0x`", start));
            }
            let mut v = 0f64;
            for &d in &b[digits..i] {
                let d = (d as char).to_digit(16).unwrap_or(0);
                v = v * 16.0 + f64::from(d);
            }
            self.pos = i;
            return Ok(Spanned {
                tok: Tok::Num(v),
                offset: start,
            });
        }
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
        }
        if i < b.len() && matches!(b[i], b'e' | b'E') {
            let mut j = i + 1;
            if j < b.len() && matches!(b[j], b'+' | b'-') {
                j += 1;
            }
            let exp_digits = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            if j > exp_digits {
                i = j;
            }
        }
        let text = &self.src[start..i];
        let v: f64 = text
            .parse()
            .map_err(|_| err(format!("invalid number `{text}`"), start))?;
        self.pos = i;
        Ok(Spanned {
            tok: Tok::Num(v),
            offset: start,
        })
    }

    fn string(&mut self, start: usize, quote: u8) -> Result<Spanned<'a>, SyntaxError> {
        let mut out = String::new();
        let mut i = start + 1;
        let b = self.bytes;
        loop {
            // Copy the run of plain characters in one go.
            let run = i;
            while i < b.len() && b[i] != quote && b[i] != b'\\' && b[i] >= 0x20 {
                i += 1;
            }
            out.push_str(&self.src[run..i]);
            let Some(&c) = b.get(i) else {
                return Err(err("unterminated string literal", start));
            };
            if c == quote {
                i += 1;
                break;
            }
            if c < 0x20 {
                return Err(err(
                    "control character in string literal (use an escape such as \\n)",
                    i,
                ));
            }
            // Backslash escape.
            let esc = b.get(i + 1).copied().unwrap_or(0);
            let ch = match esc {
                b'"' => '"',
                b'\'' => '\'',
                b'\\' => '\\',
                b'/' => '/',
                b'b' => '\u{8}',
                b'f' => '\u{c}',
                b'n' => '\n',
                b'r' => '\r',
                b't' => '\t',
                b'u' => {
                    let hi = self
                        .hex4(i + 2)
                        .ok_or_else(|| err("expected four hexadecimal digits after \\u", i))?;
                    i += 6;
                    if (0xD800..0xDC00).contains(&hi)
                        && b.get(i) == Some(&b'\\')
                        && b.get(i + 1) == Some(&b'u')
                        && let Some(lo) = self.hex4(i + 2)
                        && (0xDC00..0xE000).contains(&lo)
                    {
                        let cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                        out.push(char::from_u32(cp).unwrap_or('\u{fffd}'));
                        i += 6;
                        continue;
                    }
                    out.push(char::from_u32(hi).unwrap_or('\u{fffd}'));
                    continue;
                }
                _ => return Err(err("invalid escape sequence in string literal", i)),
            };
            out.push(ch);
            i += 2;
        }
        self.pos = i;
        Ok(Spanned {
            tok: Tok::Str(out),
            offset: start,
        })
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let digits = self.bytes.get(at..at + 4)?;
        let mut v = 0u32;
        for &d in digits {
            v = v * 16 + (d as char).to_digit(16)?;
        }
        Some(v)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok<'_>> {
        tokenize(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn keywords_are_case_insensitive_except_literals() {
        assert_eq!(toks("sElEcT")[0], Tok::Kw(Kw::Select));
        assert_eq!(toks("true")[0], Tok::Kw(Kw::True));
        assert_eq!(toks("TRUE")[0], Tok::Ident("TRUE"));
        assert_eq!(toks("ALL")[0], Tok::Ident("ALL"));
    }

    #[test]
    fn numbers() {
        assert_eq!(toks("42")[0], Tok::Num(42.0));
        assert_eq!(toks("4.5e2")[0], Tok::Num(450.0));
        assert_eq!(toks(".5")[0], Tok::Num(0.5));
        assert_eq!(toks("0x1F")[0], Tok::Num(31.0));
        assert_eq!(toks("1.")[0], Tok::Num(1.0));
    }

    #[test]
    fn strings_and_escapes() {
        assert_eq!(toks(r#""a\"b""#)[0], Tok::Str("a\"b".into()));
        assert_eq!(toks(r"'a\'b'")[0], Tok::Str("a'b".into()));
        assert_eq!(toks(r"'\u1234\/\n'")[0], Tok::Str("\u{1234}/\n".into()));
        assert_eq!(toks(r"'\ud83d\ude00'")[0], Tok::Str("😀".into()));
        assert!(tokenize("'abc").is_err());
        assert!(tokenize(r"'\q'").is_err());
    }

    #[test]
    fn operators_and_offsets() {
        let t = tokenize("a >>> b <> c").unwrap();
        assert_eq!(t[1].tok, Tok::ShrZero);
        assert_eq!(t[1].offset, 2);
        assert_eq!(t[3].tok, Tok::Ne);
        let e = tokenize("SELECT # 1").unwrap_err();
        assert_eq!(e.offset, 7);
    }

    #[test]
    fn unicode_identifiers() {
        assert_eq!(toks("größe")[0], Tok::Ident("größe"));
        assert_eq!(toks("名前")[0], Tok::Ident("名前"));
    }
}
