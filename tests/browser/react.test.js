// rivulet-client/react in headless Chromium: React 19 (development build,
// StrictMode, so every component mounts twice) bundled with esbuild, the
// hooks reading the demo's streams and its ticker feed.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

import { BASE, WAIT_MS, launchBrowser } from './support.js';

const requireFromJs = createRequire(new URL('../../js/package.json', import.meta.url));
const { buildSync } = requireFromJs('esbuild');

const opts = { timeout: WAIT_MS * 2 };
let browser;
let bundle;
const pageErrors = [];

before(async () => {
  const { outputFiles } = buildSync({
    entryPoints: [fileURLToPath(new URL('./react-app.js', import.meta.url))],
    bundle: true,
    format: 'esm',
    write: false,
    nodePaths: [fileURLToPath(new URL('../../js/node_modules', import.meta.url))],
    define: { 'process.env.NODE_ENV': '"development"' },
  });
  bundle = outputFiles[0].text;
  browser = await launchBrowser();
});

after(async () => {
  assert.deepStrictEqual(pageErrors, [], 'no uncaught errors in the pages');
  await browser?.close();
});

/** A page on the server's origin running react-app.js; `page.sent` lists the requests to /stream/. */
async function reactPage(context) {
  const page = await (context ?? browser).newPage();
  page.setDefaultTimeout(WAIT_MS);
  page.on('pageerror', (err) => pageErrors.push(String(err)));
  page.sent = [];
  page.on('request', (req) => {
    const url = new URL(req.url());
    if (url.pathname.startsWith('/stream/')) {
      page.sent.push({ method: req.method(), path: url.pathname + url.search, lastEventId: req.headers()['last-event-id'] });
    }
  });
  await page.route(`${BASE}/__react`, (route) =>
    route.fulfill({
      contentType: 'text/html',
      body: '<!doctype html><meta charset="utf-8"><title>react</title><div id="root"></div><script type="module" src="/__react.js"></script>',
    }),
  );
  await page.route(`${BASE}/__react.js`, (route) => route.fulfill({ contentType: 'text/javascript', body: bundle }));
  await page.goto(`${BASE}/__react`);
  await page.waitForFunction(() => typeof window.mountHooks === 'function');
  return page;
}

const mount = (page, list) => page.evaluate((list) => window.mountHooks(list), list);
const stateOf = async (page, id, status) => {
  const reached = await page.locator(`#${id}[data-status="${status}"]`).waitFor().then(() => true, (err) => err);
  const text = await page.locator(`#${id}`).textContent();
  if (reached !== true) assert.fail(`#${id} not ${status} in time: ${text.slice(0, 500)}`);
  return JSON.parse(text);
};

test('useStream with immediate start: one request under StrictMode, every packet, the result', opts, async () => {
  const page = await reactPage();
  const url = '/stream/job?items=5&interval_ms=10';
  await mount(page, [{ kind: 'stream', id: 'job', url, options: { immediate: true } }]);
  const state = await stateOf(page, 'job', 'done');
  assert.deepEqual(
    state.packets,
    [1, 2, 3, 4, 5].map((current) => ({ current, total: 5 })),
  );
  assert.equal(state.result.success, true);
  assert.deepEqual(page.sent, [{ method: 'GET', path: url, lastEventId: undefined }]);
  await page.close();
});

test('useStream: start() sends a POST body; keep bounds the packets; an error packet is an error', opts, async () => {
  const page = await reactPage();
  await mount(page, [
    { kind: 'stream', id: 'post', url: '/stream/job', options: { keep: 2 } },
    { kind: 'stream', id: 'risky', url: '/stream/riskyProcess?fail=1&interval_ms=10', options: { immediate: true } },
  ]);
  assert.equal((await stateOf(page, 'post', 'idle')).packets.length, 0);
  assert.ok(!page.sent.some((r) => r.path === '/stream/job'), 'nothing sent before start()');
  await page.evaluate(() => window.hooks.post.start({ body: { items: 4, interval_ms: 10 } }));
  const post = await stateOf(page, 'post', 'done');
  assert.deepEqual(post.packets, [3, 4].map((current) => ({ current, total: 4 })));
  assert.deepEqual(page.sent.filter((r) => r.path === '/stream/job').map((r) => r.method), ['POST']);
  const risky = await stateOf(page, 'risky', 'error');
  assert.equal(risky.error.errorType, 'error');
  assert.equal(risky.error.message, 'Something went wrong!');
  await page.close();
});

test('useStream: a FormData upload reports upload progress, then the server\'s packets and result', opts, async () => {
  const page = await reactPage();
  await mount(page, [{ kind: 'stream', id: 'up', url: '/stream/upload' }]);
  await page.evaluate(() => {
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(1 << 20)]), 'zeros.bin');
    window.hooks.up.start({ body: form, onUploadProgress() {} });
  });
  const state = await stateOf(page, 'up', 'done');
  assert.ok(state.upload.total > 1 << 20, 'the whole multipart body is counted');
  assert.equal(state.upload.loaded, state.upload.total);
  assert.deepEqual(state.result, { bytes: 1 << 20, sha256: '30e14955ebf1352266dc2ff8067e68104607e750abb9d3b36582b8af909fcb58' });
  assert.ok(state.packets.length >= 1, 'hashing progress packets');
  assert.deepEqual(page.sent.map((r) => r.method), ['POST']);
  await page.close();
});

test('useStream with resumeKey resumes a durable job after a reload, from where it was', opts, async () => {
  const context = await browser.newContext();
  const page = await reactPage(context);
  const url = '/stream/durable?items=30&every=1&interval_ms=100';
  const job = { kind: 'stream', id: 'durable', url, options: { immediate: true, resumeKey: 'durable' } };
  await mount(page, [job]);
  await page.waitForFunction(() => window.hooks.durable?.packets.length >= 3);
  const point = await page.evaluate(() => sessionStorage.getItem('durable'));
  assert.match(point, /^[0-9a-f]+\.\d+$/);
  page.sent.length = 0;
  await page.reload();
  await page.waitForFunction(() => typeof window.mountHooks === 'function');
  // The same component after the reload, without immediate: the stored point alone resumes it.
  await mount(page, [{ ...job, options: { resumeKey: 'durable' } }]);
  const state = await stateOf(page, 'durable', 'done');
  assert.equal(page.sent.length, 1);
  const [id, n] = page.sent[0].lastEventId.split('.');
  assert.equal(id, point.split('.')[0]);
  assert.ok(Number(n) >= Number(point.split('.')[1]), 'resumed at or after the stored point');
  // Only what came after the resume point: no packet twice, the last one is item 30's.
  assert.equal(state.packets.at(-1), 'Processed 30 items');
  assert.equal(new Set(state.packets).size, state.packets.length);
  assert.ok(state.packets.length < 31 - 2, 'the packets before the point were not sent again');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('durable')), null, 'the point is gone once done');
  await context.close();
});

test('useStream cancel() disconnects and sends DELETE with the resume point', opts, async () => {
  const page = await reactPage();
  const url = '/stream/durable?items=50&every=1&interval_ms=100';
  await mount(page, [{ kind: 'stream', id: 'cancel', url, options: { immediate: true, resumeKey: 'cancel' } }]);
  await page.waitForFunction(() => window.hooks.cancel?.packets.length >= 2);
  const outcome = await page.evaluate(() => {
    const point = window.hooks.cancel.packets.length;
    return window.hooks.cancel.cancel().then(
      (told) => ({ told, point }),
      (err) => ({ status: err.status, point }),
    );
  });
  const state = await stateOf(page, 'cancel', 'aborted');
  assert.equal(state.error.errorType, 'abort');
  const deletes = page.sent.filter((r) => r.method === 'DELETE');
  assert.equal(deletes.length, 1, JSON.stringify(page.sent));
  assert.equal(deletes[0].path, url);
  assert.match(deletes[0].lastEventId, /^[0-9a-f]+\.\d+$/);
  assert.ok(Number(deletes[0].lastEventId.split('.')[1]) >= outcome.point);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('cancel')), null);
  await page.close();
});

test('useFeed: components share one connection to the ticker; a published value reaches all; keep bounds history', opts, async () => {
  const page = await reactPage();
  const feed = (id) => ({ kind: 'feed', id, url: '/stream/ticker', options: { keep: 2 } });
  await mount(page, [feed('a'), feed('b'), feed('c')]);
  await page.locator('#a[data-status="running"]').waitFor();
  const publish = async (value) => {
    const answer = await fetch(`${BASE}/stream/ticker`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(value),
    });
    assert.equal(answer.status, 202);
  };
  // A feed gives what is published from the moment it is followed: publish a
  // first value until it arrives (the connection may still be opening).
  for (let i = 0; ; i++) {
    assert.ok(i < 100, 'the feed is followed in time');
    await publish({ n: 0 });
    const seen = await page
      .waitForFunction(() => window.hooks.c?.value?.n === 0, null, { timeout: 200 })
      .then(() => true, () => false);
    if (seen) break;
  }
  for (const n of [1, 2, 3]) await publish({ n });
  await page.waitForFunction(() => ['a', 'b', 'c'].every((id) => window.hooks[id].value?.n === 3));
  for (const id of ['a', 'b', 'c']) {
    assert.deepEqual(JSON.parse(await page.locator(`#${id}`).textContent()).history, [{ n: 2 }, { n: 3 }]);
  }
  const follows = page.sent.filter((r) => r.method === 'GET' && r.path === '/stream/ticker');
  assert.equal(follows.length, 1, 'one connection for three components, StrictMode included');
  // The last component gone, the connection is closed.
  const closed = page.waitForEvent('requestfailed', (req) => new URL(req.url()).pathname === '/stream/ticker');
  await page.evaluate(() => window.unmountHooks());
  await closed;
  await page.close();
});
