// Access to the @zeit/cosmosdb-query engine (used by @vercel/cosmosdb-server) with two
// performance fixes, applied without touching node_modules:
//   * the compiled JS builds its row lists with `arr.reduce(($, x) => [...$, …], [])`, which
//     copies the accumulator on every row (quadratic: ~45 s for 50,000 documents). The compiled
//     babel AST is rewritten so such reducers push into the fresh accumulator instead;
//   * helpers.stripUndefined (run over every result array) uses the same pattern; it is
//     replaced by a linear version with the same output.
// Compiled queries are cached by text.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const libRequire = createRequire(require.resolve("@vercel/cosmosdb-server/package.json"));
const queryRequire = createRequire(libRequire.resolve("@zeit/cosmosdb-query/package.json"));
const cosmosQuery = queryRequire("./lib/index.js");
const transformer = queryRequire("./lib/transformer.js").default;
const helpers = queryRequire("./lib/helpers.js");
const generate = queryRequire("@babel/generator").default;

export const parseQuery = cosmosQuery.default;
export const QuerySyntaxError = cosmosQuery.SyntaxError;

function stripUndefined(v) {
  if (Array.isArray(v)) { const out = []; for (const x of v) if (typeof x !== "undefined") out.push(stripUndefined(x)); return out; }
  if (v && typeof v === "object") { const o = {}; for (const k of Object.keys(v)) if (typeof v[k] !== "undefined") o[k] = stripUndefined(v[k]); return o; }
  return v;
}
helpers.stripUndefined = stripUndefined;

// ($, x) => … [...$, a, b] …   (inside .reduce(fn, []))   →   … ($.push(a, b), $) …
function fixReducers(node) {
  if (!node || typeof node !== "object") return;
  if (Array.isArray(node)) { node.forEach(fixReducers); return; }
  if (node.type === "CallExpression" && node.callee && node.callee.type === "MemberExpression" && node.callee.property && node.callee.property.name === "reduce"
    && node.arguments.length === 2 && node.arguments[1].type === "ArrayExpression" && node.arguments[1].elements.length === 0
    && node.arguments[0].type === "ArrowFunctionExpression" && node.arguments[0].params[0] && node.arguments[0].params[0].type === "Identifier") {
    const acc = node.arguments[0].params[0].name;
    const rewrite = (n) => {
      if (!n || typeof n !== "object") return n;
      if (Array.isArray(n)) return n.map(rewrite);
      if (n.type === "ArrowFunctionExpression" || n.type === "FunctionExpression") return n; // inner scopes keep their own code
      if (n.type === "ArrayExpression" && n.elements.length && n.elements[0] && n.elements[0].type === "SpreadElement"
        && n.elements[0].argument.type === "Identifier" && n.elements[0].argument.name === acc) {
        return {
          type: "SequenceExpression",
          expressions: [
            { type: "CallExpression", callee: { type: "MemberExpression", object: { type: "Identifier", name: acc }, property: { type: "Identifier", name: "push" }, computed: false }, arguments: n.elements.slice(1).map(rewrite) },
            { type: "Identifier", name: acc },
          ],
        };
      }
      for (const k of Object.keys(n)) if (k !== "loc" && n[k] && typeof n[k] === "object") n[k] = rewrite(n[k]);
      return n;
    };
    node.arguments[0].body = rewrite(node.arguments[0].body);
  }
  for (const k of Object.keys(node)) if (k !== "loc" && node[k] && typeof node[k] === "object") fixReducers(node[k]);
}

const cache = new Map();
export function compile(sql) {
  let q = cache.get(sql);
  if (q) { cache.delete(sql); cache.set(sql, q); return q; }
  q = parseQuery(sql);
  const jsAst = transformer(q.ast);
  fixReducers(jsAst);
  q._code = generate(jsAst).code;
  cache.set(sql, q);
  while (cache.size > 500) cache.delete(cache.keys().next().value);
  return q;
}
// run a query text over rows → result array
export function run(sql, rows, { parameters, udf, compositeIndexes } = {}) {
  return compile(sql).exec(rows, { parameters, udf, compositeIndexes }).result;
}
