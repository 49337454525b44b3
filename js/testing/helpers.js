// Shared by the unit tests: run a body through the parser in given pieces,
// split a body in every way the tests need, and write the three wire formats
// from a list of events (the test's own small encoder, checked against the
// hand-written examples of docs/protocol.md in parser.test.js).

import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { createParser, ParseError } from '../parser.js';

export const encoder = new TextEncoder();

/**
 * Feeds `pieces` (Uint8Array or string) to a fresh parser and returns the
 * packets as events `{type, data}`, with a last event `{type: 'parsererror'}`
 * if the input was refused. Stops feeding after the final packet.
 */
export function decode(format, pieces, options = {}) {
  const events = [];
  const parser = createParser({ format, onPacket: (packet) => events.push(packet), ...options });
  try {
    for (const piece of pieces) parser.feed(piece);
    parser.end();
  } catch (err) {
    if (!(err instanceof ParseError)) throw err;
    events.push({ type: 'parsererror', message: err.message });
  }
  return events;
}

/** Every split of `bytes` into two pieces, the empty ones included. */
export function* twoWaySplits(bytes) {
  for (let i = 0; i <= bytes.length; i++) yield [bytes.subarray(0, i), bytes.subarray(i)];
}

/** Every split of `bytes` into three pieces (quadratic: keep the input short). */
export function* threeWaySplits(bytes) {
  for (let i = 0; i <= bytes.length; i++) {
    for (let j = i; j <= bytes.length; j++) {
      yield [bytes.subarray(0, i), bytes.subarray(i, j), bytes.subarray(j)];
    }
  }
}

/** One piece per byte. */
export function bytewise(bytes) {
  return Array.from(bytes, (_, i) => bytes.subarray(i, i + 1));
}

/** Pieces of pseudo-random sizes 1..maxSize, the same for the same seed. */
export function randomPieces(bytes, seed, maxSize = 17) {
  let x = seed >>> 0 || 1;
  const next = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % maxSize;
  };
  const pieces = [];
  for (let i = 0; i < bytes.length; ) {
    const size = 1 + next();
    pieces.push(bytes.subarray(i, i + size));
    i += size;
  }
  return pieces;
}

// ---------------------------------------------------------------------------
// A small encoder for the three formats, with the variations a decoder must
// accept (line endings, BOM, keep-alives).

/**
 * @param {Array<{type: string, data: any}>} events
 * @param {{eol?: string, bom?: boolean, keepAlive?: boolean}} [variant]
 */
export function encodeSse(events, { eol = '\n', bom = false, keepAlive = false } = {}) {
  let out = bom ? '\uFEFF' : '';
  events.forEach((event, index) => {
    if (keepAlive) out += `: keep-alive${eol}${eol}`;
    out += `id: ${index + 1}${eol}`;
    if (event.type !== 'progress') out += `event: ${event.type}${eol}`;
    out += `data: ${JSON.stringify(event.data)}${eol}${eol}`;
  });
  return encoder.encode(out);
}

export function encodeNdjson(events, { eol = '\n', keepAlive = false } = {}) {
  let out = '';
  for (const event of events) {
    if (keepAlive) out += eol;
    out += JSON.stringify({ [event.type]: event.data }) + eol;
  }
  return encoder.encode(out);
}

// JSON with every non-ASCII character escaped, as the legacy framing sends it.
export function asciiJson(value) {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function encodeLegacy(events) {
  let out = '';
  for (const event of events) {
    const isAsciiString = typeof event.data === 'string' && /^[\x00-\x7f]*$/.test(event.data);
    if (event.type === 'error') {
      const error = { type: event.data.status, status: 'Stream Error', str: event.data.message };
      if (event.data.error_id !== undefined) error.error_id = event.data.error_id;
      out += '\0e' + asciiJson({ ok: false, error });
    } else {
      const [type, payload] = isAsciiString ? ['s', event.data] : ['a', asciiJson(event.data)];
      out += event.type === 'progress' ? `${payload.length.toString(16)}\0${type}${payload}` : `\0${type}${payload}`;
    }
  }
  return encoder.encode(out);
}

export const encoders = { sse: encodeSse, ndjson: encodeNdjson, legacy: encodeLegacy };

// ---------------------------------------------------------------------------
// Recorded streams from the real server, committed to fixtures/ at the
// repository root: <name>.events.json plus <name>.sse / .ndjson / .legacy.

const fixturesDir = new URL('../../fixtures/', import.meta.url);

export function recordedFixtures() {
  let names;
  try {
    names = readdirSync(fixturesDir);
  } catch {
    return [];
  }
  const out = [];
  for (const file of names.filter((n) => n.endsWith('.events.json')).sort()) {
    const name = file.slice(0, -'.events.json'.length);
    const events = JSON.parse(readFileSync(new URL(file, fixturesDir), 'utf8'));
    for (const format of ['sse', 'ndjson', 'legacy']) {
      if (!names.includes(`${name}.${format}`)) continue;
      out.push({ name, format, events, bytes: new Uint8Array(readFileSync(new URL(`${name}.${format}`, fixturesDir))) });
    }
  }
  return out;
}

/** The events a fixture's .events.json promises, in the parser's shape. */
export function expectedPackets(events) {
  return events.map(({ type, data }) => ({ type, data }));
}

/**
 * Serves `handler` over HTTP on a free loopback port: resolves to the base URL
 * and a close() that ends the open connections too.
 */
export async function serveOnLoopback(handler) {
  const server = createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    base: `http://127.0.0.1:${server.address().port}`,
    close() {
      server.closeAllConnections();
      server.close();
    },
  };
}
