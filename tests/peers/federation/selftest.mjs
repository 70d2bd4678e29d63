#!/usr/bin/env node
// End-to-end self test of the federation test peer. Starts server.mjs on an ephemeral port,
// drives it over HTTP (127.0.0.1 only) and prints `selftest: N passed, M failed` last.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import * as path from 'node:path';
import { strict as assert } from 'node:assert';

import * as jose from 'jose';

const here = path.dirname(fileURLToPath(import.meta.url));
const ENTRA_AUD = 'api://AzureADTokenExchange';
const SUBJECT = 'repo:acme/shop:ref:refs/heads/main';
const CLIENT_ID = 'cosmoscope-federated';
const RESOURCE = 'https://cosmos-gateway.test';
const ROLES = 'https://cosmoscope.test/roles';
const GRANT_CC = 'client_credentials';
const GRANT_JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const GRANT_TX = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const TT_JWT = 'urn:ietf:params:oauth:token-type:jwt';
const TT_AT = 'urn:ietf:params:oauth:token-type:access_token';

// ------------------------------------------------------------------ server processes
const children = [];
async function startServer(env = {}) {
  const child = spawn(process.execPath, [path.join(here, 'server.mjs'), '--port', '0'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const st = { child, stderr: '', stdout: '' };
  child.stderr.on('data', (d) => { st.stderr += d; });
  st.firstLine = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${st.stderr}`)), 15000);
    child.stdout.on('data', (d) => {
      st.stdout += d;
      const nl = st.stdout.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        resolve(st.stdout.slice(0, nl));
      }
    });
    child.on('exit', (code) => reject(new Error(`server exited ${code}:\n${st.stderr}`)));
  });
  return st;
}

const main = await startServer();
const { issuer: ISSUER, ci_issuer: CI_ISSUER, port: PORT } = JSON.parse(main.firstLine);

// ------------------------------------------------------------------ helpers
const expected = { token_requests: {}, issued: {}, rejections: [] };

async function tokenRequest(form, { base = ISSUER, headers = {}, track = true } = {}) {
  const gt = form.grant_type ?? '(none)';
  if (track) expected.token_requests[gt] = (expected.token_requests[gt] || 0) + 1;
  const res = await fetch(`${base}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form).toString(),
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = { raw: text }; }
  if (track) {
    if (res.status === 200) expected.issued[gt] = (expected.issued[gt] || 0) + 1;
    else expected.rejections.push(json.error_description?.split(':')[0]);
  }
  return { status: res.status, json };
}

async function admin(p, body, { method = 'POST', base = ISSUER } = {}) {
  const res = await fetch(`${base}/__admin/${p}`, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`admin ${p}: HTTP ${res.status} ${JSON.stringify(json)}`);
  return json;
}

const mint = async (opts, base) => (await admin('mint', opts, { base })).token;
const getJson = async (url) => (await fetch(url)).json();
const decodePayload = (t) => JSON.parse(Buffer.from(t.split('.')[1], 'base64url'));

async function githubToken(audience, { sep = '?', reqToken = 'gh-request-token' } = {}) {
  const url = `${CI_ISSUER}/github-token${audience === undefined ? '' : `${sep}audience=${encodeURIComponent(audience)}`}`;
  const res = await fetch(url, { headers: { authorization: `Bearer ${reqToken}` } });
  return { status: res.status, json: await res.json() };
}

const ccForm = (jwt, extra = {}) => ({
  grant_type: GRANT_CC, client_id: CLIENT_ID, client_assertion_type: ASSERTION_TYPE, client_assertion: jwt, ...extra,
});
const jbForm = (jwt, extra = {}) => ({ grant_type: GRANT_JWT_BEARER, client_id: CLIENT_ID, assertion: jwt, ...extra });
const txForm = (jwt, extra = {}) => ({
  grant_type: GRANT_TX, client_id: CLIENT_ID, subject_token: jwt, subject_token_type: TT_JWT, ...extra,
});

let idpKeys;
async function checkAccessToken(resp, { aud = RESOURCE, exchange = false } = {}) {
  assert.equal(resp.status, 200, JSON.stringify(resp.json));
  const j = resp.json;
  assert.equal(j.token_type, 'Bearer');
  assert.equal(j.expires_in, 600);
  assert.ok(!('refresh_token' in j) && !('id_token' in j), 'no refresh/id token');
  if (exchange) assert.equal(j.issued_token_type, TT_AT);
  else assert.ok(!('issued_token_type' in j));
  idpKeys ??= jose.createLocalJWKSet(await getJson(`${ISSUER}/jwks`));
  const { payload, protectedHeader } = await jose.jwtVerify(j.access_token, idpKeys, { issuer: ISSUER, audience: aud, algorithms: ['RS256'] });
  assert.equal(protectedHeader.alg, 'RS256');
  assert.equal(payload.sub, `ci:${SUBJECT}`);
  assert.equal(payload.azp, CLIENT_ID);
  assert.equal(payload.client_id, CLIENT_ID);
  assert.deepEqual(payload.roles, ['ci-deployer']);
  assert.deepEqual(payload[ROLES], ['ci-deployer']);
  assert.equal(payload.tenant_id, 't1');
  assert.equal(payload.exp - payload.iat, 600);
  assert.ok(payload.nbf <= Math.floor(Date.now() / 1000) + 1);
  return payload;
}

function checkRejection(resp, status, error, reason) {
  assert.equal(resp.status, status, JSON.stringify(resp.json));
  assert.equal(resp.json.error, error, JSON.stringify(resp.json));
  assert.ok(resp.json.error_description.startsWith(`${reason}:`), JSON.stringify(resp.json));
}

let passed = 0;
let failed = 0;
async function test(name, fn) {
  try {
    await fn();
    passed += 1;
    console.log(`ok   - ${name}`);
  } catch (err) {
    failed += 1;
    console.log(`FAIL - ${name}\n       ${err.stack.split('\n').slice(0, 3).join('\n       ')}`);
  }
}

// ------------------------------------------------------------------ tests
await test('stdout is exactly one JSON line with issuer, ci_issuer and port', async () => {
  assert.deepEqual(Object.keys(JSON.parse(main.firstLine)), ['issuer', 'ci_issuer', 'port']);
  assert.equal(ISSUER, `http://127.0.0.1:${PORT}`);
  assert.equal(CI_ISSUER, `${ISSUER}/ci`);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(main.stdout, `${main.firstLine}\n`);
});

await test('discovery documents and JWKS (CI issuer and identity provider)', async () => {
  const ci = await getJson(`${CI_ISSUER}/.well-known/openid-configuration`);
  assert.equal(ci.issuer, CI_ISSUER);
  assert.equal(ci.jwks_uri, `${CI_ISSUER}/jwks`);
  const idp = await getJson(`${ISSUER}/.well-known/openid-configuration`);
  assert.equal(idp.issuer, ISSUER);
  assert.equal(idp.token_endpoint, `${ISSUER}/token`);
  assert.equal(idp.jwks_uri, `${ISSUER}/jwks`);
  for (const g of [GRANT_CC, GRANT_JWT_BEARER, GRANT_TX]) assert.ok(idp.grant_types_supported.includes(g), g);
  assert.ok(idp.token_endpoint_auth_methods_supported.includes('private_key_jwt'));
  const ciKids = (await getJson(`${CI_ISSUER}/jwks`)).keys.map((k) => k.kid);
  const idpKids = (await getJson(`${ISSUER}/jwks`)).keys.map((k) => k.kid);
  assert.equal(ciKids.length, 1);
  assert.equal(idpKids.length, 1);
  assert.notEqual(ciKids[0], idpKids[0]);
});

let ghToken;
await test('GitHub Actions style: token for audience (?audience= and &audience=), verifies against CI JWKS; bad request token -> 401', async () => {
  const r = await githubToken(ENTRA_AUD);
  assert.equal(r.status, 200);
  assert.deepEqual(Object.keys(r.json), ['value']);
  ghToken = r.json.value;
  const ks = jose.createLocalJWKSet(await getJson(`${CI_ISSUER}/jwks`));
  const { payload } = await jose.jwtVerify(ghToken, ks, { issuer: CI_ISSUER, audience: ENTRA_AUD, subject: SUBJECT });
  assert.equal(payload.exp - payload.iat, 300);
  assert.ok(payload.jti && payload.nbf);
  const amp = await githubToken(ISSUER, { sep: '&' });
  assert.equal(amp.status, 200);
  assert.equal(decodePayload(amp.json.value).aud, ISSUER);
  const dflt = await githubToken(undefined);
  assert.equal(decodePayload(dflt.json.value).aud, 'https://github.com/acme');
  assert.equal((await githubToken(ENTRA_AUD, { reqToken: 'wrong' })).status, 401);
  const none = await fetch(`${CI_ISSUER}/github-token?audience=x`);
  assert.equal(none.status, 401);
});

await test('client_credentials + client_assertion (Entra style) succeeds; scope <res>/.default and audience pick aud', async () => {
  await checkAccessToken(await tokenRequest(ccForm(ghToken)));
  await checkAccessToken(await tokenRequest(ccForm(ghToken, { scope: 'https://api.example.test/.default' })), { aud: 'https://api.example.test' });
  await checkAccessToken(await tokenRequest(ccForm(ghToken, { audience: 'https://other.test' })), { aud: 'https://other.test' });
});

await test('jwt-bearer grant (RFC 7523) succeeds', async () => {
  await checkAccessToken(await tokenRequest(jbForm(ghToken)));
});

await test('token exchange (RFC 8693) succeeds, issued_token_type = access_token, audience honoured', async () => {
  const tok = (await githubToken(ISSUER)).json.value; // CI token audience = the IdP issuer
  await checkAccessToken(await tokenRequest(txForm(tok, { audience: 'https://cosmos-gateway.test' })), { exchange: true });
  await checkAccessToken(await tokenRequest(txForm(tok, { audience: 'https://x.test' })), { aud: 'https://x.test', exchange: true });
});

await test('rejection: wrong signature (rogue key) -> signature', async () => {
  const t = await mint({ aud: ENTRA_AUD, sign_with: 'rogue' });
  checkRejection(await tokenRequest(ccForm(t)), 401, 'invalid_client', 'signature');
  checkRejection(await tokenRequest(jbForm(t)), 400, 'invalid_grant', 'signature');
  checkRejection(await tokenRequest(txForm(t)), 400, 'invalid_grant', 'signature');
  // tampered payload of a valid token
  const [h, , s] = ghToken.split('.');
  const forged = `${h}.${Buffer.from(JSON.stringify({ ...decodePayload(ghToken), sub: 'repo:evil/x' })).toString('base64url')}.${s}`;
  checkRejection(await tokenRequest(ccForm(forged)), 401, 'invalid_client', 'signature');
});

await test('rejection: wrong issuer -> issuer', async () => {
  const t = await mint({ aud: ENTRA_AUD, iss: 'https://token.actions.githubusercontent.com' });
  checkRejection(await tokenRequest(ccForm(t)), 401, 'invalid_client', 'issuer');
  checkRejection(await tokenRequest(jbForm(t)), 400, 'invalid_grant', 'issuer');
});

await test('rejection: wrong audience -> audience', async () => {
  const t = await mint({ aud: 'https://github.com/acme' });
  checkRejection(await tokenRequest(ccForm(t)), 401, 'invalid_client', 'audience');
  checkRejection(await tokenRequest(txForm(t)), 400, 'invalid_grant', 'audience');
  // an array audience containing an allowed value is fine
  await checkAccessToken(await tokenRequest(ccForm(await mint({ aud: ['https://github.com/acme', ENTRA_AUD] }))));
});

await test('rejection: expired (beyond 30 s leeway) -> expired; within leeway accepted', async () => {
  const t = await mint({ aud: ENTRA_AUD, exp_in: -120 });
  checkRejection(await tokenRequest(ccForm(t)), 401, 'invalid_client', 'expired');
  checkRejection(await tokenRequest(jbForm(t)), 400, 'invalid_grant', 'expired');
  await checkAccessToken(await tokenRequest(ccForm(await mint({ aud: ENTRA_AUD, exp_in: -10 }))));
});

await test('rejection: nbf in the future -> nbf', async () => {
  const t = await mint({ aud: ENTRA_AUD, nbf_in: 300 });
  checkRejection(await tokenRequest(ccForm(t)), 401, 'invalid_client', 'nbf');
});

await test('rejection: wrong subject -> subject', async () => {
  const t = await mint({ aud: ENTRA_AUD, sub: 'repo:acme/shop:ref:refs/heads/feature' });
  checkRejection(await tokenRequest(ccForm(t)), 401, 'invalid_client', 'subject');
  checkRejection(await tokenRequest(jbForm(t)), 400, 'invalid_grant', 'subject');
  checkRejection(await tokenRequest(txForm(t)), 400, 'invalid_grant', 'subject');
});

await test('request errors: client_id, client_secret, assertion type, subject_token_type, grant_type', async () => {
  checkRejection(await tokenRequest(ccForm(ghToken, { client_id: 'someone-else' })), 401, 'invalid_client', 'client_id');
  const noCid = ccForm(ghToken);
  delete noCid.client_id;
  checkRejection(await tokenRequest(noCid), 401, 'invalid_client', 'client_id');
  checkRejection(await tokenRequest(ccForm(ghToken, { client_secret: 's' })), 401, 'invalid_client', 'client_auth');
  checkRejection(await tokenRequest(ccForm(ghToken, { client_assertion_type: 'urn:x' })), 401, 'invalid_client', 'client_assertion_type');
  checkRejection(await tokenRequest(txForm(ghToken, { subject_token_type: TT_AT })), 400, 'invalid_request', 'subject_token_type');
  checkRejection(await tokenRequest(jbForm('')), 400, 'invalid_request', 'request');
  checkRejection(await tokenRequest({ grant_type: 'password', username: 'a', password: 'b' }), 400, 'unsupported_grant_type', 'grant_type');
  checkRejection(await tokenRequest(ccForm('not-a-jwt')), 401, 'invalid_client', 'malformed');
});

await test('Azure Pipelines style: POST ?api-version=7.1 -> oidcToken (aud api://AzureADTokenExchange), usable; bad token -> 401', async () => {
  const url = `${CI_ISSUER}/azure-pipelines-token?api-version=7.1`;
  const res = await fetch(url, { method: 'POST', headers: { authorization: 'Bearer ado-access-token', 'content-type': 'application/json' }, body: '{}' });
  assert.equal(res.status, 200);
  const j = await res.json();
  assert.deepEqual(Object.keys(j), ['oidcToken']);
  const p = decodePayload(j.oidcToken);
  assert.equal(p.aud, ENTRA_AUD);
  assert.equal(p.iss, CI_ISSUER);
  assert.equal(p.sub, SUBJECT);
  await checkAccessToken(await tokenRequest(ccForm(j.oidcToken)));
  const bad = await fetch(url, { method: 'POST', headers: { authorization: 'Bearer nope' } });
  assert.equal(bad.status, 401);
  const get = await fetch(url, { headers: { authorization: 'Bearer ado-access-token' } });
  assert.equal(get.status, 405);
  const noVersion = await fetch(`${CI_ISSUER}/azure-pipelines-token`, { method: 'POST', headers: { authorization: 'Bearer ado-access-token' } });
  assert.equal(noVersion.status, 400);
});

await test('stats: token requests by grant_type, issued, rejections with reasons; reset', async () => {
  const st = await admin('stats', undefined, { method: 'GET' });
  assert.deepEqual(st.token_requests, expected.token_requests);
  assert.deepEqual(st.issued, expected.issued);
  assert.deepEqual(st.rejections.map((r) => r.reason), expected.rejections);
  for (const reason of ['signature', 'issuer', 'audience', 'expired', 'subject']) {
    assert.ok(st.rejections.some((r) => r.reason === reason), reason);
  }
  assert.deepEqual(st.ci_tokens_minted, { github: 4, azure_pipelines: 1, admin: 8 });
  assert.deepEqual(st.ci_token_request_failures.map((f) => `${f.endpoint} ${f.status}`), ['github 401', 'github 401', 'azure_pipelines 401', 'azure_pipelines 405', 'azure_pipelines 400']);
  await admin('reset');
  const st2 = await admin('stats', undefined, { method: 'GET' });
  assert.deepEqual(st2.token_requests, {});
  assert.deepEqual(st2.rejections, []);
});

await test('env: FED_ALLOWED_AUDIENCES, FED_SUBJECT wildcard, FED_CLIENT_ID, FED_FETCH_JWKS=1 (JWKS over HTTP)', async () => {
  const alt = await startServer({
    FED_ALLOWED_AUDIENCES: 'custom-aud', FED_SUBJECT: 'repo:acme/*', FED_CLIENT_ID: 'other-client', FED_FETCH_JWKS: '1',
  });
  const base = JSON.parse(alt.firstLine).issuer;
  const opts = { base, track: false };
  const ok = await mint({ aud: 'custom-aud', sub: 'repo:acme/api:environment:prod' }, base);
  const r = await tokenRequest(ccForm(ok, { client_id: 'other-client' }), opts);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(decodePayload(r.json.access_token).sub, 'ci:repo:acme/api:environment:prod');
  assert.equal(decodePayload(r.json.access_token).client_id, 'other-client');
  checkRejection(await tokenRequest(ccForm(ok), opts), 401, 'invalid_client', 'client_id');
  checkRejection(await tokenRequest(ccForm(await mint({ aud: ENTRA_AUD }, base), { client_id: 'other-client' }), opts), 401, 'invalid_client', 'audience');
  checkRejection(await tokenRequest(ccForm(await mint({ aud: 'custom-aud', sub: 'repo:evil/x' }, base), { client_id: 'other-client' }), opts), 401, 'invalid_client', 'subject');
  checkRejection(await tokenRequest(ccForm(await mint({ aud: 'custom-aud', sign_with: 'rogue' }, base), { client_id: 'other-client' }), opts), 401, 'invalid_client', 'signature');
  // a token from the main server is signed by a different CI key
  checkRejection(await tokenRequest(ccForm(ghToken, { client_id: 'other-client' }), opts), 401, 'invalid_client', 'signature');
});

// ------------------------------------------------------------------ done
for (const c of children) {
  if (c.exitCode === null) {
    c.kill('SIGTERM');
    await once(c, 'exit');
  }
}
if (failed) console.log(`--- server stderr ---\n${main.stderr}`);
console.log(`selftest: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
