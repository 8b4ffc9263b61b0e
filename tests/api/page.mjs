// What the page drivers share: playwright-core found in .tools/playwright (make tools) or the
// usual way, a time budget, one JSON line of what was seen, and a headless Chromium page that
// records console and page errors.
//
//   const run = await openPage(argsOk, 'usage: …');  // exits with one JSON line if argsOk is false or no browser starts
//   run.step = '…'; await run.page.waitForSelector(sel, { timeout: run.left() });
//   await run.finish({ what: 'it saw' });             // or run.fail(err)

import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export async function openPage(argsOk, usage) {
  const budgetMs = Number(process.env.LIVE_PAGE_TIMEOUT_S || 90) * 1000;
  const started = Date.now();
  const seen = { console_errors: [], page_errors: [] };
  const run = {
    step: 'starting',
    page: null,
    browser: null,
    left: () => Math.max(1000, budgetMs - (Date.now() - started)),
    done(ok, extra = {}) {
      process.stdout.write(`${JSON.stringify({ ok, step: run.step, ...seen, ...extra })}\n`);
      process.exit(ok ? 0 : 1);
    },
    async finish(extra) {
      run.step = 'done';
      await run.browser.close();
      run.done(seen.page_errors.length === 0, extra);
    },
    async fail(err) {
      if (run.browser) await run.browser.close().catch(() => {});
      run.done(false, { error: String(err).slice(0, 500) });
    },
  };
  const places = [process.env.PLAYWRIGHT_CORE_DIR, path.join(root, '.tools', 'playwright'), root].filter(Boolean);
  let playwright = null;
  for (const place of places) {
    try { playwright = createRequire(path.join(place, 'package.json'))('playwright-core'); break; } catch { /* next */ }
  }
  if (!playwright || !argsOk) run.done(false, { error: `${usage} (and playwright-core)` });
  setTimeout(() => run.done(false, { error: 'overall timeout' }), budgetMs + 15_000).unref();
  try {
    run.step = 'launch chromium';
    run.browser = await playwright.chromium.launch({
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
      timeout: 30_000,
    });
    run.page = await (await run.browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  } catch (err) {
    await run.fail(err);
  }
  run.page.on('console', (msg) => { if (msg.type() === 'error') seen.console_errors.push(msg.text().slice(0, 300)); });
  run.page.on('pageerror', (err) => seen.page_errors.push(String(err).slice(0, 300)));
  return run;
}
