// One page's worth of seed-style $.stream code, run against our
// jquery.stream.js and against a reproduction of the original Hazaar plugin
// (hazaar-original.js), with jQuery 1.11, 3.7 and 4.0: the callbacks must
// receive the same things, and the requests must carry the same headers.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

import { BASE, WAIT_MS, blankPage, launchBrowser } from './support.js';

const requireFromJs = createRequire(new URL('../../js/package.json', import.meta.url));
const JQUERIES = { '1.11': 'jquery1', '3.7': 'jquery3', '4.0': 'jquery' };
const ORIGINAL = fileURLToPath(new URL('./hazaar-original.js', import.meta.url));

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

// The page code: each scenario as a page written for the original would
// write it, one after the other; `record` gets every callback.
async function seedPage($, record) {
  $.ajaxSetup({ headers: { 'X-CSRF-Token': 'tok123' } });
  const errorShape = (xhr) => {
    const body = xhr.responseJSON;
    return body && body.error ? { ok: body.ok, type: body.error.type, status: body.error.status, str: body.error.str } : null;
  };
  const scenario = (name, url, options) =>
    new Promise((resolve) => {
      let ended = false;
      // Anything that still arrives just after the end is recorded too.
      const end = () => {
        if (!ended) setTimeout(resolve, 200);
        ended = true;
      };
      $.stream(url, options)
        .progress((data) => record(name, 'progress', data))
        .done((data) => {
          record(name, 'done', data);
          end();
        })
        .error((xhr, errorType, message) => {
          record(name, 'error', errorType, message, xhr.status, errorShape(xhr));
          end();
        });
    });
  await scenario('test', '/stream?interval_ms=1');
  await scenario('status', '/stream/status');
  await scenario('process', '/stream/process?items=20&interval_ms=1');
  await scenario('risky fails', '/stream/riskyProcess?fail=1&interval_ms=1');
  await scenario('risky succeeds', '/stream/riskyProcess?fail=0&interval_ms=1');
  await scenario('types', '/stream/types?interval_ms=1');
  await scenario('post', '/stream/process', { type: 'POST', data: { items: 10, interval_ms: 1 } });
  await scenario('http error', '/stream/process?items=-1');
}

async function run(jquery, plugin) {
  const page = await blankPage(browser);
  const requests = [];
  page.on('request', (request) => {
    if (!request.url().startsWith(`${BASE}/stream`)) return;
    const headers = request.headers();
    requests.push({
      method: request.method(),
      url: request.url(),
      body: request.postData() ?? null,
      'content-type': headers['content-type'] ?? null,
      'x-csrf-token': headers['x-csrf-token'] ?? null,
      'x-requested-with': headers['x-requested-with'] ?? null,
      'x-request-type': headers['x-request-type'] ?? null,
    });
  });
  await page.addScriptTag({ path: requireFromJs.resolve(jquery) });
  if (plugin === 'original') {
    await page.addScriptTag({ path: ORIGINAL });
    await page.evaluate(() => window.installHazaarOriginal(window.jQuery));
  } else {
    await page.addScriptTag({ type: 'module', url: '/rivulet/jquery.stream.js' });
    await page.waitForFunction(() => typeof window.jQuery?.stream === 'function');
  }
  const calls = await page.evaluate(
    ({ source, waitMs }) =>
      new Promise((resolve) => {
        const calls = [];
        const timer = setTimeout(() => resolve([...calls, ['test gave up waiting']]), waitMs);
        const record = (...call) => calls.push(call);
        new Function('$', 'record', `return (${source})($, record)`)(window.jQuery, record).then(() => {
          clearTimeout(timer);
          resolve(calls);
        });
      }),
    { source: seedPage.toString(), waitMs: WAIT_MS * 2 },
  );
  assert.deepStrictEqual(page.errors.map(String), [], `${plugin}: no uncaught errors`);
  await page.close();
  // How long a job took differs from run to run.
  const timeless = (value) =>
    value && typeof value === 'object' && 'duration' in value ? { ...value, duration: typeof value.duration } : value;
  return { calls: calls.map((call) => call.map(timeless)), requests };
}

for (const [version, jquery] of Object.entries(JQUERIES)) {
  test(`jQuery ${version}: seed-style page code gets what the original plugin gives`, { timeout: WAIT_MS * 6 }, async () => {
    const original = await run(jquery, 'original');
    const ours = await run(jquery, 'ours');
    const scenario = (calls, name) => calls.filter(([n]) => n === name);

    // The original also calls `done` with the error body's text after an
    // HTTP error (it reads any response as a stream); ours does not. The
    // error callback is the same apart from the fields ours adds.
    const httpError = (calls) =>
      scenario(calls, 'http error')
        .filter(([, kind]) => kind === 'error')
        .map(([name, kind, errorType, message, status]) => [name, kind, errorType, message, status]);
    assert.deepStrictEqual(httpError(ours.calls), httpError(original.calls));
    assert.deepStrictEqual(httpError(ours.calls), [['http error', 'error', 'error', 'Unprocessable Entity', 422]]);
    // The original's reader takes a `null` progress packet for "no packet
    // yet": it never reports it, and the packets that came with it in the
    // same chunk end up in its done callback as text. Up to that packet both
    // agree; ours goes on.
    const beforeNull = (calls) => {
      const types = scenario(calls, 'types');
      const end = types.findIndex(([, kind, data]) => kind === 'done' || data === null);
      return types.slice(0, end);
    };
    assert.deepStrictEqual(beforeNull(ours.calls), beforeNull(original.calls));
    assert.equal(beforeNull(ours.calls).length, 6);
    assert.deepStrictEqual(scenario(ours.calls, 'types').slice(6, 8), [
      ['types', 'progress', null],
      ['types', 'progress', 'Grüße, naïve café — 水 🌊'],
    ]);
    const others = (calls) => calls.filter(([n]) => n !== 'http error' && n !== 'types');
    assert.deepStrictEqual(others(ours.calls), others(original.calls));

    // A sample of what both received, so that "the same" is not "both empty".
    assert.deepStrictEqual(scenario(ours.calls, 'risky fails'), [
      ['risky fails', 'progress', 'Starting risky operation'],
      [
        'risky fails',
        'error',
        'error',
        'Internal Error',
        200,
        { ok: false, type: 500, status: 'Stream Error', str: 'Something went wrong!' },
      ],
    ]);
    assert.deepStrictEqual(scenario(ours.calls, 'post').at(-1)[2].processed, 10);
    assert.equal(scenario(ours.calls, 'types').at(-1)[2].unicode, 'Grüße, naïve café — 水 🌊');

    assert.deepStrictEqual(ours.requests, original.requests);
    for (const request of ours.requests) {
      assert.equal(request['x-csrf-token'], 'tok123', request.url);
      assert.equal(request['x-requested-with'], 'XMLHttpRequest', request.url);
      assert.equal(request['x-request-type'], 'stream', request.url);
    }
    assert.equal(ours.requests.length, 8);
  });
}
