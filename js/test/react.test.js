// rivulet-client/react under server rendering: rendering the hooks with
// react-dom/server sends nothing, even with immediate start, a stored resume
// point and a live feed. A local server records every request it gets; a
// request the test sends itself afterwards shows the server is reached.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { createElement as h, StrictMode } from 'react';
import { renderToString } from 'react-dom/server';

import { useStream, useFeed } from '../react.js';

let server;
let base;
const requests = [];

before(async () => {
  server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${server.address().port}`;
});

after(() => server.close());

function Job() {
  const job = useStream(`${base}/stream/process`, { immediate: true, resumeKey: 'job', body: { n: 1 } });
  return h('p', null, `job ${job.status} ${job.packets.length} ${String(job.result)}`);
}

function Ticker() {
  const feed = useFeed(`${base}/feed/ticker`, { keep: 5 });
  return h('p', null, `feed ${feed.status} ${feed.history.length} ${String(feed.value)}`);
}

test('server rendering shows idle hooks and sends no request', async () => {
  // A resume point the client side would resume from; the server side must not.
  globalThis.sessionStorage = new Map([['job', '0123456789abcdef0123456789abcdef.3']]);
  globalThis.sessionStorage.getItem = globalThis.sessionStorage.get;
  try {
    const html = renderToString(h(StrictMode, null, h(Job), h(Ticker), h(Ticker)));
    assert.equal(html, '<p>job idle 0 undefined</p><p>feed idle 0 undefined</p><p>feed idle 0 undefined</p>');
    // Let every microtask and timer the render might have queued run, then
    // reach the server: a request started by the render would be in first.
    await new Promise((resolve) => setTimeout(resolve, 0));
    const answer = await fetch(`${base}/after-render`);
    assert.equal(await answer.text(), 'ok');
    assert.deepEqual(requests, ['GET /after-render']);
  } finally {
    delete globalThis.sessionStorage;
  }
});
