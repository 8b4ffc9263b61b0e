// Looks at the live page's charts and layout in a real (headless) Chromium, at a desktop's
// width and at a phone's.
//
//   node tests/api/charts_page.mjs URL SHOT_1280 SHOT_375
//
// URL is the page's address with `#token=…`, of a daemon with a delegation waiting for approval
// and data in every chart. At each width it opens the page, waits for the stream, the charts and
// the approval, reads each chart's axis labels and its legend (away from the chart, then over
// its oldest and its newest point), measures the approvals against the Live panel, takes a
// full-page screenshot and one of the charts, and notes every console error, failed request and
// HTTP error. It prints one JSON
// line of what it saw: exit 0 if it could look, 1 if not (the test judges what it saw).

import { openPage } from './page.mjs';

const CHARTS = ['chart-latency', 'chart-tokens', 'chart-spend'];
const [url, ...shots] = process.argv.slice(2);
const run = await openPage(url && shots.length === 2, 'usage: charts_page.mjs URL#token=… SHOT_1280 SHOT_375');

const legendOf = (page, id) => page.evaluate((chart) => Object.fromEntries(
  [...document.querySelectorAll(`#${chart} .u-legend .u-series`)].map(
    (row) => [row.querySelector('.u-label').textContent, row.querySelector('.u-value').textContent]),
), id);

// The cursor snaps to the point nearest it: from the plot's edge to that point's marker, as a
// person would move onto it. Returns what the legend says there.
async function hover(page, id, edge) {
  const over = page.locator(`#${id} .u-over`);
  await over.scrollIntoViewIfNeeded();
  const box = await over.boundingBox();
  await page.mouse.move(edge === 'right' ? box.x + box.width - 1 : box.x + 1, box.y + box.height / 2);
  const marker = await page.locator(`#${id} .u-cursor-pt:not(.u-off)`).first().boundingBox();
  // (A point on the plot's edge: its marker's centre is the edge, one pixel in is still on it.)
  const inside = (v, from, size) => Math.min(Math.max(v, from + 1), from + size - 1);
  await page.mouse.move(inside(marker.x + marker.width / 2, box.x, box.width),
    inside(marker.y + marker.height / 2, box.y, box.height));
  return legendOf(page, id);
}

async function look(page, width, shot) {
  const trouble = [];
  page.on('console', (msg) => { if (msg.type() === 'error') trouble.push(`console: ${msg.text().slice(0, 300)}`); });
  page.on('pageerror', (err) => trouble.push(`page error: ${String(err).slice(0, 300)}`));
  page.on('requestfailed', (req) => trouble.push(`failed: ${req.url().split('#')[0]} ${req.failure()?.errorText}`));
  page.on('response', (res) => { if (res.status() >= 400) trouble.push(`HTTP ${res.status()}: ${res.url()}`); });
  await page.setViewportSize({ width, height: 800 });

  run.step = `${width} px: open the page`;
  await page.goto(url, { waitUntil: 'domcontentloaded', timeout: run.left() });
  run.step = `${width} px: the stream, the charts and the approval`;
  await page.waitForSelector('#connection[data-state="live"]', { timeout: run.left() });
  await page.waitForFunction((ids) => ids.every((id) => {
    const box = document.getElementById(id);
    return Number(box?.dataset.points) > 0 && box.dataset.xTicks && box.querySelector('canvas');
  }), CHARTS, { timeout: run.left() });
  await page.waitForSelector('[data-approve]', { state: 'visible', timeout: run.left() });

  const charts = {};
  for (const id of CHARTS) {
    run.step = `${width} px: hover ${id}`;
    const idle = await legendOf(page, id);
    const oldest = await hover(page, id, 'left');
    const newest = await hover(page, id, 'right');
    await page.mouse.move(0, 0);
    charts[id] = await page.evaluate((chart) => {
      const box = document.getElementById(chart);
      const canvas = box.querySelector('canvas').getBoundingClientRect();
      return {
        x_ticks: box.dataset.xTicks.split(' | '), y_ticks: box.dataset.yTicks.split(' | '),
        points: Number(box.dataset.points), series: Number(box.dataset.series),
        width: Math.round(canvas.width), panel_width: Math.round(box.closest('.panel').getBoundingClientRect().width),
      };
    }, id);
    Object.assign(charts[id], { idle, oldest, newest });
  }

  run.step = `${width} px: the approvals and the Live panel`;
  const approve = page.locator('[data-approve]').first();
  await approve.scrollIntoViewIfNeeded();
  const layout = await page.evaluate(() => {
    const rect = (node) => { const r = node.getBoundingClientRect(); return { x: r.x, y: r.y, w: r.width, h: r.height }; };
    const approvals = rect(document.getElementById('approvals').closest('.panel'));
    const live = rect(document.querySelector('.stream-panel'));
    const overlap = (a, b) => Math.max(0, Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x))
      * Math.max(0, Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y));
    const button = document.querySelector('[data-approve]');
    const b = button.getBoundingClientRect();
    return {
      approvals, live, overlap: overlap(approvals, live),
      // What a tap on the Approve button would reach.
      approve_on_top: document.elementFromPoint(b.x + b.width / 2, b.y + b.height / 2) === button,
      scroll_width: document.documentElement.scrollWidth, inner_width: innerWidth,
      header_model: document.getElementById('model').textContent,
      tell_box: Boolean(document.querySelector('#tell textarea')), worktrees_panel: Boolean(document.getElementById('worktrees')),
      stream_entries: document.querySelectorAll('#stream [data-kind]').length,
    };
  });

  run.step = `${width} px: screenshots`;
  await page.screenshot({ path: shot, fullPage: true });
  // The charts alone, the spend's newest point hovered (the desktop's side panel scrolls on its own).
  await hover(page, 'chart-spend', 'right');
  const chartsShot = shot.replace(/\.png$/, '-charts.png');
  await page.locator('#chart-spend').locator('xpath=ancestor::section[1]').screenshot({ path: chartsShot });
  return { width, charts, layout, trouble, screenshots: [shot, chartsShot] };
}

try {
  const desktop = await look(run.page, 1280, shots[0]);
  const phone = await run.browser.newContext({ isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  const phoneView = await look(await phone.newPage(), 375, shots[1]);
  await run.finish({ widths: [desktop, phoneView] });
} catch (err) {
  await run.fail(err);
}
