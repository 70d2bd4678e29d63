// Query plans (PartitionedQueryExecutionInfo, version 2) as the Cosmos DB gateway answers them
// for `x-ms-cosmos-is-query-plan-request: True`, and the feature checks the gateway applies.
//
// The rewrite rules follow the query-plan baselines recorded in the .NET SDK repository
// (Azure/azure-cosmos-dotnet-v3, Microsoft.Azure.Cosmos/tests/Microsoft.Azure.Cosmos.Tests/
// BaselineTest/TestBaseline/QueryPlanBaselineTests.*.xml, MIT licence; the cases this peer is
// checked against are vendored in fixtures/query-plans.ndjson, see fixtures/PROVENANCE.md and
// plancheck.mjs). Shapes that no baseline records are marked "inferred" below.
import { parseSql, printExpr, printQuery, isAggregateCall, aggregatesIn, inferredName, rootAlias, AGGREGATES, walk, SqlError } from "./sql.mjs";
import { epkRangeForValue } from "./partitions.mjs";

export class PlanError extends Error {
  constructor(message, kind = "compile") { super(message); this.kind = kind; }
}

export const FEATURE_ORDER = [
  "Aggregate", "CompositeAggregate", "Distinct", "GroupBy", "MultipleAggregates", "MultipleOrderBy", "OffsetAndLimit",
  "OrderBy", "Top", "NonValueAggregate", "DCount", "NonStreamingOrderBy", "ListAndSetAggregate", "CountIf", "HybridSearch",
  "WeightedRankFusion", "HybridSearchSkipOrderByRewrite",
];
// What a client that sends no features header (or a direct query) is taken to support: the
// features of the pre-"supported features" SDKs. A direct cross-partition query that needs more
// gets the gateway's old refusal instead of substatus 1004.
export const LEGACY_FEATURES = new Set(["Aggregate", "CompositeAggregate", "Distinct", "MultipleOrderBy", "OffsetAndLimit", "OrderBy", "Top"]);
export const LEGACY_REFUSAL = "Cross partition query only supports 'VALUE <AggregateFunc>' for aggregates.";
const UNSUPPORTED_HEAD = "Query contains 1 or more unsupported features. Upgrade your SDK to a version that does support the requested features:";
const PLACEHOLDER = { t: "raw", text: "({documentdb-formattableorderbyquery-filter})" };
const MAX_UINT32 = 4294967295;

const compileError = (msg) => new PlanError(JSON.stringify({ Errors: [msg] }));
const scError = (code, msg) => new PlanError(JSON.stringify({ errors: [{ severity: "Error", code, message: msg }] }));
export const COMPOSITION = "Compositions of aggregates and other expressions are not allowed.";

export function parseFeatures(header) {
  const set = new Set();
  if (header === undefined || header === null) return set;
  for (const f of String(header).split(",")) if (f.trim()) set.add(f.trim());
  return set;
}

function countValue(v, parameters, what) {
  if (!v) return null;
  let n = v.t === "lit" ? v.v : undefined;
  if (v.t === "param") {
    const p = (parameters || []).find((x) => x.name === v.name);
    if (!p) throw new PlanError(`The parameter ${v.name} in ${what} is not defined.`);
    n = p.value;
  }
  if (!Number.isInteger(n) || n < 0) throw scError("SC1001", `Syntax error, invalid ${what} value.`);
  // the service takes values up to 2^32 - 1 (SDKs reject those above 2^31 - 1 themselves)
  if (n > MAX_UINT32) {
    if (what === "TOP") throw scError("SC2060", "The count value provided for a TOP clause must be an integer.");
    throw scError(what === "OFFSET" ? "SC2062" : "SC2061", `The ${what} count value exceeds the maximum allowed value.`);
  }
  return n;
}

// ------------------------------------------------------------------ query ranges
function pkPathOf(e, alias, paths) {
  // e is `alias.a.b` / `alias["a"]["b"]` → index of the matching partition key path
  const segs = [];
  let x = e;
  while (x.t === "prop" || (x.t === "idx" && x.index.t === "lit" && typeof x.index.v === "string")) {
    segs.unshift(x.t === "prop" ? x.name : x.index.v);
    x = x.obj;
  }
  if (x.t !== "id" || x.name !== alias || !segs.length) return -1;
  return paths.findIndex((p) => p.length === segs.length && p.every((s, i) => s === segs[i]));
}
function constValue(e, parameters) {
  if (e.t === "lit" && (e.v === null || ["string", "number", "boolean"].includes(typeof e.v))) return { ok: true, v: e.v };
  if (e.t === "param") {
    const p = (parameters || []).find((x) => x.name === e.name);
    if (p && (p.value === null || ["string", "number", "boolean"].includes(typeof p.value))) return { ok: true, v: p.value };
  }
  return { ok: false };
}
// Returns a list of alternatives (each a Map pathIndex → value), or null = unconstrained.
function constraints(e, alias, paths, parameters) {
  if (!e) return null;
  if (e.t === "bin" && e.op === "=") {
    for (const [a, b] of [[e.l, e.r], [e.r, e.l]]) {
      const i = pkPathOf(a, alias, paths);
      const c = constValue(b, parameters);
      if (i >= 0 && c.ok) return [new Map([[i, c.v]])];
    }
    return null;
  }
  if (e.t === "in" && !e.not) {
    const i = pkPathOf(e.e, alias, paths);
    if (i < 0) return null;
    const alts = [];
    for (const item of e.list) {
      const c = constValue(item, parameters);
      if (!c.ok) return null;
      alts.push(new Map([[i, c.v]]));
    }
    return alts;
  }
  if (e.t === "bin" && e.op === "AND") {
    const l = constraints(e.l, alias, paths, parameters), r = constraints(e.r, alias, paths, parameters);
    if (!l) return r;
    if (!r) return l;
    const out = [];
    for (const a of l) for (const b of r) {
      const m = new Map(a);
      let ok = true;
      for (const [k, v] of b) { if (m.has(k) && m.get(k) !== v) { ok = false; break; } m.set(k, v); }
      if (ok) out.push(m);
    }
    return out.length ? out : null; // a contradiction: keep the full range (a superset)
  }
  if (e.t === "bin" && e.op === "OR") {
    const l = constraints(e.l, alias, paths, parameters), r = constraints(e.r, alias, paths, parameters);
    return l && r ? [...l, ...r] : null;
  }
  return null;
}
export const FULL_RANGE = { min: "", max: "FF", isMinInclusive: true, isMaxInclusive: false };
export function queryRanges(q, pkDef, parameters) {
  const paths = (pkDef.paths || []).filter((p) => p !== "/_partitionKey").map((p) => p.replace(/^\//, "").split("/"));
  const kind = pkDef.kind === "MultiHash" || paths.length > 1 ? "MultiHash" : "Hash";
  if (!paths.length || !q.where) return [FULL_RANGE];
  const alts = constraints(q.where, rootAlias(q), paths, parameters);
  if (!alts) return [FULL_RANGE];
  const out = new Map();
  for (const m of alts) {
    const comps = [];
    for (let i = 0; i < paths.length && m.has(i); i++) comps.push(m.get(i));
    if (!comps.length || (kind === "Hash" && comps.length < paths.length)) return [FULL_RANGE];
    const r = epkRangeForValue(comps, kind, paths.length);
    out.set(r.min + "|" + r.max, r);
  }
  return [...out.values()].sort((a, b) => (a.min < b.min ? -1 : a.min > b.min ? 1 : 0));
}

// ------------------------------------------------------------------ rewrites
const call = (name, args) => ({ t: "call", name, udf: false, args });
const obj = (pairs) => ({ t: "obj", props: pairs.map(([k, v]) => ({ k, v })) });
// the per-partition form of one aggregate call, as the service writes it
function aggItem(c) {
  const op = c.name.toUpperCase();
  if (op === "AVG") return obj([["item", obj([["sum", call("SUM", c.args)], ["count", call("COUNT", c.args)]])]]);
  if (op === "MIN" || op === "MAX") return obj([["item", c], ["item2", obj([[op.toLowerCase(), call(op, c.args)], ["count", call("COUNT", c.args)]])]]);
  return obj([["item", c]]);
}
function checkAggregates(q) {
  for (const it of q.items) {
    const aggs = aggregatesIn(it.e);
    for (const a of aggs) for (const arg of a.args) if (aggregatesIn(arg).length) throw scError("SC2101", "Cannot perform an aggregate function on an expression containing an aggregate or a subquery.");
    if (aggs.length && !isAggregateCall(it.e)) throw compileError(COMPOSITION);
  }
}
function isDocumentPath(e) {
  while (e.t === "prop" || (e.t === "idx" && e.index.t === "lit")) e = e.obj;
  return e.t === "id";
}
// SC2102: in a GROUP BY query every non-aggregate projection must be built from GROUP BY
// expressions (a path below a grouped path counts as grouped)
function checkGroupByReferences(q) {
  const grouped = new Set(q.groupBy.map(printExpr));
  const valid = (e) => {
    if (grouped.has(printExpr(e))) return true;
    if (isAggregateCall(e)) return true;
    switch (e.t) {
      case "lit": case "param": case "sub": case "exists": case "array": case "raw": return true;
      case "id": return false;
      case "prop": return valid(e.obj);
      case "idx": return valid(e.obj) && valid(e.index);
      default: { let ok = true; walkChildren(e, (c) => { if (!valid(c)) ok = false; }); return ok; }
    }
  };
  const bad = [];
  const report = (e) => {
    if (valid(e)) return;
    if (e.t === "id" || e.t === "prop" || e.t === "idx") { bad.push(printExpr(e)); return; }
    walkChildren(e, report);
  };
  for (const it of q.items) report(it.e);
  if (bad.length) throw new PlanError(JSON.stringify({ errors: bad.map((r) => ({ severity: "Error", code: "SC2102", message: `Property reference '${r}' is invalid in the select list because it is not contained in either an aggregate function or the GROUP BY clause.` })) }));
}
function walkChildren(e, fn) {
  let first = true;
  walk(e, (n) => { if (first) { first = false; return true; } fn(n); return false; });
}
function dollarNames(items, nameOf) {
  let n = 0;
  return items.map((it) => it.alias || nameOf(it) || `$${++n}`);
}
function baseInfo(q) {
  return {
    distinctType: "None", top: null, offset: null, limit: null, orderBy: [], orderByExpressions: [], groupByExpressions: [],
    groupByAliases: [], aggregates: [], groupByAliasToAggregateType: {}, rewrittenQuery: "", hasSelectValue: !!q.value,
    dCountInfo: null, hasNonStreamingOrderBy: false,
  };
}
const strip = (q, extra = {}) => ({ ...q, top: null, offset: null, limit: null, ...extra });

// COUNT over a DISTINCT subquery: `SELECT VALUE COUNT(1) FROM (SELECT DISTINCT VALUE c.x FROM c)`.
// Inferred (no baseline records dCountInfo): the partitions run the inner DISTINCT query, the
// client de-duplicates and counts; dCountAlias "" for the VALUE form, else the item's alias.
function dcountShape(q) {
  const s = q.from && q.from.src;
  if (!s || s.kind !== "sub" || !s.q.distinct || q.from.joins.length || q.where || q.groupBy || q.orderBy || q.distinct || q.top || q.offset) return null;
  if (q.items.length !== 1 || !isAggregateCall(q.items[0].e) || q.items[0].e.name.toUpperCase() !== "COUNT") return null;
  return { inner: s.q, alias: q.value ? "" : q.items[0].alias || "$1" };
}

export function buildPlan(sql, parameters, pkDef) {
  let q;
  try { q = parseSql(sql); } catch (e) { if (e instanceof SqlError) throw new PlanError(e.message, "syntax"); throw e; }
  const info = baseInfo(q);
  const top = countValue(q.top, parameters, "TOP");
  const offset = countValue(q.offset, parameters, "OFFSET");
  const limit = countValue(q.limit, parameters, "LIMIT");

  const dc = dcountShape(q);
  if (dc) {
    info.distinctType = dc.inner.orderBy ? "Ordered" : "Unordered";
    info.dCountInfo = { dCountAlias: dc.alias };
    info.rewrittenQuery = printQuery(dc.inner);
    return finish(q, info, queryRanges(dc.inner, pkDef, parameters));
  }
  const ranges = queryRanges(q, pkDef, parameters);
  const hasAgg = q.items.some((it) => aggregatesIn(it.e).length);
  if (q.groupBy && q.star) throw scError("SC2041", "'SELECT *' is not allowed with GROUP BY.");

  if (q.groupBy) {
    checkAggregates(q);
    checkGroupByReferences(q);
    info.top = top; info.offset = offset; info.limit = limit;
    info.groupByExpressions = q.groupBy.map(printExpr);
    const groupByItems = { t: "arr", items: q.groupBy.map((g) => obj([["item", g]])) };
    let payload;
    if (q.value) {
      const e = q.items[0].e;
      if (isAggregateCall(e)) { payload = { t: "arr", items: [aggItem(e)] }; info.aggregates = [AGGREGATES[e.name.toUpperCase()]]; }
      else payload = e;
    } else {
      const names = dollarNames(q.items, (it) => inferredName(it.e));
      payload = obj(q.items.map((it, i) => [names[i], isAggregateCall(it.e) ? aggItem(it.e) : it.e]));
      info.groupByAliases = names;
      for (let i = 0; i < names.length; i++) info.groupByAliasToAggregateType[names[i]] = isAggregateCall(q.items[i].e) ? AGGREGATES[q.items[i].e.name.toUpperCase()] : null;
    }
    const rq = strip(q, { distinct: false, value: false, star: false, items: [{ e: groupByItems, alias: "groupByItems" }, { e: payload, alias: "payload" }] });
    info.rewrittenQuery = printQuery(rq);
    return finish(q, info, ranges);
  }

  if (hasAgg) {
    checkAggregates(q);
    info.top = top; info.offset = offset; info.limit = limit;
    if (q.value) {
      const e = q.items[0].e;
      info.aggregates = [AGGREGATES[e.name.toUpperCase()]];
      info.rewrittenQuery = printQuery(strip(q, { distinct: false, items: [{ e: { t: "arr", items: [aggItem(e)] }, alias: null }] }));
    } else {
      for (const it of q.items) {
        if (!isAggregateCall(it.e)) {
          let ref = null;
          walk(it.e, (n) => { if (!ref && (n.t === "prop" || n.t === "id")) ref = printExpr(n); return true; });
          throw scError("SC2102", `Property reference '${ref || printExpr(it.e)}' is invalid in the select list because it is not contained in either an aggregate function or the GROUP BY clause.`);
        }
      }
      const names = dollarNames(q.items, () => null);
      info.groupByAliases = names;
      q.items.forEach((it, i) => { info.groupByAliasToAggregateType[names[i]] = AGGREGATES[it.e.name.toUpperCase()]; });
      const payload = obj(q.items.map((it, i) => [names[i], aggItem(it.e)]));
      info.rewrittenQuery = printQuery(strip(q, { distinct: false, items: [{ e: payload, alias: "payload" }] }));
    }
    return finish(q, info, ranges);
  }

  if (q.orderBy) {
    for (const o of q.orderBy) if (!isDocumentPath(o.e)) throw new PlanError(JSON.stringify({ errors: [{ severity: "Error", code: 2206, message: "Unsupported ORDER BY clause. ORDER BY item expression could not be mapped to a document path." }] }));
    const alias = rootAlias(q) || "root";
    info.top = top; info.offset = offset; info.limit = limit;
    if (q.distinct) info.distinctType = "Ordered";
    info.orderBy = q.orderBy.map((o) => (o.dir === "DESC" ? "Descending" : "Ascending"));
    info.orderByExpressions = q.orderBy.map((o) => printExpr(o.e));
    let payload;
    if (q.star) payload = { t: "id", name: alias };
    else if (q.value) payload = q.items[0].e;
    else {
      const names = dollarNames(q.items, (it) => inferredName(it.e));
      payload = obj(q.items.map((it, i) => [names[i], it.e]));
    }
    let where = q.where ? { t: "bin", op: "AND", l: q.where, r: PLACEHOLDER } : PLACEHOLDER;
    if (q.value) where = { t: "bin", op: "AND", l: where, r: call("IS_DEFINED", [q.items[0].e]) };
    const rq = {
      ...q, distinct: false, value: false, star: false, where,
      items: [
        { e: { t: "prop", obj: { t: "id", name: alias }, name: "_rid" }, alias: null },
        { e: { t: "arr", items: q.orderBy.map((o) => obj([["item", o.e]])) }, alias: "orderByItems" },
        { e: payload, alias: "payload" },
      ],
      // inferred: OFFSET/LIMIT with ORDER BY becomes OFFSET 0 LIMIT offset+limit, as without ORDER BY
      offset: offset !== null ? { t: "lit", v: 0 } : null, limit: offset !== null ? { t: "lit", v: offset + limit } : null,
      top: top !== null ? { t: "lit", v: top } : null,
    };
    info.rewrittenQuery = printQuery(rq);
    return finish(q, info, ranges);
  }

  if (q.distinct) {
    info.distinctType = "Unordered";
    info.top = top; info.offset = offset; info.limit = limit;
    if (top !== null || offset !== null) info.rewrittenQuery = printQuery(strip(q));
    return finish(q, info, ranges);
  }
  if (offset !== null) {
    const single = ranges.length === 1 && ranges[0].isMaxInclusive && ranges[0].min === ranges[0].max;
    if (!single) {
      info.offset = offset; info.limit = limit;
      info.rewrittenQuery = printQuery({ ...q, top: null, offset: { t: "lit", v: 0 }, limit: { t: "lit", v: offset + limit } });
    }
    return finish(q, info, ranges);
  }
  if (top !== null) info.top = top;
  return finish(q, info, ranges);
}

function finish(q, info, ranges) {
  return { partitionedQueryExecutionInfoVersion: 2, queryInfo: info, queryRanges: ranges, hybridSearchQueryInfo: null };
}

// the features a plan needs from the client (the gateway's check, in the SDK's enum order)
export function neededFeatures(plan) {
  const qi = plan.queryInfo;
  const need = new Set();
  const aliasAggs = Object.values(qi.groupByAliasToAggregateType || {}).filter((v) => v);
  const allAggs = [...(qi.aggregates || []), ...aliasAggs];
  if (allAggs.length) {
    const single = (qi.aggregates || []).length === 1 || aliasAggs.length === 1;
    if (single) need.add(qi.hasSelectValue ? "Aggregate" : "NonValueAggregate");
    else { need.add("NonValueAggregate"); need.add("MultipleAggregates"); }
    if (allAggs.some((a) => a === "MakeList" || a === "MakeSet")) need.add("ListAndSetAggregate");
    if (allAggs.includes("CountIf")) need.add("CountIf");
  }
  if (qi.distinctType !== "None") need.add("Distinct");
  if ((qi.groupByExpressions || []).length) need.add("GroupBy");
  if (qi.offset !== null || qi.limit !== null) need.add("OffsetAndLimit");
  if ((qi.orderBy || []).length) need.add(qi.orderByExpressions.length > 1 ? "MultipleOrderBy" : "OrderBy");
  if (qi.top !== null) need.add("Top");
  if (qi.dCountInfo) need.add("DCount");
  return FEATURE_ORDER.filter((f) => need.has(f));
}
export function unsupportedMessage(missing) {
  return [UNSUPPORTED_HEAD, ...missing.map((f) => `Query contained ${f}, which the calling client does not support.`)].join("\r\n");
}
