// The six-connection wall in headless Chromium against the demo over
// HTTP/1.1: a browser opens at most 6 connections per origin and queues the
// other requests without a word. With connectTimeout the streams that got no
// connection fail with 'timeout' and say why, while the six that did go on.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { WAIT_MS, blankPage, eventually, launchBrowser, metrics, serverIdle } from './support.js';

const opts = { timeout: WAIT_MS * 3 };
const FEED = '/stream/feed?interval_ms=100';
const CONNECT_TIMEOUT = 3_000;

let browser;

before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

test('8 feeds on one page: the 7th and 8th fail with timeout, the first six flow', opts, async () => {
  await serverIdle();
  const page = await blankPage(browser);
  await page.evaluate(
    async ({ url, connectTimeout }) => {
      const { createStream } = await import('/rivulet/stream.js');
      window.counts = Array(8).fill(0);
      window.failures = Array(8).fill(null);
      window.streams = window.counts.map((_, i) =>
        createStream(url, { connectTimeout })
          .progress(() => {
            window.counts[i] += 1;
          })
          .error((xhr, errorType, message) => {
            window.failures[i] = [errorType, message, xhr.status];
          })
          .start(),
      );
    },
    { url: FEED, connectTimeout: CONNECT_TIMEOUT },
  );
  // The server runs six handlers, however long the page waits.
  await eventually(async () => (await metrics()).rivulet_streams_active === 6, 'six streams on the server');

  const failed = await eventually(
    () => page.evaluate(() => (window.failures[6] && window.failures[7] ? window.failures : null)),
    'the 7th and 8th stream to fail',
  );
  for (const i of [6, 7]) {
    const [errorType, message, status] = failed[i];
    assert.equal(errorType, 'timeout');
    assert.equal(status, 0);
    assert.match(message, new RegExp(`no response within ${CONNECT_TIMEOUT} ms`));
    assert.match(message, /6 connections per origin/);
    assert.match(message, /HTTP\/2.*shareAcrossTabs.*fewer streams/);
  }
  assert.deepStrictEqual(failed.slice(0, 6), Array(6).fill(null));

  // The six go on after the two gave up: each gets more packets.
  const then = await page.evaluate(() => [...window.counts]);
  assert.deepStrictEqual(then.slice(6), [0, 0]);
  await eventually(
    () => page.evaluate((then) => window.counts.slice(0, 6).every((n, i) => n >= then[i] + 3), then),
    'the first six to receive more packets',
  );
  assert.equal((await metrics()).rivulet_streams_active, 6);
  assert.deepStrictEqual(await page.evaluate(() => window.failures.slice(0, 6)), Array(6).fill(null));

  await page.evaluate(() => window.streams.forEach((stream) => stream.abort()));
  await serverIdle();
  assert.deepStrictEqual(page.errors, []);
  await page.close();
});

test('connectTimeout 0 waits: the 7th stream flows once one of the six ends', opts, async () => {
  await serverIdle();
  const page = await blankPage(browser);
  await page.evaluate(async (url) => {
    const { createStream } = await import('/rivulet/stream.js');
    window.counts = Array(7).fill(0);
    window.failures = [];
    window.streams = window.counts.map((_, i) =>
      createStream(url, { connectTimeout: 0 })
        .progress(() => {
          window.counts[i] += 1;
        })
        .error((xhr, errorType) => window.failures.push([i, errorType]))
        .start(),
    );
  }, FEED);
  await eventually(
    () => page.evaluate(() => window.counts.slice(0, 6).every((n) => n >= 3)),
    'the first six to receive packets',
  );
  assert.equal(await page.evaluate(() => window.counts[6]), 0);
  await page.evaluate(() => {
    window.streams[0].abort(); // (not returned: the client is a thenable)
  });
  await eventually(() => page.evaluate(() => window.counts[6] >= 3), 'the 7th to receive packets');
  assert.deepStrictEqual(await page.evaluate(() => window.failures), [[0, 'abort']]);
  await page.evaluate(() => window.streams.forEach((stream) => stream.abort()));
  await serverIdle();
  await page.close();
});
