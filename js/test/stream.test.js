// createStream() over Node's own fetch against a small local server that
// writes the wire formats by hand. The browser tests (tests/browser/) run the
// same client in Chromium against the real Rust demo server; these tests pin
// the client's behaviour where a hand-made response is easier to arrange.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';

import { createStream, StreamError } from '../stream.js';
import { encoders } from '../testing/helpers.js';

const CONTENT_TYPES = {
  sse: 'text/event-stream',
  ndjson: 'application/x-ndjson',
  legacy: 'application/octet-stream;charset=ISO-8859-1',
};

const PROCESS = [
  { type: 'progress', data: 'Starting batch process' },
  { type: 'progress', data: 'Processed 10 items' },
  { type: 'progress', data: { emoji: '🌊', n: 1.5 } },
  { type: 'done', data: { success: true, processed: 10 } },
];
const RISKY = [
  { type: 'progress', data: 'Starting risky operation' },
  { type: 'error', data: { message: 'Something went wrong!', status: 500, error_id: 'abc' } },
];

// The protocol's rule for picking a format from the request.
function pickFormat(req) {
  const accept = req.headers.accept || '';
  const sse = accept.indexOf('text/event-stream');
  const ndjson = accept.indexOf('application/x-ndjson');
  if (sse !== -1 || ndjson !== -1) return ndjson !== -1 && (sse === -1 || ndjson < sse) ? 'ndjson' : 'sse';
  return req.headers['x-request-type'] === 'stream' ? 'legacy' : 'sse';
}

let server;
let base;
const closed = []; // paths whose request the client closed before the end

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks);
}

// Writes `bytes` in pieces of `piece` bytes, `delay` ms apart.
async function writeSlowly(res, bytes, piece = 7, delay = 1) {
  for (let i = 0; i < bytes.length; i += piece) {
    res.write(bytes.subarray(i, i + piece));
    await new Promise((r) => setTimeout(r, delay));
  }
}

const routes = {
  async '/process'(req, res, format) {
    res.writeHead(200, { 'Content-Type': CONTENT_TYPES[format] });
    await writeSlowly(res, encoders[format](PROCESS));
    res.end();
  },
  async '/risky'(req, res, format) {
    res.writeHead(200, { 'Content-Type': CONTENT_TYPES[format] });
    await writeSlowly(res, encoders[format](RISKY));
    res.end();
  },
  async '/burst'(req, res, format) {
    // Every packet in one chunk.
    res.writeHead(200, { 'Content-Type': CONTENT_TYPES[format] });
    res.end(encoders[format](PROCESS));
  },
  async '/invalid'(req, res) {
    res.writeHead(422, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ error: { message: 'items must be positive', status: 422 } }));
  },
  async '/html-error'(req, res) {
    res.writeHead(502, 'Bad Gateway', { 'Content-Type': 'text/html' });
    res.end('<h1>502</h1>');
  },
  async '/truncated'(req, res, format) {
    res.writeHead(200, { 'Content-Type': CONTENT_TYPES[format] });
    const bytes = encoders[format](PROCESS.slice(0, 2));
    res.end(bytes);
  },
  async '/no-content'(req, res) {
    res.writeHead(204);
    res.end();
  },
  async '/bad-json'(req, res) {
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    res.end('data: "ok"\n\ndata: {oops}\n\nevent: done\ndata: 1\n\n');
  },
  async '/wrong-type'(req, res) {
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end('<p>not a stream</p>');
  },
  async '/no-type'(req, res) {
    res.writeHead(200, {});
    res.end(encoders.ndjson(PROCESS));
  },
  async '/feed'(req, res, format, url) {
    res.writeHead(200, { 'Content-Type': CONTENT_TYPES[format] });
    req.on('close', () => {
      if (!res.writableEnded) closed.push(url.pathname + url.search);
    });
    for (let i = 0; !res.destroyed && i < 2000; i++) {
      res.write(encoders[format]([{ type: 'progress', data: i }]));
      await new Promise((r) => setTimeout(r, 5));
    }
    res.end();
  },
  async '/silent'(req, res) {
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    res.write('data: "first"\n\n');
    const timer = setTimeout(() => res.end('event: done\ndata: "late"\n\n'), 2000);
    req.on('close', () => clearTimeout(timer));
  },
  async '/keepalive'(req, res) {
    // Comments every 20 ms keep an idle timeout of 100 ms from firing.
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    for (let i = 0; i < 15; i++) {
      res.write(': keep-alive\n\n');
      await new Promise((r) => setTimeout(r, 20));
    }
    res.end('event: done\ndata: "still here"\n\n');
  },
  async '/echo'(req, res) {
    const body = await readBody(req);
    res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
    const echo = {
      method: req.method,
      contentType: req.headers['content-type'] ?? null,
      accept: req.headers.accept ?? null,
      requestType: req.headers['x-request-type'] ?? null,
      custom: req.headers['x-custom'] ?? null,
      body: body.toString('latin1'),
    };
    res.end(JSON.stringify({ done: echo }) + '\n');
  },
};

before(async () => {
  server = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://localhost');
    const route = routes[url.pathname];
    if (!route) {
      res.writeHead(404).end();
      return;
    }
    await route(req, res, url.searchParams.get('format') ?? pickFormat(req), url);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${server.address().port}`;
});

after(() => {
  server.closeAllConnections();
  server.close();
});

// Runs a stream to its end and records every callback in order.
function record(url, options) {
  const log = [];
  const stream = createStream(base + url, options);
  const settled = new Promise((resolve) => {
    stream
      .progress((data) => log.push(['progress', data]))
      .done((data) => log.push(['done', data]))
      .error((xhr, errorType, message) => log.push(['error', errorType, message, xhr.status]))
      .always(() => resolve(log));
  });
  return { stream, settled, log };
}

describe('callbacks in every format', () => {
  for (const format of ['sse', 'ndjson', 'legacy']) {
    test(`${format}: progress then done`, async () => {
      const { stream, settled } = record('/process', { format });
      assert.equal(stream.start(), stream, 'start() chains');
      assert.deepStrictEqual(await settled, [
        ['progress', 'Starting batch process'],
        ['progress', 'Processed 10 items'],
        ['progress', { emoji: '🌊', n: 1.5 }],
        ['done', { success: true, processed: 10 }],
      ]);
      assert.equal(stream.state(), 'resolved');
    });
    test(`${format}: an error packet`, async () => {
      const stream = createStream(`${base}/risky`, { format });
      const log = [];
      stream.progress((d) => log.push(d));
      const [xhr, errorType, message] = await new Promise((resolve) => stream.fail((...args) => resolve(args)).start());
      assert.deepStrictEqual(log, ['Starting risky operation']);
      assert.equal(errorType, 'error');
      assert.equal(message, 'Something went wrong!');
      assert.equal(xhr.status, 200);
      assert.equal(xhr.responseJSON.error.message, 'Something went wrong!');
      assert.equal(xhr.responseJSON.error.status, 500);
      assert.equal(xhr.responseJSON.error.error_id, 'abc');
      assert.equal(stream.state(), 'rejected');
    });
    test(`${format}: a stream that ends without a final packet is an error`, async () => {
      const { stream, settled } = record('/truncated', { format });
      stream.start();
      assert.deepStrictEqual(await settled, [
        ['progress', 'Starting batch process'],
        ['progress', 'Processed 10 items'],
        ['error', 'error', 'stream ended without a final packet', 200],
      ]);
    });
  }
});

describe('request', () => {
  const echo = (options) => createStream(`${base}/echo`, options);
  test('defaults: GET with Accept: text/event-stream', async () => {
    const got = await echo();
    assert.equal(got.method, 'GET');
    assert.equal(got.accept, 'text/event-stream');
    assert.equal(got.requestType, null);
  });
  test('format chooses the Accept header; legacy adds X-Request-Type', async () => {
    assert.equal((await echo({ format: 'ndjson' })).accept, 'application/x-ndjson');
    const legacy = await echo({ format: 'legacy' });
    assert.equal(legacy.requestType, 'stream');
    assert.ok(!legacy.accept.includes('event-stream'));
  });
  test('headers as an object or as Headers, overriding Accept', async () => {
    const a = await echo({ headers: { 'X-Custom': 'one', Accept: 'application/x-ndjson' } });
    assert.equal(a.custom, 'one');
    assert.equal(a.accept, 'application/x-ndjson');
    const b = await echo({ headers: new Headers({ 'X-Custom': 'two' }) });
    assert.equal(b.custom, 'two');
  });
  test('a plain object body is POSTed as JSON', async () => {
    const got = await echo({ body: { items: [1, 2], name: 'é' } });
    assert.equal(got.method, 'POST');
    assert.equal(got.contentType, 'application/json');
    assert.deepStrictEqual(JSON.parse(Buffer.from(got.body, 'latin1').toString('utf8')), { items: [1, 2], name: 'é' });
  });
  test('string, URLSearchParams, Blob, ArrayBuffer, typed array and FormData bodies', async () => {
    assert.equal((await echo({ body: 'plain' })).body, 'plain');
    const form = await echo({ body: new URLSearchParams({ a: '1', b: 'x y' }) });
    assert.equal(form.body, 'a=1&b=x+y');
    assert.match(form.contentType, /^application\/x-www-form-urlencoded/);
    assert.equal((await echo({ body: new Blob(['blob!']) })).body, 'blob!');
    assert.equal((await echo({ body: new Uint8Array([104, 105]).buffer })).body, 'hi');
    assert.equal((await echo({ body: new Uint8Array([104, 105]) })).body, 'hi');
    const data = new FormData();
    data.append('field', 'value');
    const multipart = await echo({ body: data });
    assert.match(multipart.contentType, /^multipart\/form-data; boundary=/);
    assert.match(multipart.body, /name="field"\r\n\r\nvalue/);
  });
  test('method is honoured, and upper-cased', async () => {
    assert.equal((await echo({ method: 'put', body: 'x' })).method, 'PUT');
    assert.equal((await echo({ method: 'DELETE' })).method, 'DELETE');
  });
  test('an unknown format is refused at once', () => {
    assert.throws(() => createStream('/x', { format: 'xml' }), TypeError);
  });
});

describe('errors', () => {
  test('HTTP status with a JSON error body', async () => {
    const stream = createStream(`${base}/invalid`);
    const [xhr, errorType, message] = await new Promise((resolve) => stream.error((...a) => resolve(a)).start());
    assert.equal(errorType, 'error');
    assert.equal(message, 'items must be positive');
    assert.equal(xhr.status, 422);
    assert.deepStrictEqual(xhr.responseJSON, { error: { message: 'items must be positive', status: 422 } });
    assert.equal(xhr.getResponseHeader('content-type'), 'application/json');
  });
  test('HTTP status with a body that is not JSON', async () => {
    const stream = createStream(`${base}/html-error`);
    const [xhr, errorType, message] = await new Promise((resolve) => stream.error((...a) => resolve(a)).start());
    assert.equal(errorType, 'error');
    assert.equal(message, 'Bad Gateway');
    assert.equal(xhr.status, 502);
    assert.equal(xhr.responseJSON, undefined);
    assert.equal(xhr.responseText, '<h1>502</h1>');
  });
  test('network failure', async () => {
    const probe = createServer();
    probe.listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const port = probe.address().port;
    probe.close();
    await once(probe, 'close');
    const stream = createStream(`http://127.0.0.1:${port}/`);
    const [xhr, errorType] = await new Promise((resolve) => stream.error((...a) => resolve(a)).start());
    assert.equal(errorType, 'error');
    assert.equal(xhr.status, 0);
  });
  test('bad JSON in a packet is a parsererror, after the good packets', async () => {
    const { stream, settled } = record('/bad-json');
    stream.start();
    const log = await settled;
    assert.deepStrictEqual(log[0], ['progress', 'ok']);
    assert.equal(log[1][1], 'parsererror');
    assert.equal(log.length, 2);
  });
  test('an unexpected Content-Type is a parsererror', async () => {
    const { stream, settled } = record('/wrong-type');
    stream.start();
    const log = await settled;
    assert.equal(log[0][1], 'parsererror');
    assert.match(log[0][2], /text\/html/);
  });
  test('no Content-Type: the requested format is assumed', async () => {
    const { stream, settled } = record('/no-type', { format: 'ndjson' });
    stream.start();
    assert.deepStrictEqual((await settled).at(-1), ['done', { success: true, processed: 10 }]);
  });
  test('204 No Content is a stream without a final packet', async () => {
    const { stream, settled } = record('/no-content');
    stream.start();
    assert.deepStrictEqual(await settled, [['error', 'error', 'stream ended without a final packet', 204]]);
  });
  test('idle timeout', async () => {
    const { stream, settled } = record('/silent', { timeout: 100 });
    stream.start();
    assert.deepStrictEqual(await settled, [
      ['progress', 'first'],
      ['error', 'timeout', 'timeout', 200],
    ]);
  });
  test('keep-alive comments count as activity for the idle timeout', async () => {
    const { stream, settled } = record('/keepalive', { timeout: 100 });
    stream.start();
    assert.deepStrictEqual(await settled, [['done', 'still here']]);
  });
});

describe('abort', () => {
  test('abort() mid-stream: errorType "abort", and the server sees the request closed', async () => {
    const { stream, settled, log } = record('/feed?n=1');
    stream.progress((i) => {
      if (i === 3) stream.abort();
    });
    stream.start();
    const result = await settled;
    assert.deepStrictEqual(result.slice(0, 4).map((e) => e[1]), [0, 1, 2, 3]);
    assert.deepStrictEqual(result.at(-1), ['error', 'abort', 'abort', 200]);
    assert.equal(log.length, 5, 'no packet after abort');
    await waitFor(() => closed.includes('/feed?n=1'));
  });
  for (const format of ['sse', 'ndjson', 'legacy']) {
    test(`${format}: abort() in a progress callback drops the rest of the chunk`, async () => {
      const { stream, settled } = record('/burst', { format });
      stream.progress(() => stream.abort()).start();
      assert.deepStrictEqual(await settled, [
        ['progress', 'Starting batch process'],
        ['error', 'abort', 'abort', 200],
      ]);
    });
  }
  test('abort() before start: error at once, start() then does nothing', async () => {
    const { stream, settled } = record('/process');
    stream.abort().start();
    assert.deepStrictEqual(await settled, [['error', 'abort', 'abort', 0]]);
  });
  test('abort() after done changes nothing', async () => {
    const { stream, settled } = record('/process');
    stream.start();
    await settled;
    stream.abort();
    assert.equal(stream.state(), 'resolved');
  });
  test('an AbortSignal aborts the stream', async () => {
    const controller = new AbortController();
    const { stream, settled } = record('/feed?n=2', { signal: controller.signal });
    stream.progress((i) => i === 1 && controller.abort());
    stream.start();
    assert.deepStrictEqual((await settled).at(-1), ['error', 'abort', 'abort', 200]);
    await waitFor(() => closed.includes('/feed?n=2'));
  });
  test('an already aborted signal: abort at start', async () => {
    const { stream, settled } = record('/process', { signal: AbortSignal.abort() });
    stream.start();
    assert.deepStrictEqual(await settled, [['error', 'abort', 'abort', 0]]);
  });
});

describe('jQuery Deferred habits', () => {
  test('several callbacks per event, called in the order added, with this = the client', async () => {
    const order = [];
    const stream = createStream(`${base}/process`);
    let self;
    await stream
      .done(() => order.push('a'))
      .done([() => order.push('b'), () => order.push('c')])
      .done(function () {
        self = this;
      })
      .always(() => order.push('always'))
      .start();
    assert.deepStrictEqual(order, ['a', 'b', 'c', 'always']);
    assert.equal(self, stream);
  });
  test('callbacks added after the event run at once', async () => {
    const stream = createStream(`${base}/process`);
    const final = await stream;
    const late = [];
    stream.done((d) => late.push(['done', d]));
    stream.progress((d) => late.push(['progress', d]));
    stream.always((d) => late.push(['always', d]));
    stream.error(() => late.push(['error']));
    assert.deepStrictEqual(late, [
      ['done', final],
      ['progress', { emoji: '🌊', n: 1.5 }],
      ['always', final],
    ]);
  });
  test('late error callbacks run at once with the same arguments', async () => {
    const stream = createStream(`${base}/risky`);
    await assert.rejects(stream);
    const [xhr, errorType, message] = await new Promise((resolve) => stream.error((...a) => resolve(a)));
    assert.equal(errorType, 'error');
    assert.equal(message, 'Something went wrong!');
    assert.equal(xhr.status, 200);
    const always = await new Promise((resolve) => stream.always((...a) => resolve(a)));
    assert.equal(always[1], 'error');
  });
  test('a callback added by a callback while firing runs once, at once', async () => {
    const calls = [];
    await createStream(`${base}/process`)
      .progress(function (data) {
        if (calls.length === 0) this.progress((d) => calls.push(['inner', d]));
        calls.push(['outer', data]);
      })
      .then(() => undefined);
    assert.deepStrictEqual(calls.slice(0, 4), [
      ['inner', 'Starting batch process'],
      ['outer', 'Starting batch process'],
      ['outer', 'Processed 10 items'],
      ['inner', 'Processed 10 items'],
    ]);
  });
  test('uploadProgress without XMLHttpRequest (as in Node) falls back to fetch', async () => {
    assert.equal(typeof XMLHttpRequest, 'undefined');
    const final = await createStream(`${base}/process`).uploadProgress(() => {});
    assert.deepStrictEqual(final, { success: true, processed: 10 });
  });
  test('every method chains', () => {
    const stream = createStream(`${base}/process`);
    for (const name of ['progress', 'done', 'error', 'fail', 'uploadProgress', 'always']) {
      assert.equal(stream[name](() => {}), stream, name);
    }
    assert.equal(stream.abort(), stream);
    assert.equal(stream.start(), stream);
  });
});

describe('promise and async iterator', () => {
  test('await gives the final packet; start() is implied', async () => {
    assert.deepStrictEqual(await createStream(`${base}/process`), { success: true, processed: 10 });
  });
  test('await rejects with a StreamError', async () => {
    await assert.rejects(createStream(`${base}/risky`), (err) => {
      assert.ok(err instanceof StreamError);
      assert.equal(err.errorType, 'error');
      assert.equal(err.message, 'Something went wrong!');
      assert.equal(err.status, 200);
      assert.equal(err.responseJSON.error.status, 500);
      return true;
    });
    await assert.rejects(createStream(`${base}/invalid`), { name: 'StreamError', status: 422 });
  });
  test('catch and finally', async () => {
    let finallyRan = false;
    const err = await createStream(`${base}/risky`)
      .catch((e) => e)
      .finally(() => (finallyRan = true));
    assert.equal(err.errorType, 'error');
    assert.ok(finallyRan);
  });
  for (const format of ['sse', 'ndjson', 'legacy']) {
    test(`${format}: for await yields the progress packets, then await gives the final one`, async () => {
      const stream = createStream(`${base}/process`, { format });
      const seen = [];
      for await (const data of stream) seen.push(data);
      assert.deepStrictEqual(seen, ['Starting batch process', 'Processed 10 items', { emoji: '🌊', n: 1.5 }]);
      assert.deepStrictEqual(await stream, { success: true, processed: 10 });
    });
  }
  test('for await throws the StreamError of an error packet', async () => {
    const seen = [];
    await assert.rejects(
      (async () => {
        for await (const data of createStream(`${base}/risky`)) seen.push(data);
      })(),
      { name: 'StreamError', errorType: 'error', message: 'Something went wrong!' },
    );
    assert.deepStrictEqual(seen, ['Starting risky operation']);
  });
  test('break out of for await aborts the stream and the server sees it', async () => {
    const stream = createStream(`${base}/feed?n=3`);
    const errors = [];
    stream.error((xhr, errorType) => errors.push(errorType));
    for await (const i of stream) if (i === 2) break;
    assert.deepStrictEqual(errors, ['abort']);
    await waitFor(() => closed.includes('/feed?n=3'));
  });
  test('a slow consumer still gets every packet in order', async () => {
    const seen = [];
    for await (const data of createStream(`${base}/process`)) {
      seen.push(data);
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(seen.length, 3);
  });
});

async function waitFor(predicate, timeout = 5000) {
  const deadline = Date.now() + timeout;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
