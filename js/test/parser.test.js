import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { createParser, formatFromContentType, ParseError } from '../parser.js';
import {
  bytewise,
  decode,
  encoder,
  encoders,
  expectedPackets,
  randomPieces,
  recordedFixtures,
  threeWaySplits,
  twoWaySplits,
} from '../testing/helpers.js';

const FORMATS = ['sse', 'ndjson', 'legacy'];

// The examples of docs/protocol.md, byte for byte.
const PROTOCOL_EXAMPLES = {
  sse: {
    bytes: 'id: 1\ndata: "Starting stream test"\n\nid: 2\ndata: {"status":"ok","count":3}\n\nid: 3\nevent: done\ndata: null\n\n',
    packets: [
      { type: 'progress', data: 'Starting stream test' },
      { type: 'progress', data: { status: 'ok', count: 3 } },
      { type: 'done', data: null },
    ],
  },
  ndjson: {
    bytes:
      '{"progress":"Starting batch process"}\n{"progress":"Processed 10 items"}\n' +
      '{"done":{"success":true,"processed":10,"duration":1.003}}\n',
    packets: [
      { type: 'progress', data: 'Starting batch process' },
      { type: 'progress', data: 'Processed 10 items' },
      { type: 'done', data: { success: true, processed: 10, duration: 1.003 } },
    ],
  },
  legacy: {
    bytes: '14\0sStarting stream test19\0a{"status":"ok","count":3}\0anull',
    packets: [
      { type: 'progress', data: 'Starting stream test' },
      { type: 'progress', data: { status: 'ok', count: 3 } },
      { type: 'done', data: null },
    ],
  },
};

// One event list per concern; each is written in all three formats by the
// test encoder and must come back unchanged for every split.
const STREAMS = {
  strings: [
    { type: 'progress', data: 'Starting stream test' },
    ...Array.from({ length: 3 }, (_, i) => ({ type: 'progress', data: `i=${i + 1}` })),
    { type: 'done', data: null },
  ],
  types: [
    { type: 'progress', data: 'text' },
    { type: 'progress', data: 42 },
    { type: 'progress', data: -1.5e-7 },
    { type: 'progress', data: [1, 'two', [3]] },
    { type: 'progress', data: { nested: { ok: true }, list: [] } },
    { type: 'progress', data: true },
    { type: 'progress', data: false },
    { type: 'progress', data: null },
    { type: 'progress', data: '' },
    { type: 'done', data: { all: ['text', 42, -1.5e-7, true, null] } },
  ],
  multibyte: [
    { type: 'progress', data: 'café 🌊 日本語' },
    { type: 'progress', data: { emoji: '👩‍👩‍👧', ε: 'ünïcödé' } },
    { type: 'done', data: '✓ fertig — 完了' },
  ],
  awkwardStrings: [
    { type: 'progress', data: 'line\nbreak\r\nand\rcarriage' },
    { type: 'progress', data: 'data: not a field\n\nid: 7' },
    { type: 'progress', data: ': not a comment' },
    { type: 'progress', data: '\u0000nul and \ufeff inner BOM' },
    { type: 'done', data: 'event: done' },
  ],
  error: [
    { type: 'progress', data: 'Starting risky operation' },
    { type: 'error', data: { message: 'Something went wrong!', status: 500, error_id: '5f0c9e2a1b7d4c33' } },
  ],
  errorOnly: [{ type: 'error', data: { message: 'invalid input', status: 422 } }],
  doneOnly: [{ type: 'done', data: { success: true } }],
};

function assertPackets(actual, expected, message) {
  assert.deepStrictEqual(actual, expected, message);
}

describe('protocol.md examples', () => {
  for (const format of FORMATS) {
    const { bytes, packets } = PROTOCOL_EXAMPLES[format];
    test(`${format}: whole`, () => {
      assertPackets(decode(format, [encoder.encode(bytes)]), packets);
    });
    test(`${format}: split at every pair of offsets`, () => {
      for (const pieces of threeWaySplits(encoder.encode(bytes))) {
        assertPackets(decode(format, pieces), packets, JSON.stringify(pieces.map((p) => p.length)));
      }
    });
    test(`${format}: the test encoder writes the same bytes`, () => {
      assert.equal(new TextDecoder().decode(encoders[format](packets)), bytes);
    });
  }
});

describe('every format, every split', () => {
  for (const format of FORMATS) {
    for (const [name, events] of Object.entries(STREAMS)) {
      test(`${format}: ${name}`, () => {
        const bytes = encoders[format](events);
        const expected = expectedPackets(events);
        assertPackets(decode(format, [bytes]), expected, 'whole');
        assertPackets(decode(format, bytewise(bytes)), expected, 'byte by byte');
        for (const pieces of twoWaySplits(bytes)) {
          assertPackets(decode(format, pieces), expected, `split at ${pieces[0].length}`);
        }
        for (let seed = 1; seed <= 20; seed++) {
          assertPackets(decode(format, randomPieces(bytes, seed)), expected, `seed ${seed}`);
        }
      });
    }
  }
});

describe('line endings, BOM and keep-alives', () => {
  const events = STREAMS.multibyte;
  for (const [label, eol] of Object.entries({ LF: '\n', CRLF: '\r\n', CR: '\r' })) {
    for (const bom of [false, true]) {
      for (const keepAlive of [false, true]) {
        test(`sse: ${label}${bom ? ' + BOM' : ''}${keepAlive ? ' + keep-alive' : ''}`, () => {
          const bytes = encoders.sse(events, { eol, bom, keepAlive });
          for (const pieces of twoWaySplits(bytes)) {
            assertPackets(decode('sse', pieces), events, `split at ${pieces[0].length}`);
          }
          assertPackets(decode('sse', bytewise(bytes)), events);
        });
      }
    }
  }
  for (const [label, eol] of Object.entries({ LF: '\n', CRLF: '\r\n' })) {
    test(`ndjson: ${label} with empty keep-alive lines`, () => {
      const bytes = encoders.ndjson(events, { eol, keepAlive: true });
      for (const pieces of twoWaySplits(bytes)) {
        assertPackets(decode('ndjson', pieces), events, `split at ${pieces[0].length}`);
      }
    });
  }
  test('sse: mixed CR, LF and CRLF in one stream', () => {
    const text = 'data: "a"\r\rdata: "b"\n\ndata: "c"\r\n\r\nevent: done\rdata: 1\r\n\n';
    const expected = [
      { type: 'progress', data: 'a' },
      { type: 'progress', data: 'b' },
      { type: 'progress', data: 'c' },
      { type: 'done', data: 1 },
    ];
    for (const pieces of threeWaySplits(encoder.encode(text))) assertPackets(decode('sse', pieces), expected);
  });
  test('sse: CR at the end of a chunk, its LF at the start of the next', () => {
    // Were CR and LF counted as two line ends, "[1," would be dispatched alone.
    const pieces = ['data: [1,\r', '\ndata: 2]\r', '\n\r', '\nevent: done\r', '\ndata: 3\r', '\n\r', '\n'];
    const expected = [
      { type: 'progress', data: [1, 2] },
      { type: 'done', data: 3 },
    ];
    assertPackets(decode('sse', pieces), expected);
    assertPackets(decode('sse', pieces.map((p) => encoder.encode(p))), expected);
  });
  test('a BOM split across chunks is skipped once; a second BOM is data', () => {
    const bytes = encoder.encode('\uFEFFdata: 1\n\nevent: done\ndata: 2\n\n');
    assert.deepEqual(bytes.subarray(0, 3), new Uint8Array([0xef, 0xbb, 0xbf]));
    for (const pieces of threeWaySplits(bytes.subarray(0, 12))) {
      assertPackets(decode('sse', [...pieces, bytes.subarray(12)]), [
        { type: 'progress', data: 1 },
        { type: 'done', data: 2 },
      ]);
    }
    // Two BOMs: the second one makes the first line an unknown field.
    assertPackets(decode('sse', ['\uFEFF\uFEFFdata: 1\n\nevent: done\ndata: 2\n\n']), [{ type: 'done', data: 2 }]);
  });
  test('a multi-byte character split at each of its bytes', () => {
    const bytes = encoder.encode('data: "🌊"\n\nevent: done\ndata: "é"\n\n');
    for (const pieces of threeWaySplits(bytes)) {
      assertPackets(decode('sse', pieces), [
        { type: 'progress', data: '🌊' },
        { type: 'done', data: 'é' },
      ]);
    }
  });
  test('invalid and cut-off UTF-8 comes out as a streaming TextDecoder gives it, for every split', () => {
    // The parser decodes each chunk whole and carries a cut-off character over
    // to the next chunk itself; the result must not depend on where chunks end.
    const sequences = [
      [0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x8c, 0x8a], // € 🌊
      [0xf0, 0x9f, 0x8c], // a 4-byte character without its last byte
      [0xe0, 0x80, 0x41, 0xed, 0xa0, 0x80], // overlong, a surrogate
      [0xc2, 0xc2, 0xa9, 0x80, 0xbf, 0xf5, 0xff, 0xc0, 0xaf], // stray continuation and lead bytes
      [0xf4, 0x90, 0x80, 0x80, 0xf0, 0x90, 0x80], // above U+10FFFF, then a cut 4-byte lead
    ];
    for (const sequence of sequences) {
      const tail = encoder.encode('"\n\nevent: done\ndata: 1\n\n');
      const bytes = new Uint8Array([...encoder.encode('data: "'), ...sequence, ...tail]);
      const text = new TextDecoder().decode(new Uint8Array(sequence));
      const expected = [
        { type: 'progress', data: text },
        { type: 'done', data: 1 },
      ];
      for (const pieces of threeWaySplits(bytes)) {
        assertPackets(decode('sse', pieces), expected, `${sequence} in ${pieces.map((p) => p.length)}`);
      }
    }
  });
  test('string chunks are accepted as well as bytes', () => {
    const text = new TextDecoder().decode(encoders.sse(STREAMS.multibyte, { bom: true }));
    assertPackets(decode('sse', Array.from(text)), STREAMS.multibyte);
    const legacy = new TextDecoder().decode(encoders.legacy(STREAMS.multibyte));
    assertPackets(decode('legacy', Array.from(legacy)), STREAMS.multibyte);
  });
});

describe('SSE field rules', () => {
  test('comments, unknown fields, unknown events, retry and events without data', () => {
    const text = [
      ': hello',
      'retry: 1000',
      'foo: bar',
      'data',
      '',
      'event: ping',
      'data: "ignored"',
      '',
      'id: 9',
      'event: done',
      '',
      'data:{"no":"space"}',
      '',
      'event: done',
      'data:  2',
      '',
      '',
    ].join('\n');
    // "data" alone is a data line with an empty value: JSON.parse('') fails.
    assert.equal(decode('sse', [text]).at(-1).type, 'parsererror');
    const withoutEmptyData = text.replace('data\n\n', '');
    assertPackets(decode('sse', [withoutEmptyData]), [
      { type: 'progress', data: { no: 'space' } },
      { type: 'done', data: 2 },
    ]);
  });
  test('several data lines join with a line feed', () => {
    assertPackets(decode('sse', ['data: [1,\ndata: 2]\n\nevent: done\ndata: {"a":\ndata: 1}\n\n']), [
      { type: 'progress', data: [1, 2] },
      { type: 'done', data: { a: 1 } },
    ]);
  });
  test('event "message" is a progress packet', () => {
    assertPackets(decode('sse', ['event: message\ndata: 1\n\nevent: done\ndata: 2\n\n']), [
      { type: 'progress', data: 1 },
      { type: 'done', data: 2 },
    ]);
  });
  test('an error packet keeps fields it does not know and fills in a missing status', () => {
    assertPackets(decode('sse', ['event: error\ndata: {"message":"x","hint":"y"}\n\n']), [
      { type: 'error', data: { message: 'x', status: 500, hint: 'y' } },
    ]);
  });
});

describe('truncated streams', () => {
  for (const format of FORMATS) {
    test(`${format}: every prefix of a stream yields its complete packets and never a final one`, () => {
      const events = STREAMS.types;
      const bytes = encoders[format](events);
      const whole = decode(format, [bytes]);
      // legacy's final packet runs to the end: a cut inside it cannot be told
      // from the end, so the prefixes checked stop before its type byte.
      const limit = format === 'legacy' ? bytes.lastIndexOf(0) : bytes.length;
      for (let cut = 0; cut < limit; cut++) {
        const got = decode(format, [bytes.subarray(0, cut)]);
        const finals = got.filter((p) => p.type === 'done' || p.type === 'error');
        assert.equal(finals.length, 0, `cut at ${cut}: ${JSON.stringify(got)}`);
        const progress = got.filter((p) => p.type === 'progress');
        assert.deepStrictEqual(progress, whole.slice(0, progress.length), `cut at ${cut}`);
      }
    });
  }
  test('sse: an event without its blank line is dropped at the end', () => {
    assertPackets(decode('sse', ['data: 1\n\nevent: done\ndata: 2\n']), [{ type: 'progress', data: 1 }]);
  });
  test('ndjson: a last line without its line feed is dropped at the end', () => {
    assertPackets(decode('ndjson', ['{"progress":1}\n{"done":2}']), [{ type: 'progress', data: 1 }]);
  });
  test('legacy: a final packet cut inside its JSON is a parse error', () => {
    assert.equal(decode('legacy', ['\0a{"success":tr']).at(-1).type, 'parsererror');
  });
});

describe('malformed input', () => {
  const cases = {
    sse: ['data: {not json}\n\n', 'event: error\ndata: "just a string"\n\n', 'event: error\ndata: null\n\n'],
    ndjson: [
      '{"progress":1,"done":2}\n',
      '{"other":1}\n',
      '[1]\n',
      '"progress"\n',
      'null\n',
      '{"progress":\n',
      '{"error":"text"}\n',
    ],
    legacy: ['zz\0s', '4\0xabcd', '4\0eabcd', '\0x', '123456789\0s', '\0e{"ok":false}', '5\0a{bad}', '\0a'],
  };
  for (const [format, inputs] of Object.entries(cases)) {
    for (const input of inputs) {
      test(`${format}: ${JSON.stringify(input)}`, () => {
        const events = decode(format, [input]);
        assert.equal(events.at(-1)?.type, 'parsererror', JSON.stringify(events));
      });
    }
  }
  test('packets before the bad one are delivered first', () => {
    const events = decode('ndjson', ['{"progress":1}\n{"progress":2}\nnope\n{"done":3}\n']);
    assert.deepStrictEqual(
      events.map((e) => e.type),
      ['progress', 'progress', 'parsererror'],
    );
  });
  test('ParseError is what feed throws', () => {
    const parser = createParser({ format: 'ndjson', onPacket() {} });
    assert.throws(() => parser.feed('x\n'), ParseError);
  });
  test('unknown format is a TypeError', () => {
    assert.throws(() => createParser({ format: 'xml', onPacket() {} }), TypeError);
  });
});

describe('packet size limit', () => {
  const big = 'x'.repeat(1000);
  test('a packet over the limit is refused, even when it arrives in small chunks', () => {
    for (const format of FORMATS) {
      const bytes = encoders[format]([{ type: 'progress', data: big }, { type: 'done', data: null }]);
      const whole = decode(format, [bytes], { maxPacketSize: 500 });
      assert.equal(whole.at(-1).type, 'parsererror', format);
      const chunked = decode(format, randomPieces(bytes, 3, 40), { maxPacketSize: 500 });
      assert.equal(chunked.at(-1).type, 'parsererror', format);
      assert.match(chunked.at(-1).message, /larger than 500/);
    }
  });
  test('the same packet passes under a larger limit', () => {
    for (const format of FORMATS) {
      const bytes = encoders[format]([{ type: 'progress', data: big }, { type: 'done', data: null }]);
      assert.equal(decode(format, randomPieces(bytes, 3, 40), { maxPacketSize: 2000 }).length, 2, format);
    }
  });
  test('legacy: a final packet over the limit is refused before the end', () => {
    const parser = createParser({ format: 'legacy', maxPacketSize: 10, onPacket() {} });
    parser.feed('\0s12345');
    assert.throws(() => parser.feed('678901'), /larger than 10/);
  });
  test('sse: many data lines adding up over the limit are refused', () => {
    const lines = 'data: 1\n'.repeat(100);
    assert.equal(decode('sse', [lines], { maxPacketSize: 50 }).at(-1).type, 'parsererror');
  });
});

describe('large packets', () => {
  test('a 4 MB packet in 64 KiB chunks, checked by hash', () => {
    const text = Array.from({ length: 4 * 1024 * 64 }, (_, i) => `${i.toString(36)}-é🌊`.padEnd(16, '.')).join('');
    const hash = createHash('sha256').update(text).digest('hex');
    for (const format of FORMATS) {
      const bytes = encoders[format]([{ type: 'progress', data: text }, { type: 'done', data: hash }]);
      const pieces = [];
      for (let i = 0; i < bytes.length; i += 65536) pieces.push(bytes.subarray(i, i + 65536));
      const [progress, done] = decode(format, pieces);
      assert.equal(createHash('sha256').update(progress.data).digest('hex'), hash, format);
      assert.deepStrictEqual(done, { type: 'done', data: hash });
    }
  });
  test('many small chunks of one long line do not take quadratic time', () => {
    // 2 MB in 1-byte pieces would take minutes if each chunk re-joined the buffer.
    const bytes = encoders.sse([{ type: 'done', data: 'y'.repeat(2 * 1024 * 1024) }]);
    const parser = createParser({ format: 'sse', onPacket() {} });
    const text = new TextDecoder().decode(bytes);
    const started = process.hrtime.bigint();
    for (let i = 0; i < text.length; i += 7) parser.feed(text.slice(i, i + 7));
    parser.end();
    // Not a timing assertion: the test runner's own timeout catches a hang.
    assert.ok(process.hrtime.bigint() > started);
  });
});

describe('after the final packet', () => {
  for (const format of ['sse', 'ndjson']) {
    test(`${format}: later input is ignored, even malformed`, () => {
      const bytes = encoders[format]([{ type: 'done', data: 1 }]);
      assertPackets(decode(format, [bytes, 'garbage\n\n{{{\n', bytes]), [{ type: 'done', data: 1 }]);
    });
    test(`${format}: a line over the size limit after it, in the same chunk, is ignored too`, () => {
      const done = new TextDecoder().decode(encoders[format]([{ type: 'done', data: 1 }]));
      const text = done + 'x'.repeat(100) + '\n';
      assertPackets(decode(format, [text], { maxPacketSize: 50 }), [{ type: 'done', data: 1 }]);
    });
  }
});

describe('reused input buffers', () => {
  test('legacy: a payload spanning chunks survives the caller overwriting its buffer', () => {
    const bytes = encoders.legacy(STREAMS.multibyte);
    const events = [];
    const parser = createParser({ format: 'legacy', onPacket: (p) => events.push(p) });
    const buffer = new Uint8Array(5);
    for (let i = 0; i < bytes.length; i += 5) {
      const piece = bytes.subarray(i, i + 5);
      buffer.set(piece);
      parser.feed(buffer.subarray(0, piece.length));
      buffer.fill(0x21);
    }
    parser.end();
    assertPackets(events, STREAMS.multibyte);
  });
});

test('formatFromContentType', () => {
  assert.equal(formatFromContentType('text/event-stream'), 'sse');
  assert.equal(formatFromContentType('text/event-stream; charset=utf-8'), 'sse');
  assert.equal(formatFromContentType('Application/X-NDJSON'), 'ndjson');
  assert.equal(formatFromContentType('application/octet-stream;charset=ISO-8859-1'), 'legacy');
  assert.equal(formatFromContentType('application/json'), undefined);
  assert.equal(formatFromContentType(null), undefined);
});

describe('recorded fixtures (fixtures/*.events.json)', () => {
  const fixtures = recordedFixtures();
  test('fixtures directory is readable', () => {
    assert.ok(Array.isArray(fixtures));
  });
  for (const { name, format, events, bytes } of fixtures) {
    test(`${name}.${format}`, () => {
      const expected = expectedPackets(events);
      const check = (got, label) => assertRecorded(got, expected, `${name}.${format} ${label}`);
      check(decode(format, [bytes]), 'whole');
      check(decode(format, bytewise(bytes)), 'byte by byte');
      if (bytes.length <= 4096) {
        for (const pieces of twoWaySplits(bytes)) check(decode(format, pieces), `split at ${pieces[0].length}`);
      }
      for (let seed = 1; seed <= 10; seed++) check(decode(format, randomPieces(bytes, seed, 64)), `seed ${seed}`);
    });
  }
});

// fixtures/invalid/: streams the Rust decoder replays too (decode_fixtures.rs).
// expected.json names, per file, the packets delivered and the outcome: `ok`,
// `truncated` (no final packet, which the parser leaves to the stream
// wrapper), or the `kind` of the ParseError, the Rust `DecodeError` variant.
describe('invalid fixtures (fixtures/invalid/expected.json), split at every offset', () => {
  const dir = new URL('../../fixtures/invalid/', import.meta.url);
  const expected = JSON.parse(readFileSync(new URL('expected.json', dir), 'utf8'));
  test('there are fixtures for every format', () => {
    for (const format of FORMATS) assert.ok(Object.keys(expected).filter((n) => n.endsWith(`.${format}`)).length >= 5, format);
  });
  for (const [name, want] of Object.entries(expected)) {
    test(name, () => {
      const format = name.split('.').pop();
      const bytes = new Uint8Array(readFileSync(new URL(name, dir)));
      const options = want.max_packet_bytes ? { maxPacketSize: want.max_packet_bytes } : {};
      for (let cut = 0; cut <= bytes.length; cut++) {
        const packets = [];
        const parser = createParser({ format, onPacket: (p) => packets.push(p), ...options });
        let outcome = 'ok';
        try {
          parser.feed(bytes.subarray(0, cut));
          parser.feed(bytes.subarray(cut));
          parser.end();
          if (!packets.some((p) => p.type !== 'progress')) outcome = 'truncated';
        } catch (err) {
          if (!(err instanceof ParseError)) throw err;
          outcome = err.kind;
        }
        assert.equal(outcome, want.outcome, `${name} split at ${cut}`);
        assert.deepStrictEqual(packets, expectedPackets(want.events), `${name} split at ${cut}`);
      }
    });
  }
});

// A recorded error event may list only some of the error object's fields
// (error_id differs per run); the ones it lists must match.
function assertRecorded(got, expected, label) {
  assert.equal(got.length, expected.length, `${label}: ${JSON.stringify(got)}`);
  got.forEach((packet, i) => {
    const want = expected[i];
    assert.equal(packet.type, want.type, label);
    if (want.type === 'error') {
      for (const key of Object.keys(want.data)) assert.deepStrictEqual(packet.data[key], want.data[key], `${label} ${key}`);
    } else {
      assert.deepStrictEqual(packet.data, want.data, label);
    }
  });
}
