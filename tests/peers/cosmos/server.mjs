#!/usr/bin/env node
// Local Azure Cosmos DB test peer: a compatibility wrapper around the npm package
// @vercel/cosmosdb-server (1.0.x). The package's Account/route/handler modules are used
// in-process; this file owns the HTTPS listener, authorization, fault injection, and the
// handlers that fix the package's known gaps (see README.md). Physical partitions and EPK
// hashing: partitions.mjs; query plans: plan.mjs (+ sql.mjs); aggregates / GROUP BY:
// aggregate.mjs; the query engine with its performance fixes: engine.mjs.
// Listens on 127.0.0.1 only and never opens outbound connections except to --jwks-uri.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import https from "node:https";
import crypto from "node:crypto";
import { Readable } from "node:stream";
import * as jose from "jose";

const require = createRequire(import.meta.url);
const libRequire = createRequire(require.resolve("@vercel/cosmosdb-server/package.json"));
const Account = libRequire("./lib/account").default;
const routes = libRequire("./lib/routes").default;
const docOps = libRequire("./lib/handler/_document-operations");
import { parseQuery, QuerySyntaxError, run as runEngine } from "./engine.mjs";
import { effectivePartitionKey, physicalRanges, epkInRange } from "./partitions.mjs";
import { buildPlan, PlanError, neededFeatures, parseFeatures, unsupportedMessage, LEGACY_FEATURES, LEGACY_REFUSAL, FULL_RANGE } from "./plan.mjs";
import { parseSql } from "./sql.mjs";
import { needsLayer, runParsed, ExecError } from "./aggregate.mjs";

const EMULATOR_KEY =
  "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==";
const LOCAL_AUTH_DISABLED = "Local Authorization is disabled. Use an AAD token to authorize all requests.";
const GATEWAY_1004 =
  "The provided cross partition query can not be directly served by the gateway. This is a first chance (internal) exception that all newer clients will know how to handle gracefully. This exception is traced, but unless you see it bubble up as an exception (which only happens on older SDK clients), then you can safely ignore this message.";
const CROSS_PARTITION_DISABLED =
  "Cross partition query is required but disabled. Please set x-ms-documentdb-query-enablecrosspartition to true, specify x-ms-documentdb-partitionkey, or revise your query to avoid this exception.";
const DEFAULT_PAGE = 100;
const CLOCK_SKEW_S = 15 * 60;

// ---------------------------------------------------------------- arguments
function usage(msg) {
  if (msg) process.stderr.write(`server.mjs: ${msg}\n`);
  process.stderr.write(
    "usage: node server.mjs [--port N] --cert CERT.pem --key KEY.pem [--master-key BASE64]\n" +
      "         [--jwks-uri URL | --jwks-file FILE] [--audience AUD[,AUD…]] [--issuer ISS]\n" +
      "         [--deny-local-auth] [--physical-partitions N] [--require-cross-partition-header]\n" +
      "         [--verbose]\n",
  );
  process.exit(2);
}
const opts = { port: 0, masterKey: EMULATOR_KEY, denyLocalAuth: false, physicalPartitions: 3, requireCrossPartitionHeader: false, verbose: false };
{
  const a = process.argv.slice(2);
  const need = (i) => (i + 1 < a.length ? a[i + 1] : usage(`${a[i]} needs a value`));
  for (let i = 0; i < a.length; i++) {
    switch (a[i]) {
      case "--port": opts.port = parseInt(need(i), 10); i++; break;
      case "--cert": opts.cert = need(i); i++; break;
      case "--key": opts.key = need(i); i++; break;
      case "--master-key": opts.masterKey = need(i); i++; break;
      case "--jwks-uri": opts.jwksUri = need(i); i++; break;
      case "--jwks-file": opts.jwksFile = need(i); i++; break;
      case "--audience": opts.audience = need(i).split(",").filter(Boolean); i++; break;
      case "--issuer": opts.issuer = need(i); i++; break;
      case "--deny-local-auth": opts.denyLocalAuth = true; break;
      case "--physical-partitions": opts.physicalPartitions = parseInt(need(i), 10); i++; break;
      case "--require-cross-partition-header": opts.requireCrossPartitionHeader = true; break;
      case "--verbose": opts.verbose = true; break;
      case "-h": case "--help": usage(); break;
      default: usage(`unknown argument ${a[i]}`);
    }
  }
  if (!opts.cert || !opts.key) usage("--cert and --key are required");
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) usage("bad --port");
  if (!Number.isInteger(opts.physicalPartitions) || opts.physicalPartitions < 1 || opts.physicalPartitions > 64) usage("--physical-partitions must be 1..64");
}
const masterKeyBytes = Buffer.from(opts.masterKey, "base64");
let jwks = null;
if (opts.jwksFile) jwks = jose.createLocalJWKSet(JSON.parse(readFileSync(opts.jwksFile, "utf8")));
else if (opts.jwksUri) {
  const u = new URL(opts.jwksUri);
  if (!["127.0.0.1", "localhost", "[::1]"].includes(u.hostname)) usage("--jwks-uri must point at a loopback address");
  jwks = jose.createRemoteJWKSet(u, { cooldownDuration: 0 });
}
const log = (...m) => { if (opts.verbose) process.stderr.write(m.join(" ") + "\n"); };

// ---------------------------------------------------------------- state
let account = null; // created once the port is known
let endpoint = null;
const stats = { total: 0, by_method_resource: {}, queries: 0, query_plans: 0, batches: 0, auth_failures: 0, faults_applied: 0 };
const recent = []; // last 200 data-plane requests
let faults = [];
// Data-plane RBAC (POST /__admin/rbac): principal (token `oid`, else `sub`) → [{role, scope}].
// null: not modelled, every verified token may do everything (the default).
let rbac = null;
const queryCache = new Map(); // cacheId -> {hash, results}; small LRU

// ---------------------------------------------------------------- helpers
const STATUS_CODES = { 400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 408: "RequestTimeout", 409: "Conflict", 410: "Gone", 412: "PreconditionFailed", 413: "RequestEntityTooLarge", 429: "TooManyRequests", 449: "RetryWith", 500: "InternalServerError", 503: "ServiceUnavailable" };
const NOT_FOUND_MSG = "Entity with the specified id does not exist in the system.";
class HttpError extends Error {
  constructor(status, message, headers = {}, extra = null) { super(message); this.status = status; this.headers = headers; this.extra = extra; }
}

function splitPath(pathname) {
  let p = pathname.replace(/^\/+/, "").replace(/\/+$/, "");
  const segs = p === "" ? [] : p.split("/");
  return segs;
}
// Cosmos REST resource type / link for signing (per the REST "access control" spec).
function resourceOf(segs) {
  if (segs.length === 0) return { type: "", link: "" };
  if (segs.length % 2 === 1) return { type: segs[segs.length - 1], link: segs.slice(0, -1).join("/") };
  return { type: segs[segs.length - 2], link: segs.join("/") };
}
function safeDecode(s) { try { return decodeURIComponent(s); } catch { return s; } }
function getValue(pathSegs, obj) {
  let v = obj;
  for (const k of pathSegs) { if (v === null || typeof v !== "object") return undefined; v = v[k]; }
  return v;
}
function canonical(v) {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v && typeof v === "object") return `{${Object.keys(v).sort().map((k) => JSON.stringify(k) + ":" + canonical(v[k])).join(",")}}`;
  return JSON.stringify(v === undefined ? null : v);
}
function trueHeader(req, name) { return String(req.headers[name] || "").toLowerCase() === "true"; }
function collectionDef(dbId, collId) {
  const db = account.database(dbId);
  if (!db.read()) return { db: null, coll: null };
  const coll = db.collection(collId);
  return { db, coll: coll.read() ? coll : null };
}
function pkPaths(coll) {
  const def = coll.read() || {};
  const paths = ((def.partitionKey || {}).paths || []).filter((p) => p !== "/_partitionKey");
  return paths.map((p) => p.slice(1).split("/"));
}
function pkDefOf(coll) {
  const pk = (coll.read() || {}).partitionKey || {};
  const paths = (pk.paths || []).filter((p) => p !== "/_partitionKey");
  return { paths, kind: pk.kind === "MultiHash" || paths.length > 1 ? "MultiHash" : "Hash" };
}
// ---------------------------------------------------------------- physical partitions
// Every container has opts.physicalPartitions ranges over the EPK space (partitions.mjs);
// a document lives in the range that holds the EPK of its partition-key value.
const PK_RANGES = physicalRanges(opts.physicalPartitions);
const epkCache = new WeakMap(); // stored document object → EPK
function docEpk(coll, doc) {
  let e = epkCache.get(doc);
  if (e === undefined) {
    const { paths, kind } = pkDefOf(coll);
    const comps = paths.map((p) => getValue(p.slice(1).split("/"), doc));
    try { e = effectivePartitionKey(comps, kind); }
    catch { e = effectivePartitionKey(comps.map(() => undefined), kind); } // object/array values: not valid keys
    epkCache.set(doc, e);
  }
  return e;
}
function allDocs(coll) { return [...coll.documents._data.values()].map((it) => it.read()); }
function rangeIdHeader(req) {
  let h = req.headers["x-ms-documentdb-partitionkeyrangeid"];
  if (Array.isArray(h)) h = h[0];
  if (h === undefined || h === "") return null;
  h = String(h);
  return h.includes(",") ? h.slice(h.lastIndexOf(",") + 1) : h; // "<collection rid>,<id>" form too
}
// Which documents a query / read feed sees: the pk header's logical partition, the pkrange-id
// header's range (∩ x-ms-start-epk / x-ms-end-epk), both, or (neither) the whole container.
function targetDocs(req, coll) {
  const pkVals = headerPk(req);
  const paths = pkPaths(coll);
  let docs = allDocs(coll);
  const scope = [];
  if (pkVals) { docs = docs.filter((d) => docMatchesPk(d, paths, pkVals)); scope.push("pk", canonical(pkVals)); }
  const rangeId = rangeIdHeader(req);
  const startEpk = req.headers["x-ms-start-epk"], endEpk = req.headers["x-ms-end-epk"];
  if (rangeId !== null || startEpk !== undefined || endEpk !== undefined) {
    let min = "", max = "FF";
    if (rangeId !== null) {
      const r = PK_RANGES.find((x) => x.id === rangeId);
      if (!r) throw new HttpError(410, `PartitionKeyRangeId ${rangeId} is gone: this container has no partition key range with that id (it may have been split).`, { "x-ms-substatus": "1002" });
      min = r.minInclusive; max = r.maxExclusive;
    }
    if (startEpk !== undefined && String(startEpk) > min) min = String(startEpk);
    if (endEpk !== undefined && endEpk !== "" && String(endEpk) < max) max = String(endEpk);
    docs = docs.filter((d) => epkInRange(docEpk(coll, d), min, max));
    scope.push("epk", min, max);
  }
  return { docs, scope: JSON.stringify(scope), pkVals, rangeId, crossPartition: !pkVals && !scope.includes("epk") };
}
// Parse x-ms-documentdb-partitionkey → array of component values, or null if absent.
// [{}] means "None" (documents without the property) → [undefined].
function headerPk(req) {
  let h = req.headers["x-ms-documentdb-partitionkey"];
  if (Array.isArray(h)) h = h[0];
  if (h === undefined || h === "") return null;
  let v;
  try { v = JSON.parse(h); } catch { throw new HttpError(400, `The partition key header value '${h}' is not valid JSON.`); }
  if (!Array.isArray(v)) v = [v];
  return v.map((x) => (x && typeof x === "object" && !Array.isArray(x) && Object.keys(x).length === 0 ? undefined : x));
}
function docMatchesPk(doc, paths, pkVals) {
  if (paths.length === 0) return true;
  for (let i = 0; i < paths.length; i++) {
    if (i >= pkVals.length) break; // prefix (hierarchical) partition keys
    const dv = getValue(paths[i], doc);
    if (canonical(dv) !== canonical(pkVals[i]) && !(dv === undefined && pkVals[i] === undefined)) return false;
  }
  return true;
}
// The server library stores documents keyed by the *string* partition value (first path).
function libPartitionHeader(pkVals) {
  return JSON.stringify(pkVals.map((v) => (v === undefined ? {} : v)));
}
async function readBody(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return Buffer.concat(chunks);
}
function jsonBody(buf) {
  if (!buf.length) throw new HttpError(400, "The request body is empty.");
  try { return JSON.parse(buf.toString("utf8")); } catch { throw new HttpError(400, "The request payload is invalid JSON."); }
}

// ---------------------------------------------------------------- authorization
async function authorize(req, segs) {
  const raw = req.headers["authorization"];
  if (!raw) throw new HttpError(401, "Required Header authorization is missing. Ensure a valid Authorization token is passed.");
  const decoded = safeDecode(Array.isArray(raw) ? raw[0] : raw);
  const parts = {};
  for (const kv of decoded.split("&")) {
    const i = kv.indexOf("=");
    if (i > 0) parts[kv.slice(0, i).trim().toLowerCase()] = kv.slice(i + 1);
  }
  const type = (parts.type || "").toLowerCase();
  if (type === "master") {
    if (opts.denyLocalAuth) throw new HttpError(401, LOCAL_AUTH_DISABLED);
    if (parts.ver !== "1.0") throw new HttpError(401, "The authorization token version is not supported.");
    const date = req.headers["x-ms-date"] || req.headers["date"];
    if (!date) throw new HttpError(401, "The request date is missing (x-ms-date or date header).");
    const t = Date.parse(date);
    if (Number.isNaN(t) || Math.abs(Date.now() - t) > CLOCK_SKEW_S * 1000)
      throw new HttpError(401, `The authorization token is not valid at the current time. Request date: ${date}`);
    const { type: rtype, link } = resourceOf(segs);
    const verb = req.method.toLowerCase();
    const links = new Set([link, segs.map(safeDecode).join("/") === "" ? "" : resourceOf(segs.map(safeDecode)).link]);
    const given = Buffer.from(parts.sig || "", "base64");
    for (const l of links) {
      const text = `${verb}\n${rtype.toLowerCase()}\n${l}\n${String(date).toLowerCase()}\n\n`;
      const sig = crypto.createHmac("sha256", masterKeyBytes).update(text, "utf8").digest();
      if (given.length === sig.length && crypto.timingSafeEqual(given, sig)) return { kind: "master" };
    }
    throw new HttpError(
      401,
      `The input authorization token can't serve the request. The wrong key is being used or the expected payload is not built as per the protocol. For more info: https://aka.ms/cosmosdb-tsg-mac-signature. Server used the following payload to sign: '${verb}\n${rtype.toLowerCase()}\n${link}\n${String(date).toLowerCase()}\n\n'`,
    );
  }
  if (type === "aad") {
    if (!jwks) throw new HttpError(401, "AAD token authentication is not configured on this account (no --jwks-uri/--jwks-file).");
    const token = parts.sig || "";
    try {
      const verifyOpts = {};
      if (opts.issuer) verifyOpts.issuer = opts.issuer;
      if (opts.audience) verifyOpts.audience = opts.audience;
      const { payload } = await jose.jwtVerify(token, jwks, verifyOpts);
      return { kind: "aad", oid: payload.oid, sub: payload.sub };
    } catch (e) {
      let why = e.message;
      if (e.code === "ERR_JWT_EXPIRED") why = "The token is expired.";
      else if (e.code === "ERR_JWT_CLAIM_VALIDATION_FAILED" && e.claim === "aud") why = `The token's audience is invalid; expected one of: ${(opts.audience || []).join(", ")}.`;
      else if (e.code === "ERR_JWT_CLAIM_VALIDATION_FAILED" && e.claim === "iss") why = `The token's issuer is invalid; expected ${opts.issuer}.`;
      else if (e.code === "ERR_JWS_SIGNATURE_VERIFICATION_FAILED" || e.code === "ERR_JWKS_NO_MATCHING_KEY") why = "The token's signature is invalid.";
      throw new HttpError(401, `Request blocked by Auth: the AAD token can't serve the request. ${why}`);
    }
  }
  if (type === "resource") throw new HttpError(401, "Resource tokens are not supported by this test server.");
  throw new HttpError(401, `The authorization header is malformed or uses an unsupported type '${parts.type || ""}'.`);
}

// ---------------------------------------------------------------- queries
// Post-processing rewrites for what the query engine lacks: DISTINCT, OFFSET/LIMIT.
function rewriteQuery(sql, parameters) {
  const paramVal = (tok) => {
    if (/^\d+$/.test(tok)) return parseInt(tok, 10);
    const p = (parameters || []).find((x) => x.name === tok);
    if (!p || !Number.isInteger(p.value) || p.value < 0) throw new HttpError(400, `Invalid value for ${tok} in OFFSET/LIMIT.`);
    return p.value;
  };
  let q = sql.trim().replace(/;\s*$/, "");
  const post = { distinct: false, top: null, offset: null, limit: null };
  let m = q.match(/\s+OFFSET\s+(\d+|@\w+)\s+LIMIT\s+(\d+|@\w+)\s*$/i);
  if (m) { post.offset = paramVal(m[1]); post.limit = paramVal(m[2]); q = q.slice(0, m.index); }
  m = q.match(/^(\s*SELECT\s+)DISTINCT\s+(?:TOP\s+(\d+|@\w+)\s+)?/i);
  if (m) {
    post.distinct = true;
    if (m[2] !== undefined) post.top = paramVal(m[2]);
    q = m[1] + q.slice(m[0].length);
  }
  return { sql: q, post };
}
function needsGateway1004(sql) {
  const s = sql.replace(/'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"/g, "''");
  if (/\bGROUP\s+BY\b/i.test(s)) return true;
  if (/^\s*SELECT\s+(DISTINCT\s+)?(TOP\s+\S+\s+)?(VALUE\s+)?(COUNT|SUM|AVG|MIN|MAX)\s*\(/i.test(s)) return true;
  if (/^\s*SELECT\s+DISTINCT\b/i.test(s) && !/\bORDER\s+BY\b/i.test(s)) return true;
  return false;
}
function engineOptions(coll, parameters) {
  const def = coll.read() || {};
  return { parameters, udf: coll.documents._userDefinedFunctions(), compositeIndexes: ((def.indexingPolicy || {}).compositeIndexes) || [] };
}
// Runs a query over the given documents (already narrowed to a partition key / range).
// Aggregates, GROUP BY and FROM-subqueries go through aggregate.mjs; everything else straight
// to the engine, with DISTINCT and a trailing OFFSET/LIMIT post-processed here.
function executeQuery(coll, sql, parameters, docs) {
  const eopts = engineOptions(coll, parameters);
  let parsed = null;
  try { parsed = parseSql(sql); } catch { parsed = null; } // the engine gives its own error below
  if (parsed && needsLayer(parsed)) {
    try {
      return runParsed(parsed, docs, { parameters, engine: (text, rows) => runEngine(text, rows, eopts) });
    } catch (err) {
      if (err instanceof QuerySyntaxError) throw new HttpError(400, `Syntax error, ${err.message}`);
      if (err instanceof ExecError || err instanceof Error) throw new HttpError(400, err.message);
      throw err;
    }
  }
  const { sql: engineSql, post } = rewriteQuery(sql, parameters);
  let result;
  try {
    result = runEngine(engineSql, docs, eopts);
  } catch (err) {
    if (/\bGROUP\s+BY\b/i.test(engineSql)) throw new HttpError(400, "This GROUP BY query is not supported by this local test peer.");
    if (err instanceof QuerySyntaxError) throw new HttpError(400, `Syntax error, ${err.message}`);
    throw new HttpError(400, err.message);
  }
  if (post.distinct) {
    const seen = new Set();
    result = result.filter((r) => { const k = canonical(r); if (seen.has(k)) return false; seen.add(k); return true; });
    if (post.top !== null) result = result.slice(0, post.top);
  }
  if (post.offset !== null) result = result.slice(post.offset, post.offset + post.limit);
  return result;
}
function pageOf(req) {
  let max = parseInt(req.headers["x-ms-max-item-count"] || "", 10);
  if (!Number.isFinite(max) || max <= 0) max = DEFAULT_PAGE;
  return max;
}
// Runs (or resumes) a query and returns one page; continuation tokens are opaque base64url JSON,
// bound to the query text, its parameters and the target (partition key / range / EPK bounds).
function queryPage(req, coll, sql, parameters, target) {
  const hash = crypto.createHash("sha256").update(JSON.stringify([coll.read()._rid, sql, parameters || [], target.scope])).digest("hex").slice(0, 16);
  let offset = 0;
  let cacheId = null;
  let contHeader = req.headers["x-ms-continuation"];
  if (contHeader) {
    let tok;
    try { tok = JSON.parse(Buffer.from(String(contHeader), "base64url").toString("utf8")); } catch { tok = null; }
    if (!tok || tok.h !== hash || !Number.isInteger(tok.o)) throw new HttpError(400, "Invalid continuation token (x-ms-continuation) for this query.");
    offset = tok.o; cacheId = tok.c;
  }
  let entry = cacheId ? queryCache.get(cacheId) : null;
  if (!entry || entry.hash !== hash) {
    entry = { hash, results: executeQuery(coll, sql, parameters, target.docs) };
    cacheId = crypto.randomBytes(6).toString("hex");
  } else queryCache.delete(cacheId);
  queryCache.set(cacheId, entry);
  while (queryCache.size > 64) queryCache.delete(queryCache.keys().next().value);
  const max = pageOf(req);
  const page = entry.results.slice(offset, offset + max);
  const next = offset + page.length;
  const headers = { "x-ms-item-count": String(page.length) };
  if (target.rangeId !== null) headers["x-ms-documentdb-partitionkeyrangeid"] = target.rangeId;
  if (next < entry.results.length) {
    headers["x-ms-continuation"] = Buffer.from(JSON.stringify({ c: cacheId, o: next, h: hash })).toString("base64url");
  } else queryCache.delete(cacheId);
  return { headers, page };
}
// What the gateway does with a query that names neither a partition key nor a range: it plans
// the query; a query whose plan needs client-side work is refused with 400/1004 and the plan in
// `additionalErrorInfo`, one that needs features pre-plan SDKs never had (non-VALUE aggregates,
// GROUP BY, DCount, …) with the old "VALUE <AggregateFunc>" text; anything else it runs itself.
function gatewayCheck(req, coll, q) {
  if (opts.requireCrossPartitionHeader && pkPaths(coll).length && !trueHeader(req, "x-ms-documentdb-query-enablecrosspartition"))
    throw new HttpError(400, CROSS_PARTITION_DISABLED);
  let plan = null;
  try { plan = buildPlan(q.query, q.parameters || [], pkDefOf(coll)); }
  catch (e) {
    if (!(e instanceof PlanError)) throw e;
    if (e.kind !== "syntax") throw new HttpError(400, e.message);
    // our parser could not read it: keep the old text-based check, let the engine decide the rest
    if (needsGateway1004(q.query)) throw new HttpError(400, GATEWAY_1004, { "x-ms-substatus": "1004" });
    return;
  }
  const need = neededFeatures(plan);
  if (need.some((f) => !LEGACY_FEATURES.has(f))) throw new HttpError(400, LEGACY_REFUSAL);
  if (need.length) throw new HttpError(400, GATEWAY_1004, { "x-ms-substatus": "1004" }, { additionalErrorInfo: JSON.stringify(plan) });
}
function planResponse(req, coll, q) {
  const features = parseFeatures(req.headers["x-ms-cosmos-supported-query-features"]);
  let plan;
  try { plan = buildPlan(q.query, q.parameters || [], pkDefOf(coll)); }
  catch (e) {
    if (!(e instanceof PlanError)) throw e;
    if (e.kind === "syntax") {
      // the query may still be one the engine runs as it is (no client-side work needed)
      let engineOk = false;
      try { parseQuery(rewriteQuery(q.query, q.parameters).sql); engineOk = true; } catch { engineOk = false; }
      if (engineOk && !needsGateway1004(q.query)) {
        return {
          partitionedQueryExecutionInfoVersion: 2,
          queryInfo: {
            distinctType: "None", top: null, offset: null, limit: null, orderBy: [], orderByExpressions: [], groupByExpressions: [],
            groupByAliases: [], aggregates: [], groupByAliasToAggregateType: {}, rewrittenQuery: "",
            hasSelectValue: /^\s*SELECT\s+(DISTINCT\s+)?(TOP\s+\S+\s+)?VALUE\b/i.test(q.query), dCountInfo: null, hasNonStreamingOrderBy: false,
          },
          queryRanges: [FULL_RANGE], hybridSearchQueryInfo: null,
        };
      }
    }
    throw new HttpError(400, e.message);
  }
  const missing = neededFeatures(plan).filter((f) => !features.has(f));
  if (missing.length) throw new HttpError(400, unsupportedMessage(missing));
  return plan;
}
// ---------------------------------------------------------------- partition key ranges
// GET …/pkranges: the container's ranges. With `A-IM: Incremental feed` it is the ranges'
// change feed: each range has an lsn (1..N); `If-None-Match: <lsn>` returns the ranges after it,
// the response etag is the last lsn returned, and 304 (empty, same etag) when none is newer —
// the drain loop the SDKs run. Without A-IM: a read feed paged by x-ms-max-item-count and an
// opaque x-ms-continuation.
function pkRangesResponse(req, coll) {
  const def = coll.read();
  const all = PK_RANGES.map((r, i) => {
    let rid;
    try { rid = coll.partitionKeyRanges._rid(i + 1); } catch { rid = Buffer.from(`${def._rid}:${i}`).toString("base64"); }
    return {
      _rid: rid, id: r.id, _etag: `"0000${(i + 1).toString(16).padStart(4, "0")}-0000-0000-0000-000000000000"`,
      minInclusive: r.minInclusive, maxExclusive: r.maxExclusive, ridPrefix: i, _self: `${String(def._self).replace(/^\/+|\/+$/g, "")}/pkranges/${rid}/`,
      throughputFraction: 1 / PK_RANGES.length, status: "online", parents: [], ownedArchivalPKRangeIds: [], _ts: def._ts, lsn: i + 1,
    };
  });
  const body = (items) => ({ _rid: def._rid, PartitionKeyRanges: items, _count: items.length });
  let max = parseInt(req.headers["x-ms-max-item-count"] || "", 10);
  if (!Number.isFinite(max) || max <= 0) max = Infinity;
  if (String(req.headers["a-im"] || "").toLowerCase() === "incremental feed") {
    const since = parseInt(String(req.headers["if-none-match"] || "0").replace(/"/g, ""), 10);
    const fresh = all.filter((r) => r.lsn > (Number.isFinite(since) ? since : 0)).slice(0, max);
    if (!fresh.length) return { status: 304, body: null, headers: { etag: String(all.length) } };
    return { status: 200, body: body(fresh), headers: { etag: String(fresh[fresh.length - 1].lsn), "x-ms-item-count": String(fresh.length) } };
  }
  let offset = 0;
  if (req.headers["x-ms-continuation"]) {
    try { offset = JSON.parse(Buffer.from(String(req.headers["x-ms-continuation"]), "base64url").toString("utf8")).pkr; } catch { offset = NaN; }
    if (!Number.isInteger(offset) || offset < 0) throw new HttpError(400, "Invalid continuation token (x-ms-continuation) for the partition key ranges.");
  }
  const page = all.slice(offset, offset + max);
  const headers = { etag: String(all.length), "x-ms-item-count": String(page.length) };
  if (offset + page.length < all.length) headers["x-ms-continuation"] = Buffer.from(JSON.stringify({ pkr: offset + page.length })).toString("base64url");
  return { status: 200, body: body(page), headers };
}

// ---------------------------------------------------------------- handlers
function docsContext(dbId, collId) {
  const { db, coll } = collectionDef(dbId, collId);
  if (!db) throw new HttpError(404, `Owner resource does not exist: database '${dbId}'.`);
  if (!coll) throw new HttpError(404, `Owner resource does not exist: collection '${collId}'.`);
  return coll;
}
async function handleData(req, segs, body) {
  const n = segs.length;
  const m = req.method;
  const dec = segs.map(safeDecode);
  // GET / : account metadata pointing at exactly this endpoint
  if (n === 0 && m === "GET") {
    const meta = { ...account.read() };
    meta.writableLocations = [{ name: "South Central US", databaseAccountEndpoint: endpoint }];
    meta.readableLocations = [{ name: "South Central US", databaseAccountEndpoint: endpoint }];
    // fields that newer SDKs (azure_data_cosmos AccountProperties) deserialize as required
    Object.assign(meta, { continuousBackupEnabled: false, enableNRegionSynchronousCommit: false, enablePerPartitionFailoverBehavior: false });
    meta.systemReplicationPolicy = { asyncReplication: false, ...meta.systemReplicationPolicy };
    return { status: 200, body: meta };
  }
  const isDocs = n >= 5 && dec[0] === "dbs" && dec[2] === "colls" && dec[4] === "docs";
  // point read of an item: 404 for a missing one, partition checked over the full pk path
  if (isDocs && n === 6 && m === "GET") {
    const coll = docsContext(dec[1], dec[3]);
    const pkVals = headerPk(req);
    const paths = pkPaths(coll);
    if (paths.length && !pkVals) throw new HttpError(400, "The partition key supplied in x-ms-partitionkey header has fewer components than defined in the the collection.");
    const doc = [...coll.documents._data.values()].map((i) => i.read()).find((d) => d.id === dec[5] && docMatchesPk(d, paths, pkVals || []));
    if (!doc) throw new HttpError(404, NOT_FOUND_MSG);
    if (req.headers["if-none-match"] && req.headers["if-none-match"] === doc._etag) return { status: 304, body: null, headers: { etag: doc._etag } };
    return { status: 200, body: doc };
  }
  // queries on documents (and the query plan request)
  const isQuery = m === "POST" && (trueHeader(req, "x-ms-documentdb-isquery") || trueHeader(req, "x-ms-cosmos-is-query-plan-request") || String(req.headers["content-type"] || "").startsWith("application/query+json"));
  if (isDocs && n === 5 && isQuery) {
    const coll = docsContext(dec[1], dec[3]);
    const q = jsonBody(body);
    if (!q || typeof q.query !== "string") throw new HttpError(400, "The query body must be {\"query\": string, \"parameters\": [...]}.");
    if (trueHeader(req, "x-ms-cosmos-is-query-plan-request")) {
      stats.query_plans++;
      return { status: 200, body: planResponse(req, coll, q) };
    }
    stats.queries++;
    const target = targetDocs(req, coll);
    if (target.crossPartition) gatewayCheck(req, coll, q);
    const { headers, page } = queryPage(req, coll, q.query, q.parameters || [], target);
    return { status: 200, headers, body: { _rid: coll.read()._rid, Documents: page, _count: page.length } };
  }
  // read feed of documents: same paging + partition/range filtering as queries
  if (isDocs && n === 5 && m === "GET") {
    const coll = docsContext(dec[1], dec[3]);
    const { headers, page } = queryPage(req, coll, "SELECT * FROM c", [], targetDocs(req, coll));
    return { status: 200, headers, body: { _rid: coll.read()._rid, Documents: page, _count: page.length } };
  }
  // partition key ranges
  if (n === 5 && dec[0] === "dbs" && dec[2] === "colls" && dec[4] === "pkranges" && m === "GET") {
    return pkRangesResponse(req, docsContext(dec[1], dec[3]));
  }
  // transactional batch: honour the partition-key header
  if (isDocs && n === 5 && m === "POST" && trueHeader(req, "x-ms-cosmos-is-batch-request")) {
    stats.batches++;
    return handleBatch(req, docsContext(dec[1], dec[3]), jsonBody(body));
  }
  // create / upsert / replace / delete / patch of a document in a missing container → 404
  if (isDocs) {
    const coll = docsContext(dec[1], dec[3]);
    // create/upsert/replace: the document's partition key must match the header
    if ((m === "POST" || m === "PUT") && n <= 6) {
      const pkVals = headerPk(req);
      const doc = jsonBody(body);
      if (pkVals && doc && typeof doc === "object" && !docMatchesPk(doc, pkPaths(coll), pkVals))
        throw new HttpError(400, "PartitionKey extracted from document doesn't match the one specified in the header. Learn more: https://aka.ms/CosmosDB/sql/errors/wrong-pk-value");
    }
    if ((m === "DELETE" || m === "PATCH" || m === "PUT") && n === 6) {
      const pkVals = headerPk(req) || [];
      const paths = pkPaths(coll);
      const exists = [...coll.documents._data.values()].some((i) => { const d = i.read(); return d.id === dec[5] && docMatchesPk(d, paths, pkVals); });
      if (!exists) throw new HttpError(404, NOT_FOUND_MSG);
    }
  }
  // database-scoped paths for a missing database → 404
  if (n >= 2 && dec[0] === "dbs" && !(n === 2 && m === "DELETE") && !account.database(dec[1]).read())
    throw new HttpError(404, `Owner resource does not exist: database '${dec[1]}'.`);
  return libHandle(req, body, segs);
}
function handleBatch(req, coll, ops) {
  if (!Array.isArray(ops)) throw new HttpError(400, "Invalid request body: a batch is a JSON array of operations.");
  const pkVals = headerPk(req);
  if (!pkVals) throw new HttpError(400, "A transactional batch requires the x-ms-documentdb-partitionkey header.");
  const paths = pkPaths(coll);
  const pkHeader = libPartitionHeader(pkVals);
  const atomic = !String(req.headers["x-ms-cosmos-batch-atomic"] || "true").match(/^false$/i);
  const continueOnError = trueHeader(req, "x-ms-cosmos-batch-continue-on-error");
  for (const op of ops) {
    if (op && op.resourceBody && ["Create", "Upsert", "Replace"].includes(op.operationType) && !docMatchesPk(op.resourceBody, paths, pkVals))
      throw new HttpError(400, "PartitionKey extracted from document doesn't match the one specified in the header.");
  }
  // atomic: run against a snapshot; roll back on the first failure
  const snapshot = atomic ? { data: new Map(coll.documents._data), index: new Map(coll.documents._index), rid: coll.documents._ridCount } : null;
  const out = [];
  let failed = false;
  for (const input of ops) {
    if (failed && (atomic || !continueOnError)) { out.push({ statusCode: 424, requestCharge: 0 }); continue; }
    const op = { ...input, partitionKey: pkHeader };
    const id = op.id || (op.resourceBody || {}).id;
    const existing = id === undefined ? null : [...coll.documents._data.values()].map((i) => i.read()).find((d) => d.id === id && docMatchesPk(d, paths, pkVals));
    let r;
    switch (op.operationType) {
      case "Create": r = docOps.createOperation(coll, op); break;
      case "Upsert": r = docOps.upsertOperation(coll, op); break;
      case "Read": r = existing ? docOps.readOperation(coll, op) : { statusCode: 404, body: {} }; break;
      case "Delete": r = existing ? docOps.deleteOperation(coll, op) : { statusCode: 404, body: {} }; break;
      case "Replace": r = existing ? docOps.replaceOperation(coll, op) : { statusCode: 404, body: {} }; break;
      default: throw new HttpError(400, `Operation type '${op.operationType}' is not supported in Batch.`);
    }
    failed = r.statusCode >= 400;
    if (!failed && r.body && r.body._rid && r.body._attachments === undefined) r.body._attachments = "attachments/";
    out.push(failed ? { statusCode: r.statusCode, requestCharge: 0 } : { statusCode: r.statusCode, requestCharge: 1, eTag: r.body ? r.body._etag : undefined, resourceBody: r.body });
  }
  if (failed && atomic) {
    coll.documents._data = snapshot.data; coll.documents._index = snapshot.index; coll.documents._ridCount = snapshot.rid;
    // Cosmos answers a failed atomic batch with 207 Multi-Status
    return { status: 207, body: out.map((o) => (o.statusCode < 400 ? { statusCode: 424, requestCharge: 0 } : o)) };
  }
  return { status: 200, body: out };
}
async function libHandle(req, body, segs) {
  const fakeReq = Readable.from(body.length ? [body] : []);
  fakeReq.headers = req.headers; fakeReq.method = req.method; fakeReq.url = req.url;
  const route = routes(fakeReq);
  if (!route) throw new HttpError(400, `Unsupported request: ${req.method} ${new URL(req.url, "https://x").pathname}`);
  const [params, handler] = route;
  const shim = { statusCode: 200, headers: {}, setHeader(k, v) { this.headers[k.toLowerCase()] = v; } };
  let out;
  try {
    out = await handler(account, fakeReq, shim, params);
  } catch (err) {
    if (err instanceof QuerySyntaxError || err.badRequest) throw new HttpError(400, err.message);
    if (/^Failed to parse x-ms-documentdb-partitionkey/.test(err.message)) throw new HttpError(400, err.message);
    throw err;
  }
  let status = shim.statusCode;
  const headers = { ...shim.headers };
  // documents carry "_attachments" like the real service (the returned object is the stored one)
  if (segs[4] === "docs" && out && out._rid && out._attachments === undefined) out._attachments = "attachments/";
  // container definitions: complete the partition key definition like the service does
  const fixColl = (c) => { if (c && c.partitionKey && Array.isArray(c.partitionKey.paths)) c.partitionKey = { kind: c.partitionKey.paths.length > 1 ? "MultiHash" : "Hash", version: 2, ...c.partitionKey }; return c; };
  if (out && segs[2] === "colls" && out.partitionKey) fixColl(out);
  if (out && Array.isArray(out.DocumentCollections)) out.DocumentCollections.forEach(fixColl);
  // partition key ranges: ids (and parents) must be strings
  if (out && Array.isArray(out.PartitionKeyRanges)) {
    out.PartitionKeyRanges = out.PartitionKeyRanges.map((r) => ({ ...r, id: String(r.id), parents: (r.parents || []).map(String) }));
    const { coll } = collectionDef(safeDecode(segs[1]), safeDecode(segs[3]));
    if (coll) out = { _rid: coll.read()._rid, ...out };
  }
  if (req.headers["a-im"] && status === 200) {
    if (req.headers["if-none-match"]) status = 304;
    headers.etag = "1";
  }
  return { status, headers, body: out };
}

// ---------------------------------------------------------------- faults & admin
function takeFault(req, pathname) {
  for (const f of faults) {
    if (f.count <= 0) continue;
    if (f.path_contains && !pathname.includes(f.path_contains) && !req.url.includes(f.path_contains)) continue;
    if (f.method && f.method.toUpperCase() !== req.method) continue;
    if (f.pkrange !== undefined && String(req.headers["x-ms-documentdb-partitionkeyrangeid"] ?? "") !== String(f.pkrange)) continue;
    f.count -= 1;
    stats.faults_applied++;
    faults = faults.filter((x) => x.count > 0);
    return f;
  }
  return null;
}
async function handleAdmin(req, res, pathname) {
  const body = await readBody(req);
  const send = (status, obj) => { const b = Buffer.from(JSON.stringify(obj)); res.writeHead(status, { "content-type": "application/json", "content-length": b.length }); res.end(b); };
  if (pathname === "/__admin/faults" && req.method === "POST") {
    let spec;
    try { spec = JSON.parse(body.toString() || "{}"); } catch { return send(400, { error: "invalid JSON" }); }
    const list = Array.isArray(spec) ? spec : [spec];
    for (const f of list) {
      if (!(f.status || f.reset || f.truncate || f.stall_ms)) return send(400, { error: "fault needs one of status, reset, truncate, stall_ms" });
      faults.push({ ...f, count: Number.isInteger(f.count) ? f.count : 1 });
    }
    return send(200, { faults });
  }
  if (pathname === "/__admin/faults" && req.method === "GET") return send(200, { faults });
  if (pathname === "/__admin/rbac" && req.method === "POST") {
    let v;
    try { v = JSON.parse(body.toString("utf8") || "{}"); } catch { return send(400, { error: "invalid JSON" }); }
    if (!v || typeof v !== "object" || Array.isArray(v)) return send(400, { error: "expected {principal: [{role, scope}]}" });
    rbac = v;
    return send(200, { rbac });
  }
  if (pathname === "/__admin/rbac" && req.method === "DELETE") { rbac = null; return send(200, { rbac }); }
  if (pathname === "/__admin/faults" && req.method === "DELETE") { faults = []; return send(200, { faults }); }
  if (pathname === "/__admin/stats" && req.method === "GET") return send(200, { ...stats, pending_faults: faults, recent });
  if (pathname === "/__admin/stats" && req.method === "DELETE") {
    Object.assign(stats, { total: 0, by_method_resource: {}, queries: 0, query_plans: 0, batches: 0, auth_failures: 0, faults_applied: 0 });
    recent.length = 0;
    return send(200, stats);
  }
  return send(404, { error: "unknown admin endpoint" });
}

function sendResponse(res, status, headers, body, fault) {
  const buf = body === null || body === undefined || status === 304 ? Buffer.alloc(0) : Buffer.from(JSON.stringify(body));
  const h = {
    "content-type": "application/json",
    "x-ms-activity-id": crypto.randomUUID(),
    "x-ms-request-charge": "1",
    "x-ms-gatewayversion": "version=2.14.0",
    "x-ms-serviceversion": "version=2.14.0.0",
    date: new Date().toUTCString(),
    ...headers,
  };
  if (body && body._etag && !h.etag) h.etag = body._etag;
  if (fault && fault.reset) {
    h["content-length"] = Math.max(buf.length, 2);
    res.writeHead(status, h);
    res.write(buf.subarray(0, Math.floor(buf.length / 2)));
    setTimeout(() => res.destroy(), 10);
    return;
  }
  let out = buf;
  if (fault && fault.truncate) out = buf.subarray(0, Math.floor(buf.length / 2));
  h["content-length"] = out.length;
  res.writeHead(status, h);
  res.end(out);
}

function errorBody(status, message) {
  return { code: STATUS_CODES[status] || "Error", message: message ?? "" };
}

// The data-plane action a request needs and the resource path it is checked on, as the service's
// built-in roles name them (Cosmos DB Built-in Data Reader …0001: readMetadata, items/read,
// executeQuery, readChangeFeed; Data Contributor …0002: readMetadata, containers/*, items/*).
function rbacAction(req, segs) {
  const d = segs.map(safeDecode);
  const n = d.length;
  const m = req.method;
  const scope = "/" + d.slice(0, Math.min(n, 4)).join("/");
  if (n === 0) return null; // the account's own metadata: any verified principal
  if (d[0] !== "dbs") return null;
  if (n <= 4 && m === "GET") return { action: "readMetadata", scope: n === 1 ? "/" : n === 3 ? "/" + d.slice(0, 2).join("/") : scope };
  if (n === 5 && d[4] === "pkranges") return { action: "readMetadata", scope };
  if (n >= 5 && d[4] === "docs") {
    if (m === "POST" && (trueHeader(req, "x-ms-documentdb-isquery") || String(req.headers["content-type"] || "").startsWith("application/query+json")))
      return { action: "items/executeQuery", scope };
    if (m === "GET") return { action: "items/read", scope };
    return { action: "items/write", scope };
  }
  return { action: "containers/write", scope };
}
const ROLE_ACTIONS = {
  reader: ["readMetadata", "items/read", "items/executeQuery"],
  contributor: ["readMetadata", "items/read", "items/executeQuery", "items/write", "containers/write"],
};
function rbacCheck(req, segs, who) {
  if (!rbac || !who || who.kind !== "aad") return; // keys are not subject to data-plane RBAC
  const need = rbacAction(req, segs);
  if (!need) return;
  const principal = who.oid || who.sub;
  const covers = (assigned, wanted) => assigned === "/" || wanted === assigned || wanted.startsWith(assigned + "/");
  const ok = (rbac[principal] || []).some((a) => (ROLE_ACTIONS[a.role] || []).includes(need.action) && covers(a.scope, need.scope));
  if (!ok)
    throw new HttpError(403, `Request blocked by Auth 127.0.0.1 : Request is blocked because principal [${principal}] does not have required RBAC permissions to perform action [Microsoft.DocumentDB/databaseAccounts/${need.action === "readMetadata" ? "readMetadata" : "sqlDatabases/containers/" + need.action}] on resource [${need.scope}]. Learn more: https://aka.ms/cosmos-native-rbac.`, { "x-ms-substatus": "5301" });
}

async function onRequest(req, res) {
  const url = new URL(req.url, "https://127.0.0.1");
  let pathname = url.pathname.replace(/^\/\/+/, "/");
  if (pathname.startsWith("/__admin/")) return handleAdmin(req, res, pathname);
  const segs = splitPath(pathname);
  const { type: rtype } = resourceOf(segs);
  const key = `${req.method} ${rtype || "account"}`;
  stats.total++;
  stats.by_method_resource[key] = (stats.by_method_resource[key] || 0) + 1;
  const rec = { method: req.method, path: pathname, resource: rtype || "account", pk: req.headers["x-ms-documentdb-partitionkey"] || null, pkrange: req.headers["x-ms-documentdb-partitionkeyrangeid"] || null, plan: trueHeader(req, "x-ms-cosmos-is-query-plan-request"), max_item_count: req.headers["x-ms-max-item-count"] || null, continuation: !!req.headers["x-ms-continuation"], status: 0 };
  recent.push(rec);
  if (recent.length > 200) recent.shift();
  let fault = null;
  try {
    const body = await readBody(req);
    const who = await authorize(req, segs);
    rbacCheck(req, segs, who);
    fault = takeFault(req, pathname);
    if (fault && fault.stall_ms) await new Promise((r) => setTimeout(r, fault.stall_ms));
    if (fault && fault.status) {
      const st = fault.status;
      const h = {};
      if (fault.substatus !== undefined) h["x-ms-substatus"] = String(fault.substatus);
      else if (st === 429) h["x-ms-substatus"] = "3200";
      if (st === 429) h["x-ms-retry-after-ms"] = String(fault.retry_after_ms ?? 100);
      else if (fault.retry_after_ms !== undefined) h["x-ms-retry-after-ms"] = String(fault.retry_after_ms);
      const msg = fault.message || (st === 429 ? "Request rate is large. More Request Units may be needed, so no changes were made. Please retry this request later." : `Injected fault ${st}.`);
      rec.status = st;
      return sendResponse(res, st, h, errorBody(st, msg), null);
    }
    const r = await handleData(req, segs, body);
    let status = r.status;
    let out = r.body;
    if (status >= 400 && out && typeof out === "object" && !Array.isArray(out)) {
      out = { code: out.code || STATUS_CODES[status] || "Error", message: out.message || (status === 404 ? NOT_FOUND_MSG : ""), ...out };
      if (status === 404 && !out.message) out.message = NOT_FOUND_MSG;
    }
    rec.status = status;
    return sendResponse(res, status, r.headers || {}, out, fault);
  } catch (err) {
    let status = 500, headers = {}, msg = err.message;
    let extra = null;
    if (err instanceof HttpError) { status = err.status; headers = err.headers; extra = err.extra; }
    else process.stderr.write(`cosmos peer: internal error on ${req.method} ${req.url}: ${err.stack}\n`);
    if (status === 401) stats.auth_failures++;
    rec.status = status;
    log(`${req.method} ${req.url} -> ${status} ${msg}`);
    return sendResponse(res, status, headers, { ...errorBody(status, msg), ...(extra || {}) }, fault && (fault.reset || fault.truncate) ? fault : null);
  }
}

const server = https.createServer(
  { cert: readFileSync(opts.cert), key: readFileSync(opts.key), minVersion: "TLSv1.2", ALPNProtocols: ["http/1.1"], keepAlive: true },
  (req, res) => {
    onRequest(req, res).catch((err) => {
      process.stderr.write(`cosmos peer: ${err.stack}\n`);
      if (!res.headersSent) { res.statusCode = 500; res.end(); } else res.destroy();
    });
  },
);
server.keepAliveTimeout = 30000;
server.listen(opts.port, "127.0.0.1", () => {
  const { port } = server.address();
  endpoint = `https://127.0.0.1:${port}/`;
  account = new Account("127.0.0.1", port);
  process.stdout.write(JSON.stringify({ endpoint, port }) + "\n");
});
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => { server.close(); process.exit(0); });
