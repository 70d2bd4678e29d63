#!/usr/bin/env node
// Local Azure Cosmos DB test peer: a compatibility wrapper around the npm package
// @vercel/cosmosdb-server (1.0.x). The package's Account/route/handler modules are used
// in-process; this file owns the HTTPS listener, authorization, fault injection, and the
// handlers that fix the package's known gaps (see README.md).
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
const cosmosQuery = libRequire("@zeit/cosmosdb-query");
const parseQuery = cosmosQuery.default;
const QuerySyntaxError = cosmosQuery.SyntaxError;

const EMULATOR_KEY =
  "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==";
const LOCAL_AUTH_DISABLED = "Local Authorization is disabled. Use an AAD token to authorize all requests.";
const GATEWAY_1004 =
  "The provided cross partition query can not be directly served by the gateway. This is a first chance (internal) exception that all newer clients will know how to handle gracefully. This exception is traced, but unless you see it bubble up as an exception (which only happens on older SDK clients), then you can safely ignore this message.";
const DEFAULT_PAGE = 100;
const CLOCK_SKEW_S = 15 * 60;

// ---------------------------------------------------------------- arguments
function usage(msg) {
  if (msg) process.stderr.write(`server.mjs: ${msg}\n`);
  process.stderr.write(
    "usage: node server.mjs [--port N] --cert CERT.pem --key KEY.pem [--master-key BASE64]\n" +
      "         [--jwks-uri URL | --jwks-file FILE] [--audience AUD[,AUD…]] [--issuer ISS]\n" +
      "         [--deny-local-auth] [--gateway-query-limits] [--verbose]\n",
  );
  process.exit(2);
}
const opts = { port: 0, masterKey: EMULATOR_KEY, denyLocalAuth: false, gatewayLimits: false, verbose: false };
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
      case "--gateway-query-limits": opts.gatewayLimits = true; break;
      case "--verbose": opts.verbose = true; break;
      case "-h": case "--help": usage(); break;
      default: usage(`unknown argument ${a[i]}`);
    }
  }
  if (!opts.cert || !opts.key) usage("--cert and --key are required");
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) usage("bad --port");
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
const queryCache = new Map(); // cacheId -> {hash, results}; small LRU

// ---------------------------------------------------------------- helpers
const STATUS_CODES = { 400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 408: "RequestTimeout", 409: "Conflict", 410: "Gone", 412: "PreconditionFailed", 413: "RequestEntityTooLarge", 429: "TooManyRequests", 449: "RetryWith", 500: "InternalServerError", 503: "ServiceUnavailable" };
const NOT_FOUND_MSG = "Entity with the specified id does not exist in the system.";
class HttpError extends Error {
  constructor(status, message, headers = {}) { super(message); this.status = status; this.headers = headers; }
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
function executeQuery(coll, sql, parameters, pkVals) {
  const { sql: engineSql, post } = rewriteQuery(sql, parameters);
  const paths = pkPaths(coll);
  let data = [...coll.documents._data.values()].map((it) => it.read());
  if (pkVals) data = data.filter((d) => docMatchesPk(d, paths, pkVals));
  const def = coll.read() || {};
  const compositeIndexes = ((def.indexingPolicy || {}).compositeIndexes) || [];
  let result;
  try {
    result = parseQuery(engineSql).exec(data, { parameters, udf: coll.documents._userDefinedFunctions(), compositeIndexes }).result;
  } catch (err) {
    if (/\bGROUP\s+BY\b/i.test(engineSql)) throw new HttpError(400, "GROUP BY is not supported by this local test server (cosmosdb-server query engine).");
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
// Runs (or resumes) a query and returns one page; continuation tokens are opaque base64url JSON.
function queryPage(req, coll, sql, parameters, pkVals) {
  const hash = crypto.createHash("sha256").update(JSON.stringify([coll.read()._rid, sql, parameters || [], pkVals === null ? null : canonical(pkVals)])).digest("hex").slice(0, 16);
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
    entry = { hash, results: executeQuery(coll, sql, parameters, pkVals) };
    cacheId = crypto.randomBytes(6).toString("hex");
  } else queryCache.delete(cacheId);
  queryCache.set(cacheId, entry);
  while (queryCache.size > 64) queryCache.delete(queryCache.keys().next().value);
  const max = pageOf(req);
  const page = entry.results.slice(offset, offset + max);
  const next = offset + page.length;
  const headers = { "x-ms-item-count": String(page.length) };
  if (next < entry.results.length) {
    headers["x-ms-continuation"] = Buffer.from(JSON.stringify({ c: cacheId, o: next, h: hash })).toString("base64url");
  } else queryCache.delete(cacheId);
  return { headers, page };
}
function queryPlan(sql) {
  // One physical partition: the server evaluates everything itself, so the client pipeline can
  // treat the query as a pass-through (no client-side ORDER BY/TOP/aggregate/DISTINCT work).
  return {
    partitionedQueryExecutionInfoVersion: 2,
    queryInfo: {
      distinctType: "None", top: null, offset: null, limit: null, orderBy: [], orderByExpressions: [],
      groupByExpressions: [], groupByAliases: [], aggregates: [], groupByAliasToAggregateType: {},
      rewrittenQuery: "", hasSelectValue: /^\s*SELECT\s+(DISTINCT\s+)?(TOP\s+\S+\s+)?VALUE\b/i.test(sql), dCountInfo: null,
    },
    queryRanges: [{ min: "", max: "FF", isMinInclusive: true, isMaxInclusive: false }],
  };
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
  const isQuery = m === "POST" && (trueHeader(req, "x-ms-documentdb-isquery") || String(req.headers["content-type"] || "").startsWith("application/query+json"));
  if (isDocs && n === 5 && isQuery) {
    const coll = docsContext(dec[1], dec[3]);
    const q = jsonBody(body);
    if (!q || typeof q.query !== "string") throw new HttpError(400, "The query body must be {\"query\": string, \"parameters\": [...]}.");
    if (trueHeader(req, "x-ms-cosmos-is-query-plan-request")) {
      stats.query_plans++;
      const engineSql = rewriteQuery(q.query, q.parameters).sql; // also validates OFFSET/LIMIT parameters
      try { parseQuery(engineSql); } catch (e) {
        if (/\bGROUP\s+BY\b/i.test(engineSql)) throw new HttpError(400, "GROUP BY is not supported by this local test server (cosmosdb-server query engine).");
        throw new HttpError(400, `Syntax error, ${e.message}`);
      }
      return { status: 200, body: queryPlan(q.query) };
    }
    stats.queries++;
    const pkVals = headerPk(req);
    if (opts.gatewayLimits && !pkVals && !req.headers["x-ms-documentdb-partitionkeyrangeid"] && needsGateway1004(q.query))
      throw new HttpError(400, GATEWAY_1004, { "x-ms-substatus": "1004" });
    const { headers, page } = queryPage(req, coll, q.query, q.parameters || [], pkVals);
    return { status: 200, headers, body: { _rid: coll.read()._rid, Documents: page, _count: page.length } };
  }
  // read feed of documents: same paging + partition filtering as queries
  if (isDocs && n === 5 && m === "GET") {
    const coll = docsContext(dec[1], dec[3]);
    const { headers, page } = queryPage(req, coll, "SELECT * FROM c", [], headerPk(req));
    return { status: 200, headers, body: { _rid: coll.read()._rid, Documents: page, _count: page.length } };
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

async function onRequest(req, res) {
  const url = new URL(req.url, "https://127.0.0.1");
  let pathname = url.pathname.replace(/^\/\/+/, "/");
  if (pathname.startsWith("/__admin/")) return handleAdmin(req, res, pathname);
  const segs = splitPath(pathname);
  const { type: rtype } = resourceOf(segs);
  const key = `${req.method} ${rtype || "account"}`;
  stats.total++;
  stats.by_method_resource[key] = (stats.by_method_resource[key] || 0) + 1;
  const rec = { method: req.method, path: pathname, resource: rtype || "account", pk: req.headers["x-ms-documentdb-partitionkey"] || null, max_item_count: req.headers["x-ms-max-item-count"] || null, continuation: !!req.headers["x-ms-continuation"], status: 0 };
  recent.push(rec);
  if (recent.length > 200) recent.shift();
  let fault = null;
  try {
    const body = await readBody(req);
    await authorize(req, segs);
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
    if (err instanceof HttpError) { status = err.status; headers = err.headers; }
    else process.stderr.write(`cosmos peer: internal error on ${req.method} ${req.url}: ${err.stack}\n`);
    if (status === 401) stats.auth_failures++;
    rec.status = status;
    log(`${req.method} ${req.url} -> ${status} ${msg}`);
    return sendResponse(res, status, headers, errorBody(status, msg), fault && (fault.reset || fault.truncate) ? fault : null);
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
