// $.stream with the real jQuery from npm, loaded as a classic global script,
// and jquery.stream.js loaded as a module from the server.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { JQUERY_PATH, WAIT_MS, blankPage, launchBrowser, serverIdle } from './support.js';

const opts = { timeout: WAIT_MS * 2 };
let browser;
let page;
let dir;

before(async () => {
  browser = await launchBrowser();
  page = await blankPage(browser);
  await page.addScriptTag({ path: JQUERY_PATH });
  await page.addScriptTag({ type: 'module', url: '/rivulet/jquery.stream.js' });
  await page.waitForFunction(() => typeof window.jQuery?.stream === 'function');
  dir = mkdtempSync(join(tmpdir(), 'rivulet-jquery-'));
});

after(async () => {
  assert.deepStrictEqual(page.errors.map(String), [], 'no uncaught errors in the page');
  await browser?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// Runs `body` in the page with `$` and a `finish(value)` to resolve with.
function inPage(body, arg) {
  return page.evaluate(
    ({ source, arg, waitMs }) =>
      new Promise((resolve) => {
        const timer = setTimeout(() => resolve('test gave up waiting'), waitMs);
        const finish = (value) => {
          clearTimeout(timer);
          resolve(value);
        };
        new Function('$', 'finish', 'arg', source)(window.jQuery, finish, arg);
      }),
    { source: `(${body})($, finish, arg)`, arg, waitMs: WAIT_MS },
  );
}

test('it is real jQuery', async () => {
  const version = await page.evaluate(() => window.jQuery.fn.jquery);
  assert.match(version, /^\d+\.\d+\.\d+/);
});

test('$.stream: progress then done, starting at once', opts, async () => {
  const log = await inPage(($, finish) => {
    const log = [];
    $.stream('/stream?interval_ms=1')
      .progress((data) => log.push(['progress', data]))
      .done((data, textStatus) => log.push(['done', data, textStatus]))
      .always(() => finish(log));
  });
  assert.deepStrictEqual(log, [
    ['progress', 'Starting stream test'],
    ...Array.from({ length: 10 }, (_, i) => ['progress', `i=${i + 1}`]),
    ['done', null, 'success'],
  ]);
});

test('$.stream({url, data}): data becomes the query string of a GET', opts, async () => {
  const final = await inPage(($, finish) => {
    $.stream({ url: '/stream/process', data: { items: 20, interval_ms: 1 } }).done((data) => finish(data));
  });
  assert.equal(final.processed, 20);
});

for (const format of ['sse', 'ndjson', 'legacy']) {
  test(`$.stream in ${format}: error packet → fail and error callbacks`, opts, async () => {
    const log = await inPage(
      ($, finish, format) => {
        const log = [];
        $.stream('/stream/riskyProcess?fail=1&interval_ms=1', { format })
          .progress((data) => log.push(['progress', data]))
          .error((xhr, errorType, message) => log.push(['error', errorType, message, xhr.status]))
          .fail((xhr, errorType, message) => log.push(['fail', errorType, message, xhr.responseJSON.error.str, xhr.responseJSON.error.type]))
          .always(() => finish(log));
      },
      format,
    );
    assert.deepStrictEqual(log, [
      ['progress', 'Starting risky operation'],
      // The original plugin's message; the server's is in responseJSON.error.str.
      ['error', 'error', 'Internal Error', 200],
      ['fail', 'error', 'Internal Error', 'Something went wrong!', 500],
    ]);
  });
}

test('$.stream: HTTP 422 → fail with the status', opts, async () => {
  const result = await inPage(($, finish) => {
    $.stream('/stream/process', { data: { items: -1 } }).fail((xhr, errorType, message) =>
      finish([errorType, xhr.status, xhr.responseJSON.error.status, xhr.responseJSON.error.str, message]),
    );
  });
  assert.deepStrictEqual(result, ['error', 422, 422, '`items` must be a number from 1 to 100000, not `-1`', 'Unprocessable Entity']);
});

test('$.stream: jQuery then(done, fail, progress) returns a new jQuery promise', opts, async () => {
  const result = await inPage(($, finish) => {
    const progress = [];
    const chained = $.stream('/stream/process?items=20&interval_ms=1').then(
      (final) => final.processed * 2,
      () => 'failed',
      (data) => progress.push(data),
    );
    chained.then((doubled) => finish({ doubled, progress, isJQueryPromise: typeof chained.done === 'function' }));
  });
  assert.deepStrictEqual(result, {
    doubled: 40,
    progress: ['Starting batch process', 'Processed 10 items', 'Processed 20 items'],
    isJQueryPromise: true,
  });
});

test('$.stream: late callbacks and state()', opts, async () => {
  const result = await inPage(($, finish) => {
    const stream = $.stream('/stream/status');
    const states = [stream.state()];
    stream.always(() => {
      states.push(stream.state());
      stream.done((final) => finish({ states, late: final }));
    });
  });
  assert.deepStrictEqual(result, { states: ['pending', 'resolved'], late: null });
});

test('$.stream: abort() → fail with "abort", and the handler is cancelled', opts, async () => {
  const log = await inPage(($, finish) => {
    const log = [];
    const stream = $.stream('/stream/feed?interval_ms=10');
    stream
      .progress((data) => {
        log.push(data.seq);
        if (data.seq === 2) stream.abort();
      })
      .fail((xhr, errorType, message) => finish([...log, errorType, message]));
  });
  assert.deepStrictEqual(log, [1, 2, 'abort', 'abort']);
  await serverIdle();
});

test('$.stream: uploadProgress chained after the call still hears the upload', opts, async () => {
  const file = join(dir, 'upload.bin');
  writeFileSync(file, randomBytes(1024 * 1024));
  await page.evaluate(() => document.body.append(Object.assign(document.createElement('input'), { type: 'file', id: 'file' })));
  await page.setInputFiles('#file', file);
  const result = await inPage(($, finish) => {
    const data = new FormData();
    data.append('file', document.getElementById('file').files[0]);
    const uploads = [];
    $.stream('/stream/upload', { type: 'POST', data })
      .uploadProgress((event) => uploads.push([event.loaded, event.total]))
      .done((final) => finish({ final, uploads }))
      .fail((xhr, errorType, message) => finish({ errorType, message }));
  });
  assert.equal(result.final?.bytes, 1024 * 1024, JSON.stringify(result));
  assert.ok(result.uploads.length >= 1);
  const [loaded, total] = result.uploads.at(-1);
  assert.equal(loaded, total);
});

test('$.stream honours beforeSend, contentType, dataType and the global ajax events', opts, async () => {
  const sent = [];
  const listen = (request) => {
    if (request.url().includes('/stream/process')) sent.push(request.headers());
  };
  page.on('request', listen);
  const result = await inPage(($, finish) => {
    const events = [];
    const onSend = () => events.push('ajaxSend');
    const onComplete = () => {
      events.push('ajaxComplete');
      finish({ events, final });
    };
    let final;
    $(document).one('ajaxSend', onSend).one('ajaxComplete', onComplete);
    $.stream('/stream/process', {
      type: 'POST',
      contentType: 'application/json',
      data: JSON.stringify({ items: 10, interval_ms: 1 }),
      dataType: 'json',
      beforeSend: (xhr) => {
        events.push('beforeSend');
        xhr.setRequestHeader('X-Before-Send', 'yes');
      },
      xhrFields: { withCredentials: true },
    })
      .done((data) => {
        events.push('done');
        final = data;
      })
      .fail((xhr, errorType, message) => events.push(['fail', errorType, message]));
  });
  page.off('request', listen);
  assert.deepStrictEqual(result.events.slice(0, 2), ['beforeSend', 'ajaxSend']);
  assert.ok(result.events.includes('done') && result.events.at(-1) === 'ajaxComplete', JSON.stringify(result.events));
  assert.equal(result.final.processed, 10, 'the JSON body reached the route');
  assert.equal(sent.length, 1);
  assert.equal(sent[0]['x-before-send'], 'yes');
  assert.equal(sent[0]['content-type'], 'application/json');
  assert.equal(sent[0]['x-requested-with'], 'XMLHttpRequest');
  assert.equal(sent[0]['x-request-type'], 'stream');
});

test('$.stream: a response longer than maxResponseSize fails instead of filling memory', opts, async () => {
  const result = await inPage(($, finish) => {
    let packets = 0;
    $.stream('/stream/feed?interval_ms=1', { maxResponseSize: 4096 })
      .progress(() => (packets += 1))
      .fail((xhr, errorType, message) => finish({ packets, errorType, message }));
  });
  assert.equal(result.errorType, 'error');
  assert.match(result.message, /longer than maxResponseSize \(4096 characters\)/);
  assert.ok(result.packets > 0 && result.packets < 4096 / 20, JSON.stringify(result));
  await serverIdle(); // the request was ended: the server's handler is cancelled
});
