// Incremental decoder for the three Rivulet wire formats (docs/protocol.md).
//
// No dependencies and no I/O: feed it the response body in chunks of any size
// (Uint8Array or string) and it calls `onPacket` once per complete packet, in
// order. The same packets come out for every split of the bytes.
//
//   const parser = createParser({ format: 'sse', onPacket: (p) => console.log(p) });
//   parser.feed(bytes); ...; parser.end();
//
// A packet is `{ type: 'progress' | 'done' | 'error', data }`; for `error`,
// `data` is the error object `{ message, status, error_id? }`. Malformed input
// throws a `ParseError` from `feed`/`end`, whose `kind` names the Rust
// decoder's `DecodeError` variant for the same input; after the final packet
// the rest of the input is ignored. A stream that ends without a final packet
// is not an error of the parser: the stream wrapper decides (it may resume).

/** Largest packet a parser accepts unless told otherwise (16 MiB). */
export const DEFAULT_MAX_PACKET_SIZE = 16 * 1024 * 1024;

const LF = 10;
const CR = 13;
const NUL = 0;

/**
 * Thrown for input that breaks the framing or holds a packet that is too
 * large. `kind` mirrors the Rust `DecodeError` variant: `'json'` (a payload is
 * not valid JSON, or not the shape its packet needs), `'malformed'` (the bytes
 * do not follow the format), `'too_large'` (a packet over the limit).
 */
export class ParseError extends Error {
  constructor(kind, message) {
    super(message);
    this.name = 'ParseError';
    this.kind = kind;
  }
}

/**
 * The media type of each wire format: what a response's Content-Type says,
 * and what a client asks for in Accept. The one table stream.js and this
 * parser share.
 */
export const CONTENT_TYPES = Object.freeze({
  sse: 'text/event-stream',
  ndjson: 'application/x-ndjson',
  legacy: 'application/octet-stream',
});

/**
 * Picks the wire format for a response from its Content-Type header, or
 * returns `undefined` for a type that is none of the three.
 */
export function formatFromContentType(contentType) {
  const essence = String(contentType || '').split(';')[0].trim().toLowerCase();
  for (const format in CONTENT_TYPES) if (CONTENT_TYPES[format] === essence) return format;
  return undefined;
}

/**
 * Creates a decoder for one response body.
 *
 * @param {object} options
 * @param {'sse'|'ndjson'|'legacy'} [options.format='sse']
 * @param {(packet: {type: string, data: any}) => void} options.onPacket
 * @param {number} [options.maxPacketSize] in bytes (of UTF-8, for the text
 *   formats), as the Rust decoder counts.
 */
export function createParser({ format = 'sse', onPacket, maxPacketSize = DEFAULT_MAX_PACKET_SIZE } = {}) {
  if (typeof onPacket !== 'function') throw new TypeError('createParser: onPacket must be a function');
  let finished = false;
  const emit = (type, data) => {
    finished = type !== 'progress';
    onPacket({ type, data });
  };
  const isFinished = () => finished;
  switch (format) {
    case 'sse':
      return textParser(sseLines(emit, isFinished, maxPacketSize), isFinished, maxPacketSize);
    case 'ndjson':
      return textParser(ndjsonLines(emit, isFinished, maxPacketSize), isFinished, maxPacketSize);
    case 'legacy':
      return legacyParser(emit, isFinished, maxPacketSize);
    default:
      throw new TypeError(`createParser: unknown format ${JSON.stringify(format)}`);
  }
}

// ---------------------------------------------------------------------------
// Text formats (SSE and NDJSON): bytes -> text -> lines -> packets.

// Turns the body's bytes into text, chunk by chunk. Each chunk is decoded
// whole by a non-streaming TextDecoder and a character cut off at its end is
// carried over to the next chunk: with {stream: true} Node's TextDecoder
// takes another, five times slower path (Node 20, 16 KiB chunks: 64 ns per
// ~77-byte packet against 13), more than the parsing itself. Browsers decode
// at the same speed either way. The decoder keeps a BOM (ignoreBOM) and the
// text parser drops it, so string input is treated the same way as bytes.
function utf8Stream() {
  const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  let carry; // the first bytes of a character cut off at the end of the last chunk
  return {
    decode(chunk) {
      let bytes = chunk;
      if (carry) {
        bytes = new Uint8Array(carry.length + chunk.length);
        bytes.set(carry);
        bytes.set(chunk, carry.length);
        carry = undefined;
      }
      const cut = incompleteTail(bytes);
      if (cut) {
        carry = bytes.slice(bytes.length - cut); // a copy: the caller may reuse its buffer
        bytes = bytes.subarray(0, bytes.length - cut);
      }
      return decoder.decode(bytes);
    },
    end() {
      const rest = carry;
      carry = undefined;
      return rest ? decoder.decode(rest) : '';
    },
  };
}

// How many bytes at the end of `bytes` start a UTF-8 sequence that needs more
// bytes than are there (0 to 3). Cutting before them gives the same text as a
// streaming decoder: a streaming decoder is between characters at any byte
// below 0x80 or from 0xC0 up, and has finished or given up on a sequence whose
// lead byte is more than three bytes back.
function incompleteTail(bytes) {
  const n = bytes.length;
  if (n === 0 || bytes[n - 1] < 0x80) return 0;
  for (let k = 1; k <= 3 && k <= n; k++) {
    const byte = bytes[n - k];
    if (byte >= 0xc0) return k < (byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : 2) ? k : 0;
    if (byte < 0x80) return 0;
  }
  return 0;
}

// Splits text into lines ending in LF, CR or CRLF and hands them to `lines`
// as (text, start, end), without their line ending, so that no line is
// sliced out unless it is needed. A line cut off at the end of a chunk waits
// as a string: chunks without a line end are appended to it (a rope, joined
// once), and when its end arrives only that line is joined, never the whole
// chunk, so the work is linear in the input whatever the chunk sizes and the
// rest of the chunk is scanned in the decoder's flat string.
//
// `lines.line(text, start, end)` takes one line; `lines.scan(text, pos)` takes
// every LF-terminated line from `pos` of a text without CR (the fast path, in
// which it may look past a line's end) and returns where the unterminated
// rest starts.
function textParser(lines, isFinished, maxPacketSize) {
  let utf8;
  let pending = ''; // the start of a line whose end has not arrived
  let pendingBytes = -1; // its UTF-8 length, once it is long enough to count
  let started = false; // a leading BOM has been looked for
  let skipLF = false; // the last chunk ended with CR: an LF first in the next one belongs to it

  const push = (text) => {
    if (text.length === 0) return;
    let pos = 0;
    if (!started) {
      started = true;
      if (text.charCodeAt(0) === 0xfeff) pos = 1;
    }
    if (skipLF) {
      skipLF = false;
      if (pos < text.length && text.charCodeAt(pos) === LF) pos += 1;
    }
    let cr = text.indexOf('\r', pos);
    if (pending.length) {
      // The line that waits ends at this chunk's first line end: only that
      // line is joined, not the whole chunk.
      const lf = text.indexOf('\n', pos);
      const end = cr !== -1 && (lf === -1 || cr < lf) ? cr : lf;
      if (end === -1) {
        // Still no line end: a rope append, flattened once when the line ends.
        // Its bytes are counted only once it could be over the limit, and
        // then piece by piece, never the whole rope again.
        const piece = pos ? text.slice(pos) : text;
        pending += piece;
        if (pendingBytes >= 0) pendingBytes += utf8Length(piece, 0, piece.length);
        else if (pending.length * 3 > maxPacketSize) pendingBytes = utf8Length(pending, 0, pending.length);
        if (pendingBytes > maxPacketSize) throw tooLarge(maxPacketSize);
        return;
      }
      const line = pending + text.slice(pos, end);
      pending = '';
      pendingBytes = -1;
      lines.line(line, 0, line.length);
      if (isFinished()) return;
      pos = end + 1;
      if (end === cr) {
        if (pos === text.length) skipLF = true;
        else if (text.charCodeAt(pos) === LF) pos += 1;
        cr = text.indexOf('\r', pos);
      }
    }
    if (cr === -1) {
      // Fast path: servers (ours included) end lines with LF alone.
      pos = lines.scan(text, pos);
    } else {
      // Slow path: CR or CRLF endings (the EventSource rules allow both). The
      // nearer of the next CR and the next LF ends the line.
      let lf = text.indexOf('\n', pos);
      while ((cr !== -1 || lf !== -1) && !isFinished()) {
        if (lf !== -1 && (cr === -1 || lf < cr)) {
          lines.line(text, pos, lf);
          pos = lf + 1;
        } else {
          lines.line(text, pos, cr);
          pos = cr + 1;
          if (pos === text.length) {
            skipLF = true;
          } else if (text.charCodeAt(pos) === LF) {
            pos += 1;
          }
        }
        if (cr !== -1 && cr < pos) cr = text.indexOf('\r', pos);
        if (lf !== -1 && lf < pos) lf = text.indexOf('\n', pos);
      }
    }
    if (pos < text.length && !isFinished()) {
      if (overLimit(text, pos, text.length, maxPacketSize)) throw tooLarge(maxPacketSize);
      pending = pos ? text.slice(pos) : text;
      pendingBytes = -1;
    }
  };

  return {
    feed(chunk) {
      if (isFinished()) return;
      push(typeof chunk === 'string' ? chunk : (utf8 ??= utf8Stream()).decode(chunk));
    },
    end() {
      if (isFinished()) return;
      if (utf8) push(utf8.end());
      // An unterminated last line is a packet cut short: it is dropped, like
      // an EventSource drops an event without its blank line.
    },
  };
}

// EventSource field rules (HTML "Interpreting an event stream"), narrowed to
// what Rivulet sends: `id` and `retry` are not needed for one-shot streams, so
// only `data` and `event` lines are looked at and every other line is skipped
// without being sliced.
function sseLines(emit, isFinished, maxPacketSize) {
  let data = '';
  let hasData = false;
  let eventType = '';

  const deliver = (text) => {
    const type = eventType;
    eventType = '';
    if (type === '' || type === 'message') emit('progress', parseJSON(text));
    else if (type === 'done') emit('done', parseJSON(text));
    else if (type === 'error') emit('error', errorObject(parseJSON(text)));
  };

  let dataBytes = -1; // the UTF-8 length of `data`, once it is long enough to count
  const line = (text, start, end) => {
    if (overLimit(text, start, end, maxPacketSize)) throw tooLarge(maxPacketSize);
    if (start === end) {
      if (hasData) {
        const value = data;
        data = '';
        hasData = false;
        deliver(value);
      } else {
        eventType = '';
      }
      return;
    }
    const first = text.charCodeAt(start);
    if (first === 100 /* d */ && isField(text, start, end, 'data')) {
      const value = text.slice(valueStart(text, start + 4, end), end);
      if (hasData) {
        // Bytes are counted once the joined data could be over the limit,
        // then line by line.
        if (dataBytes >= 0) dataBytes += 1 + utf8Length(value, 0, value.length);
        else if ((data.length + value.length + 1) * 3 > maxPacketSize) {
          dataBytes = utf8Length(data, 0, data.length) + 1 + utf8Length(value, 0, value.length);
        }
        if (data.length + value.length + 1 > maxPacketSize || dataBytes > maxPacketSize) throw tooLarge(maxPacketSize);
        data += '\n' + value;
      } else {
        data = value;
        dataBytes = -1;
        hasData = true;
      }
    } else if (first === 101 /* e */ && isField(text, start, end, 'event')) {
      eventType = text.slice(valueStart(text, start + 5, end), end);
    }
  };

  // Rivulet's events are `id: N`, maybe `event: done`, one data line and the
  // blank line. A data line followed by the blank line, with no data before
  // it, is dispatched straight from the text without building `data`; lines
  // that are neither `data`, `event` nor blank (`id`, comments, `retry`, ...)
  // are skipped here without a call or a slice. Both were measured: the event
  // costs two indexOf calls, one slice and the packet.
  const scan = (text, pos) => {
    let lf;
    while ((lf = text.indexOf('\n', pos)) !== -1) {
      const first = text.charCodeAt(pos);
      const blankNext = lf + 1 < text.length && text.charCodeAt(lf + 1) === LF; // bounds first: no deopt
      if (first === 100 /* d */ && blankNext && !hasData && isField(text, pos, lf, 'data')) {
        if (overLimit(text, pos, lf, maxPacketSize)) throw tooLarge(maxPacketSize);
        const value = text.slice(valueStart(text, pos + 4, lf), lf);
        pos = lf + 2;
        deliver(value);
        if (isFinished()) break;
        continue;
      }
      if (first === 100 || first === 101 || lf === pos) {
        line(text, pos, lf);
        if (isFinished()) break;
      } else if (overLimit(text, pos, lf, maxPacketSize)) {
        throw tooLarge(maxPacketSize);
      }
      pos = lf + 1;
    }
    return pos;
  };

  return { line, scan };
}

// Whether the line [start, end) is the field `name`: the name followed by a
// colon or by the end of the line. The caller has checked the first letter.
function isField(text, start, end, name) {
  const after = start + name.length;
  if (after !== end && (after > end || text.charCodeAt(after) !== 58 /* : */)) return false;
  for (let i = 1; i < name.length; i++) if (text.charCodeAt(start + i) !== name.charCodeAt(i)) return false;
  return true;
}

// Where a field's value starts, given where its name ends: after the colon
// and one optional space.
function valueStart(text, nameEnd, end) {
  if (nameEnd === end) return end;
  return nameEnd + 1 < end && text.charCodeAt(nameEnd + 1) === 32 ? nameEnd + 2 : nameEnd + 1;
}

function ndjsonLines(emit, isFinished, maxPacketSize) {
  const line = (text, start, end) => {
    if (overLimit(text, start, end, maxPacketSize)) throw tooLarge(maxPacketSize);
    const value = text.slice(start, end);
    // Keep-alives are empty lines; a line starting with `{` is not trimmed.
    if ((end === start || text.charCodeAt(start) !== 123) /* { */ && value.trim() === '') return;
    object(value);
  };
  const object = (text) => {
    const value = parseJSON(text);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new ParseError('json', 'NDJSON line is not an object');
    }
    const progress = Object.hasOwn(value, 'progress');
    const done = Object.hasOwn(value, 'done');
    const error = Object.hasOwn(value, 'error');
    let keys = 0;
    for (const _ in value) if (++keys > 1) break;
    if (keys !== 1 || progress + done + error !== 1) {
      throw new ParseError('json', 'NDJSON line needs exactly one of "progress", "done", "error"');
    }
    if (progress) emit('progress', value.progress);
    else if (done) emit('done', value.done);
    else emit('error', errorObject(value.error));
  };
  const scan = (text, pos) => {
    let lf;
    while ((lf = text.indexOf('\n', pos)) !== -1) {
      line(text, pos, lf);
      pos = lf + 1;
      if (isFinished()) break;
    }
    return pos;
  };
  return { line, scan };
}

function tooLarge(maxPacketSize) {
  return new ParseError('too_large', `packet larger than ${maxPacketSize} bytes`);
}

// Whether text[start, end) is more than `max` bytes of UTF-8. A UTF-16 unit
// takes at most 3 bytes (a surrogate pair, 2 units, takes 4), so the bytes are
// only counted for text longer than a third of the limit: never on the hot
// path of ordinary packets.
function overLimit(text, start, end, max) {
  const units = end - start;
  return units > max || (units * 3 > max && utf8Length(text, start, end) > max);
}

// The UTF-8 length of text[start, end), as TextEncoder would write it (a lone
// surrogate becomes U+FFFD, 3 bytes).
function utf8Length(text, start, end) {
  let bytes = 0;
  for (let i = start; i < end; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < end) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i += 1;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

// ---------------------------------------------------------------------------
// Legacy framing: `<hex length> NUL <type> <payload>` per progress packet and
// `NUL <type> <payload...EOF>` for the final one. Lengths count bytes, so this
// decoder works on bytes and decodes each payload once it is complete.

const HEX = 0;
const TYPE = 1;
const PAYLOAD = 2;
const FINAL = 3;
const MAX_HEX_DIGITS = 8;

function legacyParser(emit, isFinished, maxPacketSize) {
  let state = HEX;
  let length = 0;
  let hexDigits = 0;
  let type = 0;
  let isFinal = false;
  let parts = [];
  let partsLength = 0;
  let encoder;

  // A payload that ends inside this chunk is decoded before feed returns, so a
  // view is enough; one that reaches the chunk's end waits for later chunks and
  // is copied, as the caller may reuse its buffer.
  const take = (chunk, start, end) => {
    if (end <= start) return;
    parts.push(end === chunk.length ? chunk.slice(start, end) : chunk.subarray(start, end));
    partsLength += end - start;
  };

  const payloadText = () => {
    const bytes = parts.length === 1 ? parts[0] : concat(parts, partsLength);
    parts = [];
    partsLength = 0;
    return decodeUtf8(bytes);
  };

  const deliver = (text) => {
    const packetType = type === 0x65 /* e */ ? 'error' : isFinal ? 'done' : 'progress';
    if (type === 0x73 /* s */) return emit(packetType, text);
    const value = parseJSON(text);
    if (packetType === 'error') {
      const err = value && typeof value === 'object' ? value.error : undefined;
      if (!err || typeof err !== 'object' || Array.isArray(err)) {
        throw new ParseError('json', 'legacy error packet without "error"');
      }
      const object = { message: textField(err.str, 'str'), status: statusField(err.type, 'type') };
      const errorId = optionalText(err.error_id, 'error_id');
      if (errorId !== undefined) object.error_id = errorId;
      return emit('error', object);
    }
    emit(packetType, value);
  };

  return {
    feed(chunk) {
      if (isFinished()) return;
      if (typeof chunk === 'string') chunk = (encoder ??= new TextEncoder()).encode(chunk);
      let pos = 0;
      while (pos < chunk.length) {
        if (state === HEX) {
          const byte = chunk[pos++];
          if (byte === NUL) {
            isFinal = hexDigits === 0;
            state = TYPE;
          } else {
            if (++hexDigits > MAX_HEX_DIGITS) throw new ParseError('malformed', 'legacy packet length has too many digits');
            const digit = hexValue(byte);
            if (digit < 0) throw new ParseError('malformed', 'legacy packet length is not hexadecimal');
            length = length * 16 + digit;
            if (length > maxPacketSize) throw tooLarge(maxPacketSize);
          }
        } else if (state === TYPE) {
          type = chunk[pos++];
          const known = type === 0x73 || type === 0x61 || (isFinal && type === 0x65);
          if (!known) {
            throw new ParseError('malformed', `unknown legacy packet type ${JSON.stringify(String.fromCharCode(type))}`);
          }
          state = isFinal ? FINAL : PAYLOAD;
        } else if (state === PAYLOAD) {
          const end = Math.min(chunk.length, pos + (length - partsLength));
          take(chunk, pos, end);
          pos = end;
        } else {
          // The final payload runs to the end of the response.
          if (partsLength + chunk.length - pos > maxPacketSize) throw tooLarge(maxPacketSize);
          take(chunk, pos, chunk.length);
          pos = chunk.length;
        }
        // Checked after every step, so that an empty payload ("0\0s") is
        // delivered as soon as its type byte arrives.
        if (state === PAYLOAD && partsLength === length) {
          const text = payloadText();
          state = HEX;
          length = 0;
          hexDigits = 0;
          deliver(text);
          if (isFinished()) return;
        }
      }
    },
    end() {
      if (isFinished()) return;
      // Only a final packet whose type byte has arrived is complete here; any
      // other state means the response was cut short.
      if (state === FINAL) deliver(payloadText());
    },
  };
}

function hexValue(byte) {
  if (byte >= 48 && byte <= 57) return byte - 48; // 0-9
  if (byte >= 97 && byte <= 102) return byte - 87; // a-f
  if (byte >= 65 && byte <= 70) return byte - 55; // A-F
  return -1;
}

function concat(parts, length) {
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

// A legacy payload is UTF-8 (Rivulet sends only ASCII); one that is not valid
// UTF-8 comes from an older server writing Latin-1, and is read as such: each
// byte one character, as the Rust decoder reads it.
let utf8;
function decodeUtf8(bytes) {
  try {
    return (utf8 ??= new TextDecoder('utf-8', { ignoreBOM: true, fatal: true })).decode(bytes);
  } catch {
    let text = '';
    for (let i = 0; i < bytes.length; i += 8192) text += String.fromCharCode(...bytes.subarray(i, i + 8192));
    return text;
  }
}

// ---------------------------------------------------------------------------

function parseJSON(text) {
  try {
    return JSON.parse(text);
  } catch {
    throw new ParseError('json', `invalid JSON in packet: ${text.length > 60 ? text.slice(0, 60) + '…' : text}`);
  }
}

// Error packets carry `{ message, status, error_id? }` (docs/protocol.md, "The
// error object"): a missing message reads as "", a missing status as 500, and
// a field of the wrong type makes the packet invalid. Unknown fields are kept.
function errorObject(value) {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ParseError('json', 'error packet does not hold an error object');
  }
  const object = { ...value, message: textField(value.message, 'message'), status: statusField(value.status, 'status') };
  const errorId = optionalText(value.error_id, 'error_id');
  if (errorId === undefined) delete object.error_id;
  return object;
}

function optionalText(value, name) {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new ParseError('json', `error field "${name}" is not a string`);
  return value;
}

function textField(value, name) {
  return optionalText(value, name) ?? '';
}

function statusField(value, name) {
  if (value === undefined || value === null) return 500;
  if (!Number.isInteger(value) || value < 0 || value > 65535) {
    throw new ParseError('json', `error field "${name}" is not a status code`);
  }
  return value;
}
