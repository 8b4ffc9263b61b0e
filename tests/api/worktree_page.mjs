// Drives the live page's "Branches to merge" panel in a real (headless) Chromium.
//
//   node tests/api/worktree_page.mjs URL TASK_ID SCREENSHOT
//
// URL is the page's address with `#token=…`. It opens the page, waits for TASK_ID's branch in
// the panel, opens its diff with the Diff button, merges it with the Merge button, waits for the
// page to say so and for the branch to leave the panel, takes a screenshot and prints one JSON
// line of what it saw. Exit 0 on success, 1 on any failure.

import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const [url, taskId, screenshot] = process.argv.slice(2);
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
if (!playwright || !url || !taskId) done(false, { error: 'usage: worktree_page.mjs URL#token=… TASK_ID SCREENSHOT (and playwright-core)' });
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
  step = `task #${taskId}'s branch in the panel`;
  const item = `[data-worktree="${taskId}"]`;
  await page.waitForSelector(item, { timeout: left() });
  step = 'the charts drawn from the daemon';
  await page.waitForFunction(() => ['chart-latency', 'chart-tokens', 'chart-spend'].every(
    (id) => Number(document.getElementById(id)?.dataset.points) > 0), null, { timeout: left() });
  const charts = await page.evaluate(() => Object.fromEntries(['chart-latency', 'chart-tokens', 'chart-spend'].map(
    (id) => [id, { points: Number(document.getElementById(id).dataset.points),
      lines: document.querySelectorAll(`#${id} polyline`).length,
      label: document.querySelector(`#${id} .label`)?.textContent }])));
  step = 'its diff';
  await page.click(`[data-diff="${taskId}"]`);
  await page.waitForFunction((sel) => {
    const pre = document.querySelector(`${sel} pre.diff`);
    return pre && !pre.hidden && pre.textContent.includes('@@');
  }, item, { timeout: left() });
  const diff = await page.textContent(`${item} pre.diff`);
  step = 'merge';
  await page.click(`[data-merge="${taskId}"]`);
  await page.waitForSelector('.note-ok', { timeout: left() });
  const note = await page.textContent('.note-ok');
  await page.waitForSelector(item, { state: 'detached', timeout: left() });
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
  step = 'done';
  await browser.close();
  done(seen.page_errors.length === 0, { diff: diff.slice(0, 2000), note, charts });
} catch (err) {
  if (browser) await browser.close().catch(() => {});
  done(false, { error: String(err).slice(0, 500) });
}
