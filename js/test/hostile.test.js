// Hostile servers: what the client holds is bounded by its limits, whatever
// the server sends (issue: "Hostile traffic", items 8 and 9).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const MiB = 1024 * 1024;

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
