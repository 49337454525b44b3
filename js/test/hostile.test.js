// Hostile servers: what the client holds is bounded by its limits, whatever
// the server sends (issue: "Hostile traffic", items 8 and 9).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createStream, MAX_ERROR_BODY, MAX_SHORT_CONNECTIONS } from '../stream.js';

const MiB = 1024 * 1024;
const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;

function held(shape, lines) {
  const script = fileURLToPath(new URL('../testing/held-memory.js', import.meta.url));
  const out = execFileSync(process.execPath, ['--expose-gc', script, shape, String(lines)], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  return JSON.parse(out);
}

test('an SSE event of many data lines holds memory in proportion to its characters', () => {
  // Just under the 16 Mi-character default limit: 16 Mi - 8 Ki empty lines
  // (one LF each in the data) and 5 Mi lines of `0,` (three characters each).
  for (const [shape, lines] of [
    ['empty', 16 * MiB - 8192],
    ['short', 5 * MiB],
  ]) {
    const { heap, rss, packets } = held(shape, lines);
    console.log(`${lines} ${shape} data lines: heap +${(heap / MiB).toFixed(1)} MiB, RSS +${(rss / MiB).toFixed(1)} MiB`);
    assert.equal(packets, 1, 'the event is delivered once its blank line arrives');
    // 16 Mi characters at one byte each, plus the parser's joined blocks.
    assert.ok(heap < 48 * MiB, `heap grew by ${heap} bytes`);
  }
});

test('an HTTP error body is read up to MAX_ERROR_BODY, the rest is left unread', async () => {
  const total = 256 * MiB;
  let written = 0;
  let closed;
  const server = createServer(async (req, res) => {
    closed = new Promise((resolve) => res.once('close', resolve));
    res.writeHead(503, { 'Content-Type': 'application/json' });
    const piece = Buffer.alloc(64 * 1024, 0x20);
    piece.write('{"error":{"message":"busy","status":503}}');
    // Bounded: at most `total` bytes, and only as fast as the client reads.
    while (written < total && !res.destroyed) {
      written += piece.length;
      if (!res.write(piece)) await Promise.race([new Promise((resolve) => res.once('drain', resolve)), closed]);
      piece.fill(0x20);
    }
    res.end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const before = rss();
    const stream = createStream(`http://127.0.0.1:${server.address().port}/busy`, { reconnect: false });
    const [xhr, errorType, message] = await new Promise((resolve) => stream.error((...a) => resolve(a)).start());
    await closed;
    const grown = rss() - before;
    console.log(`503 with a ${total / MiB} MiB body: read ${xhr.responseText.length} characters, the server wrote ${(written / MiB).toFixed(1)} MiB before the client left, RSS +${(grown / MiB).toFixed(1)} MiB`);
    assert.equal(errorType, 'error');
    assert.equal(xhr.status, 503);
    assert.equal(xhr.responseText.length, MAX_ERROR_BODY);
    assert.ok(xhr.responseText.startsWith('{"error"'));
    assert.ok(written < total / 4, `the server wrote ${written} bytes`);
    assert.ok(grown < 64 * MiB, `RSS grew by ${grown} bytes`);
    assert.ok(message);
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

// A resumable SSE stream whose server lies: `body(after)` is what it answers
// to a client that has `after` packets, then it drops the connection.
async function lyingServer(body) {
  const STREAM_ID = '0123456789abcdef0123456789abcdef';
  let connections = 0;
  const server = createServer((req, res) => {
    connections += 1;
    // Bounded: past 60 connections the stream is gone.
    if (connections > 60) return res.writeHead(204).end();
    const after = Number(String(req.headers['last-event-id'] ?? '.0').split('.')[1]) || 0;
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Rivulet-Stream-Id': STREAM_ID });
    res.end(body(after).map((n) => `id: ${STREAM_ID}.${n}\ndata: ${n}\n\n`).join(''));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, url: `http://127.0.0.1:${server.address().port}/`, connections: () => connections };
}

async function follow(url) {
  const log = [];
  const stream = createStream(url, { reconnect: { delay: 1, maxDelay: 5 } });
  await new Promise((resolve) => {
    stream
      .progress((n) => log.push(n))
      .error((xhr, errorType, message) => log.push(['error', message]))
      .always(resolve)
      .start();
  });
  return log;
}

test('packets a server sends again on every reconnect are dropped, and the client gives up', async () => {
  const lying = await lyingServer(() => [1, 2, 3]);
  try {
    const log = await follow(lying.url);
    assert.deepEqual(log, [1, 2, 3, ['error', 'stream ended without a final packet']]);
    // The first connection and the default 8 attempts without a new packet.
    assert.equal(lying.connections(), 1 + 8);
  } finally {
    lying.server.close();
  }
});

test('a server that drops every connection after one packet is given up on', async () => {
  const lying = await lyingServer((after) => [after + 1]);
  try {
    const log = await follow(lying.url);
    assert.deepEqual(log, [
      1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
      ['error', `the server dropped ${MAX_SHORT_CONNECTIONS} connections in a row after one packet each`],
    ]);
    assert.equal(lying.connections(), MAX_SHORT_CONNECTIONS);
  } finally {
    lying.server.close();
  }
});
