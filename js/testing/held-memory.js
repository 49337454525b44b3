// Run as a child process by js/test/hostile.test.js (it needs --expose-gc):
// feeds one SSE event of many `data:` lines (`[`, then empty lines or `0,` lines, then `0]`), just under the packet limit, and
// prints how much heap and resident memory the parser holds before the
// event's blank line arrives, as JSON.

import { readFileSync } from 'node:fs';
import { createParser } from '../parser.js';

const [shape, countArg] = process.argv.slice(2);
const count = Number(countArg);
const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
// The lines join into one JSON array: LFs are whitespace between its items.
const line = shape === 'empty' ? 'data:\n' : 'data: 0,\n';
const block = new TextEncoder().encode(line.repeat(8192));
let packets = 0;
const parser = createParser({ format: 'sse', onPacket: () => (packets += 1) });
globalThis.gc();
const before = { heap: process.memoryUsage().heapUsed, rss: rss() };
parser.feed('data: [\n');
for (let fed = 0; fed < count; fed += 8192) parser.feed(block);
globalThis.gc();
const held = { heap: process.memoryUsage().heapUsed - before.heap, rss: rss() - before.rss };
parser.feed('data: 0]\n\n');
console.log(JSON.stringify({ ...held, packets }));
