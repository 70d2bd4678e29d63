#!/usr/bin/env node
// A real browser for the browser sign-in test: cosmoscope runs this as `$BROWSER <url>` (the
// webbrowser crate's convention), and it drives Debian's chromium, headless, through the DevTools
// protocol (playwright-core): open the URL, sign in as $HEADLESS_LOGIN on oidc-provider's own login
// page, consent, and wait until cosmoscope's loopback answers with its page; a screenshot of that
// page goes to $HEADLESS_SCREENSHOT. Every request that is not to loopback is refused (the
// provider's pages link a web font), and chromium's own background traffic is switched off.
//
// It detaches at once (a browser launcher returns immediately) and logs to $HEADLESS_LOG if set.

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';

const url = process.argv[2];
if (!url) {
  process.stderr.write('usage: headless-browser.mjs URL\n');
  process.exit(2);
}

if (process.env.HEADLESS_CHILD !== '1') {
  const log = process.env.HEADLESS_LOG ? fs.openSync(process.env.HEADLESS_LOG, 'a') : 'ignore';
  const child = spawn(process.execPath, [process.argv[1], url], {
    detached: true,
    stdio: ['ignore', log, log],
    env: { ...process.env, HEADLESS_CHILD: '1' },
  });
  child.unref();
  process.exit(0);
}

const { chromium } = await import('playwright-core');

const loopback = (u) => /^(http|ws):\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d+)?\//.test(u);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
    '--disable-features=OptimizationHints,MediaRouter,Translate',
    // Anything that is not loopback goes to a closed loopback port.
    '--proxy-server=http://127.0.0.1:9',
    '--proxy-bypass-list=localhost;127.0.0.1;[::1]',
  ],
});
try {
  const context = await browser.newContext();
  await context.route('**/*', (route) => (loopback(route.request().url()) ? route.continue() : route.abort()));
  const page = await context.newPage();
  await page.goto(url);
  const login = process.env.HEADLESS_LOGIN || 'alice';
  for (let i = 0; i < 10; i += 1) {
    await page.waitForLoadState('load');
    if (/Signed in to cosmoscope|did not complete/.test(await page.content())) break;
    if (await page.locator('input[name="login"]').count()) {
      await page.fill('input[name="login"]', login);
      await page.fill('input[name="password"]', 'any-password');
      await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
    } else if (await page.locator('input[name="prompt"][value="consent"]').count()) {
      await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
    } else {
      await page.waitForTimeout(250);
    }
  }
  const text = await page.textContent('body');
  console.error(`headless-browser: final page: ${text?.trim().slice(0, 200)}`);
  if (process.env.HEADLESS_SCREENSHOT && /Signed in to cosmoscope/.test(text || '')) {
    await page.screenshot({ path: process.env.HEADLESS_SCREENSHOT });
  }
} catch (err) {
  console.error(`headless-browser: ${err.message}`);
} finally {
  await browser.close();
}
