// Reads the live page's "Cluster" panel in a real (headless) Chromium.
//
//   node tests/api/cluster_page.mjs URL LEADER OTHER SCREENSHOT
//
// URL is the page's address with `#token=…`. It opens the page, waits for the panel to show
// LEADER marked as leading and OTHER beside it, takes a screenshot and prints one JSON line of
// what it saw. Exit 0 on success, 1 on any failure.

import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const [url, leader, other, screenshot] = process.argv.slice(2);
const budgetMs = Number(process.env.LIVE_PAGE_TIMEOUT_S || 90) * 1000;
const started = Date.now();
const left = () => Math.max(1000, budgetMs - (Date.now() - started));
let step = 'starting';
const seen = { console_errors: [], page_errors: [] };

function done(ok, extra = {}) {
  process.stdout.write(`${JSON.stringify({ ok, step, ...seen, ...extra })}\n`);
  process.exit(ok ? 0 : 1);
}

const places = [process.env.PLAYWRIGHT_CORE_DIR, path.join(root, '.tools', 'playwright'), root].filter(Boolean);
let playwright = null;
for (const place of places) {
  try { playwright = createRequire(path.join(place, 'package.json'))('playwright-core'); break; } catch { /* next */ }
}
if (!playwright || !url || !leader || !other) done(false, { error: 'usage: cluster_page.mjs URL#token=… LEADER OTHER SCREENSHOT' });
setTimeout(() => done(false, { error: 'overall timeout' }), budgetMs + 15_000).unref();

let browser;
try {
  step = 'launch chromium';
  browser = await playwright.chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
    timeout: 30_000,
  });
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  page.on('console', (msg) => { if (msg.type() === 'error') seen.console_errors.push(msg.text().slice(0, 300)); });
  page.on('pageerror', (err) => seen.page_errors.push(String(err).slice(0, 300)));
  step = 'open the page';
  await page.goto(url, { waitUntil: 'domcontentloaded', timeout: left() });
  step = `${leader} leading and ${other} beside it in the Cluster panel`;
  await page.waitForSelector(`#cluster-hosts li[data-host="${leader}"][data-leads="true"]`, { timeout: left() });
  await page.waitForSelector(`#cluster-hosts li[data-host="${other}"][data-leads="false"]`, { timeout: left() });
  const panel = await page.evaluate(() => ({
    hidden: document.getElementById('cluster-panel').hidden,
    heading: document.querySelector('#cluster-panel h2').textContent,
    hosts: [...document.querySelectorAll('#cluster-hosts li')].map((li) => li.textContent),
  }));
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
  step = 'done';
  await browser.close();
  done(seen.page_errors.length === 0, { panel });
} catch (err) {
  if (browser) await browser.close().catch(() => {});
  done(false, { error: String(err).slice(0, 500) });
}
