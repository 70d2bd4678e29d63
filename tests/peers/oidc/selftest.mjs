#!/usr/bin/env node
// End-to-end self test of the oidc-provider test peer. Starts server.mjs on an ephemeral port,
// drives it over HTTP (127.0.0.1 only) and prints `selftest: N passed, M failed` last.

import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import * as path from 'node:path';
import { strict as assert } from 'node:assert';

import * as jose from 'jose';

const here = path.dirname(fileURLToPath(import.meta.url));
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const RESOURCE = 'https://cosmos-gateway.test';
const SCOPE = 'openid profile email offline_access';
const ROLES = 'https://cosmoscope.test/roles';

// ------------------------------------------------------------------ start the server
const child = spawn(process.execPath, [path.join(here, 'server.mjs'), '--port', '0'], {
  env: { ...process.env, OIDC_DEVICE_INTERVAL: '1' },
  stdio: ['ignore', 'pipe', 'pipe'],
});
let stderr = '';
child.stderr.on('data', (d) => { stderr += d; });
let stdout = '';
const firstLine = await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error(`server did not start:\n${stderr}`)), 15000);
  child.stdout.on('data', (d) => {
    stdout += d;
    const nl = stdout.indexOf('\n');
    if (nl >= 0) {
      clearTimeout(timer);
      resolve(stdout.slice(0, nl));
    }
  });
  child.on('exit', (code) => reject(new Error(`server exited ${code}:\n${stderr}`)));
});
const { issuer: ISSUER, port: PORT } = JSON.parse(firstLine);

// ------------------------------------------------------------------ helpers
const expected = { token_requests: {}, revocations: 0 };

async function post(p, form, headers = {}) {
  if (p === '/token') {
    const gt = form.grant_type;
    expected.token_requests[gt] = (expected.token_requests[gt] || 0) + 1;
  }
  if (p === '/token/revocation') expected.revocations += 1;
  const res = await fetch(`${ISSUER}${p}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form).toString(),
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = { raw: text }; }
  return { status: res.status, json };
}

async function admin(p, body, method = 'POST') {
  const res = await fetch(`${ISSUER}/__admin/${p}`, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`admin ${p}: HTTP ${res.status} ${JSON.stringify(json)}`);
  return json;
}

const getJson = async (url) => (await fetch(url)).json();
const decodeHeader = (t) => jose.decodeProtectedHeader(t);
const decodePayload = (t) => JSON.parse(Buffer.from(t.split('.')[1], 'base64url'));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function jwks() {
  return jose.createLocalJWKSet(await getJson(`${ISSUER}/jwks`));
}

async function deviceAuth(clientId = 'cosmoscope-cli', extra = { audience: RESOURCE }) {
  const r = await post('/device/auth', { client_id: clientId, scope: SCOPE, ...extra });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  return r.json;
}

const pollOnce = (deviceCode, clientId = 'cosmoscope-cli') => post('/token', {
  grant_type: DEVICE_GRANT, device_code: deviceCode, client_id: clientId,
});

async function loginAs(login) {
  const da = await deviceAuth();
  await admin('approve', { user_code: da.user_code, login });
  const r = await pollOnce(da.device_code);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  return r.json;
}

const refresh = (rt) => post('/token', { grant_type: 'refresh_token', refresh_token: rt, client_id: 'cosmoscope-cli' });

// ------------------------------------------------------------------ runner
let passed = 0;
let failed = 0;
async function test(name, fn) {
  try {
    await fn();
    passed += 1;
    console.log(`ok   - ${name}`);
  } catch (err) {
    failed += 1;
    console.log(`FAIL - ${name}: ${err.stack || err}`);
  }
}

// ------------------------------------------------------------------ tests
let session; // tokens from the main device login

await test('stdout is exactly one JSON line with issuer and port', async () => {
  await sleep(200);
  assert.equal(stdout, `${firstLine}\n`);
  assert.deepEqual(Object.keys(JSON.parse(firstLine)).sort(), ['issuer', 'port']);
  assert.equal(ISSUER, `http://127.0.0.1:${PORT}`);
});

await test('discovery document and JWKS', async () => {
  const d = await getJson(`${ISSUER}/.well-known/openid-configuration`);
  assert.equal(d.issuer, ISSUER);
  assert.equal(d.device_authorization_endpoint, `${ISSUER}/device/auth`);
  assert.equal(d.revocation_endpoint, `${ISSUER}/token/revocation`);
  assert.equal(d.token_endpoint, `${ISSUER}/token`);
  assert.equal(d.jwks_uri, `${ISSUER}/jwks`);
  const keys = (await getJson(d.jwks_uri)).keys;
  assert.deepEqual(keys.map((k) => k.alg).sort(), ['ES256', 'RS256']);
  assert.ok(keys.every((k) => k.kid && !k.d));
});

await test('device flow as alice: pending, interval, id_token/access_token claims, refresh token', async () => {
  const da = await deviceAuth();
  assert.equal(da.interval, 1);
  assert.match(da.user_code, /^[A-Z]{4}-[A-Z]{4}$/);
  assert.equal(da.verification_uri, `${ISSUER}/device`);
  const pending = await pollOnce(da.device_code);
  assert.equal(pending.status, 400);
  assert.equal(pending.json.error, 'authorization_pending');
  assert.equal((await admin('approve', { user_code: da.user_code, login: 'alice' })).result, 'approved');
  const r = await pollOnce(da.device_code);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  session = r.json;
  assert.ok(session.refresh_token, 'refresh_token missing');
  assert.equal(session.token_type, 'Bearer');
  const ks = await jwks();
  const idt = await jose.jwtVerify(session.id_token, ks, { issuer: ISSUER, audience: 'cosmoscope-cli' });
  assert.deepEqual(idt.payload.roles, ['support']);
  assert.deepEqual(idt.payload[ROLES], ['support']);
  assert.equal(idt.payload.tenant_id, 't1');
  assert.equal(idt.payload.email, 'alice@example.test');
  assert.equal(idt.payload.name, 'Alice');
  assert.equal(idt.payload.sub, 'alice');
  const at = await jose.jwtVerify(session.access_token, ks, { issuer: ISSUER, audience: RESOURCE, typ: 'at+jwt' });
  assert.deepEqual(at.payload.roles, ['support']);
  assert.deepEqual(at.payload[ROLES], ['support']);
  assert.equal(at.payload.client_id, 'cosmoscope-cli');
  // a used device code cannot be redeemed twice
  const again = await pollOnce(da.device_code);
  assert.equal(again.json.error, 'invalid_grant');
});

await test('approve.mjs CLI (bob) and user table (carol, unknown user), explicit resource param', async () => {
  const da = await deviceAuth('cosmoscope-cli', { resource: RESOURCE });
  const cli = spawn(process.execPath, [path.join(here, 'approve.mjs'), '--issuer', ISSUER, '--user-code', da.user_code, '--login', 'bob']);
  let out = '';
  let err = '';
  cli.stdout.on('data', (d) => { out += d; });
  cli.stderr.on('data', (d) => { err += d; });
  const [code] = await once(cli, 'exit');
  assert.equal(code, 0, err);
  assert.deepEqual(JSON.parse(out), { result: 'approved' });
  const r = await pollOnce(da.device_code);
  assert.equal(r.status, 200);
  const p = decodePayload(r.json.id_token);
  assert.deepEqual(p.roles, ['admin', 'support']);
  assert.equal(p.tenant_id, 't2');
  assert.equal(decodePayload(r.json.access_token).aud, RESOURCE);

  const carol = decodePayload((await loginAs('carol')).access_token);
  assert.deepEqual(carol[ROLES], ['analyst']);
  assert.equal(carol.tenant_id, 't1');
  const zed = decodePayload((await loginAs('zed')).id_token);
  assert.deepEqual(zed.roles, []);
  assert.equal(zed.tenant_id, 't0');

  // approving a bogus user code fails loudly
  const bad = spawn(process.execPath, [path.join(here, 'approve.mjs'), '--issuer', ISSUER, '--user-code', 'BBBB-CCCC']);
  bad.stderr.resume();
  const [badCode] = await once(bad, 'exit');
  assert.notEqual(badCode, 0);
});

await test('unknown resource/audience is rejected with invalid_target', async () => {
  const r = await post('/device/auth', { client_id: 'cosmoscope-cli', scope: SCOPE, audience: 'https://other.test' });
  assert.equal(r.status, 400);
  assert.equal(r.json.error, 'invalid_target');
});

await test('refresh with rotation; reusing the old refresh token -> invalid_grant (family revoked)', async () => {
  const t = await loginAs('alice');
  const r1 = await refresh(t.refresh_token);
  assert.equal(r1.status, 200, JSON.stringify(r1.json));
  assert.ok(r1.json.refresh_token && r1.json.refresh_token !== t.refresh_token, 'refresh token not rotated');
  assert.ok(r1.json.id_token);
  assert.equal(decodePayload(r1.json.access_token).aud, RESOURCE);
  assert.deepEqual(decodePayload(r1.json.access_token).roles, ['support']);
  const reuse = await refresh(t.refresh_token);
  assert.equal(reuse.status, 400);
  assert.equal(reuse.json.error, 'invalid_grant');
  const family = await refresh(r1.json.refresh_token);
  assert.equal(family.json.error, 'invalid_grant', 'rotated token should be revoked with its family');
});

await test('abort -> access_denied', async () => {
  const da = await deviceAuth();
  assert.equal((await admin('approve', { user_code: da.user_code, abort: true })).result, 'aborted');
  const r = await pollOnce(da.device_code);
  assert.equal(r.status, 400);
  assert.equal(r.json.error, 'access_denied');
});

await test('cosmoscope-short device code expires -> expired_token', async () => {
  const da = await deviceAuth('cosmoscope-short');
  assert.equal(da.expires_in, 3);
  const p1 = await pollOnce(da.device_code, 'cosmoscope-short');
  assert.equal(p1.json.error, 'authorization_pending');
  await sleep(3500);
  const p2 = await pollOnce(da.device_code, 'cosmoscope-short');
  assert.equal(p2.status, 400);
  assert.equal(p2.json.error, 'expired_token');
});

await test('slow_down and Entra-style error injection on device polls', async () => {
  const da = await deviceAuth();
  await admin('slowdown', { count: 2 });
  assert.equal((await pollOnce(da.device_code)).json.error, 'slow_down');
  assert.equal((await pollOnce(da.device_code)).json.error, 'slow_down');
  assert.equal((await pollOnce(da.device_code)).json.error, 'authorization_pending');
  await admin('entra-errors', { error: 'authorization_declined' });
  assert.equal((await pollOnce(da.device_code)).json.error, 'authorization_declined');
  await admin('entra-errors', { error: 'bad_verification_code' });
  assert.equal((await pollOnce(da.device_code)).json.error, 'bad_verification_code');
  await admin('approve', { user_code: da.user_code, login: 'alice' });
  assert.equal((await pollOnce(da.device_code)).status, 200);
});

await test('forge modes produce the described tokens', async () => {
  let rt = (await loginAs('alice')).refresh_token;
  const jwksJson = await getJson(`${ISSUER}/jwks`);
  const ks = jose.createLocalJWKSet(jwksJson);
  const kids = new Set(jwksJson.keys.map((k) => k.kid));
  const rsaPub = jwksJson.keys.find((k) => k.alg === 'RS256');
  const pem = crypto.createPublicKey({ key: rsaPub, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
  const verifyOpts = { issuer: ISSUER, audience: 'cosmoscope-cli' };

  async function forged(mode, target = 'id_token') {
    await admin('forge', { mode, target });
    const r = await refresh(rt);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    rt = r.json.refresh_token;
    return r.json[target];
  }
  const rejects = async (token, code, opts = verifyOpts) => {
    await assert.rejects(jose.jwtVerify(token, ks, opts), (e) => e.code === code, `expected ${code}`);
  };

  let t = await forged('alg-none');
  assert.equal(decodeHeader(t).alg, 'none');
  assert.ok(t.endsWith('.'));
  assert.equal(decodePayload(t).sub, 'alice');

  t = await forged('hs256-pubkey');
  assert.equal(decodeHeader(t).alg, 'HS256');
  const [h, p, s] = t.split('.');
  assert.equal(crypto.createHmac('sha256', pem).update(`${h}.${p}`).digest('base64url'), s);

  t = await forged('wrong-aud');
  assert.equal(decodePayload(t).aud, 'https://attacker.example.test');
  await jose.jwtVerify(t, ks, { issuer: ISSUER }); // signature is genuine
  await rejects(t, 'ERR_JWT_CLAIM_VALIDATION_FAILED');

  t = await forged('wrong-iss');
  assert.equal(decodePayload(t).iss, `${ISSUER}/evil`);
  await rejects(t, 'ERR_JWT_CLAIM_VALIDATION_FAILED');

  t = await forged('expired');
  assert.ok(decodePayload(t).exp < Date.now() / 1000 - 3000);
  await rejects(t, 'ERR_JWT_EXPIRED');

  t = await forged('nbf-future');
  assert.ok(decodePayload(t).nbf > Date.now() / 1000 + 3000);
  await rejects(t, 'ERR_JWT_CLAIM_VALIDATION_FAILED');

  t = await forged('bad-signature');
  assert.ok(kids.has(decodeHeader(t).kid));
  await rejects(t, 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED');

  t = await forged('unknown-kid');
  assert.ok(!kids.has(decodeHeader(t).kid));
  await rejects(t, 'ERR_JWKS_NO_MATCHING_KEY');

  t = await forged('expired', 'access_token');
  assert.equal(decodeHeader(t).typ, 'at+jwt');
  await rejects(t, 'ERR_JWT_EXPIRED', { issuer: ISSUER, audience: RESOURCE });

  // only the next response is forged
  const clean = await refresh(rt);
  await jose.jwtVerify(clean.json.id_token, ks, verifyOpts);
  const st = await admin('stats', undefined, 'GET');
  assert.equal(st.forged.length, 9);
});

await test('rotate-keys: new kid published alongside the old, used for new tokens; drop-old removes the old', async () => {
  const before = await getJson(`${ISSUER}/jwks`);
  const oldKid = before.keys.find((k) => k.alg === 'RS256').kid;
  const t = await loginAs('alice');
  const rot = await admin('rotate-keys');
  assert.ok(rot.kid && rot.kid !== oldKid);
  const mid = (await getJson(`${ISSUER}/jwks`)).keys.map((k) => k.kid);
  assert.ok(mid.includes(oldKid) && mid.includes(rot.kid), JSON.stringify(mid));
  // grants survive the reconfiguration; new tokens use the new kid
  const r = await refresh(t.refresh_token);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(decodeHeader(r.json.id_token).kid, rot.kid);
  assert.equal(decodeHeader(r.json.access_token).kid, rot.kid);
  // an old-key token still verifies against the JWKS while both are published
  await jose.jwtVerify(t.id_token, jose.createLocalJWKSet({ keys: (await getJson(`${ISSUER}/jwks`)).keys }), { issuer: ISSUER });
  const dropped = await admin('drop-old-keys');
  const after = (await getJson(`${ISSUER}/jwks`)).keys.map((k) => k.kid);
  assert.ok(!after.includes(oldKid) && after.includes(rot.kid), JSON.stringify(after));
  assert.deepEqual(dropped.old, []);
  // rotate with drop_old=1 in one call
  const rot2 = await admin('rotate-keys?drop_old=1');
  const after2 = (await getJson(`${ISSUER}/jwks`)).keys.map((k) => k.kid);
  assert.ok(after2.includes(rot2.kid) && !after2.includes(rot.kid));
  const r2 = await refresh(r.json.refresh_token);
  assert.equal(decodeHeader(r2.json.id_token).kid, rot2.kid);
  // staged: published first, signing switches on the next rotate-keys
  const staged = await admin('rotate-keys?stage=1');
  const r3 = await refresh(r2.json.refresh_token);
  assert.equal(decodeHeader(r3.json.id_token).kid, rot2.kid);
  assert.ok((await getJson(`${ISSUER}/jwks`)).keys.some((k) => k.kid === staged.kid));
  const promoted = await admin('rotate-keys');
  assert.equal(promoted.kid, staged.kid);
  const r4 = await refresh(r3.json.refresh_token);
  assert.equal(decodeHeader(r4.json.id_token).kid, staged.kid);
});

await test('client credentials for cosmoscope-ci (post and basic; roles/tenant_id/sub claims), wrong secret rejected', async () => {
  const ks = await jwks();
  const viaPost = await post('/token', { grant_type: 'client_credentials', client_id: 'cosmoscope-ci', client_secret: 'ci-secret-for-tests', audience: RESOURCE });
  assert.equal(viaPost.status, 200, JSON.stringify(viaPost.json));
  const at = await jose.jwtVerify(viaPost.json.access_token, ks, { issuer: ISSUER, audience: RESOURCE });
  assert.equal(at.payload.client_id, 'cosmoscope-ci');
  assert.equal(at.payload.sub, 'cosmoscope-ci');
  assert.deepEqual(at.payload.roles, ['ci-deployer']);
  assert.deepEqual(at.payload[ROLES], ['ci-deployer']);
  assert.equal(at.payload.tenant_id, 't1');
  assert.ok(!viaPost.json.refresh_token && !viaPost.json.id_token);
  const basic = `Basic ${Buffer.from('cosmoscope-ci:ci-secret-for-tests').toString('base64')}`;
  const viaBasic = await post('/token', { grant_type: 'client_credentials' }, { authorization: basic });
  assert.equal(viaBasic.status, 200, JSON.stringify(viaBasic.json));
  const atBasic = decodePayload(viaBasic.json.access_token);
  assert.equal(atBasic.aud, RESOURCE);
  assert.deepEqual([atBasic.sub, atBasic.roles, atBasic[ROLES], atBasic.tenant_id], ['cosmoscope-ci', ['ci-deployer'], ['ci-deployer'], 't1']);
  const wrong = await post('/token', { grant_type: 'client_credentials', client_id: 'cosmoscope-ci', client_secret: 'nope' });
  assert.equal(wrong.status, 401);
  assert.equal(wrong.json.error, 'invalid_client');
});

await test('revocation of a refresh token; then it is unusable', async () => {
  const t = await loginAs('carol');
  const rv = await post('/token/revocation', { token: t.refresh_token, token_type_hint: 'refresh_token', client_id: 'cosmoscope-cli' });
  assert.equal(rv.status, 200);
  const r = await refresh(t.refresh_token);
  assert.equal(r.json.error, 'invalid_grant');
});

await test('stats count token requests by grant_type, revocations, device poll times', async () => {
  const st = await admin('stats', undefined, 'GET');
  assert.deepEqual(st.token_requests, expected.token_requests);
  assert.equal(st.revocations, expected.revocations);
  assert.equal(st.device_poll_times_ms.length, expected.token_requests[DEVICE_GRANT]);
  assert.ok(st.device_poll_times_ms.every((x) => Math.abs(x - Date.now()) < 600_000));
  assert.equal(st.faults_served.slow_down, 2);
  assert.equal(st.faults_served.entra, 2);
});

child.kill('SIGTERM');
await once(child, 'exit');
if (failed) console.log(`--- server stderr ---\n${stderr}`);
console.log(`selftest: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
