// The demo page at / as a person uses it: click Start, watch the packets and
// the result arrive, abort, upload a file, and keep a screenshot.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { BASE, SCREENSHOTS, WAIT_MS, launchBrowser, serverIdle } from './support.js';

const opts = { timeout: WAIT_MS * 2 };
let browser;
let page;
const pageErrors = [];

before(async () => {
  browser = await launchBrowser();
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.setDefaultTimeout(WAIT_MS);
  page.on('pageerror', (err) => pageErrors.push(String(err)));
  await page.goto(`${BASE}/`);
  await page.locator('[data-demo]').first().waitFor();
  // A quick pace for every card.
  await page.fill('#settings [name=interval_ms]', '5');
});

after(async () => {
  assert.deepStrictEqual(pageErrors, [], 'no uncaught errors in the page');
  await browser?.close();
});

const card = (name) => page.locator(`[data-demo="${name}"]`);

async function run(name, state = 'done') {
  await card(name).locator('[data-action=start]').click();
  await page.waitForSelector(`[data-demo="${name}"][data-state="${state}"]`);
}

const logOf = (name) => card(name).locator('.log li').allTextContents();

test('every demo route has a card with start and abort buttons', async () => {
  const names = await page.locator('[data-demo]').evaluateAll((cards) => cards.map((c) => c.dataset.demo));
  for (const name of ['test', 'status', 'process', 'risky', 'types', 'feed', 'render', 'upload', 'panic', 'silent', 'truncated']) {
    assert.ok(names.includes(name), `card ${name}`);
    assert.equal(await card(name).locator('[data-action=start]').count(), 1);
    assert.equal(await card(name).locator('[data-action=abort]').count(), 1);
  }
});

test('Counting: every packet in the log, the bar full, the final result shown', opts, async () => {
  await run('test');
  assert.deepStrictEqual(await logOf('test'), [
    '"Starting stream test"',
    ...Array.from({ length: 10 }, (_, i) => `"i=${i + 1}"`),
  ]);
  assert.equal(await card('test').locator('progress').evaluate((bar) => bar.value), 1);
  // The handler returns nothing: the card says so instead of a green `null`.
  assert.equal(await card('test').locator('.result').textContent(), 'Done (no final value).');
  await page.screenshot({ path: join(SCREENSHOTS, 'demo.png'), fullPage: true });
});

test('Batch process: progress bar and final summary; -1 items shows the HTTP 422', opts, async () => {
  await card('process').locator('[name=items]').fill('30');
  await run('process');
  assert.deepStrictEqual(await logOf('process'), [
    '"Starting batch process"',
    '"Processed 10 items"',
    '"Processed 20 items"',
    '"Processed 30 items"',
  ]);
  const final = JSON.parse(await card('process').locator('.result').textContent());
  assert.equal(final.processed, 30);
  assert.equal(await card('process').locator('progress').evaluate((bar) => bar.value), 1);

  await card('process').locator('[name=items]').fill('-1');
  await run('process', 'error');
  assert.match(await card('process').locator('.result').textContent(), /^error: .*items.*\(HTTP 422\)/s);
});

test('Every JSON type, in each wire format, shown as text', opts, async () => {
  for (const format of ['ndjson', 'legacy', 'sse']) {
    await page.check(`#settings [name=format][value=${format}]`);
    await run('types');
    const log = await logOf('types');
    assert.equal(log.length, 8, format);
    assert.equal(log.at(-1), 'string "Grüße, naïve café — 水 🌊"', format);
    assert.equal(JSON.parse(await card('types').locator('.result').textContent()).integer, 42, format);
  }
  // Server data went in as text: no element was made from it.
  assert.equal(await card('types').locator('.log li *').count(), 0);
});

test('Risky process set to fail: the error packet is shown', opts, async () => {
  await card('risky').locator('[name=fail]').selectOption('1');
  await run('risky', 'error');
  assert.deepStrictEqual(await logOf('risky'), ['"Starting risky operation"']);
  assert.match(await card('risky').locator('.result').textContent(), /^error: Something went wrong!/);
});

test('Live feed: Abort stops it and the server cancels the handler', opts, async () => {
  await card('feed').locator('[data-action=start]').click();
  await page.waitForFunction(() => document.querySelectorAll('[data-demo="feed"] .log li').length >= 3);
  await card('feed').locator('[data-action=abort]').click();
  // A deliberate abort is not shown as a failure.
  await page.waitForSelector('[data-demo="feed"][data-state="aborted"]');
  assert.equal(await card('feed').locator('.state').textContent(), 'aborted');
  assert.equal(await card('feed').locator('.result.failed').count(), 0);
  await serverIdle();
});

test('Progressive rendering fills the table row by row', opts, async () => {
  await card('render').locator('[name=rows]').fill('12');
  await card('render').locator('[data-action=start]').click();
  // Rows appear while the stream runs, before the final packet.
  await page.waitForFunction(() => {
    const card = document.querySelector('[data-demo="render"]');
    return card.querySelectorAll('tbody tr').length >= 1 && card.dataset.state === 'running';
  });
  await page.waitForSelector('[data-demo="render"][data-state="done"]');
  const rows = await card('render').locator('tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.cells].map((td) => td.textContent)));
  assert.equal(rows.length, 12);
  assert.deepStrictEqual(rows[0], ['1', 'Item 1', '1', '1.000']);
  assert.deepStrictEqual(rows[11], ['12', 'Item 12', '144', '3.464']);
  assert.equal(await card('render').locator('.result').textContent(), JSON.stringify({ rows: 12 }, null, 2));
});

test('Upload: a real file, both bars full, and its SHA-256', opts, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rivulet-demo-'));
  try {
    const file = join(dir, 'picture.bin');
    const bytes = randomBytes(2 * 1024 * 1024 + 7);
    writeFileSync(file, bytes);
    await card('upload').locator('input[type=file]').setInputFiles(file);
    await run('upload');
    const final = JSON.parse(await card('upload').locator('.result').textContent());
    assert.deepStrictEqual(final, {
      bytes: statSync(file).size,
      sha256: createHash('sha256').update(bytes).digest('hex'),
    });
    const bars = await card('upload').locator('progress').evaluateAll((all) => all.map((bar) => bar.value));
    assert.deepStrictEqual(bars, [1, 1]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Idle timeout, panic and truncation cards end in errors', opts, async () => {
  await card('silent').locator('[name=after_ms]').fill('3000');
  await card('silent').locator('[name=timeout]').fill('200');
  await run('silent', 'error');
  assert.equal(await card('silent').locator('.state').textContent(), 'timeout');
  await run('panic', 'error');
  assert.match(await card('panic').locator('.result').textContent(), /^error: /);
  await run('truncated', 'error');
  assert.match(await card('truncated').locator('.result').textContent(), /without a final packet/);
  await page.screenshot({ path: join(SCREENSHOTS, 'demo-finished.png'), fullPage: true });
  await serverIdle();
});
