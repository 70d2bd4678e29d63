#!/usr/bin/env node
// Headless approval (or abort) of an OAuth device-flow user code against the oidc-provider peer,
// with plain HTTP and a cookie jar — exactly what a person does in a browser:
//   GET  /device?user_code=…            -> auto-submit form carrying the hidden `xsrf` field
//   POST /device xsrf,user_code,confirm=yes (or abort=yes -> the client gets access_denied)
//   follow redirects to /interaction/:uid, POST prompt=login login=<user> password=<any>
//   follow, POST prompt=consent, follow until the "Sign-in Success" page.
//
// CLI:  node approve.mjs --issuer http://127.0.0.1:PORT --user-code ABCD-EFGH --login alice [--abort]
//       [--via-admin]   (ask the server's POST /__admin/approve to do it instead)
// Exit 0 on success, 1 with a message on stderr otherwise. Prints one JSON line on stdout.
//
// Library: import { approveDevice } from './approve.mjs';
//          await approveDevice({ issuer, userCode, login: 'alice', abort: false })
//          -> { result: 'approved' | 'aborted', steps: [...] }  (throws Error on failure)

import { pathToFileURL } from 'node:url';

function decodeHtml(s) {
  return s.replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<').replace(/&gt;/g, '>');
}

function textSnippet(html, max = 400) {
  return html.replace(/<style[\s\S]*?<\/style>/g, '').replace(/<[^>]+>/g, ' ')
    .replace(/\s+/g, ' ').trim().slice(0, max);
}

class CookieJar {
  constructor() { this.cookies = new Map(); }

  store(res) {
    const list = typeof res.headers.getSetCookie === 'function' ? res.headers.getSetCookie() : [];
    for (const line of list) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq < 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let expired = value === '';
      for (const attr of attrs) {
        const [k, v] = attr.trim().split('=');
        const key = k.toLowerCase();
        if (key === 'max-age' && Number(v) <= 0) expired = true;
        if (key === 'expires' && Date.parse(v) <= Date.now()) expired = true;
      }
      if (expired) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  header() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

// What a browser keeps between pages: the cookies, and the steps taken (for error messages).
function browserSession() {
  const jar = new CookieJar();
  const steps = [];
  async function request(url, form) {
    const headers = {};
    const cookie = jar.header();
    if (cookie) headers.cookie = cookie;
    const init = { method: form ? 'POST' : 'GET', headers, redirect: 'manual' };
    if (form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      init.body = new URLSearchParams(form).toString();
    }
    const res = await fetch(url, init);
    jar.store(res);
    const text = await res.text();
    steps.push(`${init.method} ${new URL(url).pathname} -> ${res.status}`);
    return { status: res.status, location: res.headers.get('location'), text, url };
  }
  const fail = (msg, page) => {
    const err = new Error(`${msg}${page ? `: HTTP ${page.status} ${textSnippet(page.text)}` : ''} [steps: ${steps.join(', ')}]`);
    err.steps = steps;
    throw err;
  };
  return { request, fail, steps };
}

export async function approveDevice({
  issuer, userCode, login = 'alice', password = 'any-password', abort = false, maxSteps = 25,
}) {
  if (!issuer || !userCode) throw new Error('approveDevice: issuer and userCode are required');
  const base = issuer.replace(/\/$/, '');
  const { request, fail, steps } = browserSession();

  // 1. verification page -> hidden xsrf
  let page = await request(`${base}/device?user_code=${encodeURIComponent(userCode)}`);
  const xsrf = page.status === 200 && /name="xsrf" value="([^"]+)"/.exec(page.text)?.[1];
  if (!xsrf) fail('no xsrf field on the verification page', page);

  // 2. confirm or abort
  const form = { xsrf, user_code: userCode };
  if (abort) form.abort = 'yes'; else form.confirm = 'yes';
  page = await request(`${base}/device`, form);

  if (abort) {
    if (page.status === 200 && /interrupted/i.test(page.text)) {
      return { result: 'aborted', steps };
    }
    fail('abort was not acknowledged', page);
  }

  // 3. follow redirects and answer the login / consent prompts
  for (let i = 0; i < maxSteps; i += 1) {
    if (page.status >= 300 && page.status < 400 && page.location) {
      page = await request(new URL(page.location, page.url).href);
      continue;
    }
    if (page.status !== 200) fail('unexpected response', page);
    if (/Sign-in Success/.test(page.text)) return { result: 'approved', steps };
    if (/The code you entered is incorrect/.test(page.text)) fail(`user code ${userCode} not found, expired or already used`, page);

    const m = /action="([^"]+)"[^>]*>\s*<input type="hidden" name="prompt" value="(login|consent)"/.exec(page.text);
    if (!m) fail('page is neither a login/consent prompt nor the success page', page);
    const action = new URL(decodeHtml(m[1]), page.url).href;
    if (m[2] === 'login') {
      page = await request(action, { prompt: 'login', login, password });
    } else {
      page = await request(action, { prompt: 'consent' });
    }
  }
  return fail('too many steps');
}

// Browser sign-in over plain HTTP (the authorization-code flow): GET the authorization URL, answer
// the login and consent prompts (or cancel with `deny`), follow the provider's redirects until it
// sends the browser to the loopback redirect, then deliver that answer to it — as a browser does.
//   -> { result: 'delivered', status, page, location }   (`callback: 'skip'`: not delivered)
export async function authorizeInBrowser({
  url, login = 'alice', password = 'any-password', deny = false, callback = 'deliver', maxSteps = 25,
}) {
  const { request, fail, steps } = browserSession();
  const redirectUri = new URL(url).searchParams.get('redirect_uri') || '';
  const loopback = (u) => redirectUri && (u === redirectUri || u.startsWith(`${redirectUri}/`) || u.startsWith(`${redirectUri}?`));
  let page = await request(url);
  for (let i = 0; i < maxSteps; i += 1) {
    if (page.status >= 300 && page.status < 400 && page.location) {
      const next = new URL(page.location, page.url).href;
      if (loopback(next)) {
        if (callback === 'skip') return { result: 'redirected', location: next, steps };
        const res = await fetch(next, { redirect: 'manual' });
        return { result: 'delivered', status: res.status, page: textSnippet(await res.text()), location: next, steps };
      }
      page = await request(next);
      continue;
    }
    if (page.status !== 200) fail('unexpected response', page);
    const m = /action="([^"]+)"[^>]*>\s*<input type="hidden" name="prompt" value="(login|consent)"/.exec(page.text);
    if (!m) fail('page is neither a login nor a consent prompt', page);
    if (deny) {
      const abort = /href="([^"]*\/abort)"/.exec(page.text);
      if (!abort) fail('no cancel link on the prompt', page);
      page = await request(new URL(decodeHtml(abort[1]), page.url).href);
      continue;
    }
    const action = new URL(decodeHtml(m[1]), page.url).href;
    page = await request(action, m[2] === 'login' ? { prompt: 'login', login, password } : { prompt: 'consent' });
  }
  return fail('too many steps');
}

export async function approveViaAdmin({ issuer, userCode, login = 'alice', abort = false }) {
  const res = await fetch(`${issuer.replace(/\/$/, '')}/__admin/approve`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user_code: userCode, login, abort }),
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.error || `admin approve answered HTTP ${res.status}`);
  return body;
}

function parseArgs(argv) {
  const out = { login: 'alice', abort: false, viaAdmin: false };
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i];
    const val = () => {
      const v = argv[i + 1];
      i += 1;
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    switch (a) {
      case '--issuer': out.issuer = val(); break;
      case '--user-code': out.userCode = val(); break;
      case '--login': out.login = val(); break;
      case '--password': out.password = val(); break;
      case '--abort': out.abort = true; break;
      case '--via-admin': out.viaAdmin = true; break;
      default: throw new Error(`unknown argument ${a}`);
    }
  }
  if (!out.issuer || !out.userCode) throw new Error('usage: approve.mjs --issuer URL --user-code CODE [--login NAME] [--abort] [--via-admin]');
  return out;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    const args = parseArgs(process.argv.slice(2));
    const result = args.viaAdmin ? await approveViaAdmin(args) : await approveDevice(args);
    process.stdout.write(`${JSON.stringify({ result: result.result })}\n`);
    process.exit(0);
  } catch (err) {
    process.stderr.write(`approve: ${err.message}\n`);
    process.exit(1);
  }
}
