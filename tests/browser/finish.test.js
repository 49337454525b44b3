// A stream that ends with its final packet is read to its end, not aborted:
// the browser lists the request as finished, never as failed (ERR_ABORTED),
// whether the final packet is done or error, for createStream over fetch and
// XMLHttpRequest and for $.stream. A deliberate abort still fails the request.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { BASE, JQUERY_PATH, WAIT_MS, blankPage, launchBrowser, record } from './support.js';

let browser;
let page;
const outcomes = new Map(); // url -> 'finished' | 'failed: <reason>'

before(async () => {
  browser = await launchBrowser();
  page = await blankPage(browser);
  page.on('requestfinished', (request) => outcomes.set(request.url(), 'finished'));
  page.on('requestfailed', (request) => outcomes.set(request.url(), `failed: ${request.failure()?.errorText}`));
  await page.addScriptTag({ path: JQUERY_PATH });
  await page.addScriptTag({ type: 'module', url: '/rivulet/jquery.stream.js' });
  await page.waitForFunction(() => typeof window.jQuery?.stream === 'function');
});

after(async () => {
  assert.deepStrictEqual(page.errors.map(String), [], 'no uncaught errors in the page');
  await browser?.close();
});

// The browser reports a request's outcome a little after the callbacks ran.
async function outcome(path) {
  const url = `${BASE}${path}`;
  const deadline = Date.now() + WAIT_MS;
  while (!outcomes.has(url) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return outcomes.get(url);
}

for (const format of ['sse', 'ndjson', 'legacy']) {
  for (const xhr of [false, true]) {
    const via = xhr ? 'XMLHttpRequest' : 'fetch';
    test(`createStream over ${via}, ${format}: done and error streams finish, not fail`, async () => {
      const done = `/stream/status?client=${via}&format=${format}`;
      const log = await record(page, done, { format }, { xhr });
      assert.equal(log.at(-1)[0], 'done', JSON.stringify(log));
      assert.equal(await outcome(done), 'finished');

      const failed = `/stream/riskyProcess?fail=1&interval_ms=1&client=${via}&format=${format}`;
      const errorLog = await record(page, failed, { format }, { xhr });
      assert.equal(errorLog.at(-1)[0], 'error', JSON.stringify(errorLog));
      assert.equal(await outcome(failed), 'finished');
    });
  }

  test(`$.stream, ${format}: a finished stream finishes`, async () => {
    const path = `/stream/process?items=10&interval_ms=1&client=jquery&format=${format}`;
    const final = await page.evaluate(
      ({ path, format }) =>
        new Promise((resolve) => {
          window.jQuery.stream(path, { format }).done(resolve).fail((xhr, errorType, message) => resolve(message));
        }),
      { path, format },
    );
    assert.equal(final.processed, 10, JSON.stringify(final));
    assert.equal(await outcome(path), 'finished');
  });
}

test('an aborted stream is still cut off', async () => {
  const path = '/stream/feed?interval_ms=10&client=abort';
  const log = await record(page, path, {}, { abortAfter: 1 });
  assert.deepStrictEqual(log.at(-1).slice(0, 2), ['error', 'abort']);
  assert.match(await outcome(path), /^failed: net::ERR_ABORTED/);
});
