#!/usr/bin/env node
// Local OpenID Connect test peer for cosmoscope, built on the real `oidc-provider` (v9).
//
//   node server.mjs [--port 0]
//
// Listens on 127.0.0.1 only. When listening it prints exactly one JSON line on stdout:
//   {"issuer":"http://127.0.0.1:PORT","port":PORT}
// and keeps running; everything else goes to stderr. See README.md for env vars and the
// /__admin/ test endpoints.

import * as crypto from 'node:crypto';
import * as http from 'node:http';

import * as jose from 'jose';
import Provider, { errors as oidcErrors } from 'oidc-provider';

import { Storage } from './adapter.mjs';
import { approveDevice, authorizeInBrowser } from './approve.mjs';

// oidc-provider prints its "you SHOULD change this default" notices with console.info, i.e. on
// stdout. stdout is reserved for the single JSON line, so route every console method to stderr.
console.log = console.info = console.debug = (...args) => console.error(...args);

// ---------------------------------------------------------------------------------------------
// configuration

function envInt(name, def) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) {
    throw new Error(`${name} must be a non-negative integer, got ${JSON.stringify(raw)}`);
  }
  return n;
}

function parseArgs(argv) {
  const out = { port: envInt('OIDC_PORT', 0) };
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
const ACCESS_TTL = envInt('OIDC_ACCESS_TTL', 600);
const ID_TTL = envInt('OIDC_ID_TTL', 600);
const DEVICE_TTL = envInt('OIDC_DEVICE_TTL', 600);
const SHORT_DEVICE_TTL = envInt('OIDC_SHORT_DEVICE_TTL', 3);
const REFRESH_TTL = envInt('OIDC_REFRESH_TTL', 14 * 24 * 3600);
const DEVICE_INTERVAL = process.env.OIDC_DEVICE_INTERVAL ? envInt('OIDC_DEVICE_INTERVAL', 0) : undefined;
const ROTATE_REFRESH = (process.env.OIDC_ROTATE_REFRESH ?? '1') !== '0';
const LOG = process.env.OIDC_LOG === '1';

const DEFAULT_RESOURCE = 'https://cosmos-gateway.test';
const RESOURCES = new Set((process.env.OIDC_RESOURCES || DEFAULT_RESOURCE).split(',').map((s) => s.trim()).filter(Boolean));
RESOURCES.add(DEFAULT_RESOURCE);
// Scopes a resource server accepts. The OIDC scopes are listed too so that a device-flow access
// token for the gateway carries `scope: "openid profile email offline_access"` (as Auth0 does)
// instead of an empty scope string.
const RESOURCE_SCOPE = 'openid profile email offline_access cosmos.read cosmos.write';

const ROLES_CLAIM = 'https://cosmoscope.test/roles';

const CLI_SCOPE = 'openid profile email offline_access';
// Loopback redirect URIs (RFC 8252 §7.3): oidc-provider matches them for native clients on any port.
const LOOPBACK_REDIRECTS = ['http://localhost', 'http://127.0.0.1'];
// Google personality: an installed app whose "secret" must be sent on polls and refreshes.
const GOOGLE_CLIENT_ID = 'cosmoscope-google';
const GOOGLE_SECRET = 'google-installed-app-secret';
// Entra personality: each user's tenant (`tid`), and the v1 issuer of tokens for other resources.
const ENTRA_TENANTS = { alice: '11111111-1111-1111-1111-111111111111', bob: '22222222-2222-2222-2222-222222222222', carol: '11111111-1111-1111-1111-111111111111', mallory: '99999999-9999-9999-9999-999999999999' };
const ENTRA_CI_TENANT = '11111111-1111-1111-1111-111111111111';
const COSMOS_RESOURCE = 'https://cosmos.azure.com';
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const CI_CLIENT_ID = 'cosmoscope-ci';
const CI_SECRET = 'ci-secret-for-tests';
const CI_ROLES = ['ci-deployer'];
const CI_TENANT = 't1';

const USERS = {
  alice: { name: 'Alice', email: 'alice@example.test', roles: ['support'], tenant_id: 't1' },
  bob: { name: 'Bob', email: 'bob@example.test', roles: ['admin', 'support'], tenant_id: 't2' },
  carol: { name: 'Carol', email: 'carol@example.test', roles: ['analyst'], tenant_id: 't1' },
};

function userClaims(login) {
  const u = USERS[login] || {
    name: login, email: `${login}@example.test`, roles: [], tenant_id: 't0',
  };
  return {
    sub: login,
    name: u.name,
    preferred_username: login,
    email: u.email,
    email_verified: true,
    roles: [...u.roles],
    [ROLES_CLAIM]: [...u.roles],
    tenant_id: u.tenant_id,
  };
}

// ---------------------------------------------------------------------------------------------
// state shared across Provider instances

const storage = new Storage();
const COOKIE_KEYS = [crypto.randomBytes(32).toString('base64url')];

function freshStats() {
  return {
    token_requests: {},
    revocations: 0,
    introspections: 0,
    device_authorizations: 0,
    device_poll_times_ms: [],
    faults_served: { slow_down: 0, entra: 0 },
    forged: [],
  };
}
let stats = freshStats();
const faults = { slowdown: 0, entra: [], forge: null, jwksFail: 0, grant: [] };
// /__admin/jwks-hold: JWKS requests wait (their resolvers here) until the hold is released.
let jwksHold = null;
function releaseJwks() {
  const waiting = jwksHold || [];
  jwksHold = null;
  for (const release of waiting) release();
}

// ---------------------------------------------------------------------------------------------
// signing keys (generated with jose at start; rotated through /__admin/rotate-keys)

let generationCounter = 0;
// each: { n, state: 'active' | 'staged' | 'old', rsa: KeyInfo, ec: KeyInfo }
let generations = [];

async function makeKey(alg, n) {
  const { privateKey } = await jose.generateKeyPair(alg, { extractable: true });
  const jwk = await jose.exportJWK(privateKey);
  const thumb = await jose.calculateJwkThumbprint(jwk);
  const kid = `${alg.toLowerCase()}-${n}-${thumb.slice(0, 10)}`;
  Object.assign(jwk, { kid, alg, use: 'sig' });
  const keyObject = crypto.createPrivateKey({ key: jwk, format: 'jwk' });
  const publicPem = crypto.createPublicKey(keyObject).export({ type: 'spki', format: 'pem' });
  return {
    alg, kid, jwk, keyObject, publicPem,
  };
}

async function newGeneration(state) {
  generationCounter += 1;
  const n = generationCounter;
  return {
    n, state, rsa: await makeKey('RS256', n), ec: await makeKey('ES256', n),
  };
}

function activeGeneration() {
  return generations.find((g) => g.state === 'active');
}

function orderedJwks() {
  // The provider signs with the first matching key, so the active generation goes first.
  const order = { active: 0, staged: 1, old: 2 };
  const sorted = [...generations].sort((a, b) => order[a.state] - order[b.state] || b.n - a.n);
  return { keys: sorted.flatMap((g) => [structuredClone(g.rsa.jwk), structuredClone(g.ec.jwk)]) };
}

function findKeyByKid(kid) {
  for (const g of generations) {
    if (g.rsa.kid === kid) return g.rsa;
    if (g.ec.kid === kid) return g.ec;
  }
  return undefined;
}

function keysSummary() {
  const active = activeGeneration();
  return {
    kid: active.rsa.kid,
    es256_kid: active.ec.kid,
    staged: generations.filter((g) => g.state === 'staged').map((g) => g.rsa.kid),
    old: generations.filter((g) => g.state === 'old').map((g) => g.rsa.kid),
    jwks_kids: orderedJwks().keys.map((k) => k.kid),
  };
}

// ---------------------------------------------------------------------------------------------
// provider construction

function makeConfiguration() {
  const rs256Kid = activeGeneration().rsa.kid;
  return {
    adapter: storage.adapterFactory(),
    jwks: orderedJwks(),
    cookies: { keys: COOKIE_KEYS },
    clients: [
      {
        client_id: 'cosmoscope-cli',
        client_name: 'cosmoscope CLI',
        application_type: 'native',
        token_endpoint_auth_method: 'none',
        grant_types: [DEVICE_GRANT, 'refresh_token', 'authorization_code'],
        response_types: ['code'],
        redirect_uris: LOOPBACK_REDIRECTS,
        scope: CLI_SCOPE,
      },
      {
        // Google's "Desktop app" / "TVs and Limited Input" clients: a secret that is not secret,
        // required on the device poll, the code exchange and the refresh.
        client_id: GOOGLE_CLIENT_ID,
        client_name: 'cosmoscope (Google personality)',
        client_secret: GOOGLE_SECRET,
        application_type: 'native',
        token_endpoint_auth_method: 'client_secret_post',
        grant_types: [DEVICE_GRANT, 'refresh_token', 'authorization_code'],
        response_types: ['code'],
        redirect_uris: LOOPBACK_REDIRECTS,
        scope: CLI_SCOPE,
      },
      {
        client_id: 'cosmoscope-short',
        client_name: 'cosmoscope CLI (short-lived device codes)',
        application_type: 'native',
        token_endpoint_auth_method: 'none',
        grant_types: [DEVICE_GRANT, 'refresh_token'],
        response_types: [],
        redirect_uris: [],
        scope: CLI_SCOPE,
      },
      {
        // oidc-provider allows exactly one token_endpoint_auth_method per client; the front
        // server turns client_secret_post for this client into client_secret_basic, so both work.
        client_id: CI_CLIENT_ID,
        client_name: 'cosmoscope CI',
        client_secret: CI_SECRET,
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['client_credentials', 'refresh_token'],
        response_types: [],
        redirect_uris: [],
      },
    ],
    async findAccount(ctx, id) {
      if (!id) return undefined;
      return {
        accountId: id,
        async claims() { return userClaims(id); },
      };
    },
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username', 'roles', ROLES_CLAIM, 'tenant_id'],
      email: ['email', 'email_verified'],
    },
    // put scope-granted claims into the ID token even though an access token is issued
    conformIdTokenClaims: false,
    features: {
      devInteractions: { enabled: true },
      deviceFlow: { enabled: true },
      revocation: { enabled: true },
      introspection: { enabled: true },
      clientCredentials: { enabled: true },
      userinfo: { enabled: true },
      resourceIndicators: {
        enabled: true,
        async defaultResource(ctx, client, oneOf) {
          return oneOf || DEFAULT_RESOURCE;
        },
        // at the token endpoint (device_code, refresh_token) keep the resource granted at the
        // device authorization request even though `openid` is in scope
        async useGrantedResource() {
          return true;
        },
        async getResourceServerInfo(ctx, resourceIndicator) {
          if (!RESOURCES.has(resourceIndicator)) {
            throw new oidcErrors.InvalidTarget(`unknown resource ${resourceIndicator}`);
          }
          return {
            scope: RESOURCE_SCOPE,
            audience: resourceIndicator,
            accessTokenTTL: ACCESS_TTL || 1,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256', kid: rs256Kid } },
          };
        },
      },
    },
    async extraTokenClaims(ctx, token) {
      if (token.accountId) {
        const c = userClaims(token.accountId);
        return { roles: c.roles, [ROLES_CLAIM]: c[ROLES_CLAIM], tenant_id: c.tenant_id };
      }
      // client_credentials (no account): the CI client's tokens carry the CI role; `sub` stays
      // the client id (oidc-provider's default)
      if (token.kind === 'ClientCredentials' && token.clientId === CI_CLIENT_ID) {
        return { roles: [...CI_ROLES], [ROLES_CLAIM]: [...CI_ROLES], tenant_id: CI_TENANT };
      }
      return undefined;
    },
    async issueRefreshToken(ctx, client, source) {
      return client.grantTypeAllowed('refresh_token') && source.scopes.has('offline_access');
    },
    // Google never rotates (its refresh answers carry no refresh token: the one sent stays valid).
    rotateRefreshToken: (ctx) => (ctx.oidc.client?.clientId === GOOGLE_CLIENT_ID ? false : ROTATE_REFRESH),
    ttl: {
      AccessToken: () => ACCESS_TTL || 1,
      ClientCredentials: () => ACCESS_TTL || 1,
      IdToken: () => ID_TTL || 1,
      DeviceCode: (ctx, code, client) => (client?.clientId === 'cosmoscope-short' ? SHORT_DEVICE_TTL : DEVICE_TTL) || 1,
      RefreshToken: () => REFRESH_TTL || 1,
      Grant: () => 14 * 24 * 3600,
      Interaction: () => 3600,
      Session: () => 14 * 24 * 3600,
      AuthorizationCode: () => 60,
    },
    renderError(ctx, out, error) {
      ctx.type = 'html';
      ctx.body = `<!DOCTYPE html><html><head><title>oops! something went wrong</title></head><body><h1>oops! something went wrong</h1><pre>${
        Object.entries(out).map(([k, v]) => `${k}: ${String(v).replace(/[<>&]/g, '')}`).join('\n')}</pre></body></html>`;
      if (LOG) console.error('renderError', out, error?.message);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// forged tokens (fault injection for ID-token / access-token validation tests)

const b64u = (buf) => Buffer.from(buf).toString('base64url');
const b64json = (obj) => b64u(JSON.stringify(obj));

// What Keycloak issues by default: an access token for the `account` audience, issued to the
// client (`azp`), with the realm roles in `realm_access.roles` and nowhere in the ID token.
function keycloakAccessToken(body) {
  const id = JSON.parse(Buffer.from(body.id_token.split('.')[1], 'base64url'));
  const now = Math.floor(Date.now() / 1000);
  const key = activeGeneration().rsa;
  return signWith(key, { alg: 'RS256', typ: 'JWT', kid: key.kid }, {
    iss: ISSUER, sub: id.sub, aud: 'account', azp: id.aud, typ: 'Bearer', iat: now, exp: now + 600,
    realm_access: { roles: id['https://cosmoscope.test/roles'] || [] },
  });
}

function signWith(key, header, payload) {
  const input = `${b64json(header)}.${b64json(payload)}`;
  let sig;
  if (header.alg === 'RS256') {
    sig = crypto.sign('sha256', Buffer.from(input), key.keyObject);
  } else if (header.alg === 'ES256') {
    sig = crypto.sign('sha256', Buffer.from(input), { key: key.keyObject, dsaEncoding: 'ieee-p1363' });
  } else {
    throw new Error(`cannot sign ${header.alg}`);
  }
  return `${input}.${b64u(sig)}`;
}

export const FORGE_MODES = ['alg-none', 'hs256-pubkey', 'wrong-aud', 'wrong-iss', 'expired', 'nbf-future', 'bad-signature', 'unknown-kid', 'clock-ahead', 'other-sub', 'drop', 'keycloak'];

// `skew`: for clock-ahead, how many seconds the provider's clock runs ahead of ours.
function forgeJwt(token, mode, issuer, skew = 0) {
  const [h, p, s] = token.split('.');
  const header = JSON.parse(Buffer.from(h, 'base64url'));
  const payload = JSON.parse(Buffer.from(p, 'base64url'));
  const now = Math.floor(Date.now() / 1000);
  const realKey = findKeyByKid(header.kid) || (header.alg === 'ES256' ? activeGeneration().ec : activeGeneration().rsa);

  switch (mode) {
    case 'alg-none':
      return `${b64json({ ...header, alg: 'none' })}.${b64json(payload)}.`;
    case 'hs256-pubkey': {
      const hdr = { ...header, alg: 'HS256' };
      const input = `${b64json(hdr)}.${b64json(payload)}`;
      const sig = crypto.createHmac('sha256', Buffer.from(realKey.publicPem)).update(input).digest();
      return `${input}.${b64u(sig)}`;
    }
    case 'wrong-aud':
      return signWith(realKey, header, { ...payload, aud: 'https://attacker.example.test' });
    case 'wrong-iss':
      return signWith(realKey, header, { ...payload, iss: `${issuer}/evil` });
    case 'expired':
      return signWith(realKey, header, { ...payload, iat: now - 7200, exp: now - 3600 });
    case 'nbf-future':
      return signWith(realKey, header, { ...payload, nbf: now + 3600 });
    case 'clock-ahead': {
      const shift = (v) => (typeof v === 'number' ? v + skew : v);
      return signWith(realKey, header, { ...payload, iat: shift(payload.iat), nbf: shift(payload.nbf ?? payload.iat), exp: shift(payload.exp) });
    }
    case 'other-sub':
      // Properly signed, for another person: what a confused or hostile refresh could answer.
      return signWith(realKey, header, { ...payload, sub: 'mallory' });
    case 'bad-signature': {
      const sig = Buffer.from(s, 'base64url');
      sig[Math.floor(sig.length / 2)] ^= 0x5a;
      return `${h}.${p}.${b64u(sig)}`;
    }
    case 'unknown-kid': {
      const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
      const kid = `unknown-${crypto.randomBytes(6).toString('hex')}`;
      return signWith({ keyObject: privateKey }, { ...header, alg: 'RS256', kid }, payload);
    }
    default:
      throw new Error(`unknown forge mode ${mode}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Entra personality (a thin layer: what oidc-provider cannot do itself)

// On: discovery under /organizations/v2.0 and /common/v2.0 names the issuer as the template
// `<issuer>/{tenantid}/v2.0`, and every ID and access token is re-signed with `iss` carrying the
// user's tenant and a `tid` claim — what Entra does for multi-tenant apps.
let entraMultiTenant = false;
const ENTRA_MULTI_PATHS = ['/organizations/v2.0', '/common/v2.0'];

function decodePayload(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url'));
}

function resign(payload) {
  const key = activeGeneration().rsa;
  return signWith(key, { alg: 'RS256', typ: 'JWT', kid: key.kid }, payload);
}

function entraTenantTokens(body) {
  for (const field of ['id_token', 'access_token']) {
    const t = body[field];
    if (typeof t !== 'string' || t.split('.').length !== 3) continue;
    const p = decodePayload(t);
    const tid = ENTRA_TENANTS[p.sub] || ENTRA_CI_TENANT;
    body[field] = resign({ ...p, iss: `${ISSUER}/${tid}/v2.0`, tid });
  }
}

// A client-credentials request with Entra's `<resource>/.default` scope. For Cosmos DB: a v1 token
// (`iss https://sts.windows.net/<tid>/`, `aud https://cosmos.azure.com`), which a client must treat
// as opaque; for the app's own id: a v2 token for the app itself (aud = client id, app roles).
function entraResourceToken(body, scope) {
  const p = decodePayload(body.access_token);
  const now = Math.floor(Date.now() / 1000);
  const resource = scope.slice(0, -'/.default'.length);
  const common = { iat: now, nbf: now, exp: now + (ACCESS_TTL || 1), tid: ENTRA_CI_TENANT, oid: `sp-${p.client_id}` };
  if (resource === COSMOS_RESOURCE || /\.documents\.azure\.com$/.test(resource)) {
    body.access_token = resign({ ...common, aud: resource, iss: `https://sts.windows.net/${ENTRA_CI_TENANT}/`, appid: p.client_id, sub: `sp-${p.client_id}`, ver: '1.0' });
  } else {
    body.access_token = resign({ ...common, aud: resource, iss: ISSUER, azp: p.client_id, sub: `sp-${p.client_id}`, roles: p.roles || [], [ROLES_CLAIM]: p.roles || [], ver: '2.0' });
  }
  body.scope = scope;
}

// ---------------------------------------------------------------------------------------------
// Provider instances; rebuilt (sharing `storage`) whenever the key set changes

let ISSUER;
let current; // { provider, handler }

function buildProvider() {
  const provider = new Provider(ISSUER, makeConfiguration());

  provider.use(async (ctx, next) => {
    await next();
    // Entra sends no RFC 9207 `iss` in its authorization responses.
    const location = ctx.response.get('location');
    if (entraMultiTenant && location && /[?&]iss=/.test(location) && !location.startsWith(ISSUER)) {
      const u = new URL(location);
      u.searchParams.delete('iss');
      ctx.redirect(u.href);
    }
    if (ctx.method !== 'POST' || ctx.status !== 200 || !ctx.body || typeof ctx.body !== 'object') return;
    if (ctx.path === '/device/auth' && ctx.req.personality === 'google') {
      // Google names the page `verification_url` (RFC 8628 says verification_uri).
      ctx.body.verification_url = ctx.body.verification_uri;
      delete ctx.body.verification_uri;
      delete ctx.body.verification_uri_complete;
    }
    if (ctx.path !== '/token') return;
    if (ctx.req.personality === 'google' && ctx.req.grantType === 'refresh_token') {
      delete ctx.body.refresh_token; // Google's refresh answers never carry one
    }
    if (ctx.req.entraScope) entraResourceToken(ctx.body, ctx.req.entraScope);
    if (entraMultiTenant) entraTenantTokens(ctx.body);
  });

  provider.use(async (ctx, next) => {
    await next();
    if (ctx.method !== 'POST' || ctx.path !== '/token' || ctx.status !== 200 || !faults.forge) return;
    const body = ctx.body;
    const { mode, target, skew } = faults.forge;
    if (!body || typeof body !== 'object' || typeof body[target] !== 'string') return;
    if (mode === 'drop') delete body[target]; // RFC 6749 §6 lets a refresh answer leave it out
    else if (mode === 'keycloak') body.access_token = keycloakAccessToken(body);
    else body[target] = forgeJwt(body[target], mode, ISSUER, skew);
    stats.forged.push({ mode, target });
    faults.forge = null;
  });

  provider.on('device_authorization.success', (ctx, body) => {
    if (DEVICE_INTERVAL !== undefined) body.interval = DEVICE_INTERVAL;
  });
  provider.on('server_error', (ctx, err) => console.error('oidc server_error:', err));
  if (LOG) {
    for (const ev of ['grant.error', 'device_authorization.error', 'revocation.error', 'introspection.error', 'code_verification.error', 'interaction.error']) {
      provider.on(ev, (ctx, err) => console.error(`oidc ${ev}:`, err.message, err.error_description || ''));
    }
  }
  return { provider, handler: provider.callback() };
}

// ---------------------------------------------------------------------------------------------
// front HTTP server: admin endpoints, request accounting, faults, then the provider

const BODY_PATHS = new Set(['/token', '/token/revocation', '/token/introspection', '/device/auth']);
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

function sendJson(res, status, obj, extraHeaders = {}) {
  const body = JSON.stringify(obj);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(body),
    ...extraHeaders,
  });
  res.end(body);
}

function isLocal(req) {
  const a = req.socket.remoteAddress;
  return a === '127.0.0.1' || a === '::1' || a === '::ffff:127.0.0.1';
}

// Returns true when the request was answered here (fault injection).
async function preprocess(req, res, pathname) {
  const isForm = /application\/x-www-form-urlencoded/i.test(req.headers['content-type'] || '');
  if (!isForm) return false;
  const raw = await readBody(req);
  const params = new URLSearchParams(raw);

  // Auth0-style `audience` == RFC 8707 `resource`
  if (params.has('audience')) {
    if (!params.has('resource')) params.set('resource', params.get('audience'));
    params.delete('audience');
  }

  // cosmoscope-ci: accept client_secret_post by turning it into client_secret_basic
  if (params.get('client_id') === CI_CLIENT_ID && params.has('client_secret') && !req.headers.authorization) {
    const enc = (v) => encodeURIComponent(v);
    req.headers.authorization = `Basic ${Buffer.from(`${enc(CI_CLIENT_ID)}:${enc(params.get('client_secret'))}`).toString('base64')}`;
    params.delete('client_id');
    params.delete('client_secret');
  }

  if (params.get('client_id') === GOOGLE_CLIENT_ID) req.personality = 'google';
  req.grantType = params.get('grant_type');
  if (pathname === '/token' && params.get('grant_type') === 'client_credentials' && /\/\.default$/.test(params.get('scope') || '')) {
    req.entraScope = params.get('scope');
    params.delete('scope');
  }
  if (pathname === '/token') {
    const gt = params.get('grant_type') || '(none)';
    stats.token_requests[gt] = (stats.token_requests[gt] || 0) + 1;
    // Provider-specific refusals of a grant, with their own descriptions: Okta's policy refusal
    // (access_denied, "Policy evaluation failed…") on the device or refresh grant, Entra's
    // interaction_required / AADSTS50076 on refresh.
    const i = faults.grant.findIndex((f) => f.grant === gt || (f.grant === 'device_code' && gt === DEVICE_GRANT));
    if (i >= 0) {
      const [f] = faults.grant.splice(i, 1);
      sendJson(res, 400, { error: f.error, error_description: f.description });
      return true;
    }
    if (gt === DEVICE_GRANT) {
      stats.device_poll_times_ms.push(Date.now());
      if (faults.slowdown > 0) {
        faults.slowdown -= 1;
        stats.faults_served.slow_down += 1;
        sendJson(res, 400, { error: 'slow_down', error_description: 'injected by /__admin/slowdown' });
        return true;
      }
      if (faults.entra.length) {
        const error = faults.entra.shift();
        stats.faults_served.entra += 1;
        sendJson(res, 400, { error, error_description: 'injected by /__admin/entra-errors' });
        return true;
      }
    }
  } else if (pathname === '/token/revocation') {
    stats.revocations += 1;
  } else if (pathname === '/token/introspection') {
    stats.introspections += 1;
  } else if (pathname === '/device/auth') {
    stats.device_authorizations += 1;
  }

  // hand the (possibly rewritten) body to oidc-provider, which uses req.body when the stream
  // has already been consumed
  const body = params.toString();
  req.body = body;
  req.headers['content-length'] = String(Buffer.byteLength(body));
  return false;
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

async function rebuild() {
  current = buildProvider();
}

async function admin(req, res, url) {
  const route = `${req.method} ${url.pathname}`;
  const flag = (name) => ['1', 'true', 'yes'].includes(url.searchParams.get(name) || '');
  switch (route) {
    case 'GET /__admin/stats':
      return sendJson(res, 200, { ...stats, pending_faults: { ...faults }, jwks_held: jwksHold ? jwksHold.length : 0, storage: storage.counts() });
    case 'POST /__admin/reset':
      stats = freshStats();
      faults.slowdown = 0;
      faults.entra = [];
      faults.grant = [];
      faults.forge = null;
      faults.jwksFail = 0;
      releaseJwks();
      entraMultiTenant = false;
      return sendJson(res, 200, { ok: true });
    case 'GET /__admin/keys':
      return sendJson(res, 200, keysSummary());
    case 'POST /__admin/rotate-keys': {
      const body = await readJson(req);
      const stage = flag('stage') || body.stage === true;
      const dropOld = flag('drop_old') || body.drop_old === true;
      if (stage) {
        // publish a new key without signing with it yet
        if (!generations.some((g) => g.state === 'staged')) generations.push(await newGeneration('staged'));
      } else {
        let next = generations.find((g) => g.state === 'staged');
        if (!next) {
          next = await newGeneration('staged');
          generations.push(next);
        }
        for (const g of generations) if (g.state === 'active') g.state = 'old';
        next.state = 'active';
      }
      if (dropOld) generations = generations.filter((g) => g.state !== 'old');
      await rebuild();
      const summary = keysSummary();
      return sendJson(res, 200, stage ? { ...summary, kid: summary.staged[0] } : summary);
    }
    case 'POST /__admin/drop-old-keys':
      generations = generations.filter((g) => g.state !== 'old');
      await rebuild();
      return sendJson(res, 200, keysSummary());
    case 'POST /__admin/forge': {
      const body = await readJson(req);
      const target = body.target || 'id_token';
      if (!FORGE_MODES.includes(body.mode)) return sendJson(res, 400, { error: `mode must be one of ${FORGE_MODES.join(', ')}` });
      if (!['id_token', 'access_token', 'refresh_token'].includes(target)) return sendJson(res, 400, { error: 'target must be id_token, access_token or refresh_token' });
      faults.forge = { mode: body.mode, target, skew: Number(body.skew ?? 0) };
      return sendJson(res, 200, { armed: faults.forge });
    }
    case 'POST /__admin/jwks-fail': {
      const body = await readJson(req);
      const count = body.count ?? 1;
      if (!Number.isInteger(count) || count < 0) return sendJson(res, 400, { error: 'count must be a non-negative integer' });
      faults.jwksFail = count;
      return sendJson(res, 200, { jwks_fail: faults.jwksFail });
    }
    case 'POST /__admin/jwks-hold': {
      // {"hold": true}: JWKS requests wait from now on; {"hold": false}: they are all answered.
      const body = await readJson(req);
      if (body.hold === true) jwksHold ??= [];
      else releaseJwks();
      return sendJson(res, 200, { holding: jwksHold !== null });
    }
    case 'POST /__admin/slowdown': {
      const body = await readJson(req);
      const count = body.count ?? 1;
      if (!Number.isInteger(count) || count < 0) return sendJson(res, 400, { error: 'count must be a non-negative integer' });
      faults.slowdown = count;
      return sendJson(res, 200, { slowdown: faults.slowdown });
    }
    case 'POST /__admin/entra-errors': {
      const body = await readJson(req);
      const allowed = ['authorization_declined', 'bad_verification_code', 'expired_token'];
      if (!allowed.includes(body.error)) return sendJson(res, 400, { error: `error must be one of ${allowed.join(', ')}` });
      const count = body.count ?? 1;
      for (let i = 0; i < count; i += 1) faults.entra.push(body.error);
      return sendJson(res, 200, { queued: faults.entra });
    }
    case 'POST /__admin/grant-errors': {
      const body = await readJson(req);
      if (!['refresh_token', 'device_code'].includes(body.grant)) return sendJson(res, 400, { error: 'grant must be refresh_token or device_code' });
      if (typeof body.error !== 'string') return sendJson(res, 400, { error: 'error is required' });
      faults.grant.push({ grant: body.grant, error: body.error, description: body.description ?? '' });
      return sendJson(res, 200, { queued: faults.grant });
    }
    case 'POST /__admin/personality': {
      const body = await readJson(req);
      if (!['entra-multi-tenant', 'default'].includes(body.name)) return sendJson(res, 400, { error: 'name must be entra-multi-tenant or default' });
      entraMultiTenant = body.name === 'entra-multi-tenant';
      return sendJson(res, 200, { personality: body.name });
    }
    case 'POST /__admin/authorize': {
      // What a person does in the browser, over plain HTTP: open the authorization URL, sign in,
      // consent, and let the provider send the browser to the loopback redirect.
      const body = await readJson(req);
      if (!body.url) return sendJson(res, 400, { error: 'url is required' });
      try {
        const out = await authorizeInBrowser({ url: body.url, login: body.login || 'alice', deny: body.deny === true, callback: body.callback });
        return sendJson(res, 200, out);
      } catch (err) {
        return sendJson(res, 400, { error: err.message });
      }
    }
    case 'POST /__admin/approve': {
      const body = await readJson(req);
      if (!body.user_code) return sendJson(res, 400, { error: 'user_code is required' });
      try {
        const out = await approveDevice({
          issuer: ISSUER,
          userCode: body.user_code,
          login: body.login || 'alice',
          abort: body.abort === true,
        });
        return sendJson(res, 200, { result: out.result });
      } catch (err) {
        return sendJson(res, 400, { error: err.message });
      }
    }
    default:
      return sendJson(res, 404, { error: `no admin route ${route}` });
  }
}

const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, 'http://127.0.0.1');
    if (url.pathname.startsWith('/__admin/')) {
      if (!isLocal(req)) return sendJson(res, 403, { error: 'admin endpoints are localhost-only' });
      return await admin(req, res, url);
    }
    if (!current) return sendJson(res, 503, { error: 'starting' });
    // Entra multi-tenant discovery: the same provider, its issuer named as the tenant template.
    const multi = ENTRA_MULTI_PATHS.find((p) => url.pathname === `${p}/.well-known/openid-configuration`);
    if (multi) {
      if (!entraMultiTenant) return sendJson(res, 404, { error: 'the entra personality is off (POST /__admin/personality)' });
      const doc = await (await fetch(`${ISSUER}/.well-known/openid-configuration`)).json();
      return sendJson(res, 200, { ...doc, issuer: `${ISSUER}/{tenantid}/v2.0`, authorization_response_iss_parameter_supported: false });
    }
    // OIDC Core §11: oidc-provider grants offline_access only with prompt=consent; Entra, Auth0
    // and Okta give a refresh token for the scope alone, so the peer asks for the consent itself.
    if (req.method === 'GET' && url.pathname === '/auth') {
      const scope = (url.searchParams.get('scope') || '').split(' ');
      const prompt = (url.searchParams.get('prompt') || '').split(' ').filter(Boolean);
      if (scope.includes('offline_access') && !prompt.includes('consent')) {
        url.searchParams.set('prompt', [...prompt, 'consent'].join(' '));
        req.url = `${url.pathname}${url.search}`;
      }
      stats.authorization_requests = (stats.authorization_requests || 0) + 1;
      stats.last_authorization = Object.fromEntries(url.searchParams);
    }
    if (url.pathname === '/jwks' && jwksHold) await new Promise((release) => jwksHold.push(release));
    if (url.pathname === '/jwks' && faults.jwksFail > 0) {
      faults.jwksFail -= 1;
      return sendJson(res, 503, { error: 'injected by /__admin/jwks-fail' });
    }
    if (req.method === 'POST' && BODY_PATHS.has(url.pathname)) {
      if (await preprocess(req, res, url.pathname)) return undefined;
    }
    return current.handler(req, res);
  } catch (err) {
    if (!res.headersSent) sendJson(res, err.status || 500, { error: 'server_error', error_description: err.message });
    else res.destroy();
    if (!err.status) console.error('front server error:', err);
    return undefined;
  }
});

generations.push(await newGeneration('active'));

server.listen(ARGS.port, '127.0.0.1', () => {
  const { port } = server.address();
  ISSUER = `http://127.0.0.1:${port}`;
  current = buildProvider();
  process.stdout.write(`${JSON.stringify({ issuer: ISSUER, port })}\n`);
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    server.close();
    process.exit(0);
  });
}
