#!/usr/bin/env node
// Speed check for the query layer the peer runs per request (engine.mjs + aggregate.mjs +
// partitions.mjs), in process: 50,000 ~1 KB documents, EPKs computed, the documents of each of
// 3 ranges selected, then per range the rewritten GROUP BY the SDKs send, a VALUE aggregate and a
// DCount inner query, and a plain SELECT * over everything. Prints the timings; exit 1 if the
// GROUP BY work over all ranges takes longer than the budget (default 3000 ms).
import { parseSql } from "./sql.mjs";
import { runParsed } from "./aggregate.mjs";
import { run } from "./engine.mjs";
import { effectivePartitionKey, physicalRanges, epkInRange } from "./partitions.mjs";

const N = Number(process.argv[2] || 50000), BUDGET = Number(process.argv[3] || 3000);
const words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"];
const docs = [];
for (let i = 0; i < N; i++) docs.push({ id: `doc-${i}`, pk: `p${String(i % 16).padStart(2, "0")}`, seq: i, category: words[i % 10], price: (i * 7919) % 100000 / 100, qty: i % 50, payload: "x".repeat(850), _rid: `r${i}` });
const t = (label, fn) => { const s = process.hrtime.bigint(); const r = fn(); const ms = Number(process.hrtime.bigint() - s) / 1e6; console.log(`${label}: ${ms.toFixed(0)} ms`); return [r, ms]; };
const [epks] = t(`EPK of ${N} documents`, () => docs.map((d) => effectivePartitionKey([d.pk])));
const ranges = physicalRanges(3);
const ctx = { parameters: [], engine: (s, rows) => run(s, rows, { parameters: [] }) };
const groupBy = 'SELECT [{"item": c.category}] AS groupByItems, {"category": c.category, "n": {"item": COUNT(1)}, "total": {"item": SUM(c.price)}, "avg": {"item": {"sum": SUM(c.qty), "count": COUNT(c.qty)}}} AS payload FROM c GROUP BY c.category';
let gbMs = 0, groups = 0;
for (const r of ranges) {
  const part = docs.filter((d, i) => epkInRange(epks[i], r.minInclusive, r.maxExclusive));
  const [res, ms] = t(`range ${r.id} (${part.length} docs) rewritten GROUP BY`, () => runParsed(parseSql(groupBy), part, ctx));
  gbMs += ms; groups += res.length;
  t(`range ${r.id} VALUE [{"item": COUNT(1)}]`, () => runParsed(parseSql('SELECT VALUE [{"item": COUNT(1)}] FROM c'), part, ctx));
  t(`range ${r.id} DCount inner DISTINCT`, () => runParsed(parseSql("SELECT DISTINCT VALUE c.qty FROM c"), part, ctx));
}
t("GROUP BY c.id over all (50,000 groups)", () => runParsed(parseSql("SELECT c.id, COUNT(1) AS n FROM c GROUP BY c.id"), docs, ctx));
t("SELECT * over all", () => run("SELECT * FROM c", docs));
console.log(`perfcheck: rewritten GROUP BY over ${N} documents in 3 ranges: ${gbMs.toFixed(0)} ms (${groups} partial groups), budget ${BUDGET} ms`);
process.exit(gbMs <= BUDGET ? 0 : 1);
