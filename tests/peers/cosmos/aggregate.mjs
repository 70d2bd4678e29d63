// Aggregates, GROUP BY and FROM-subqueries for the test peer, as a layer over the
// @zeit/cosmosdb-query engine (which cannot nest aggregates in constructors, has no GROUP BY and
// no DISTINCT in subqueries). How it works:
//   1. one engine pass per query extracts, for every row of FROM/JOIN/WHERE, an object with the
//      GROUP BY values (g0…), the argument of every aggregate (a0…) and every aggregate-free
//      part of the SELECT list that reads the row (x0…);
//   2. rows are grouped in JS and the aggregates are folded with Cosmos semantics;
//   3. one more engine pass evaluates the SELECT list over one wrapper per group, in which each
//      aggregate call is replaced by the group's result and each row-reading part by its value
//      in the group's first row (valid GROUP BY queries only reference grouped values).
// Cosmos semantics implemented here: undefined arguments are skipped; COUNT counts defined
// values; SUM/AVG are undefined as soon as one defined value is not a number; MIN/MAX use the
// type order null < false < true < numbers < strings and are undefined if any value is an object
// or array; without GROUP BY an aggregate over zero rows still gives one row (COUNT 0, SUM 0,
// MIN/MAX/AVG undefined — which SELECT VALUE omits); GROUP BY over zero rows gives no rows.
import { printQuery, mapExpr, walk, isAggregateCall, aggregatesIn, sourceAliases, inferredName, SqlError } from "./sql.mjs";

export class ExecError extends Error {}

const typeRank = (v) => (v === null ? 1 : v === false ? 2 : v === true ? 3 : typeof v === "number" ? 4 : 5);
export function cosmosCompare(a, b) {
  const ra = typeRank(a), rb = typeRank(b);
  if (ra !== rb) return ra - rb;
  if (ra === 4 || ra === 5) return a < b ? -1 : a > b ? 1 : 0;
  return 0;
}
export function canonical(v) {
  if (v === undefined) return "\u0000u";
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v && typeof v === "object") return `{${Object.keys(v).filter((k) => v[k] !== undefined).sort().map((k) => JSON.stringify(k) + ":" + canonical(v[k])).join(",")}}`;
  return JSON.stringify(v);
}
const isComplex = (v) => v !== null && typeof v === "object";

function accumulator(op) {
  switch (op) {
    case "COUNT": { let n = 0; return { add(v) { if (v !== undefined) n++; }, get: () => n }; }
    case "COUNTIF": { let n = 0; return { add(v) { if (v === true) n++; }, get: () => n }; }
    case "SUM": {
      let s = 0, bad = false;
      return { add(v) { if (v === undefined) return; if (typeof v !== "number") bad = true; else s += v; }, get: () => (bad ? undefined : s) };
    }
    case "AVG": {
      let s = 0, n = 0, bad = false;
      return { add(v) { if (v === undefined) return; if (typeof v !== "number") bad = true; else { s += v; n++; } }, get: () => (bad || n === 0 ? undefined : s / n) };
    }
    case "MIN": case "MAX": {
      let best, bad = false;
      const sign = op === "MIN" ? -1 : 1;
      return {
        add(v) {
          if (v === undefined) return;
          if (isComplex(v)) { bad = true; return; }
          if (best === undefined || Math.sign(cosmosCompare(v, best)) === sign) best = v;
        },
        get: () => (bad ? undefined : best),
      };
    }
    case "MAKELIST": { const l = []; return { add(v) { if (v !== undefined) l.push(v); }, get: () => l }; }
    case "MAKESET": {
      const seen = new Map();
      return { add(v) { if (v === undefined) return; const k = canonical(v); if (!seen.has(k)) seen.set(k, v); }, get: () => [...seen.values()] };
    }
    default: throw new ExecError(`Unsupported aggregate ${op}.`);
  }
}

// drop undefined array elements (the service omits them) and undefined properties
function clean(v) {
  if (Array.isArray(v)) return v.filter((x) => x !== undefined).map(clean);
  if (v && typeof v === "object") { const o = {}; for (const k of Object.keys(v)) if (v[k] !== undefined) o[k] = clean(v[k]); return o; }
  return v;
}
function countOf(v, parameters) {
  if (!v) return null;
  if (v.t === "lit") return v.v;
  const p = (parameters || []).find((x) => x.name === v.name);
  if (!p || !Number.isInteger(p.value) || p.value < 0) throw new ExecError(`Invalid value for ${v.name}.`);
  return p.value;
}
function dedupe(rows) {
  const seen = new Set();
  return rows.filter((r) => { const k = canonical(r); if (seen.has(k)) return false; seen.add(k); return true; });
}

const NOT_SIMPLE = new Error("not simple");
function evalSimple(e, w, parameters) {
  switch (e.t) {
    case "lit": return e.v;
    case "param": { const p = (parameters || []).find((x) => x.name === e.name); return p ? p.value : undefined; }
    case "obj": { const o = {}; for (const p of e.props) { const v = evalSimple(p.v, w, parameters); if (v !== undefined) o[p.k] = v; } return o; }
    case "arr": return e.items.map((x) => evalSimple(x, w, parameters)).filter((v) => v !== undefined);
    case "idx":
      if (e.obj.t === "prop" && e.obj.obj.t === "id" && e.obj.obj.name === "__peer_grp" && e.index.t === "lit") return w[e.obj.name][e.index.v];
      throw NOT_SIMPLE;
    default: throw NOT_SIMPLE;
  }
}
export function needsLayer(q) {
  return !!(q.groupBy || (q.from && q.from.src.kind === "sub") || q.items.some((it) => aggregatesIn(it.e).length));
}

// ctx: { engine(sqlText, rows) → results, parameters }
export function runParsed(q, rows, ctx) {
  if (q.from && q.from.src.kind === "sub") {
    const inner = runParsed(q.from.src.q, rows, ctx);
    const alias = q.from.src.alias || "__peer_sub";
    q = { ...q, from: { src: { kind: "coll", path: { t: "id", name: alias }, alias: null }, joins: q.from.joins } };
    rows = inner;
  }
  if (!q.groupBy && !q.items.some((it) => aggregatesIn(it.e).length)) return runPlain(q, rows, ctx);
  return runAggregate(q, rows, ctx);
}

function runPlain(q, rows, ctx) {
  const top = countOf(q.top, ctx.parameters);
  const eq = { ...q, distinct: false, offset: null, limit: null, top: q.distinct ? null : q.top };
  let res = ctx.engine(printQuery(eq), rows);
  if (q.distinct) { res = dedupe(res); if (top !== null) res = res.slice(0, top); }
  if (q.offset) { const o = countOf(q.offset, ctx.parameters), l = countOf(q.limit, ctx.parameters); res = res.slice(o, o + l); }
  return res;
}

function runAggregate(q, rows, ctx) {
  if (q.star) throw new ExecError("'SELECT *' is not allowed with GROUP BY.");
  if (q.groupBy && q.orderBy) throw new ExecError("ORDER BY together with GROUP BY is not supported by this local test peer.");
  const aliases = sourceAliases(q);
  if (aliases.some((a) => !a)) throw new ExecError("This local test peer needs an alias for every FROM/JOIN source of an aggregate query.");
  // aggregate calls by identity, in select-list order
  const aggs = [];
  for (const it of q.items) for (const a of aggregatesIn(it.e)) {
    for (const arg of a.args) if (aggregatesIn(arg).length) throw new ExecError("Cannot perform an aggregate function on an expression containing an aggregate or a subquery.");
    if (a.args.length !== 1) throw new ExecError(`The ${a.name.toUpperCase()} function requires 1 argument(s).`);
    aggs.push(a);
  }
  const groups = q.groupBy || [];
  // The select list's maximal aggregate-free sub-expressions that read the row (x0, x1, …) are
  // evaluated in the extraction pass too; the projection takes them from the group's first row.
  const aliasSet = new Set(aliases);
  const readsRow = (e) => { let hit = false; walk(e, (n) => { if (n.t === "id" && aliasSet.has(n.name)) hit = true; return !hit; }); return hit; };
  const rowExprs = [];
  const W = "__peer_grp";
  const slot = (name, i) => ({ t: "idx", obj: { t: "prop", obj: { t: "id", name: W }, name }, index: { t: "lit", v: i } });
  const repl = (e) => {
    if (isAggregateCall(e)) return slot("a", aggs.indexOf(e));
    if (!aggregatesIn(e).length && readsRow(e)) { rowExprs.push(e); return slot("x", rowExprs.length - 1); }
    return undefined;
  };
  // non-VALUE select lists become one object: explicit alias, else the property name, else $1, $2…
  let n = 0;
  const value = q.value
    ? mapExpr(q.items[0].e, repl)
    : { t: "obj", props: q.items.map((it) => ({ k: it.alias || inferredName(it.e) || `$${++n}`, v: mapExpr(it.e, repl) })) };
  // 1. extraction pass
  const props = [];
  groups.forEach((g, i) => props.push({ k: `g${i}`, v: g }));
  aggs.forEach((a, i) => props.push({ k: `a${i}`, v: a.args[0] }));
  rowExprs.forEach((e, i) => props.push({ k: `x${i}`, v: e }));
  const ext = { distinct: false, top: null, value: true, star: false, items: [{ e: { t: "obj", props }, alias: null }], from: q.from, where: q.where, groupBy: null, orderBy: null, offset: null, limit: null };
  const extracted = ctx.engine(printQuery(ext), rows);
  // 2. grouping and folding
  const ops = aggs.map((a) => a.name.toUpperCase());
  const byKey = new Map();
  const order = [];
  for (const r of extracted) {
    let key = "";
    for (let i = 0; i < groups.length; i++) key += canonical(r[`g${i}`]) + "\u0001";
    let g = byKey.get(key);
    if (!g) { g = { rep: r, acc: ops.map(accumulator) }; byKey.set(key, g); order.push(g); }
    for (let i = 0; i < aggs.length; i++) g.acc[i].add(r[`a${i}`]);
  }
  if (!groups.length && !order.length) order.push({ rep: {}, acc: ops.map(accumulator) });
  // 3. projection pass over one wrapper per group
  const wrappers = order.map((g) => ({ a: g.acc.map((x) => x.get()), x: rowExprs.map((_, i) => g.rep[`x${i}`]) }));
  const proj = {
    distinct: false, top: null, value: true, star: false, items: [{ e: value, alias: null }],
    from: { src: { kind: "coll", path: { t: "id", name: W }, alias: null }, joins: [] }, where: null, groupBy: null, orderBy: null, offset: null, limit: null,
  };
  // constructors, literals and slots are evaluated here (compiling such a projection in the engine
  // costs far more than running it); anything else (e.g. COUNT(1) + 1) goes through the engine
  let res;
  try { res = wrappers.map((w) => evalSimple(value, w, ctx.parameters)); }
  catch (e) { if (e !== NOT_SIMPLE) throw e; res = ctx.engine(printQuery(proj), wrappers); }
  res = res.filter((v) => v !== undefined).map(clean);
  if (q.distinct) res = dedupe(res);
  const top = countOf(q.top, ctx.parameters);
  if (top !== null) res = res.slice(0, top);
  if (q.offset) { const o = countOf(q.offset, ctx.parameters), l = countOf(q.limit, ctx.parameters); res = res.slice(o, o + l); }
  return res;
}
export { SqlError };
