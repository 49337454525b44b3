// The demo page's own behaviour: it loads without a failed request (favicon),
// its settings fit their text, and the Resumable job card resumes after a
// dropped connection and after a page reload, with nothing lost or repeated,
// and its Cancel button stops the job.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';

import { BASE, SCREENSHOTS, WAIT_MS, launchBrowser } from './support.js';

const opts = { timeout: WAIT_MS * 3 };
let browser;
let page;
const pageErrors = [];
const failures = []; // responses >= 400 and console errors

const EXPECTED_LOG = ['"Starting durable process"', '"Processed 10 items"', '"Processed 20 items"', '"Processed 30 items"'];

before(async () => {
  browser = await launchBrowser();
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.setDefaultTimeout(WAIT_MS);
  page.on('pageerror', (err) => pageErrors.push(String(err)));
  page.on('response', (response) => {
    if (response.status() >= 400) failures.push(`${response.status()} ${response.url()}`);
  });
  page.on('console', (message) => {
    if (message.type() === 'error') failures.push(message.text());
  });
  await page.goto(`${BASE}/`);
  await page.locator('[data-demo]').first().waitFor();
});

after(async () => {
  assert.deepStrictEqual(pageErrors, [], 'no uncaught errors in the page');
  await browser?.close();
});

const durable = () => page.locator('[data-demo="durable"]');
// The packets in the card's log, without the lines that mark a resumption.
const packetsLogged = async () => (await durable().locator('.log li').allTextContents()).filter((t) => !t.startsWith('—'));

async function startDurable() {
  await page.fill('#settings [name=interval_ms]', '100');
  await durable().locator('[name=items]').fill('30');
  await durable().locator('[data-action=start]').click();
  // Two packets in: something to resume from.
  await page.waitForFunction(() => document.querySelectorAll('[data-demo="durable"] .log li').length >= 2);
}

test('the page loads with no failed request and no console error', async () => {
  await page.waitForLoadState('networkidle');
  assert.deepStrictEqual(failures, []);
  const icon = await page.evaluate(() => document.querySelector('link[rel=icon]')?.href ?? '');
  assert.match(icon, /^data:image\/svg\+xml,/);
});

test('the Pace field shows its whole placeholder', async () => {
  const fits = await page.evaluate(() => {
    const input = document.querySelector('#settings [name=interval_ms]');
    const style = getComputedStyle(input);
    const context = document.createElement('canvas').getContext('2d');
    context.font = `${style.fontSize} ${style.fontFamily}`;
    const text = context.measureText(input.placeholder).width;
    const room = input.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    return { text, room };
  });
  assert.ok(fits.room >= fits.text, JSON.stringify(fits));
});

test('Resumable job: Drop connection resumes with nothing lost or repeated', opts, async () => {
  await startDurable();
  const drop = durable().locator('[data-action=drop]');
  await page.waitForFunction(() => !document.querySelector('[data-demo="durable"] [data-action=drop]').disabled);
  await drop.click();
  await page.waitForSelector('[data-demo="durable"][data-state="done"]');
  assert.deepStrictEqual(await packetsLogged(), EXPECTED_LOG);
  const marks = (await durable().locator('.log li').allTextContents()).filter((t) => t.startsWith('—'));
  assert.equal(marks.length, 1, 'one drop');
  assert.match(await durable().locator('.result').textContent(), /"processed": 30/);
  assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'nothing kept after the end');
});

test('Resumable job: Cancel job stops it on the server and the card shows the final packet', opts, async () => {
  await startDurable();
  await page.waitForFunction(() => !document.querySelector('[data-demo="durable"] [data-action=cancel]').disabled);
  const answer = page.waitForResponse((response) => response.request().method() === 'DELETE');
  await durable().locator('[data-action=cancel]').click();
  assert.equal((await answer).status(), 202);
  await page.waitForSelector('[data-demo="durable"][data-state="cancelled"]');
  assert.match(await durable().locator('.result').textContent(), /Cancelled/);
  assert.ok((await packetsLogged()).length < EXPECTED_LOG.length, 'stopped before its end');
  assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'nothing kept after the end');
});

test('Resumable job: a reload mid-job resumes from sessionStorage', opts, async () => {
  await startDurable();
  await page.reload();
  await page.waitForSelector('[data-demo="durable"][data-state="done"]');
  assert.deepStrictEqual(await packetsLogged(), EXPECTED_LOG);
  assert.match(await durable().locator('.log').textContent(), /page reloaded after packet \d/);
  assert.match(await durable().locator('.result').textContent(), /"processed": 30/);
  await page.screenshot({ path: join(SCREENSHOTS, 'demo-resumed.png'), fullPage: true });
});

const card = (name) => page.locator(`[data-demo="${name}"]`);

/** Runs card `name` at `pace` ms and waits until it ends in `state`. */
async function runCard(name, state, pace = '1') {
  await page.fill('#settings [name=interval_ms]', pace);
  await card(name).locator('[data-action=start]').click();
  await page.waitForSelector(`[data-demo="${name}"][data-state="${state}"]`);
  return card(name).locator('.result').textContent();
}

test('a card whose handler returns nothing says so, not a green null', opts, async () => {
  const result = await runCard('test', 'done');
  assert.equal(result, 'Done (no final value).');
});

test('the panic card shows the error packet without the 200 of its response', opts, async () => {
  const result = await runCard('panic', 'error');
  assert.match(result, /"status": 500/);
  assert.doesNotMatch(result, /HTTP 200/);
});

test('an HTTP refusal before the stream still shows its status', opts, async () => {
  await card('process').locator('[name=items]').fill('-1');
  const result = await runCard('process', 'error');
  assert.match(result, /\(HTTP 422\)/);
});

test('the idle timeout is said once, not "timeout: timeout"', opts, async () => {
  const result = await runCard('silent', 'error', '');
  assert.match(result, /^timeout/);
  assert.doesNotMatch(result, /timeout: timeout/);
});

test('the Pace setting says it is per item on the batch cards', async () => {
  const label = await page.locator('#settings label:has([name=interval_ms])').textContent();
  assert.match(label, /per item on the batch cards/);
});

test('the ticker card stops "running" once every viewer failed', opts, async () => {
  const refuse = (route) => (route.request().method() === 'GET' ? route.abort() : route.continue());
  await page.route('**/stream/ticker*', refuse);
  try {
    await card('ticker').locator('[data-action=start]').click();
    await page.waitForSelector('[data-demo="ticker"][data-state="error"]');
    assert.equal(await card('ticker').locator('[data-action=start]').isDisabled(), false, 'Follow again');
  } finally {
    await page.unroute('**/stream/ticker*', refuse);
  }
});
