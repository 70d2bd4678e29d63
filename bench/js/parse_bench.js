// Baseline for bench/policy.sh: parse every NDJSON line's query with
// @zeit/cosmosdb-query's (PEG.js-generated) parser in one process, print queries/s.
"use strict";
const fs = require("fs");
const { parse } = require("@zeit/cosmosdb-query/lib/parser");

const input = fs.readFileSync(process.argv[2] || 0, "utf8");
const queries = input
  .split("\n")
  .filter((l) => l.trim() !== "")
  .map((l) => JSON.parse(l).query);

let ok = 0;
let failed = 0;
const start = process.hrtime.bigint();
for (const q of queries) {
  try {
    parse(q.trim());
    ok += 1;
  } catch (e) {
    failed += 1;
  }
}
const secs = Number(process.hrtime.bigint() - start) / 1e9;
const rate = queries.length / secs;
console.error(`js: ${queries.length} queries (${ok} parsed, ${failed} rejected) in ${secs.toFixed(3)} s`);
console.log(Math.round(rate));
