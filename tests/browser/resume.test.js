// Resumable streams in headless Chromium against the demo's /stream/durable:
// a page reloaded mid-stream goes on where it left off, and a connection cut
// by a proxy resumes by itself, with our client and with a plain EventSource.
// Every packet must arrive exactly once, in order, then the final one.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect } from 'node:net';
import { once } from 'node:events';

import { BASE, WAIT_MS, eventually, launchBrowser } from './support.js';

const opts = { timeout: WAIT_MS * 3 };
const ITEMS = 12;
const DURABLE = `/stream/durable?items=${ITEMS}&every=1&interval_ms=80`;
const EXPECTED = [
  ['progress', 'Starting durable process'],
  ...Array.from({ length: ITEMS }, (_, i) => ['progress', `Processed ${i + 1} items`]),
];

let browser;

before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

/** Checks a page's log: every packet once, in order, then done. */
function assertWhole(log) {
  assert.deepStrictEqual(log.slice(0, -1), EXPECTED);
  assert.equal(log.at(-1)[0], 'done');
  assert.equal(log.at(-1)[1].processed, ITEMS);
}

// A page that runs the durable stream and keeps what it got, and where to
// resume, in sessionStorage: after a reload it resumes from there.
const CLIENT_PAGE = `<!doctype html><meta charset="utf-8"><title>resume</title>
<script type="module">
import { createStream } from '/rivulet/stream.js';
const log = JSON.parse(sessionStorage.getItem('log') ?? '[]');
window.log = log;
const save = (id) => {
  sessionStorage.setItem('log', JSON.stringify(log));
  if (id) sessionStorage.setItem('resume', id);
};
const stream = createStream(${JSON.stringify(DURABLE)}, {
  lastEventId: sessionStorage.getItem('resume') ?? undefined,
});
stream
  .progress((data) => { log.push(['progress', data]); save(stream.lastEventId()); })
  .done((data) => { log.push(['done', data]); save(); window.finished = true; })
  .error((xhr, type, message) => { log.push(['error', type, message]); save(); window.finished = true; })
  .start();
</script>`;

// The same with a plain EventSource. A new EventSource cannot send
// Last-Event-ID, so after a reload the resume point goes in the query.
const EVENTSOURCE_PAGE = `<!doctype html><meta charset="utf-8"><title>resume</title>
<script>
const log = JSON.parse(sessionStorage.getItem('log') ?? '[]');
window.log = log;
const resume = sessionStorage.getItem('resume');
const url = ${JSON.stringify(DURABLE)} + (resume ? '&lastEventId=' + encodeURIComponent(resume) : '');
const source = new EventSource(url);
source.onmessage = (event) => {
  log.push(['progress', JSON.parse(event.data)]);
  sessionStorage.setItem('log', JSON.stringify(log));
  sessionStorage.setItem('resume', event.lastEventId);
};
source.addEventListener('done', (event) => {
  log.push(['done', JSON.parse(event.data)]);
  sessionStorage.setItem('log', JSON.stringify(log));
  source.close();
  window.finished = true;
});
source.addEventListener('error', (event) => {
  // A dropped connection is an 'error' without data: the browser reconnects.
  if (event.data) {
    log.push(['error', JSON.parse(event.data)]);
    source.close();
    window.finished = true;
  }
});
</script>`;

/**
 * A page on `origin` whose `/__resume` is `html` (routes outlive reloads).
 * `page.streams` lists the Rivulet-Stream-Id of each response of the stream.
 */
async function pageWith(origin, html) {
  const page = await browser.newPage();
  page.setDefaultTimeout(WAIT_MS);
  page.errors = [];
  page.on('pageerror', (err) => page.errors.push(err));
  page.streams = [];
  page.on('response', (response) => {
    if (new URL(response.url()).pathname !== '/stream/durable') return;
    page.streams.push(`${response.status()} ${response.headers()['rivulet-stream-id']}`);
  });
  await page.route(`${origin}/__resume`, (route) => route.fulfill({ contentType: 'text/html', body: html }));
  await page.goto(`${origin}/__resume`);
  return page;
}

/**
 * The stream was started once and resumed once: two responses of the same
 * stream. (A reconnection that was not a resume would start a second job,
 * whose packets assertWhole() would see twice.)
 */
function assertResumedOnce(page) {
  assert.equal(page.streams.length, 2, JSON.stringify(page.streams));
  assert.match(page.streams[0], /^200 [0-9a-f]{32}$/);
  assert.equal(page.streams[1], page.streams[0]);
}

const progressCount = (page) => page.evaluate(() => (window.log ?? []).filter((e) => e[0] === 'progress').length);

async function finishedLog(page) {
  await eventually(() => page.evaluate(() => window.finished === true), 'the stream to finish');
  return page.evaluate(() => window.log);
}

for (const [name, html] of [
  ['our client', CLIENT_PAGE],
  ['a plain EventSource', EVENTSOURCE_PAGE],
]) {
  test(`a page reloaded mid-stream goes on where it left off (${name})`, opts, async () => {
    const page = await pageWith(BASE, html);
    await eventually(async () => (await progressCount(page)) >= 3, 'three packets before the reload');
    await page.reload();
    const log = await finishedLog(page);
    assertWhole(log);
    assertResumedOnce(page);
    assert.deepStrictEqual(page.errors.map(String), []);
    await page.close();
  });
}

/** A TCP proxy in front of the demo server that can cut its connections. */
async function startProxy() {
  const target = new URL(BASE);
  const sockets = new Set();
  const server = createServer((inbound) => {
    const outbound = connect(Number(target.port), target.hostname);
    sockets.add(inbound).add(outbound);
    inbound.pipe(outbound).pipe(inbound);
    const close = () => {
      inbound.destroy();
      outbound.destroy();
      sockets.delete(inbound);
      sockets.delete(outbound);
    };
    inbound.on('error', close).on('close', close);
    outbound.on('error', close).on('close', close);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    origin: `http://127.0.0.1:${server.address().port}`,
    cut() {
      for (const socket of sockets) socket.resetAndDestroy?.() ?? socket.destroy();
    },
    close() {
      this.cut();
      server.close();
    },
  };
}

for (const [name, html] of [
  ['our client', CLIENT_PAGE],
  ['a plain EventSource', EVENTSOURCE_PAGE],
]) {
  test(`a connection cut mid-stream resumes by itself (${name})`, opts, async () => {
    const proxy = await startProxy();
    try {
      const page = await pageWith(proxy.origin, html);
      await eventually(async () => (await progressCount(page)) >= 3, 'three packets before the cut');
      proxy.cut();
      const log = await finishedLog(page);
      assertWhole(log);
      assertResumedOnce(page);
      assert.deepStrictEqual(page.errors.map(String), []);
      await page.close();
    } finally {
      proxy.close();
    }
  });
}
