// Times the browser client's parser (../parser.js) against eventsource-parser
// on a recorded Rivulet SSE stream, in chunks of 64 B, 1 KiB and 16 KiB, with
// and without JSON.parse. Prints MB/s, packets/s and the ratio, each the median
// of several rounds in which the two parsers run back to back.
//
//   node js/bench/parser.bench.js <recorded.sse> [--quick]
//
// `cargo run --release -p rivulet-bench -- js-parser` records the stream from
// the Rivulet server and runs this script (docs/benchmarks.md).
//
// Both start from bytes, as a fetch() reader gives them: our parser decodes
// UTF-8 itself; eventsource-parser takes strings, so a streaming TextDecoder
// feeds it, which is how its own EventSourceParserStream is used. "Without
// JSON.parse" swaps JSON.parse for the identity while timing, as our parser
// always parses (a packet is a JSON value) and eventsource-parser never does.

import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { createParser as createRivuletParser } from '../parser.js';
import { createParser as createEventSourceParser } from 'eventsource-parser';

const file = process.argv[2];
const quick = process.argv.includes('--quick');
if (!file) {
  console.error('usage: node js/bench/parser.bench.js <recorded.sse> [--quick]');
  process.exit(2);
}
const stream = new Uint8Array(readFileSync(file));
const CHUNK_SIZES = [64, 1024, 16 * 1024];
const ROUNDS = quick ? 3 : 9;
const realParse = JSON.parse;

function split(bytes, size) {
  const chunks = [];
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
  return chunks;
}

// Each function parses the whole stream once and returns the packets it saw.
const parsers = {
  rivulet(chunks) {
    let packets = 0;
    const parser = createRivuletParser({ format: 'sse', onPacket: () => (packets += 1) });
    for (const chunk of chunks) parser.feed(chunk);
    parser.end();
    return packets;
  },
  'eventsource-parser'(chunks) {
    let packets = 0;
    const decoder = new TextDecoder();
    const parser = createEventSourceParser({
      onEvent(event) {
        JSON.parse(event.data);
        packets += 1;
      },
    });
    for (const chunk of chunks) parser.feed(decoder.decode(chunk, { stream: true }));
    parser.feed(decoder.decode());
    return packets;
  },
};
const names = Object.keys(parsers);

// The packets' JSON texts, to time JSON.parse alone: a floor under any parser
// that hands out parsed values, so it bounds the ratio "with JSON.parse".
const texts = [];
{
  const parser = createEventSourceParser({ onEvent: (event) => texts.push(event.data) });
  parser.feed(new TextDecoder().decode(stream));
}
function jsonAlone() {
  const start = performance.now();
  for (const text of texts) JSON.parse(text);
  return (performance.now() - start) / 1000;
}
for (let i = 0; i < 3; i++) jsonAlone(); // warm-up
const jsonSeconds = median(Array.from({ length: ROUNDS }, jsonAlone));

function time(fn, chunks) {
  const start = performance.now();
  const packets = fn(chunks);
  return { seconds: (performance.now() - start) / 1000, packets };
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const rows = [['chunk, JSON.parse, parser', 'MB/s', 'packets/s', 'rivulet ÷ peer']];
const bounds = [];
for (const withJson of [true, false]) {
  for (const size of CHUNK_SIZES) {
    const chunks = split(stream, size);
    JSON.parse = withJson ? realParse : (text) => text;
    try {
      for (const name of names) for (let i = 0; i < 2; i++) parsers[name](chunks); // warm-up
      const runs = Object.fromEntries(names.map((name) => [name, []]));
      for (let round = 0; round < ROUNDS; round++) {
        const order = round % 2 ? [...names].reverse() : names;
        for (const name of order) runs[name].push(time(parsers[name], chunks));
      }
      const ours = runs.rivulet;
      if (withJson) {
        // Even a parser that cost nothing could not beat this ratio.
        const theirs = median(runs['eventsource-parser'].map((r) => r.seconds));
        bounds.push(`${size >= 1024 ? size / 1024 + ' KiB' : size + ' B'}: ${(theirs / jsonSeconds).toFixed(2)}×`);
      }
      for (const name of names) {
        const seconds = median(runs[name].map((r) => r.seconds));
        const packets = runs[name][0].packets;
        const speedup = median(ours.map((r, i) => runs[name][i].seconds / r.seconds));
        rows.push([
          `${size >= 1024 ? size / 1024 + ' KiB' : size + ' B'}, ${withJson ? 'with' : 'without'}, ${name}`,
          (stream.length / 1e6 / seconds).toFixed(0),
          `${(packets / seconds / 1e6).toFixed(2)}M`,
          name === 'rivulet' ? '—' : `${speedup.toFixed(2)}×`,
        ]);
      }
    } finally {
      JSON.parse = realParse;
    }
  }
}

const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
rows.forEach((row, i) => {
  console.log('  ' + row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '));
  if (i === 0) console.log('  ' + '-'.repeat(widths.reduce((a, b) => a + b + 2, -2)));
});
console.log(
  `  JSON.parse alone: ${(texts.length / jsonSeconds / 1e6).toFixed(2)}M packets/s; the best ratio any parser` +
    ` could reach with JSON.parse (eventsource-parser's time ÷ JSON.parse alone): ${bounds.join(', ')}`,
);
console.log('  target: rivulet ≥ 1.5× eventsource-parser');
