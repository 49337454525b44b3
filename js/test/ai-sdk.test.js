// RivuletChatTransport against a real HTTP server on loopback: an aborted
// request (useChat's stop) sends DELETE {api}/{chatId}/stream, keeping a
// query string of `api` after the path as the AI SDK's resume URL does;
// a resume stopped before its answer arrived (React StrictMode's simulated
// unmount) sends nothing; cancelOnStop: false sends nothing; cancel() reads
// 202 and 204.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { RivuletChatTransport } from '../ai-sdk.js';

let server;
let base;
const deletes = [];
let deleted;

before(async () => {
  server = createServer((req, res) => {
    if (req.method === 'DELETE') {
      deletes.push({ url: req.url, user: req.headers['x-user'] });
      deleted?.();
      res.writeHead(req.url.includes('/none/') ? 204 : 202, { 'content-type': 'application/json' });
      res.end(req.url.includes('/none/') ? undefined : '{"cancelled":"x"}');
      return;
    }
    // An answer that has begun and does not end until the client leaves.
    res.writeHead(200, { 'content-type': 'text/event-stream', 'x-vercel-ai-ui-message-stream': 'v1' });
    res.write('data: {"type":"start"}\n\n');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${server.address().port}`;
});

after(() => {
  server.closeAllConnections();
  server.close();
});

const send = (transport, chatId, signal) =>
  transport.sendMessages({
    chatId,
    messages: [{ id: 'm1', role: 'user', parts: [{ type: 'text', text: 'hi' }] }],
    abortSignal: signal,
    trigger: 'submit-message',
    messageId: undefined,
  });

test('an aborted request cancels its answer with DELETE on the resume URL', async () => {
  deletes.length = 0;
  const transport = new RivuletChatTransport({ api: `${base}/api/chat?delta_ms=5`, headers: { 'x-user': 'me' } });
  const controller = new AbortController();
  const stream = await send(transport, 'c 1', controller.signal);
  const reader = stream.getReader();
  assert.deepEqual((await reader.read()).value, { type: 'start' });
  const sent = new Promise((resolve) => (deleted = resolve));
  controller.abort();
  await sent;
  assert.deepEqual(deletes, [{ url: '/api/chat/c%201/stream?delta_ms=5', user: 'me' }]);
});

test('a resume stopped before its answer arrived cancels nothing (StrictMode), one stopped after it does', async () => {
  deletes.length = 0;
  const transport = new RivuletChatTransport({ api: `${base}/api/chat` });
  // useChat's mount under StrictMode: a resume, stopped by the simulated unmount at once.
  const early = new AbortController();
  const first = transport.reconnectToStream({ chatId: 'strict', abortSignal: early.signal });
  early.abort();
  await first.catch(() => {});
  const later = new AbortController();
  const stream = await transport.reconnectToStream({ chatId: 'strict', abortSignal: later.signal });
  assert.deepEqual((await stream.getReader().read()).value, { type: 'start' });
  const sent = new Promise((resolve) => (deleted = resolve));
  later.abort();
  await sent;
  assert.deepEqual(deletes.map((d) => d.url), ['/api/chat/strict/stream']);
});

test('with cancelOnStop: false an abort sends nothing, and cancel() does it on demand', async () => {
  deletes.length = 0;
  const transport = new RivuletChatTransport({ api: `${base}/api/chat`, cancelOnStop: false });
  const controller = new AbortController();
  await send(transport, 'kept', controller.signal);
  controller.abort();
  // The abort sent no DELETE: the only one before cancel('kept') is cancel('none').
  assert.equal(await transport.cancel('none'), false);
  assert.deepEqual(deletes.map((d) => d.url), ['/api/chat/none/stream']);
  assert.equal(await transport.cancel('kept'), true);
});
