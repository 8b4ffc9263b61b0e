// Drives the live page in a real (headless) Chromium, as a user would, against a running daemon.
//
//   node tests/api/live_page.mjs URL APPROVAL_ID SCREENSHOT [TELL]
//
// or LIVE_PAGE_URL, LIVE_PAGE_APPROVAL, LIVE_PAGE_SCREENSHOT, LIVE_PAGE_TELL in the environment.
// URL is the page's address with `#token=…`. TELL, if given, is sent through the page's tell box
// once the page is up, so that the model thinks (and streams tokens) while the page watches.
// It opens the page, waits for the header's model name, a decision and a thought whose tokens
// streamed in live, approves APPROVAL_ID with its button, waits for the request to go, takes a
// screenshot, and prints one JSON line of what it saw. Exit 0 on success, 1 on any failure.
// playwright-core is looked up in .tools/playwright (make tools), else the usual way.

import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const [argUrl, argApproval, argShot, argTell] = process.argv.slice(2);
const url = argUrl || process.env.LIVE_PAGE_URL;
const approvalId = argApproval || process.env.LIVE_PAGE_APPROVAL;
const screenshot = argShot || process.env.LIVE_PAGE_SCREENSHOT || path.join(root, 'tests', 'artifacts', 'live-page.png');
const tell = argTell || process.env.LIVE_PAGE_TELL || '';
const budgetMs = Number(process.env.LIVE_PAGE_TIMEOUT_S || 120) * 1000;
const chromium = process.env.CHROMIUM || '/usr/bin/chromium';

const started = Date.now();
const left = () => Math.max(1000, budgetMs - (Date.now() - started));
let step = 'starting';
const seen = { console_errors: [], page_errors: [], steps: [] };

function done(ok, extra = {}) {
  const report = { ok, step, elapsed_s: Math.round((Date.now() - started) / 100) / 10, ...seen, ...extra };
  process.stdout.write(`${JSON.stringify(report)}\n`);
  process.exit(ok ? 0 : 1);
}

function loadPlaywright() {
  const places = [process.env.PLAYWRIGHT_CORE_DIR, path.join(root, '.tools', 'playwright'), root].filter(Boolean);
  for (const place of places) {
    try {
      return createRequire(path.join(place, 'package.json'))('playwright-core');
    } catch { /* next */ }
  }
  return null;
}

if (!url || !url.includes('#token=') || !approvalId) {
  step = 'arguments';
  done(false, { error: 'usage: live_page.mjs URL#token=… APPROVAL_ID SCREENSHOT [TELL]' });
}

const playwright = loadPlaywright();
if (!playwright) {
  step = 'playwright-core';
  done(false, { error: 'playwright-core not found (make tools installs it into .tools/playwright)' });
}

// Whatever happens, the process ends within the budget (a hung browser included).
const guard = setTimeout(() => done(false, { error: `overall timeout of ${budgetMs / 1000} s` }), budgetMs + 15_000);
guard.unref();

let browser;
try {
  step = 'launch chromium';
  browser = await playwright.chromium.launch({
    executablePath: chromium,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: 30_000,
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.on('console', (msg) => { if (msg.type() === 'error') seen.console_errors.push(msg.text().slice(0, 300)); });
  page.on('pageerror', (err) => seen.page_errors.push(String(err).slice(0, 300)));
  // Nothing may come from anywhere but the daemon: the page works offline.
  const origin = new URL(url).origin;
  const foreign = [];
  await context.route('**/*', (route) => {
    const u = route.request().url();
    if (u.startsWith(origin) || u.startsWith('data:')) return route.continue();
    foreign.push(u);
    return route.abort();
  });

  const mark = (name) => { step = name; seen.steps.push([name, Math.round((Date.now() - started) / 100) / 10]); };

  mark('open the page');
  await page.goto(url, { waitUntil: 'domcontentloaded', timeout: left() });

  mark('header shows a model');
  await page.waitForFunction(() => {
    const t = document.getElementById('model')?.textContent?.trim();
    return t && t !== '—';
  }, null, { timeout: left() });
  const tokenLeftInUrl = page.url().includes('token=');

  mark('stream connected');
  await page.waitForSelector('#connection[data-state="live"]', { timeout: left() });

  if (tell) {
    mark('tell through the page');
    await page.fill('#tell textarea', tell);
    await page.click('#tell button[type="submit"]');
    await page.waitForSelector('.note-ok', { timeout: left() });
  }

  mark('a decision and a thought streamed live');
  await page.waitForFunction(() => {
    const decided = document.querySelector('#stream [data-kind="decision"]:not([data-origin="rule"])');
    const thought = [...document.querySelectorAll('#stream [data-thought]')].some(
      (pre) => Number(pre.dataset.tokens) > 0 && pre.textContent.trim() && !pre.closest('.entry').classList.contains('open'),
    );
    return decided && thought;
  }, null, { timeout: left(), polling: 250 });

  mark(`approve #${approvalId}`);
  const button = `[data-approve="${approvalId}"]`;
  await page.waitForSelector(button, { state: 'visible', timeout: left() });
  const request = await page.textContent(`[data-approval="${approvalId}"]`);
  await page.click(button);
  mark('the request goes');
  await page.waitForSelector(`[data-approval="${approvalId}"]`, { state: 'detached', timeout: left() });
  const answerNote = await page.textContent('.note', { timeout: left() });
  mark('the stream tells of the answer');
  await page.waitForSelector(`#stream [data-kind="approval"][data-what="approved"]`, { timeout: left() });

  mark('screenshot');
  mkdirSync(path.dirname(screenshot), { recursive: true });
  await page.screenshot({ path: screenshot, fullPage: true });

  mark('report');
  const view = await page.evaluate(() => {
    const text = (id) => document.getElementById(id)?.textContent?.trim() ?? null;
    const kinds = {};
    for (const e of document.querySelectorAll('#stream [data-kind]')) kinds[e.dataset.kind] = (kinds[e.dataset.kind] || 0) + 1;
    const thoughts = [...document.querySelectorAll('#stream [data-thought]')];
    const streamed = thoughts.filter((p) => Number(p.dataset.tokens) > 0);
    return {
      header: {
        model: text('model'), profile: text('profile'), server: text('server'), health: text('health'),
        activity: text('activity'), context: text('context-text'), pending: text('pending'), uptime: text('uptime'),
        connection: text('connection'),
      },
      kinds,
      thoughts: thoughts.length,
      thoughts_streamed: streamed.length,
      tokens: streamed.reduce((n, p) => n + Number(p.dataset.tokens), 0),
      sample_thought: streamed[0]?.textContent.slice(0, 160) ?? null,
      approvals_left: document.querySelectorAll('#approvals [data-approval]').length,
    };
  });
  await browser.close();
  if (seen.page_errors.length) done(false, { error: 'errors in the page', ...view });
  if (foreign.length) done(false, { error: 'the page asked for something outside the daemon', foreign, ...view });
  if (tokenLeftInUrl) done(false, { error: 'the token stayed in the address bar', ...view });
  done(true, { ...view, approved: approvalId, request: request?.replace(/\s+/g, ' ').trim().slice(0, 200), note: answerNote,
    screenshot, token_left_in_url: tokenLeftInUrl });
} catch (err) {
  let shot = null;
  try {
    const pages = browser?.contexts()[0]?.pages() ?? [];
    if (pages[0]) {
      shot = screenshot.replace(/\.png$/, '') + '-failure.png';
      mkdirSync(path.dirname(shot), { recursive: true });
      await pages[0].screenshot({ path: shot, fullPage: true });
      seen.stream_text = (await pages[0].textContent('#stream'))?.slice(0, 1500);
    }
  } catch { /* the browser is gone */ }
  await browser?.close().catch(() => {});
  done(false, { error: String(err?.message || err).split('\n')[0], failure_screenshot: shot });
}
