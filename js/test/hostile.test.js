// Hostile servers: what the client holds is bounded by its limits, whatever
// the server sends (issue: "Hostile traffic", items 8 and 9).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createStream, MAX_ERROR_BODY } from '../stream.js';

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
