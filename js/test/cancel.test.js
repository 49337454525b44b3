// cancel(): the client's half of the cancel contract (docs/protocol.md). A
// small local server plays a resumable Rivulet stream that never ends on its
// own and records the DELETE the client sends; abort() must send none.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';

import { createStream, StreamError } from '../stream.js';

const STREAM_ID = 'fedcba9876543210fedcba9876543210';
let server;
let base;
const deletes = []; // {path, lastEventId, authorization, contentType}
let deleteAnswer = 202;
const open = new Set();

before(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (req.method === 'DELETE') {
      deletes.push({
        path: url.pathname + url.search,
        lastEventId: req.headers['last-event-id'],
        authorization: req.headers.authorization,
        contentType: req.headers['content-type'],
      });
      if (deleteAnswer === 202) {
        res.writeHead(202, { 'Content-Type': 'application/json' }).end(JSON.stringify({ cancelled: STREAM_ID }));
      } else if (deleteAnswer === 204) {
        res.writeHead(204).end();
      } else {
        res.writeHead(deleteAnswer, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: { message: 'not yours', status: deleteAnswer } }));
      }
      return;
    }
    // Drain a request body before answering.
    req.resume();
    const headers = { 'Content-Type': 'text/event-stream' };
    if (url.pathname !== '/plain') headers['Rivulet-Stream-Id'] = STREAM_ID;
    res.writeHead(200, headers);
    const ids = url.pathname !== '/plain';
    for (let n = 1; n <= 3; n++) res.write(`${ids ? `id: ${STREAM_ID}.${n}\n` : ''}data: {"i":${n}}\n\n`);
    if (url.pathname === '/finished') res.end(`id: ${STREAM_ID}.4\nevent: done\ndata: {"ok":true}\n\n`);
    else open.add(res);
    res.on('close', () => open.delete(res));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${server.address().port}`;
});

after(() => {
  for (const res of open) res.destroy();
  server.close();
});

// Starts a stream and waits for its third progress packet.
function third(path, options = {}) {
  const stream = createStream(`${base}${path}`, { reconnect: false, ...options });
  const errors = [];
  stream.error((xhr, errorType) => errors.push(errorType));
  return new Promise((resolve) => {
    stream.progress((data) => data.i === 3 && resolve({ stream, errors }));
    stream.start();
  });
}

test('cancel() disconnects and sends DELETE with the resume point, headers and no body type', async () => {
  deletes.length = 0;
  deleteAnswer = 202;
  const { stream, errors } = await third('/job?x=1', {
    body: { n: 1 },
    headers: { Authorization: 'Bearer t' },
  });
  assert.equal(await stream.cancel(), true);
  assert.equal(stream.state(), 'rejected');
  assert.deepEqual(errors, ['abort']);
  assert.deepEqual(deletes, [
    { path: '/job?x=1', lastEventId: `${STREAM_ID}.3`, authorization: 'Bearer t', contentType: undefined },
  ]);
});

test('cancel() resolves false when the server has nothing running under that id (204)', async () => {
  deletes.length = 0;
  deleteAnswer = 204;
  const { stream } = await third('/job');
  assert.equal(await stream.cancel(), false);
  assert.equal(deletes.length, 1);
});

test('cancel() after abort() still stops the job: abort only disconnected', async () => {
  deletes.length = 0;
  deleteAnswer = 202;
  const { stream } = await third('/job');
  stream.abort();
  assert.equal(deletes.length, 0, 'abort() sends no DELETE');
  assert.equal(await stream.cancel(), true);
  assert.equal(deletes[0].lastEventId, `${STREAM_ID}.3`);
});

test('cancel() rejects with a StreamError carrying the error body for other answers', async () => {
  deleteAnswer = 403;
  const { stream } = await third('/job');
  await assert.rejects(stream.cancel(), (err) => {
    assert.ok(err instanceof StreamError);
    assert.equal(err.status, 403);
    assert.equal(err.message, 'not yours');
    assert.deepEqual(err.responseJSON, { error: { message: 'not yours', status: 403 } });
    return true;
  });
  deleteAnswer = 202;
});

test('cancel() of a stream that is not resumable only aborts: no request', async () => {
  deletes.length = 0;
  const { stream, errors } = await third('/plain');
  assert.equal(await stream.cancel(), false);
  assert.deepEqual(errors, ['abort']);
  assert.equal(deletes.length, 0);
});

test('cancel() after the final packet sends nothing', async () => {
  deletes.length = 0;
  const stream = createStream(`${base}/finished`);
  assert.deepEqual(await stream, { ok: true });
  assert.equal(await stream.cancel(), false);
  assert.equal(deletes.length, 0);
});

test('cancel() before start sends nothing and settles the stream as aborted', async () => {
  deletes.length = 0;
  const stream = createStream(`${base}/job`);
  assert.equal(await stream.cancel(), false);
  assert.equal(stream.state(), 'rejected');
  assert.equal(deletes.length, 0);
});

test('cancel() of a stream resumed from options.lastEventId sends that point', async () => {
  deletes.length = 0;
  const stream = createStream(`${base}/job`, { lastEventId: `${STREAM_ID}.7` });
  assert.equal(await stream.cancel(), true);
  assert.equal(deletes[0].lastEventId, `${STREAM_ID}.7`);
});
