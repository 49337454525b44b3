// connectTimeout in createStream(): a local server that takes its time before
// the response head plays a request that the browser has queued behind its
// six HTTP/1.1 connections per origin (the browser test
// tests/browser/connections.test.js meets the real limit in Chromium). Also
// shareAcrossTabs where the browser APIs it needs are missing (Node).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { createStream, DEFAULT_CONNECT_TIMEOUT, connectTimeoutMessage } from '../stream.js';
import { serveOnLoopback } from '../testing/helpers.js';

const STREAM_ID = '0123456789abcdef0123456789abcdef';
const sse = (n, type, data) => `id: ${STREAM_ID}.${n}\n${type === 'progress' ? '' : `event: ${type}\n`}data: ${JSON.stringify(data)}\n\n`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let server;
let base;
const requests = []; // {path, lastEventId}
const closedEarly = []; // paths whose request the client closed before a response head

before(async () => {
  server = await serveOnLoopback(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    const lastEventId = req.headers['last-event-id'];
    requests.push({ path: url.pathname, lastEventId });
    let answered = false;
    res.on('close', () => answered || closedEarly.push(url.pathname));
    const headAfter = Number(url.searchParams.get('headAfter') ?? 0);
    if (url.pathname === '/never') return; // no head, ever: the client must give up
    if (url.pathname === '/resumable' && lastEventId) return; // the reconnect hangs
    await sleep(headAfter);
    if (res.destroyed) return;
    answered = true;
    const headers = { 'Content-Type': 'text/event-stream' };
    if (url.pathname === '/resumable') headers['Rivulet-Stream-Id'] = STREAM_ID;
    res.writeHead(200, headers);
    res.write(sse(1, 'progress', { i: 1 }));
    if (url.pathname === '/resumable') {
      // Cut after one packet: the client reconnects with Last-Event-ID.
      await sleep(20);
      res.socket.destroy();
      return;
    }
    // A body slower than the connect timeout: only the head is timed.
    await sleep(Number(url.searchParams.get('bodyAfter') ?? 0));
    res.end(sse(2, 'done', { ok: true }));
  });
  base = server.base;
});

after(() => server.close());

/** Runs a stream to its end; returns the callbacks in order and the time taken. */
function run(path, options) {
  const started = Date.now();
  return new Promise((resolve) => {
    const log = [];
    createStream(`${base}${path}`, options)
      .progress((data) => log.push(['progress', data]))
      .done((data) => log.push(['done', data]))
      .error((xhr, errorType, message) => log.push(['error', errorType, message, xhr.status]))
      .always(() => resolve({ log, ms: Date.now() - started }))
      .start();
  });
}

test('the default is 10 s, and the message names the connection limit and its cures', () => {
  assert.equal(DEFAULT_CONNECT_TIMEOUT, 10_000);
  const message = connectTimeoutMessage(250);
  for (const words of ['250 ms', 'HTTP/1.1', '6 connections per origin', 'HTTP/2', 'shareAcrossTabs', 'fewer streams']) {
    assert.ok(message.includes(words), `${JSON.stringify(message)} names ${words}`);
  }
});

test('a response head that does not come in time: error timeout, and the request is aborted', async () => {
  const { log, ms } = await run('/never', { connectTimeout: 250 });
  assert.deepStrictEqual(log, [['error', 'timeout', connectTimeoutMessage(250), 0]]);
  assert.ok(ms >= 200 && ms < 5_000, `gave up after ${ms} ms`);
  // The server sees the request closed: the queued or stuck request is gone.
  const deadline = Date.now() + 5_000;
  while (!closedEarly.includes('/never') && Date.now() < deadline) await sleep(20);
  assert.ok(closedEarly.includes('/never'), 'the server saw the request closed');
});

test('only the head is timed: a body slower than connectTimeout streams to its end', async () => {
  const { log } = await run('/slow-body?bodyAfter=600', { connectTimeout: 200 });
  assert.deepStrictEqual(log, [
    ['progress', { i: 1 }],
    ['done', { ok: true }],
  ]);
});

test('connectTimeout 0 waits for a late head; a small one does not', async () => {
  const waited = await run('/late?headAfter=500', { connectTimeout: 0 });
  assert.deepStrictEqual(waited.log, [
    ['progress', { i: 1 }],
    ['done', { ok: true }],
  ]);
  const gaveUp = await run('/late?headAfter=1500', { connectTimeout: 150 });
  assert.deepStrictEqual(gaveUp.log, [['error', 'timeout', connectTimeoutMessage(150), 0]]);
});

test('each reconnect of a resumable stream has the same deadline for its head', async () => {
  const before = requests.length;
  const { log } = await run('/resumable', { connectTimeout: 300, reconnect: { retries: 3, delay: 10, maxDelay: 10 } });
  assert.deepStrictEqual(log, [
    ['progress', { i: 1 }],
    ['error', 'timeout', connectTimeoutMessage(300), 200],
  ]);
  // The first connection, then the resume that got no head and was not retried.
  assert.deepStrictEqual(
    requests.slice(before).map((r) => r.lastEventId),
    [undefined, `${STREAM_ID}.1`],
  );
});

test('a request with a body has no deadline unless asked: its upload may take long', async () => {
  // A head later than the default deadline (the server reads the body first).
  const late = `/upload?headAfter=${DEFAULT_CONNECT_TIMEOUT + 500}`;
  const { log, ms } = await run(late, { body: { file: 'x'.repeat(1000) } });
  assert.deepStrictEqual(log, [
    ['progress', { i: 1 }],
    ['done', { ok: true }],
  ]);
  assert.ok(ms >= DEFAULT_CONNECT_TIMEOUT, `took ${ms} ms`);
  const asked = await run('/upload?headAfter=1500', { body: { file: 'x' }, connectTimeout: 200 });
  assert.deepStrictEqual(asked.log, [['error', 'timeout', connectTimeoutMessage(200), 0]]);
});

test('a connectTimeout that is no number >= 0 is refused', () => {
  for (const connectTimeout of [-1, 'soon', NaN]) {
    assert.throws(() => createStream(`${base}/never`, { connectTimeout }), TypeError);
  }
});

test('shareAcrossTabs without Web Locks and BroadcastChannel (Node) is an own connection', async () => {
  const { log } = await run('/shared', { shareAcrossTabs: true });
  assert.deepStrictEqual(log, [
    ['progress', { i: 1 }],
    ['done', { ok: true }],
  ]);
  assert.ok(requests.some((r) => r.path === '/shared'));
});

test('shareAcrossTabs is refused for streams with a method other than GET or a body', () => {
  assert.throws(() => createStream(`${base}/shared`, { shareAcrossTabs: true, body: { a: 1 } }), TypeError);
  assert.throws(() => createStream(`${base}/shared`, { shareAcrossTabs: true, method: 'POST' }), TypeError);
});
