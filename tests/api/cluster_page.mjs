// Reads the live page's "Cluster" panel in a real (headless) Chromium.
//
//   node tests/api/cluster_page.mjs URL LEADER OTHER SCREENSHOT
//
// URL is the page's address with `#token=…`. It opens the page, waits for the panel to show
// LEADER marked as leading and OTHER beside it, takes a screenshot and prints one JSON line of
// what it saw. Exit 0 on success, 1 on any failure.

import { openPage } from './page.mjs';

const [url, leader, other, screenshot] = process.argv.slice(2);
const run = await openPage(url && leader && other, 'usage: cluster_page.mjs URL#token=… LEADER OTHER SCREENSHOT');
try {
  const { page } = run;
  run.step = 'open the page';
  await page.goto(url, { waitUntil: 'domcontentloaded', timeout: run.left() });
  run.step = `${leader} leading and ${other} beside it in the Cluster panel`;
  await page.waitForSelector(`#cluster-hosts li[data-host="${leader}"][data-leads="true"]`, { timeout: run.left() });
  await page.waitForSelector(`#cluster-hosts li[data-host="${other}"][data-leads="false"]`, { timeout: run.left() });
  const panel = await page.evaluate(() => ({
    hidden: document.getElementById('cluster-panel').hidden,
    heading: document.querySelector('#cluster-panel h2').textContent,
    hosts: [...document.querySelectorAll('#cluster-hosts li')].map((li) => li.textContent),
  }));
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
  await run.finish({ panel });
} catch (err) {
  await run.fail(err);
}
