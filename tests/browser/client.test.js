// createStream() in headless Chromium against the real demo server: every
// callback, every error type, all three wire formats, the promise and the
// async iterator, and cancellation seen from the server's side.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';

import { BASE, WAIT_MS, blankPage, eventually, launchBrowser, metrics, record, serverIdle } from './support.js';

const FORMATS = ['sse', 'ndjson', 'legacy'];
const opts = { timeout: WAIT_MS * 2 };

let browser;
let page;

before(async () => {
  browser = await launchBrowser();
  page = await blankPage(browser);
});
after(async () => {
  assert.deepStrictEqual(page.errors.map(String), [], 'no uncaught errors in the page');
  await browser?.close();
});

const TYPES = {
  string: 'Hello, stream',
  integer: 42,
  float: 3.25,
  array: [1, 'two', 3.5],
  object: { status: 'ok', nested: { depth: 2 } },
  boolean: true,
  null: null,
  unicode: 'Grüße, naïve café — 水 🌊',
};

describe('the seed streams, in every format', () => {
  for (const format of FORMATS) {
    test(`${format}: /stream gives its packets in order, then done`, opts, async () => {
      const log = await record(page, '/stream?interval_ms=2', { format });
      assert.deepStrictEqual(log, [
        ['progress', 'Starting stream test'],
        ...Array.from({ length: 10 }, (_, i) => ['progress', `i=${i + 1}`]),
        ['done', null],
      ]);
    });
    test(`${format}: /stream/status gives one object`, opts, async () => {
      const log = await record(page, '/stream/status', { format });
      assert.deepStrictEqual(log, [
        ['progress', { status: 'ok', count: 3, items: ['alpha', 'beta', 'gamma'] }],
        ['done', null],
      ]);
    });
    test(`${format}: /stream/process ends with its summary`, opts, async () => {
      const log = await record(page, '/stream/process?items=30&interval_ms=1', { format });
      assert.deepStrictEqual(log.slice(0, -1), [
        ['progress', 'Starting batch process'],
        ['progress', 'Processed 10 items'],
        ['progress', 'Processed 20 items'],
        ['progress', 'Processed 30 items'],
      ]);
      const [kind, final] = log.at(-1);
      assert.equal(kind, 'done');
      assert.equal(final.success, true);
      assert.equal(final.processed, 30);
      assert.equal(typeof final.duration, 'number');
    });
    test(`${format}: /stream/types keeps every JSON shape and non-ASCII text`, opts, async () => {
      const log = await record(page, '/stream/types?interval_ms=1', { format });
      assert.deepStrictEqual(log, [...Object.values(TYPES).map((v) => ['progress', v]), ['done', TYPES]]);
    });
    test(`${format}: /stream/riskyProcess?fail=0 succeeds`, opts, async () => {
      const log = await record(page, '/stream/riskyProcess?fail=0&interval_ms=1', { format });
      assert.deepStrictEqual(log, [
        ['progress', 'Starting risky operation'],
        ['progress', 'Operation succeeded'],
        ['done', { success: true }],
      ]);
    });
    test(`${format}: /stream/riskyProcess?fail=1 ends with an error packet`, opts, async () => {
      const log = await record(page, '/stream/riskyProcess?fail=1&interval_ms=1', { format });
      assert.deepStrictEqual(log[0], ['progress', 'Starting risky operation']);
      assert.equal(log.length, 2);
      const [kind, errorType, message, status, responseJSON] = log[1];
      assert.deepStrictEqual([kind, errorType, message, status], ['error', 'error', 'Something went wrong!', 200]);
      assert.equal(responseJSON.error.message, 'Something went wrong!');
      assert.equal(typeof responseJSON.error.status, 'number');
    });
    test(`${format}: a panicking handler is an error packet with a generic message`, opts, async () => {
      const log = await record(page, '/stream/panic?interval_ms=1', { format });
      assert.equal(log.length, 2);
      assert.equal(log[0][0], 'progress');
      const [kind, errorType, message, status, responseJSON] = log[1];
      assert.deepStrictEqual([kind, errorType, status], ['error', 'error', 200]);
      assert.equal(responseJSON.error.status, 500);
      assert.equal(message, responseJSON.error.message);
      assert.doesNotMatch(message, /on purpose/, 'panic details stay on the server');
    });
    test(`${format}: a truncated stream is an error, never a success`, opts, async () => {
      const log = await record(page, '/stream/truncated', { format });
      assert.deepStrictEqual(log, [
        ['progress', 'partial'],
        ['error', 'error', 'stream ended without a final packet', 200, null],
      ]);
    });
  }
});

describe('over XMLHttpRequest (the transport when uploadProgress is used)', () => {
  const xhr = { xhr: true };
  for (const format of FORMATS) {
    test(`${format}: every JSON shape and non-ASCII text`, opts, async () => {
      const log = await record(page, '/stream/types?interval_ms=1', { format }, xhr);
      assert.deepStrictEqual(log, [...Object.values(TYPES).map((v) => ['progress', v]), ['done', TYPES]]);
    });
    test(`${format}: error packet and truncation`, opts, async () => {
      const risky = await record(page, '/stream/riskyProcess?fail=1&interval_ms=1', { format }, xhr);
      assert.deepStrictEqual(risky.at(-1).slice(0, 4), ['error', 'error', 'Something went wrong!', 200]);
      const truncated = await record(page, '/stream/truncated', { format }, xhr);
      assert.deepStrictEqual(truncated, [
        ['progress', 'partial'],
        ['error', 'error', 'stream ended without a final packet', 200, null],
      ]);
    });
  }
  test('HTTP 422, idle timeout and abort', opts, async () => {
    const [[, , , status, responseJSON]] = await record(page, '/stream/process?items=-1', {}, xhr);
    assert.equal(status, 422);
    assert.equal(responseJSON.error.status, 422);
    const timeout = await record(page, '/stream/silent?after_ms=3000', { timeout: 300 }, xhr);
    assert.deepStrictEqual(timeout, [['error', 'timeout', 'timeout', 0, null]]);
    const aborted = await record(page, '/stream/feed?interval_ms=10', {}, { ...xhr, abortAfter: 2 });
    assert.deepStrictEqual(aborted.map((entry) => entry[0]), ['progress', 'progress', 'error']);
    assert.equal(aborted[2][1], 'abort');
    await serverIdle();
  });
});

describe('errors', () => {
  test('HTTP 422 before the stream begins: status and responseJSON', opts, async () => {
    const log = await record(page, '/stream/process?items=-1');
    assert.equal(log.length, 1);
    const [kind, errorType, message, status, responseJSON] = log[0];
    assert.deepStrictEqual([kind, errorType, status], ['error', 'error', 422]);
    assert.equal(responseJSON.error.status, 422);
    assert.equal(message, responseJSON.error.message);
    assert.match(message, /items/);
  });
  test('HTTP 404 without a JSON body', opts, async () => {
    const [[kind, errorType, , status, responseJSON]] = await record(page, '/no/such/route');
    assert.deepStrictEqual([kind, errorType, status, responseJSON], ['error', 'error', 404, null]);
  });
  test('network failure: status 0', opts, async () => {
    // A port that was free a moment ago: the connection is refused.
    const probe = createServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const { port } = probe.address();
    probe.close();
    await once(probe, 'close');
    const [[kind, errorType, , status]] = await record(page, `http://127.0.0.1:${port}/stream`);
    assert.deepStrictEqual([kind, errorType, status], ['error', 'error', 0]);
  });
  test('idle timeout', opts, async () => {
    // The server sends its status line with the first packet, so none came.
    const log = await record(page, '/stream/silent?after_ms=3000', { timeout: 300 });
    assert.deepStrictEqual(log, [['error', 'timeout', 'timeout', 0, null]]);
    await serverIdle();
  });
  test('a slow stream within its idle timeout succeeds', opts, async () => {
    const log = await record(page, '/stream/silent?after_ms=100', { timeout: 5000 });
    assert.deepStrictEqual(log, [
      ['progress', 'finally'],
      ['done', null],
    ]);
  });
  test('a response that is not a stream: parsererror', opts, async () => {
    const [[kind, errorType, message]] = await record(page, '/metrics');
    assert.deepStrictEqual([kind, errorType], ['error', 'parsererror']);
    assert.match(message, /Content-Type/);
  });
  test('a packet over maxPacketSize: parsererror', opts, async () => {
    for (const format of FORMATS) {
      const log = await record(page, '/stream/types?interval_ms=1', { format, maxPacketSize: 20 });
      const [kind, errorType, message] = log.at(-1);
      assert.deepStrictEqual([kind, errorType], ['error', 'parsererror'], format);
      assert.match(message, /larger than 20/);
    }
  });
});

describe('abort and cancellation', () => {
  test('abort() mid-stream: errorType "abort", and the server cancels the handler', opts, async () => {
    const before = await serverIdle();
    const log = await record(page, '/stream/feed?interval_ms=20', {}, { abortAfter: 3 });
    assert.deepStrictEqual(
      log.map((entry) => entry[0]),
      ['progress', 'progress', 'progress', 'error'],
    );
    assert.deepStrictEqual(log.slice(0, 3).map((entry) => entry[1].seq), [1, 2, 3]);
    assert.deepStrictEqual(log[3].slice(0, 4), ['error', 'abort', 'abort', 200]);
    const after = await serverIdle();
    await eventually(async () => {
      const m = await metrics();
      return m.rivulet_streams_cancelled_total > (before.rivulet_streams_cancelled_total ?? 0);
    }, 'rivulet_streams_cancelled_total to increase');
    assert.equal(after.rivulet_streams_active ?? 0, 0);
  });
  test('an AbortSignal aborts the stream', opts, async () => {
    const log = await page.evaluate(async (waitMs) => {
      const { createStream } = await import('/rivulet/stream.js');
      const controller = new AbortController();
      const log = [];
      const guard = setTimeout(() => controller.abort(), waitMs);
      await createStream('/stream/feed?interval_ms=10', { signal: controller.signal })
        .progress((data) => {
          log.push(['progress', data.seq]);
          if (data.seq === 2) controller.abort();
        })
        .catch((err) => log.push([err.name, err.errorType]));
      clearTimeout(guard);
      return log;
    }, WAIT_MS);
    assert.deepStrictEqual(log, [
      ['progress', 1],
      ['progress', 2],
      ['StreamError', 'abort'],
    ]);
    await serverIdle();
  });
  test('abort() before start still calls the error callbacks', opts, async () => {
    const log = await page.evaluate(async () => {
      const { createStream } = await import('/rivulet/stream.js');
      const log = [];
      createStream('/stream')
        .error((xhr, errorType) => log.push(errorType))
        .abort()
        .start();
      return log;
    });
    assert.deepStrictEqual(log, ['abort']);
  });
});

describe('promise and async iterator', () => {
  test('for await yields the progress packets; await gives the final one', opts, async () => {
    const result = await page.evaluate(async () => {
      const { createStream } = await import('/rivulet/stream.js');
      const stream = createStream('/stream/process?items=20&interval_ms=1', { format: 'ndjson' });
      const seen = [];
      for await (const data of stream) seen.push(data);
      const final = await stream;
      return { seen, final };
    });
    assert.deepStrictEqual(result.seen, ['Starting batch process', 'Processed 10 items', 'Processed 20 items']);
    assert.equal(result.final.processed, 20);
  });
  test('for await throws a StreamError for an error packet', opts, async () => {
    const result = await page.evaluate(async () => {
      const { createStream, StreamError } = await import('/rivulet/stream.js');
      const seen = [];
      try {
        for await (const data of createStream('/stream/riskyProcess?fail=1&interval_ms=1')) seen.push(data);
        return { seen, error: null };
      } catch (err) {
        return { seen, error: [err instanceof StreamError, err.errorType, err.message, err.status] };
      }
    });
    assert.deepStrictEqual(result, {
      seen: ['Starting risky operation'],
      error: [true, 'error', 'Something went wrong!', 200],
    });
  });
  test('await rejects with the HTTP status of a 422', opts, async () => {
    const result = await page.evaluate(async () => {
      const { createStream } = await import('/rivulet/stream.js');
      return createStream('/stream/process?items=-1').then(
        () => 'resolved',
        (err) => [err.name, err.status, err.responseJSON.error.status],
      );
    });
    assert.deepStrictEqual(result, ['StreamError', 422, 422]);
  });
  test('breaking out of for await aborts the stream and the server cancels the handler', opts, async () => {
    const before = await serverIdle();
    const result = await page.evaluate(async () => {
      const { createStream } = await import('/rivulet/stream.js');
      const stream = createStream('/stream/feed?interval_ms=10');
      const errors = [];
      stream.error((xhr, errorType) => errors.push(errorType));
      const seqs = [];
      for await (const data of stream) {
        seqs.push(data.seq);
        if (seqs.length === 3) break;
      }
      return { seqs, errors, state: stream.state() };
    });
    assert.deepStrictEqual(result, { seqs: [1, 2, 3], errors: ['abort'], state: 'rejected' });
    await serverIdle();
    await eventually(async () => {
      const m = await metrics();
      return m.rivulet_streams_cancelled_total > (before.rivulet_streams_cancelled_total ?? 0);
    }, 'rivulet_streams_cancelled_total to increase');
  });
});

describe('jQuery Deferred habits', () => {
  test('several callbacks per event, chaining, late callbacks run at once', opts, async () => {
    const result = await page.evaluate(async () => {
      const { createStream } = await import('/rivulet/stream.js');
      const order = [];
      const stream = createStream('/stream/status');
      const chained = stream
        .progress(() => order.push('progress 1'), () => order.push('progress 2'))
        .done(() => order.push('done 1'))
        .done(() => order.push('done 2'))
        .fail(() => order.push('fail'))
        .always(() => order.push('always'));
      const same = chained === stream && stream.start() === stream;
      await stream;
      stream.done((final) => order.push(`late done ${final}`));
      stream.progress((data) => order.push(`late progress ${data.status}`));
      stream.always(() => order.push('late always'));
      stream.error(() => order.push('late error'));
      return { same, order };
    });
    assert.equal(result.same, true);
    assert.deepStrictEqual(result.order, [
      'progress 1',
      'progress 2',
      'done 1',
      'done 2',
      'always',
      'late done null',
      'late progress ok',
      'late always',
    ]);
  });
  test('a callback that throws does not stop the others or the stream', opts, async () => {
    const result = await page.evaluate(async () => {
      const { createStream } = await import('/rivulet/stream.js');
      const errors = [];
      const onError = (event) => {
        errors.push(event.error?.message ?? event.message);
        event.preventDefault();
      };
      window.addEventListener('error', onError);
      const seen = [];
      const final = await createStream('/stream?interval_ms=1')
        .progress(() => {
          throw new Error('callback bug');
        })
        .progress((data) => seen.push(data));
      await new Promise((r) => setTimeout(r, 50));
      window.removeEventListener('error', onError);
      return { final, count: seen.length, errors: errors.length };
    });
    // Each throw was reported as an uncaught error (and silenced here by preventDefault).
    assert.deepStrictEqual(result, { final: null, count: 11, errors: 11 });
  });
});
