// Resumable streams in createStream(): a small local server plays a
// resumable Rivulet server (Rivulet-Stream-Id, ids `<stream>.<n>`, resume from
// Last-Event-ID) and cuts connections mid-stream. The browser tests
// (tests/browser/resume.test.js) do the same against the real demo server.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';

import { createStream, DEFAULT_RECONNECT } from '../stream.js';

const STREAM_ID = '0123456789abcdef0123456789abcdef';
const CONTENT_TYPES = {
  sse: 'text/event-stream',
  ndjson: 'application/x-ndjson',
  legacy: 'application/octet-stream;charset=ISO-8859-1',
};

// Packet n of a stream of `total` progress packets and a final one.
const packet = (n, total) =>
  n <= total ? { type: 'progress', data: { i: n } } : { type: 'done', data: { total } };

function encode(format, { type, data }, n) {
  const json = JSON.stringify(data);
  if (format === 'sse') {
    const event = type === 'progress' ? '' : `event: ${type}\n`;
    return `id: ${STREAM_ID}.${n}\n${event}data: ${json}\n\n`;
  }
  if (format === 'ndjson') return `${JSON.stringify({ [type]: data })}\n`;
  return type === 'progress' ? `${json.length.toString(16)}\0a${json}` : `\0a${json}`;
}

let server;
let base;
const requests = []; // {path, lastEventId}

before(async () => {
  server = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    const lastEventId = req.headers['last-event-id'];
    requests.push({ path: url.pathname, lastEventId });
    const format = url.searchParams.get('format');
    const total = Number(url.searchParams.get('total') ?? 5);
    // Packets a connection sends before it is cut: `cutAfter` for the first,
    // `cutLater` (default the same) for resumed ones.
    const cutFirst = Number(url.searchParams.get('cutAfter') ?? Infinity);
    const cutAfter = lastEventId ? Number(url.searchParams.get('cutLater') ?? cutFirst) : cutFirst;
    const resumable = url.searchParams.get('resumable') !== '0';
    if (url.pathname === '/gone') {
      res.writeHead(204).end();
      return;
    }
    if (url.pathname === '/unavailable-once' && lastEventId && requests.filter((r) => r.lastEventId).length === 1) {
      res.writeHead(503, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'restarting', status: 503 } }));
      return;
    }
    let from = 0;
    if (lastEventId) {
      const [id, count] = lastEventId.split('.');
      assert.equal(id, STREAM_ID);
      from = Number(count);
    }
    const headers = { 'Content-Type': CONTENT_TYPES[format] };
    if (resumable) headers['Rivulet-Stream-Id'] = STREAM_ID;
    res.writeHead(200, headers);
    let written = 0;
    for (let n = from + 1; n <= total + 1; n++) {
      if (written === cutAfter) {
        // Mid-stream, as a network change would: no final packet, no clean
        // end; or, with `cleanEnd`, a response that just ends (a proxy's
        // timeout, say).
        if (url.searchParams.has('cleanEnd')) res.end();
        else res.socket.destroy();
        return;
      }
      res.write(encode(format, packet(n, total), n));
      written += 1;
      await new Promise((r) => setTimeout(r, 1));
    }
    res.end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${server.address().port}`;
});

after(() => server.close());

// Runs a stream to its end; returns every callback in order.
function record(url, options) {
  return new Promise((resolve) => {
    const log = [];
    const stream = createStream(url, { reconnect: { delay: 1, maxDelay: 5 }, ...options });
    stream
      .progress((data) => log.push(['progress', data, stream.lastEventId()]))
      .done((data) => log.push(['done', data]))
      .error((xhr, errorType, message) => log.push(['error', errorType, message]))
      .always(() => resolve({ log, stream }))
      .start();
  });
}

const progress = (from, to) =>
  Array.from({ length: to - from + 1 }, (_, k) => ['progress', { i: from + k }, `${STREAM_ID}.${from + k}`]);

for (const format of ['sse', 'ndjson', 'legacy']) {
  test(`a cut ${format} stream reconnects and resumes: every packet once, in order`, async () => {
    requests.length = 0;
    const { log } = await record(`${base}/durable?format=${format}&total=10&cutAfter=3`, { format });
    assert.deepEqual(log, [...progress(1, 10), ['done', { total: 10 }]]);
    assert.deepEqual(
      requests.map((r) => r.lastEventId),
      [undefined, `${STREAM_ID}.3`, `${STREAM_ID}.6`, `${STREAM_ID}.9`],
    );
  });
}

test('a response that ends cleanly before its final packet also resumes', async () => {
  requests.length = 0;
  const { log } = await record(`${base}/durable?format=ndjson&total=5&cutAfter=2&cleanEnd`, { format: 'ndjson' });
  assert.deepEqual(log, [...progress(1, 5), ['done', { total: 5 }]]);
  assert.equal(requests.length, 3);
});

test('no reconnect after the final packet', async () => {
  requests.length = 0;
  const { log } = await record(`${base}/durable?format=sse&total=2`);
  assert.deepEqual(log, [...progress(1, 2), ['done', { total: 2 }]]);
  await new Promise((r) => setTimeout(r, 50)); // longer than any backoff here
  assert.equal(requests.length, 1);
});

test('a stream that is not resumable fails on a cut, as before', async () => {
  requests.length = 0;
  const { log, stream } = await record(`${base}/plain?format=ndjson&total=5&cutAfter=2&resumable=0`, {
    format: 'ndjson',
  });
  assert.deepEqual(log.slice(0, 2).map((entry) => entry[0]), ['progress', 'progress']);
  assert.equal(log[2][0], 'error');
  assert.equal(requests.length, 1);
  assert.equal(stream.lastEventId(), undefined);
});

test('reconnect: false turns resuming off', async () => {
  requests.length = 0;
  const { log } = await record(`${base}/durable?format=sse&total=5&cutAfter=2`, { reconnect: false });
  assert.deepEqual(log.at(-1)[0], 'error');
  assert.equal(requests.length, 1);
});

test('gives up after `retries` attempts without a packet', async () => {
  requests.length = 0;
  // The first connection sends one packet; every later one is cut at once.
  const { log } = await record(`${base}/durable?format=sse&total=5&cutAfter=1&cutLater=0`, {
    reconnect: { retries: 3, delay: 1, maxDelay: 2 },
  });
  assert.deepEqual(log.slice(0, 1), progress(1, 1));
  assert.equal(log.length, 2, JSON.stringify(log));
  assert.equal(log[1][0], 'error');
  assert.equal(requests.length, 1 + 3);
});

test('lastEventId starts by resuming; a stream that is gone fails clearly', async () => {
  requests.length = 0;
  const { log } = await record(`${base}/durable?format=ndjson&total=4`, {
    format: 'ndjson',
    lastEventId: `${STREAM_ID}.2`,
  });
  assert.deepEqual(log, [...progress(3, 4), ['done', { total: 4 }]]);
  assert.equal(requests[0].lastEventId, `${STREAM_ID}.2`);

  const gone = await record(`${base}/gone`, { lastEventId: `${STREAM_ID}.2` });
  assert.deepEqual(gone.log, [['error', 'error', 'the stream can no longer be resumed']]);
});

test('a 503 while resuming is retried', async () => {
  requests.length = 0;
  const { log } = await record(`${base}/unavailable-once?format=sse&total=6&cutAfter=4`);
  assert.deepEqual(log, [...progress(1, 6), ['done', { total: 6 }]]);
  assert.deepEqual(
    requests.map((r) => r.lastEventId),
    [undefined, `${STREAM_ID}.4`, `${STREAM_ID}.4`],
  );
});

test('reconnect options are checked', () => {
  assert.deepEqual(DEFAULT_RECONNECT, { retries: 8, delay: 500, maxDelay: 15_000 });
  assert.throws(() => createStream('/x', { reconnect: { delay: -1 } }), TypeError);
});

test('parseResumePoint is the one reading of `<id>.<count>` (stream.js and share.js use it)', async () => {
  const { parseResumePoint } = await import('../resume.js');
  assert.deepEqual(parseResumePoint(`${STREAM_ID}.12`), { id: STREAM_ID, count: 12 });
  assert.deepEqual(parseResumePoint(`${STREAM_ID}.0`), { id: STREAM_ID, count: 0 });
  for (const bad of [STREAM_ID, `${STREAM_ID}.`, `${STREAM_ID}.x`, `${STREAM_ID}.1.2`, `${STREAM_ID}.-1`]) {
    assert.equal(parseResumePoint(bad).id, STREAM_ID, bad);
    assert.ok(Number.isNaN(parseResumePoint(bad).count), bad);
  }
});

test('a response names where it starts; NDJSON and legacy count a skip marker as what it missed', async () => {
  const { createResume, packetsIn } = await import('../resume.js');
  const headers = (values) => (name) => values[name] ?? null;
  const resume = createResume(true);
  // A feed joined live starts after its last packet.
  resume.response(headers({ 'Rivulet-Stream-Id': STREAM_ID, 'Rivulet-Resume-Point': `${STREAM_ID}.40` }));
  assert.equal(resume.point(), `${STREAM_ID}.40`);
  assert.ok(resume.count(undefined, { price: 1 }));
  assert.ok(resume.count(undefined, { rivulet: 'skipped', missed: 7 }));
  assert.equal(resume.point(), `${STREAM_ID}.48`);
  // An SSE id says the number itself; a marker's is the last it stands for.
  assert.ok(!resume.count(`${STREAM_ID}.48`, { rivulet: 'skipped', missed: 7 }));
  // Without Rivulet-Resume-Point (an older server): the stream id, counted from where it was.
  const older = createResume(true);
  older.response(headers({ 'Rivulet-Stream-Id': STREAM_ID }));
  assert.equal(older.point(), `${STREAM_ID}.0`);
  // A header that is no point is ignored.
  older.response(headers({ 'Rivulet-Stream-Id': STREAM_ID, 'Rivulet-Resume-Point': 'nonsense' }));
  assert.equal(older.point(), `${STREAM_ID}.0`);
  assert.equal(packetsIn({ rivulet: 'skipped', missed: 0 }), 0);
  for (const value of [{ rivulet: 'skipped' }, { rivulet: 'skipped', missed: 2, more: 1 }, ['skipped'], null, 'x', 3]) {
    assert.equal(packetsIn(value), 1, JSON.stringify(value));
  }
});
