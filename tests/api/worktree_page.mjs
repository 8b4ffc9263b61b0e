// Drives the live page's "Branches to merge" panel in a real (headless) Chromium.
//
//   node tests/api/worktree_page.mjs URL TASK_ID SCREENSHOT
//
// URL is the page's address with `#token=…`. It opens the page, waits for TASK_ID's branch in
// the panel, opens its diff with the Diff button, merges it with the Merge button, waits for the
// page to say so and for the branch to leave the panel, takes a screenshot and prints one JSON
// line of what it saw. Exit 0 on success, 1 on any failure.

import { openPage } from './page.mjs';

const [url, taskId, screenshot] = process.argv.slice(2);
const run = await openPage(url && taskId, 'usage: worktree_page.mjs URL#token=… TASK_ID SCREENSHOT');
try {
  const { page } = run;
  run.step = 'open the page';
  await page.goto(url, { waitUntil: 'domcontentloaded', timeout: run.left() });
  run.step = `task #${taskId}'s branch in the panel`;
  const item = `[data-worktree="${taskId}"]`;
  await page.waitForSelector(item, { timeout: run.left() });
  run.step = 'the charts drawn from the daemon';
  await page.waitForFunction(() => ['chart-latency', 'chart-tokens', 'chart-spend'].every(
    (id) => Number(document.getElementById(id)?.dataset.points) > 0), null, { timeout: run.left() });
  const charts = await page.evaluate(() => Object.fromEntries(['chart-latency', 'chart-tokens', 'chart-spend'].map(
    (id) => [id, { points: Number(document.getElementById(id).dataset.points),
      series: Number(document.getElementById(id).dataset.series)}])));
  charts.spend_summary = await page.textContent('#spend-summary');
  run.step = 'its diff';
  await page.click(`[data-diff="${taskId}"]`);
  await page.waitForFunction((sel) => {
    const pre = document.querySelector(`${sel} pre.diff`);
    return pre && !pre.hidden && pre.textContent.includes('@@');
  }, item, { timeout: run.left() });
  const diff = await page.textContent(`${item} pre.diff`);
  run.step = 'merge';
  await page.click(`[data-merge="${taskId}"]`);
  await page.waitForSelector('.note-ok', { timeout: run.left() });
  const note = await page.textContent('.note-ok');
  await page.waitForSelector(item, { state: 'detached', timeout: run.left() });
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
  await run.finish({ diff: diff.slice(0, 2000), note, charts });
} catch (err) {
  await run.fail(err);
}
