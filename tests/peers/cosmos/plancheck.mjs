#!/usr/bin/env node
// Compares this peer's query plans (plan.mjs) with the plans recorded in the .NET SDK's
// query-plan baselines (fixtures/query-plans.ndjson, see fixtures/PROVENANCE.md).
// For every recorded case: rewrittenQuery text, every recorded queryInfo field, and the query
// ranges (recorded as partition-key values; compared after hashing them to EPK ranges the way
// this peer does, as a set). dCountInfo / hasNonStreamingOrderBy are not recorded by the
// baseline writer and are not compared.
// Also: fixtures/query-plan-errors.ndjson (cases where the baseline recorded a compile error
// or a plan the SDK then rejected) must give the same error messages / plan fields, and
// fixtures/query-plans.extra.ndjson (hybrid and vector search) is listed as skipped.
// Prints one line per mismatch or skip, then "plancheck: M matched, X mismatched, S skipped of N".
// Exit 1 when anything mismatched. --verbose prints matches too.
import { readFileSync } from "node:fs";
import { buildPlan, PlanError, FULL_RANGE } from "./plan.mjs";
import { epkRangeForValue } from "./partitions.mjs";

const here = new URL(".", import.meta.url);
const verbose = process.argv.includes("--verbose");
const read = (name) => readFileSync(new URL(`fixtures/${name}`, here), "utf8").split("\n").filter((l) => l.trim()).map((l) => ({ ...JSON.parse(l), file: name }));
const lines = [...read("query-plans.ndjson"), ...read("query-plans.extra.ndjson"), ...read("query-plan-errors.ndjson")];
// recorded errors this peer does not reproduce: it does not validate built-in function names/arity
const ERRORS_NOT_MODELLED = { SC2005: "built-in function names are not validated", SC2050: "built-in function arity is not validated" };
const recordedMessages = (err) => (err.Errors ? err.Errors : (err.errors || []).map((x) => x.message));
const peerMessages = (msg) => { try { return recordedMessages(JSON.parse(msg)); } catch { return [msg]; } };
const FIELDS = ["distinctType", "top", "offset", "limit", "orderBy", "orderByExpressions", "groupByExpressions", "groupByAliases", "aggregates", "groupByAliasToAggregateType", "rewrittenQuery", "hasSelectValue"];
// a case is skipped (not counted as a mismatch) when it needs something this peer does not model
const SKIP = [
  [/ORDER BY RANK|VectorDistance|FullTextScore/i, "hybrid/vector search plans are not modelled"],
  // (none other)
];
const canon = (v) => JSON.stringify(v, (k, x) => (x && typeof x === "object" && !Array.isArray(x) ? Object.fromEntries(Object.keys(x).sort().map((kk) => [kk, x[kk]])) : x));
function expectedRanges(rec) {
  const kind = rec.partition_key_kind === "MultiHash" ? "MultiHash" : "Hash";
  return rec.query_ranges.map((r) => {
    if (Array.isArray(r.min) && r.min.length === 0 && r.max === "Infinity") return FULL_RANGE;
    if (Array.isArray(r.min) && canon(r.min) === canon(r.max) && r.isMinInclusive && r.isMaxInclusive) return epkRangeForValue(r.min, kind, rec.partition_key_paths.length);
    return { unsupported: JSON.stringify(r) };
  });
}
let matched = 0, mismatched = 0, skipped = 0;
const skipReasons = {};
for (const rec of lines) {
  const label = `${rec.source} | ${rec.query.replace(/\s+/g, " ").trim()}`;
  const skip = SKIP.find(([re]) => re.test(rec.query));
  if (rec.outcome === "error" && !skip) {
    let got = null;
    try { buildPlan(rec.query, rec.query_parameters || [], { paths: rec.partition_key_paths, kind: rec.partition_key_kind }); }
    catch (e) { if (!(e instanceof PlanError)) throw e; got = e.message; }
    const want = typeof rec.recorded_error === "string" ? [rec.recorded_error] : recordedMessages(rec.recorded_error);
    const code = typeof rec.recorded_error === "object" && ((rec.recorded_error.errors || [])[0] || {}).code;
    if (got === null && ERRORS_NOT_MODELLED[code]) {
      skipped++; skipReasons[ERRORS_NOT_MODELLED[code]] = (skipReasons[ERRORS_NOT_MODELLED[code]] || 0) + 1;
      console.log(`SKIP ${label}: recorded error ${code}; ${ERRORS_NOT_MODELLED[code]}`);
    } else if (got !== null && JSON.stringify(peerMessages(got)) === JSON.stringify(want)) { matched++; if (verbose) console.log(`ok (error) ${label}`); }
    else { mismatched++; console.log(`MISMATCH ${label}: recorded error ${JSON.stringify(want)}, peer ${got === null ? "returned a plan" : JSON.stringify(peerMessages(got))}`); }
    continue;
  }
  if (rec.outcome === "plan-rejected-by-sdk" && !skip) {
    // the service planned it (values 2^31..2^32-1), the SDK refused: compare the recorded fields
    const want = rec.recorded_plan.queryInfo;
    let plan;
    try { plan = buildPlan(rec.query, rec.query_parameters || [], { paths: rec.partition_key_paths, kind: rec.partition_key_kind }); }
    catch (e) { mismatched++; console.log(`MISMATCH ${label}: peer error ${e.message}`); continue; }
    const diffs = Object.keys(want).filter((k) => canon(typeof want[k] === "number" && (k.startsWith("has")) ? !!want[k] : want[k]) !== canon(plan.queryInfo[k]));
    if (diffs.length) { mismatched++; console.log(`MISMATCH ${label}: ${diffs.map((k) => `${k} peer ${JSON.stringify(plan.queryInfo[k])} recorded ${JSON.stringify(want[k])}`).join("; ")}`); }
    else { matched++; if (verbose) console.log(`ok (large value) ${label}`); }
    continue;
  }
  if (skip || !rec.query_info) {
    const why = skip ? skip[1] : "no queryInfo recorded";
    skipped++; skipReasons[why] = (skipReasons[why] || 0) + 1;
    console.log(`SKIP ${label}: ${why}`);
    continue;
  }
  let plan;
  try {
    plan = buildPlan(rec.query, rec.query_parameters || [], { paths: rec.partition_key_paths, kind: rec.partition_key_kind });
  } catch (e) {
    mismatched++;
    console.log(`MISMATCH ${label}: peer error ${e instanceof PlanError ? e.message : e.stack}`);
    continue;
  }
  const diffs = [];
  for (const f of FIELDS) {
    if (canon(plan.queryInfo[f]) !== canon(rec.query_info[f])) diffs.push(`${f}: peer ${JSON.stringify(plan.queryInfo[f])} recorded ${JSON.stringify(rec.query_info[f])}`);
  }
  const exp = expectedRanges(rec);
  const set = (rs) => rs.map(canon).sort().join(",");
  if (exp.some((r) => r.unsupported)) diffs.push(`queryRanges: recorded range shape not modelled ${exp.filter((r) => r.unsupported).map((r) => r.unsupported).join(" ")}`);
  else if (set(exp) !== set(plan.queryRanges)) diffs.push(`queryRanges: peer ${JSON.stringify(plan.queryRanges)} expected ${JSON.stringify(exp)}`);
  if (diffs.length) { mismatched++; console.log(`MISMATCH ${label}\n    ${diffs.join("\n    ")}`); }
  else { matched++; if (verbose) console.log(`ok ${label}`); }
}
console.log(`plancheck: ${matched} matched, ${mismatched} mismatched, ${skipped} skipped of ${lines.length}` +
  (skipped ? ` (skipped: ${Object.entries(skipReasons).map(([k, v]) => `${v} ${k}`).join("; ")})` : ""));
process.exit(mismatched ? 1 : 0);
