#!/usr/bin/env node
// Local workload-identity-federation test peer for cosmoscope.
//
//   node server.mjs [--port 0]
//
// One port, two roles:
//   /ci/...   a CI OIDC issuer (GitHub Actions / Azure Pipelines style) that mints job tokens
//   /...      an identity provider whose /token endpoint swaps a CI job token for an access
//             token (client assertion, RFC 7523 JWT-bearer grant, RFC 8693 token exchange)
//
// Listens on 127.0.0.1 only. When listening it prints exactly one JSON line on stdout:
//   {"issuer":"http://127.0.0.1:PORT","ci_issuer":"http://127.0.0.1:PORT/ci","port":PORT}
// and keeps running; logs go to stderr. See README.md.

import * as crypto from 'node:crypto';
import * as http from 'node:http';

import * as jose from 'jose';

// stdout carries exactly one JSON line
console.log = console.info = console.debug = (...args) => console.error(...args);

// ---------------------------------------------------------------------------------------------
// configuration

function envInt(name, def) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got ${JSON.stringify(raw)}`);
  return n;
}
const envList = (name, def) => (process.env[name] || def).split(',').map((s) => s.trim()).filter(Boolean);

function parseArgs(argv) {
  const out = { port: envInt('FED_PORT', 0) };
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i];
    if (a === '--port') {
      out.port = Number(argv[i + 1]);
      i += 1;
    } else if (a.startsWith('--port=')) {
      out.port = Number(a.slice(7));
    } else {
      throw new Error(`unknown argument ${a} (usage: node server.mjs [--port N])`);
    }
    if (!Number.isInteger(out.port) || out.port < 0 || out.port > 65535) throw new Error('--port must be 0..65535');
  }
  return out;
}

const ARGS = parseArgs(process.argv.slice(2));

const ENTRA_EXCHANGE_AUD = 'api://AzureADTokenExchange';
const DEFAULT_SUBJECT = 'repo:acme/shop:ref:refs/heads/main';
const DEFAULT_RESOURCE = 'https://cosmos-gateway.test';
const ROLES_CLAIM = 'https://cosmoscope.test/roles';

const CLIENT_ID = process.env.FED_CLIENT_ID || 'cosmoscope-federated';
const CI_SUBJECT = process.env.FED_CI_SUBJECT || DEFAULT_SUBJECT; // `sub` of minted job tokens
const SUBJECT_RULES = envList('FED_SUBJECT', DEFAULT_SUBJECT); // accepted subjects (`*` = wildcard)
const GH_REQUEST_TOKEN = process.env.FED_GH_REQUEST_TOKEN || 'gh-request-token';
const ADO_ACCESS_TOKEN = process.env.FED_ADO_ACCESS_TOKEN || 'ado-access-token';
const CI_TTL = envInt('FED_CI_TTL', 300);
const ACCESS_TTL = envInt('FED_ACCESS_TTL', 600);
const LEEWAY = envInt('FED_LEEWAY', 30);
const FETCH_JWKS = process.env.FED_FETCH_JWKS === '1';

const GRANT_CC = 'client_credentials';
const GRANT_JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const GRANT_TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const TT_JWT = 'urn:ietf:params:oauth:token-type:jwt';
const TT_ID_TOKEN = 'urn:ietf:params:oauth:token-type:id_token';
const TT_ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';

let ISSUER; // root issuer, no trailing slash
let CI_ISSUER; // ISSUER + '/ci'
let ALLOWED_AUDIENCES; // set once ISSUER is known

// ---------------------------------------------------------------------------------------------
// keys

async function makeKey(prefix) {
  const { privateKey, publicKey } = await jose.generateKeyPair('RS256', { extractable: true });
  const jwk = await jose.exportJWK(publicKey);
  const kid = `${prefix}-${(await jose.calculateJwkThumbprint(jwk)).slice(0, 12)}`;
  return { privateKey, kid, publicJwk: { ...jwk, kid, alg: 'RS256', use: 'sig' } };
}

const CI_KEY = await makeKey('ci');
const IDP_KEY = await makeKey('idp');
// Not published anywhere. Its tokens carry the CI key's kid, so a verifier picks the CI key and
// the signature check itself fails.
const ROGUE_KEY = await makeKey('rogue');

const CI_JWKS = { keys: [CI_KEY.publicJwk] };
const IDP_JWKS = { keys: [IDP_KEY.publicJwk] };
let ciKeySet; // resolver for jose.compactVerify

// ---------------------------------------------------------------------------------------------
// stats

function freshStats() {
  return {
    token_requests: {}, // by grant_type
    issued: {}, // successful token responses by grant_type
    rejections: [], // [{grant_type, status, error, reason, error_description}]
    ci_tokens_minted: { github: 0, azure_pipelines: 0, admin: 0 },
    ci_token_request_failures: [], // [{endpoint, status, reason}]
  };
}
let stats = freshStats();

// ---------------------------------------------------------------------------------------------
// helpers

const now = () => Math.floor(Date.now() / 1000);
const MAX_BODY = 64 * 1024;

async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY) throw Object.assign(new Error('request entity too large'), { status: 413 });
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function readJson(req) {
  const raw = await readBody(req);
  if (!raw.trim()) return {};
  try {
    return JSON.parse(raw);
  } catch {
    throw Object.assign(new Error('request body must be JSON'), { status: 400 });
  }
}

function sendJson(res, status, obj, extraHeaders = {}) {
  const body = JSON.stringify(obj);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    pragma: 'no-cache',
    'content-length': Buffer.byteLength(body),
    ...extraHeaders,
  });
  res.end(body);
}

function bearer(req) {
  const m = /^Bearer\s+(\S.*)$/i.exec(req.headers.authorization || '');
  return m ? m[1].trim() : '';
}

function isLocal(req) {
  const a = req.socket.remoteAddress;
  return a === '127.0.0.1' || a === '::1' || a === '::ffff:127.0.0.1';
}

// ---------------------------------------------------------------------------------------------
// CI issuer: job tokens

async function mintCiToken({
  aud, sub = CI_SUBJECT, expIn = CI_TTL, nbfIn = 0, iss = CI_ISSUER, signWith = 'ci', extra = {},
}) {
  const t = now();
  const key = signWith === 'rogue' ? ROGUE_KEY : CI_KEY;
  return new jose.SignJWT({
    // GitHub-like context claims (informational only)
    repository: 'acme/shop',
    repository_owner: 'acme',
    ref: 'refs/heads/main',
    event_name: 'push',
    runner_environment: 'github-hosted',
    ...extra,
    jti: crypto.randomUUID(),
  })
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: CI_KEY.kid })
    .setIssuer(iss)
    .setSubject(sub)
    .setAudience(aud)
    .setIssuedAt(t)
    .setNotBefore(t + nbfIn)
    .setExpirationTime(t + expIn)
    .sign(key.privateKey);
}

function ciDiscovery() {
  return {
    issuer: CI_ISSUER,
    jwks_uri: `${CI_ISSUER}/jwks`,
    subject_types_supported: ['public', 'pairwise'],
    response_types_supported: ['id_token'],
    claims_supported: ['sub', 'aud', 'exp', 'iat', 'iss', 'jti', 'nbf', 'ref', 'repository', 'repository_owner', 'event_name', 'runner_environment'],
    id_token_signing_alg_values_supported: ['RS256'],
    scopes_supported: ['openid'],
  };
}

function ciFail(res, endpoint, status, reason) {
  stats.ci_token_request_failures.push({ endpoint, status, reason });
  console.error(`ci ${endpoint}: ${status} ${reason}`);
  return sendJson(res, status, { message: reason });
}

// GitHub: GET ACTIONS_ID_TOKEN_REQUEST_URL[?|&]audience=AUD, Authorization: Bearer REQUEST_TOKEN
async function githubToken(req, res, query) {
  if (req.method !== 'GET') return ciFail(res, 'github', 405, 'use GET');
  const tok = bearer(req);
  if (!tok || tok !== GH_REQUEST_TOKEN) return ciFail(res, 'github', 401, 'bad or missing bearer request token');
  const aud = query.get('audience') || 'https://github.com/acme'; // GitHub's default audience
  stats.ci_tokens_minted.github += 1;
  return sendJson(res, 200, { value: await mintCiToken({ aud }) });
}

// Azure DevOps: POST SYSTEM_OIDCREQUESTURI?api-version=7.1, Authorization: Bearer System.AccessToken
async function azurePipelinesToken(req, res, query) {
  if (req.method !== 'POST') return ciFail(res, 'azure_pipelines', 405, 'use POST');
  await readBody(req); // body is ignored (ADO accepts an empty body or {})
  const tok = bearer(req);
  if (!tok || tok !== ADO_ACCESS_TOKEN) return ciFail(res, 'azure_pipelines', 401, 'bad or missing bearer System.AccessToken');
  if (!query.get('api-version')) return ciFail(res, 'azure_pipelines', 400, 'api-version query parameter is required');
  stats.ci_tokens_minted.azure_pipelines += 1;
  return sendJson(res, 200, {
    oidcToken: await mintCiToken({ aud: ENTRA_EXCHANGE_AUD, extra: { runner_environment: 'azure-pipelines' } }),
  });
}

// ---------------------------------------------------------------------------------------------
// identity provider: verification of the CI token

class Rejection extends Error {
  constructor(status, error, reason, detail) {
    super(`${reason}: ${detail}`);
    Object.assign(this, { status, error, reason });
  }
}

function subjectMatches(sub) {
  return SUBJECT_RULES.some((rule) => {
    if (!rule.includes('*')) return rule === sub;
    const re = new RegExp(`^${rule.split('*').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
    return re.test(sub);
  });
}

// Checks in order: signature, issuer, audience, expired, nbf, subject. `error` is the OAuth
// error code to use for every failure (invalid_client for client assertions, else invalid_grant).
async function verifyCiToken(jwt, error) {
  const status = error === 'invalid_client' ? 401 : 400;
  const reject = (reason, detail) => { throw new Rejection(status, error, reason, detail); };
  if (typeof jwt !== 'string' || jwt.split('.').length !== 3) reject('malformed', 'not a compact JWS');

  let payload;
  try {
    const out = await jose.compactVerify(jwt, ciKeySet, { algorithms: ['RS256'] });
    payload = JSON.parse(new TextDecoder().decode(out.payload));
  } catch (err) {
    if (err instanceof SyntaxError) reject('malformed', 'payload is not JSON');
    reject('signature', `CI token signature not verified against ${CI_ISSUER}/jwks (${err.code || err.message})`);
  }
  if (!payload || typeof payload !== 'object') reject('malformed', 'payload is not a JSON object');

  if (payload.iss !== CI_ISSUER) reject('issuer', `iss ${JSON.stringify(payload.iss)} is not the trusted CI issuer ${CI_ISSUER}`);

  const auds = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
  if (!auds.some((a) => ALLOWED_AUDIENCES.includes(a))) {
    reject('audience', `aud ${JSON.stringify(payload.aud)} is not one of ${JSON.stringify(ALLOWED_AUDIENCES)}`);
  }

  const t = now();
  if (typeof payload.exp !== 'number') reject('expired', 'exp claim missing');
  if (t > payload.exp + LEEWAY) reject('expired', `token expired ${t - payload.exp}s ago (leeway ${LEEWAY}s)`);
  if (payload.nbf !== undefined && (typeof payload.nbf !== 'number' || t + LEEWAY < payload.nbf)) {
    reject('nbf', `token not valid before ${payload.nbf} (now ${t}, leeway ${LEEWAY}s)`);
  }

  if (typeof payload.sub !== 'string' || !subjectMatches(payload.sub)) {
    reject('subject', `sub ${JSON.stringify(payload.sub)} matches no federated credential (${SUBJECT_RULES.join(', ')})`);
  }
  return payload;
}

// ---------------------------------------------------------------------------------------------
// identity provider: /token

async function issueAccessToken(ciClaims, audience) {
  const t = now();
  return new jose.SignJWT({
    azp: CLIENT_ID,
    client_id: CLIENT_ID,
    roles: ['ci-deployer'],
    [ROLES_CLAIM]: ['ci-deployer'],
    tenant_id: 't1',
    jti: crypto.randomUUID(),
  })
    .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: IDP_KEY.kid })
    .setIssuer(ISSUER)
    .setSubject(`ci:${ciClaims.sub}`)
    .setAudience(audience)
    .setIssuedAt(t)
    .setNotBefore(t)
    .setExpirationTime(t + (ACCESS_TTL || 1))
    .sign(IDP_KEY.privateKey);
}

// audience > resource (RFC 8707) > scope "<resource>/.default" (Entra) > default
function requestedAudience(params) {
  if (params.get('audience')) return params.get('audience');
  if (params.get('resource')) return params.get('resource');
  const dflt = (params.get('scope') || '').split(/\s+/).find((s) => s.endsWith('/.default'));
  if (dflt) return dflt.slice(0, -'/.default'.length);
  return DEFAULT_RESOURCE;
}

function checkClientId(params, required, error) {
  const cid = params.get('client_id');
  if (!cid && !required) return;
  if (!cid) throw new Rejection(error === 'invalid_client' ? 401 : 400, 'invalid_client', 'client_id', 'client_id is required');
  if (cid !== CLIENT_ID) throw new Rejection(401, 'invalid_client', 'client_id', `unknown client_id ${JSON.stringify(cid)}`);
}

function requireParam(params, name) {
  const v = params.get(name);
  if (!v) throw new Rejection(400, 'invalid_request', 'request', `${name} is required`);
  return v;
}

async function tokenEndpoint(req, res) {
  const ct = req.headers['content-type'] || '';
  const raw = await readBody(req);
  const gt = new URLSearchParams(raw).get('grant_type') || '(none)';
  stats.token_requests[gt] = (stats.token_requests[gt] || 0) + 1;
  try {
    if (!/application\/x-www-form-urlencoded/i.test(ct)) {
      throw new Rejection(400, 'invalid_request', 'request', 'content-type must be application/x-www-form-urlencoded');
    }
    const params = new URLSearchParams(raw);
    if (req.headers.authorization || params.has('client_secret')) {
      throw new Rejection(401, 'invalid_client', 'client_auth', `client ${CLIENT_ID} has no secret; authenticate with a federated client_assertion`);
    }
    let ciClaims;
    const extra = {};
    switch (gt) {
      case GRANT_CC: {
        checkClientId(params, true, 'invalid_client');
        const type = params.get('client_assertion_type');
        if (type !== ASSERTION_TYPE) {
          throw new Rejection(401, 'invalid_client', 'client_assertion_type', `client_assertion_type must be ${ASSERTION_TYPE}`);
        }
        const assertion = params.get('client_assertion');
        if (!assertion) throw new Rejection(401, 'invalid_client', 'client_assertion', 'client_assertion is required');
        ciClaims = await verifyCiToken(assertion, 'invalid_client');
        break;
      }
      case GRANT_JWT_BEARER: {
        checkClientId(params, false, 'invalid_grant');
        ciClaims = await verifyCiToken(requireParam(params, 'assertion'), 'invalid_grant');
        break;
      }
      case GRANT_TOKEN_EXCHANGE: {
        checkClientId(params, false, 'invalid_grant');
        const subjectToken = requireParam(params, 'subject_token');
        const stt = requireParam(params, 'subject_token_type');
        if (stt !== TT_JWT && stt !== TT_ID_TOKEN) {
          throw new Rejection(400, 'invalid_request', 'subject_token_type', `subject_token_type must be ${TT_JWT} (or ${TT_ID_TOKEN})`);
        }
        const rtt = params.get('requested_token_type');
        if (rtt && rtt !== TT_ACCESS_TOKEN) {
          throw new Rejection(400, 'invalid_request', 'requested_token_type', `only ${TT_ACCESS_TOKEN} can be issued`);
        }
        ciClaims = await verifyCiToken(subjectToken, 'invalid_grant');
        extra.issued_token_type = TT_ACCESS_TOKEN;
        break;
      }
      default:
        throw new Rejection(400, 'unsupported_grant_type', 'grant_type', `grant_type ${JSON.stringify(gt)} is not supported`);
    }
    const audience = requestedAudience(params);
    const accessToken = await issueAccessToken(ciClaims, audience);
    stats.issued[gt] = (stats.issued[gt] || 0) + 1;
    return sendJson(res, 200, {
      access_token: accessToken, ...extra, token_type: 'Bearer', expires_in: ACCESS_TTL || 1,
    });
  } catch (err) {
    if (!(err instanceof Rejection)) throw err;
    const body = { error: err.error, error_description: err.message };
    stats.rejections.push({
      grant_type: gt, status: err.status, error: err.error, reason: err.reason, error_description: err.message,
    });
    console.error(`token ${gt}: ${err.status} ${err.error} ${err.message}`);
    const hdrs = err.status === 401 ? { 'www-authenticate': 'Bearer error="invalid_client"' } : {};
    return sendJson(res, err.status, body, hdrs);
  }
}

function idpDiscovery() {
  return {
    issuer: ISSUER,
    token_endpoint: `${ISSUER}/token`,
    jwks_uri: `${ISSUER}/jwks`,
    grant_types_supported: [GRANT_CC, GRANT_JWT_BEARER, GRANT_TOKEN_EXCHANGE],
    token_endpoint_auth_methods_supported: ['private_key_jwt'],
    token_endpoint_auth_signing_alg_values_supported: ['RS256'],
    response_types_supported: [],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256'],
    scopes_supported: [],
    claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'nbf', 'azp', 'client_id', 'roles', ROLES_CLAIM, 'tenant_id'],
  };
}

// ---------------------------------------------------------------------------------------------
// admin

async function admin(req, res, url) {
  const route = `${req.method} ${url.pathname}`;
  switch (route) {
    case 'GET /__admin/stats':
      return sendJson(res, 200, stats);
    case 'POST /__admin/reset':
      stats = freshStats();
      return sendJson(res, 200, { ok: true });
    case 'POST /__admin/mint': {
      const b = await readJson(req);
      const signWith = b.sign_with ?? 'ci';
      if (!['ci', 'rogue'].includes(signWith)) return sendJson(res, 400, { error: 'sign_with must be "ci" or "rogue"' });
      if (b.aud === undefined) return sendJson(res, 400, { error: 'aud is required' });
      for (const k of ['exp_in', 'nbf_in']) {
        if (b[k] !== undefined && !Number.isInteger(b[k])) return sendJson(res, 400, { error: `${k} must be an integer (seconds)` });
      }
      stats.ci_tokens_minted.admin += 1;
      const token = await mintCiToken({
        aud: b.aud, sub: b.sub ?? CI_SUBJECT, expIn: b.exp_in ?? CI_TTL, nbfIn: b.nbf_in ?? 0, iss: b.iss ?? CI_ISSUER, signWith,
      });
      return sendJson(res, 200, { token });
    }
    default:
      return sendJson(res, 404, { error: `no admin route ${route}` });
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP server

async function route(req, res) {
  // A client may append "&audience=..." to ACTIONS_ID_TOKEN_REQUEST_URL although the URL has no
  // query string yet; treat the first "&" after the path like "?".
  let rawUrl = req.url;
  if (rawUrl.startsWith('/ci/github-token&')) rawUrl = `/ci/github-token?${rawUrl.slice('/ci/github-token&'.length)}`;
  const url = new URL(rawUrl, 'http://127.0.0.1');
  const p = url.pathname;

  if (p.startsWith('/__admin/')) {
    if (!isLocal(req)) return sendJson(res, 403, { error: 'admin endpoints are localhost-only' });
    return admin(req, res, url);
  }
  const get = req.method === 'GET' || req.method === 'HEAD';
  switch (p) {
    case '/ci/.well-known/openid-configuration':
      if (get) return sendJson(res, 200, ciDiscovery(), { 'cache-control': 'max-age=60' });
      break;
    case '/ci/jwks':
      if (get) return sendJson(res, 200, CI_JWKS, { 'cache-control': 'max-age=60' });
      break;
    case '/ci/github-token':
      return githubToken(req, res, url.searchParams);
    case '/ci/azure-pipelines-token':
      return azurePipelinesToken(req, res, url.searchParams);
    case '/.well-known/openid-configuration':
      if (get) return sendJson(res, 200, idpDiscovery(), { 'cache-control': 'max-age=60' });
      break;
    case '/jwks':
      if (get) return sendJson(res, 200, IDP_JWKS, { 'cache-control': 'max-age=60' });
      break;
    case '/token':
      if (req.method === 'POST') return tokenEndpoint(req, res);
      return sendJson(res, 405, { error: 'invalid_request', error_description: 'use POST' }, { allow: 'POST' });
    default:
      return sendJson(res, 404, { error: 'not_found', error_description: `no route ${req.method} ${p}` });
  }
  return sendJson(res, 405, { error: 'invalid_request', error_description: `method ${req.method} not allowed` });
}

const server = http.createServer(async (req, res) => {
  try {
    await route(req, res);
  } catch (err) {
    if (!res.headersSent) sendJson(res, err.status || 500, { error: 'server_error', error_description: err.message });
    else res.destroy();
    if (!err.status) console.error('server error:', err);
  }
});

server.listen(ARGS.port, '127.0.0.1', () => {
  const { port } = server.address();
  ISSUER = `http://127.0.0.1:${port}`;
  CI_ISSUER = `${ISSUER}/ci`;
  ALLOWED_AUDIENCES = process.env.FED_ALLOWED_AUDIENCES
    ? envList('FED_ALLOWED_AUDIENCES', '')
    : [ENTRA_EXCHANGE_AUD, ISSUER];
  // verify CI tokens against the CI JWKS: in memory, or (FED_FETCH_JWKS=1) over HTTP from our
  // own /ci/jwks on 127.0.0.1
  ciKeySet = FETCH_JWKS ? jose.createRemoteJWKSet(new URL(`${CI_ISSUER}/jwks`)) : jose.createLocalJWKSet(CI_JWKS);
  process.stdout.write(`${JSON.stringify({ issuer: ISSUER, ci_issuer: CI_ISSUER, port })}\n`);
  console.error(`federation peer: issuer ${ISSUER}, ci_issuer ${CI_ISSUER}, client_id ${CLIENT_ID}, subjects ${SUBJECT_RULES.join(', ')}, audiences ${ALLOWED_AUDIENCES.join(', ')}`);
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    server.close();
    process.exit(0);
  });
}
