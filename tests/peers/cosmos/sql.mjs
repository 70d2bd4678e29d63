// A small parser and printer for the Cosmos DB NoSQL query language, used by the test peer to
// build query plans (plan.mjs) and to run aggregates / GROUP BY (aggregate.mjs) on top of the
// @zeit/cosmosdb-query engine. Written for this peer; covers SELECT [DISTINCT] [TOP] [VALUE],
// FROM (collection, iteration `x IN c.arr`, subquery), JOIN, WHERE, GROUP BY, ORDER BY,
// OFFSET/LIMIT and the expression grammar (literals, @params, property/index access, calls,
// udf.f(...), object/array constructors, unary/binary operators, IN, BETWEEN, LIKE, ?:, ??,
// scalar/EXISTS/ARRAY subqueries).
//
// print() writes the form the service uses in a query plan's rewrittenQuery: one clause per
// line ("\nFROM", "\nWHERE", …), every binary/IN/BETWEEN expression in parentheses, strings in
// double quotes, `FROM Root r` as `FROM Root AS r`, keywords upper case, function names as
// written, subqueries in FROM/JOIN indented by four spaces.

export class SqlError extends Error {}

const KEYWORDS = new Set([
  "SELECT", "DISTINCT", "TOP", "VALUE", "AS", "FROM", "JOIN", "IN", "WHERE", "GROUP", "BY", "ORDER", "ASC", "DESC",
  "OFFSET", "LIMIT", "AND", "OR", "NOT", "BETWEEN", "LIKE", "ESCAPE", "EXISTS", "ARRAY", "TRUE", "FALSE", "NULL", "UNDEFINED",
]);
export const AGGREGATES = { COUNT: "Count", SUM: "Sum", MIN: "Min", MAX: "Max", AVG: "Average", MAKELIST: "MakeList", MAKESET: "MakeSet", COUNTIF: "CountIf" };

// ------------------------------------------------------------------ tokenizer
function tokenize(src) {
  const toks = [];
  let i = 0;
  const n = src.length;
  while (i < n) {
    const ch = src[i];
    if (/\s/.test(ch)) { i++; continue; }
    if (ch === "-" && src[i + 1] === "-") { while (i < n && src[i] !== "\n") i++; continue; }
    const start = i;
    if (ch === "'" || ch === '"') {
      let s = "";
      i++;
      for (;;) {
        if (i >= n) throw new SqlError(`Syntax error, unterminated string at position ${start}.`);
        const c = src[i];
        if (c === ch) { i++; break; }
        if (c === "\\") {
          const e = src[i + 1];
          const map = { n: "\n", r: "\r", t: "\t", b: "\b", f: "\f", "\\": "\\", "/": "/", "'": "'", '"': '"' };
          if (e === "u") { s += String.fromCharCode(parseInt(src.slice(i + 2, i + 6), 16)); i += 6; continue; }
          if (e in map) { s += map[e]; i += 2; continue; }
          s += e; i += 2; continue;
        }
        s += c; i++;
      }
      toks.push({ k: "str", v: s, p: start });
      continue;
    }
    let m;
    const rest = src.slice(i);
    if ((m = /^(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)/.exec(rest))) {
      toks.push({ k: "num", v: Number(m[0]), raw: m[0], p: start }); i += m[0].length; continue;
    }
    if ((m = /^@[A-Za-z_][A-Za-z0-9_]*/.exec(rest))) { toks.push({ k: "param", v: m[0], p: start }); i += m[0].length; continue; }
    if ((m = /^[A-Za-z_$][A-Za-z0-9_$]*/.exec(rest))) {
      const up = m[0].toUpperCase();
      toks.push({ k: KEYWORDS.has(up) ? "kw" : "id", v: m[0], u: up, p: start }); i += m[0].length; continue;
    }
    if ((m = /^(?:>>>|\?\?|<<|>>|<=|>=|<>|!=|\|\||[-+*/%=<>&|^~(){}[\],.:?])/.exec(rest))) {
      toks.push({ k: "op", v: m[0], p: start }); i += m[0].length; continue;
    }
    throw new SqlError(`Syntax error, unexpected character '${ch}' at position ${i}.`);
  }
  toks.push({ k: "eof", v: "", p: n });
  return toks;
}

// ------------------------------------------------------------------ parser
class Parser {
  constructor(src) { this.t = tokenize(src); this.i = 0; }
  get cur() { return this.t[this.i]; }
  peek(o = 1) { return this.t[Math.min(this.i + o, this.t.length - 1)]; }
  isKw(u, tok = this.cur) { return tok.k === "kw" && tok.u === u; }
  isOp(v, tok = this.cur) { return tok.k === "op" && tok.v === v; }
  next() { return this.t[this.i++]; }
  // the service's wording: "Syntax error, incorrect syntax near 'X'."
  fail() {
    const c = this.cur;
    throw new SqlError(`Syntax error, incorrect syntax near '${c.k === "eof" ? "<end of input>" : c.v}'.`);
  }
  eatKw(u) { if (this.isKw(u)) return this.next(); this.fail(u); }
  eatOp(v) { if (this.isOp(v)) return this.next(); this.fail(`'${v}'`); }
  ident() { if (this.cur.k === "id") return this.next().v; this.fail("an identifier"); }

  query() {
    this.eatKw("SELECT");
    const q = { distinct: false, top: null, value: false, star: false, items: [], from: null, where: null, groupBy: null, orderBy: null, offset: null, limit: null };
    for (;;) {
      if (this.isKw("DISTINCT")) { this.next(); q.distinct = true; continue; }
      if (this.isKw("TOP")) { this.next(); q.top = this.countValue(); continue; }
      break;
    }
    if (this.isKw("VALUE")) { this.next(); q.value = true; q.items.push({ e: this.expr(), alias: null }); }
    else if (this.isOp("*")) { this.next(); q.star = true; }
    else {
      for (;;) {
        const e = this.expr();
        let alias = null;
        if (this.isKw("AS")) { this.next(); alias = this.ident(); }
        else if (this.cur.k === "id") alias = this.next().v;
        q.items.push({ e, alias });
        if (this.isOp(",")) { this.next(); continue; }
        break;
      }
    }
    if (this.isKw("FROM")) {
      this.next();
      q.from = { src: this.fromSource(), joins: [] };
      while (this.isKw("JOIN")) { this.next(); q.from.joins.push(this.fromSource()); }
    }
    if (this.isKw("WHERE")) { this.next(); q.where = this.expr(); }
    if (this.isKw("GROUP")) {
      this.next(); this.eatKw("BY");
      q.groupBy = [this.expr()];
      while (this.isOp(",")) { this.next(); q.groupBy.push(this.expr()); }
    }
    if (this.isKw("ORDER")) {
      this.next(); this.eatKw("BY");
      q.orderBy = [];
      for (;;) {
        const e = this.expr();
        let dir = null;
        if (this.isKw("ASC") || this.isKw("DESC")) dir = this.next().u;
        q.orderBy.push({ e, dir });
        if (this.isOp(",")) { this.next(); continue; }
        break;
      }
    }
    if (this.isKw("OFFSET")) {
      this.next(); q.offset = this.countValue();
      this.eatKw("LIMIT"); q.limit = this.countValue();
    }
    return q;
  }
  countValue() {
    const c = this.cur;
    if (c.k === "num") { this.next(); return { t: "lit", v: c.v }; }
    if (c.k === "param") { this.next(); return { t: "param", name: c.v }; }
    this.fail("a number or a parameter");
  }
  fromSource() {
    // `x IN path`, `(subquery) [AS] x`, `path [AS] x`
    if (this.cur.k === "id" && this.isKw("IN", this.peek())) {
      const alias = this.next().v; this.next();
      return { kind: "iter", alias, path: this.collPath() };
    }
    let src;
    if (this.isOp("(")) {
      this.next(); const q = this.query(); this.eatOp(")");
      src = { kind: "sub", q, alias: null };
    } else src = { kind: "coll", path: this.collPath(), alias: null };
    if (this.isKw("AS")) { this.next(); src.alias = this.ident(); }
    else if (this.cur.k === "id") src.alias = this.next().v;
    return src;
  }
  collPath() {
    let e;
    if (this.cur.k === "id") e = { t: "id", name: this.next().v };
    else this.fail("a collection name");
    for (;;) {
      if (this.isOp(".")) { this.next(); e = { t: "prop", obj: e, name: this.anyName() }; continue; }
      if (this.isOp("[")) {
        this.next();
        const c = this.next();
        if (c.k !== "str" && c.k !== "num") this.fail("a string or number index");
        this.eatOp("]");
        e = { t: "idx", obj: e, index: { t: "lit", v: c.v } };
        continue;
      }
      return e;
    }
  }
  anyName() { const c = this.cur; if (c.k === "id" || c.k === "kw") { this.next(); return c.v; } this.fail("a property name"); }

  // expression grammar, lowest precedence first
  expr() { return this.conditional(); }
  conditional() {
    const test = this.coalesce();
    if (this.isOp("?")) {
      this.next(); const a = this.expr(); this.eatOp(":"); const b = this.expr();
      return { t: "cond", test, a, b };
    }
    return test;
  }
  coalesce() {
    let l = this.or();
    while (this.isOp("??")) { this.next(); l = { t: "bin", op: "??", l, r: this.or() }; }
    return l;
  }
  or() {
    let l = this.and();
    while (this.isKw("OR")) { this.next(); l = { t: "bin", op: "OR", l, r: this.and() }; }
    return l;
  }
  and() {
    let l = this.not();
    while (this.isKw("AND")) { this.next(); l = { t: "bin", op: "AND", l, r: this.not() }; }
    return l;
  }
  not() {
    if (this.isKw("NOT")) { this.next(); return { t: "un", op: "NOT", e: this.not() }; }
    return this.comparison();
  }
  comparison() {
    let l = this.bitor();
    for (;;) {
      const c = this.cur;
      if (c.k === "op" && ["=", "!=", "<>", "<", "<=", ">", ">="].includes(c.v)) { this.next(); l = { t: "bin", op: c.v, l, r: this.bitor() }; continue; }
      let neg = false;
      if (this.isKw("NOT") && (this.isKw("IN", this.peek()) || this.isKw("BETWEEN", this.peek()) || this.isKw("LIKE", this.peek()))) { this.next(); neg = true; }
      if (this.isKw("IN")) {
        this.next(); this.eatOp("(");
        const list = [];
        if (!this.isOp(")")) { list.push(this.expr()); while (this.isOp(",")) { this.next(); list.push(this.expr()); } }
        this.eatOp(")");
        l = { t: "in", e: l, list, not: neg }; continue;
      }
      if (this.isKw("BETWEEN")) {
        this.next(); const lo = this.bitor(); this.eatKw("AND"); const hi = this.bitor();
        l = { t: "between", e: l, lo, hi, not: neg }; continue;
      }
      if (this.isKw("LIKE")) {
        this.next(); const pat = this.bitor(); let esc = null;
        if (this.isKw("ESCAPE")) { this.next(); esc = this.bitor(); }
        l = { t: "like", e: l, pat, esc, not: neg }; continue;
      }
      if (neg) this.fail("IN, BETWEEN or LIKE");
      return l;
    }
  }
  binLevel(ops, nextFn) {
    let l = nextFn();
    while (this.cur.k === "op" && ops.includes(this.cur.v)) { const op = this.next().v; l = { t: "bin", op, l, r: nextFn() }; }
    return l;
  }
  bitor() { return this.binLevel(["|"], () => this.bitxor()); }
  bitxor() { return this.binLevel(["^"], () => this.bitand()); }
  bitand() { return this.binLevel(["&"], () => this.shift()); }
  shift() { return this.binLevel(["<<", ">>", ">>>"], () => this.additive()); }
  additive() { return this.binLevel(["+", "-", "||"], () => this.multiplicative()); }
  multiplicative() { return this.binLevel(["*", "/", "%"], () => this.unary()); }
  unary() {
    const c = this.cur;
    if (c.k === "op" && ["-", "+", "~"].includes(c.v)) {
      this.next();
      const e = this.unary();
      if (c.v === "-" && e.t === "lit" && typeof e.v === "number") return { t: "lit", v: -e.v };
      return { t: "un", op: c.v, e };
    }
    return this.postfix();
  }
  postfix() {
    let e = this.primary();
    for (;;) {
      if (this.isOp(".")) { this.next(); e = { t: "prop", obj: e, name: this.anyName() }; continue; }
      if (this.isOp("[")) { this.next(); const index = this.expr(); this.eatOp("]"); e = { t: "idx", obj: e, index }; continue; }
      return e;
    }
  }
  args() {
    this.eatOp("(");
    const a = [];
    if (!this.isOp(")")) { a.push(this.expr()); while (this.isOp(",")) { this.next(); a.push(this.expr()); } }
    this.eatOp(")");
    return a;
  }
  primary() {
    const c = this.cur;
    if (c.k === "num" || c.k === "str") { this.next(); return { t: "lit", v: c.v }; }
    if (c.k === "param") { this.next(); return { t: "param", name: c.v }; }
    if (c.k === "kw") {
      if (c.u === "TRUE" || c.u === "FALSE") { this.next(); return { t: "lit", v: c.u === "TRUE" }; }
      if (c.u === "NULL") { this.next(); return { t: "lit", v: null }; }
      if (c.u === "UNDEFINED") { this.next(); return { t: "lit", v: undefined }; }
      if (c.u === "EXISTS" || c.u === "ARRAY") {
        this.next(); this.eatOp("("); const q = this.query(); this.eatOp(")");
        return { t: c.u === "EXISTS" ? "exists" : "array", q, kw: c.v };
      }
      this.fail();
    }
    if (c.k === "id") {
      this.next();
      if (c.u === "UDF" && this.isOp(".") && this.peek().k !== "eof" && this.isOp("(", this.peek(2))) {
        this.next(); const name = this.anyName();
        return { t: "call", name, udf: true, args: this.args() };
      }
      if (this.isOp("(")) return { t: "call", name: c.v, udf: false, args: this.args() };
      return { t: "id", name: c.v };
    }
    if (this.isOp("(")) {
      this.next();
      if (this.isKw("SELECT")) { const q = this.query(); this.eatOp(")"); return { t: "sub", q }; }
      const e = this.expr(); this.eatOp(")");
      return e;
    }
    if (this.isOp("{")) {
      this.next();
      const props = [];
      if (!this.isOp("}")) {
        for (;;) {
          const k = this.cur;
          let key;
          if (k.k === "str") key = k.v; else if (k.k === "id" || k.k === "kw") key = k.v; else this.fail("a property name");
          this.next(); this.eatOp(":");
          props.push({ k: key, v: this.expr() });
          if (this.isOp(",")) { this.next(); continue; }
          break;
        }
      }
      this.eatOp("}");
      return { t: "obj", props };
    }
    if (this.isOp("[")) {
      this.next();
      const items = [];
      if (!this.isOp("]")) { items.push(this.expr()); while (this.isOp(",")) { this.next(); items.push(this.expr()); } }
      this.eatOp("]");
      return { t: "arr", items };
    }
    this.fail();
  }
}

export function parseSql(src) {
  const p = new Parser(String(src));
  const q = p.query();
  if (p.cur.k !== "eof") p.fail();
  return q;
}

// ------------------------------------------------------------------ printer
function printLit(v) {
  if (v === undefined) return "undefined";
  if (typeof v === "number") return Number.isFinite(v) ? String(v) : "null";
  return JSON.stringify(v);
}
function needsQuoting(name) { return !/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name) || KEYWORDS.has(name.toUpperCase()); }
export function printExpr(e) {
  switch (e.t) {
    case "lit": return printLit(e.v);
    case "param": return e.name;
    case "id": return e.name;
    case "raw": return e.text;
    case "prop": return needsQuoting(e.name) ? `${printExpr(e.obj)}[${JSON.stringify(e.name)}]` : `${printExpr(e.obj)}.${e.name}`;
    case "idx": return `${printExpr(e.obj)}[${printExpr(e.index)}]`;
    case "call": return `${e.udf ? "udf." : ""}${e.name}(${e.args.map(printExpr).join(", ")})`;
    case "bin": return `(${printExpr(e.l)} ${e.op} ${printExpr(e.r)})`;
    case "un": return e.op === "NOT" ? `(NOT ${printExpr(e.e)})` : `(${e.op}${printExpr(e.e)})`;
    case "in": return `(${printExpr(e.e)} ${e.not ? "NOT IN" : "IN"} (${e.list.map(printExpr).join(", ")}))`;
    case "between": return `(${printExpr(e.e)} ${e.not ? "NOT BETWEEN" : "BETWEEN"} ${printExpr(e.lo)} AND ${printExpr(e.hi)})`;
    case "like": return `(${printExpr(e.e)} ${e.not ? "NOT LIKE" : "LIKE"} ${printExpr(e.pat)}${e.esc ? ` ESCAPE ${printExpr(e.esc)}` : ""})`;
    case "cond": return `(${printExpr(e.test)} ? ${printExpr(e.a)} : ${printExpr(e.b)})`;
    case "obj": return `{${e.props.map((p) => `${JSON.stringify(p.k)}: ${printExpr(p.v)}`).join(", ")}}`;
    case "arr": return `[${e.items.map(printExpr).join(", ")}]`;
    case "sub": return `(${printQuery(e.q).replace(/\n/g, " ")})`;
    case "exists": return `EXISTS(${printQuery(e.q).replace(/\n/g, " ")})`;
    case "array": return `ARRAY(${printQuery(e.q).replace(/\n/g, " ")})`;
    default: throw new SqlError(`cannot print expression ${e.t}`);
  }
}
function indent(text, n) { const pad = " ".repeat(n); return text.split("\n").map((l) => pad + l).join("\n"); }
function printSource(s) {
  if (s.kind === "iter") return `${s.alias} IN ${printExpr(s.path)}`;
  if (s.kind === "sub") return `(\n${indent(printQuery(s.q), 4)}\n)${s.alias ? ` AS ${s.alias}` : ""}`;
  return `${printExpr(s.path)}${s.alias ? ` AS ${s.alias}` : ""}`;
}
export function printSelectHead(q) {
  let h = "SELECT ";
  if (q.distinct) h += "DISTINCT ";
  if (q.top) h += `TOP ${printExpr(q.top)} `;
  if (q.value) return h + "VALUE " + printExpr(q.items[0].e);
  if (q.star) return h + "*";
  return h + q.items.map((it) => printExpr(it.e) + (it.alias ? ` AS ${it.alias}` : "")).join(", ");
}
export function printQuery(q) {
  const lines = [printSelectHead(q)];
  if (q.from) {
    lines.push("FROM " + printSource(q.from.src));
    for (const j of q.from.joins) lines.push("JOIN " + printSource(j));
  }
  if (q.where) lines.push("WHERE " + printExpr(q.where));
  if (q.groupBy) lines.push("GROUP BY " + q.groupBy.map(printExpr).join(", "));
  if (q.orderBy) lines.push("ORDER BY " + q.orderBy.map((o) => printExpr(o.e) + (o.dir ? " " + o.dir : "")).join(", "));
  if (q.offset) lines.push(`OFFSET ${printExpr(q.offset)} LIMIT ${printExpr(q.limit)}`);
  return lines.join("\n");
}

// ------------------------------------------------------------------ helpers
export function isAggregateCall(e) { return e && e.t === "call" && !e.udf && Object.prototype.hasOwnProperty.call(AGGREGATES, e.name.toUpperCase()); }
// visit every expression node of an expression, not entering subqueries
export function walk(e, fn) {
  if (!e || typeof e !== "object") return;
  if (fn(e) === false) return;
  switch (e.t) {
    case "prop": walk(e.obj, fn); break;
    case "idx": walk(e.obj, fn); walk(e.index, fn); break;
    case "call": e.args.forEach((a) => walk(a, fn)); break;
    case "bin": walk(e.l, fn); walk(e.r, fn); break;
    case "un": walk(e.e, fn); break;
    case "in": walk(e.e, fn); e.list.forEach((a) => walk(a, fn)); break;
    case "between": walk(e.e, fn); walk(e.lo, fn); walk(e.hi, fn); break;
    case "like": walk(e.e, fn); walk(e.pat, fn); walk(e.esc, fn); break;
    case "cond": walk(e.test, fn); walk(e.a, fn); walk(e.b, fn); break;
    case "obj": e.props.forEach((p) => walk(p.v, fn)); break;
    case "arr": e.items.forEach((a) => walk(a, fn)); break;
    default: break;
  }
}
// map an expression bottom-up (not entering subqueries); fn returns a replacement or undefined
export function mapExpr(e, fn) {
  const r = fn(e);
  if (r !== undefined) return r;
  switch (e.t) {
    case "prop": return { ...e, obj: mapExpr(e.obj, fn) };
    case "idx": return { ...e, obj: mapExpr(e.obj, fn), index: mapExpr(e.index, fn) };
    case "call": return { ...e, args: e.args.map((a) => mapExpr(a, fn)) };
    case "bin": return { ...e, l: mapExpr(e.l, fn), r: mapExpr(e.r, fn) };
    case "un": return { ...e, e: mapExpr(e.e, fn) };
    case "in": return { ...e, e: mapExpr(e.e, fn), list: e.list.map((a) => mapExpr(a, fn)) };
    case "between": return { ...e, e: mapExpr(e.e, fn), lo: mapExpr(e.lo, fn), hi: mapExpr(e.hi, fn) };
    case "like": return { ...e, e: mapExpr(e.e, fn), pat: mapExpr(e.pat, fn), esc: e.esc && mapExpr(e.esc, fn) };
    case "cond": return { ...e, test: mapExpr(e.test, fn), a: mapExpr(e.a, fn), b: mapExpr(e.b, fn) };
    case "obj": return { ...e, props: e.props.map((p) => ({ k: p.k, v: mapExpr(p.v, fn) })) };
    case "arr": return { ...e, items: e.items.map((a) => mapExpr(a, fn)) };
    default: return e;
  }
}
export function aggregatesIn(e) {
  const found = [];
  walk(e, (n) => { if (isAggregateCall(n)) { found.push(n); return false; } return true; });
  return found;
}
export function hasAggregates(q) {
  return (q.items || []).some((it) => aggregatesIn(it.e).length > 0);
}
// the name the service gives an unaliased projection: property name, index string, identifier
export function inferredName(e) {
  if (e.t === "prop") return e.name;
  if (e.t === "idx" && e.index.t === "lit" && typeof e.index.v === "string") return e.index.v;
  if (e.t === "id") return e.name;
  return null;
}
// the alias the FROM clause binds at the root (`FROM Root r` → r, `FROM c` → c, `FROM x IN c.a` → x)
export function rootAlias(q) {
  if (!q.from) return null;
  const s = q.from.src;
  if (s.alias) return s.alias;
  if (s.kind === "iter") return s.alias;
  if (s.kind === "coll") { let p = s.path; while (p.t !== "id") p = p.obj; return s.path.t === "id" ? p.name : null; }
  return null;
}
export function sourceAliases(q) {
  if (!q.from) return [];
  const out = [];
  const one = (s) => s.alias || (s.kind === "coll" && s.path.t === "id" ? s.path.name : null);
  out.push(one(q.from.src));
  for (const j of q.from.joins) out.push(one(j));
  return out;
}
