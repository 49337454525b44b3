// The shared ticker card of the demo page: three viewers follow one live feed
// (SSE, NDJSON, legacy), a second page follows it too, and a value published
// from the card's form reaches all of them.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';

import { BASE, SCREENSHOTS, WAIT_MS, launchBrowser } from './support.js';

const opts = { timeout: WAIT_MS * 2 };
let browser;
const pageErrors = [];

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  assert.deepStrictEqual(pageErrors, [], 'no uncaught errors in the pages');
  await browser?.close();
});

async function openDemo() {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.setDefaultTimeout(WAIT_MS);
  page.on('pageerror', (err) => pageErrors.push(String(err)));
  await page.goto(`${BASE}/`);
  await page.locator('[data-demo="ticker"]').waitFor();
  return page;
}

/** The feed's subscribers on the server, from /metrics. */
async function subscribers() {
  const text = await (await fetch(`${BASE}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('rivulet_feed_subscribers'));
  return line ? Number(line.split(' ').pop()) : 0;
}

async function waitForSubscribers(count) {
  const deadline = Date.now() + WAIT_MS;
  while ((await subscribers()) < count) {
    assert.ok(Date.now() < deadline, `${count} subscribers in time`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test('a value published from the card reaches every viewer on every page', opts, async () => {
  const first = await openDemo();
  const second = await openDemo();
  const before = await subscribers();
  for (const page of [first, second]) {
    await page.locator('[data-demo="ticker"] [data-action=start]').click();
  }
  await waitForSubscribers(before + 6);

  // One key: the server writes object keys in its own order.
  const value = { tick: Date.now() };
  const card = first.locator('[data-demo="ticker"]');
  await card.locator('[name=value]').fill(JSON.stringify(value));
  await card.locator('button[type=submit]').click();
  await first.waitForFunction(() => /^202: packet \d+$/.test(document.querySelector('[data-demo="ticker"] .answer').textContent));

  for (const page of [first, second]) {
    for (const format of ['sse', 'ndjson', 'legacy']) {
      const log = page.locator(`[data-demo="ticker"] .viewer[data-format="${format}"] .log li`);
      await log.filter({ hasText: JSON.stringify(value) }).waitFor();
    }
  }
  await first.screenshot({ path: join(SCREENSHOTS, 'ticker.png'), fullPage: true });

  // Not JSON: the server's 4xx reason is shown, nothing is published.
  await card.locator('[name=value]').fill('{not json');
  await card.locator('button[type=submit]').click();
  await first.waitForFunction(() => /^4\d\d: /.test(document.querySelector('[data-demo="ticker"] .answer').textContent));

  for (const page of [first, second]) {
    await page.locator('[data-demo="ticker"] [data-action=abort]').click();
    await page.close();
  }
});
