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
// throws a `ParseError` from `feed`/`end`; after the final packet the rest of
// the input is ignored.

/** Largest packet a parser accepts unless told otherwise (16 MiB). */
export const DEFAULT_MAX_PACKET_SIZE = 16 * 1024 * 1024;

const LF = 10;
const CR = 13;
const NUL = 0;

/** Thrown for input that breaks the framing or holds a packet that is too large. */
export class ParseError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ParseError';
  }
}

/**
 * Picks the wire format for a response from its Content-Type header, or
 * returns `undefined` for a type that is none of the three.
 */
export function formatFromContentType(contentType) {
  const essence = String(contentType || '').split(';')[0].trim().toLowerCase();
  if (essence === 'text/event-stream') return 'sse';
  if (essence === 'application/x-ndjson') return 'ndjson';
  if (essence === 'application/octet-stream') return 'legacy';
  return undefined;
}

/**
 * Creates a decoder for one response body.
 *
 * @param {object} options
 * @param {'sse'|'ndjson'|'legacy'} [options.format='sse']
 * @param {(packet: {type: string, data: any}) => void} options.onPacket
 * @param {number} [options.maxPacketSize] in bytes for legacy, in characters
 *   for the text formats (so at most 4 bytes per character are buffered).
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
      return textParser(ndjsonLines(emit, isFinished), isFinished, maxPacketSize);
    case 'legacy':
      return legacyParser(emit, isFinished, maxPacketSize);
    default:
      throw new TypeError(`createParser: unknown format ${JSON.stringify(format)}`);
  }
}

// ---------------------------------------------------------------------------
// Text formats (SSE and NDJSON): bytes -> text -> lines -> packets.

// Bytes are decoded with one streaming TextDecoder, so a character split across
// chunks comes out whole once its last byte arrives. The decoder keeps a BOM
// (ignoreBOM) and the line splitter drops it, so string input is treated the
// same way as bytes.
function textParser(lineHandler, isFinished, maxPacketSize) {
  let decoder;
  const splitter = lineSplitter(lineHandler, maxPacketSize);
  return {
    feed(chunk) {
      if (isFinished()) return;
      if (typeof chunk === 'string') {
        splitter.push(chunk);
      } else {
        decoder ??= new TextDecoder('utf-8', { ignoreBOM: true });
        splitter.push(decoder.decode(chunk, { stream: true }));
      }
    },
    end() {
      if (isFinished()) return;
      if (decoder) splitter.push(decoder.decode());
      // An unterminated last line is a packet cut short: it is dropped, like
      // an EventSource drops an event without its blank line.
    },
  };
}

// Splits text into lines ending in LF, CR or CRLF and calls onLine(line) for
// each, without the line ending. Partial lines wait as fragments and are joined
// once, when their end arrives, so the work is linear in the input whatever the
// chunk sizes.
function lineSplitter(onLine, maxLineLength) {
  let fragments = [];
  let pendingLength = 0;
  let started = false; // a leading BOM has been looked for
  let skipLF = false; // the last chunk ended with CR: an LF first in the next one belongs to it

  const flushLine = (text, start, end) => {
    let line = text.slice(start, end);
    if (fragments.length) {
      fragments.push(line);
      line = fragments.join('');
      fragments = [];
      pendingLength = 0;
    }
    if (line.length > maxLineLength) throw new ParseError(`packet larger than ${maxLineLength}`);
    onLine(line);
  };

  const keep = (text, start) => {
    if (start >= text.length) return;
    pendingLength += text.length - start;
    if (pendingLength > maxLineLength) throw new ParseError(`packet larger than ${maxLineLength}`);
    fragments.push(start === 0 ? text : text.slice(start));
  };

  return {
    push(text) {
      if (text.length === 0) return;
      let pos = 0;
      if (!started) {
        started = true;
        if (text.charCodeAt(0) === 0xfeff) pos = 1;
      }
      if (skipLF) {
        skipLF = false;
        if (text.charCodeAt(pos) === LF) pos += 1;
      }
      // Fast path: servers (ours included) end lines with LF alone, and then
      // indexOf finds every line end without looking at each character here.
      if (text.indexOf('\r', pos) === -1) {
        let lf;
        while ((lf = text.indexOf('\n', pos)) !== -1) {
          flushLine(text, pos, lf);
          pos = lf + 1;
        }
        keep(text, pos);
        return;
      }
      // Slow path: CR or CRLF endings (the EventSource rules allow both). The
      // nearer of the next CR and the next LF ends the line.
      let cr = text.indexOf('\r', pos);
      let lf = text.indexOf('\n', pos);
      while (cr !== -1 || lf !== -1) {
        if (lf !== -1 && (cr === -1 || lf < cr)) {
          flushLine(text, pos, lf);
          pos = lf + 1;
        } else {
          flushLine(text, pos, cr);
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
      keep(text, pos);
    },
  };
}

// EventSource field rules (HTML "Interpreting an event stream"), narrowed to
// what Rivulet sends: `id` and `retry` are not needed for one-shot streams.
function sseLines(emit, isFinished, maxPacketSize) {
  let data = '';
  let hasData = false;
  let eventType = '';

  const dispatch = () => {
    const type = eventType;
    const text = data;
    const had = hasData;
    data = '';
    hasData = false;
    eventType = '';
    if (!had) return;
    const packetType = type === '' || type === 'message' ? 'progress' : type;
    if (packetType !== 'progress' && packetType !== 'done' && packetType !== 'error') return;
    const value = parseJSON(text);
    emit(packetType, packetType === 'error' ? errorObject(value) : value);
  };

  return (line) => {
    if (isFinished()) return;
    if (line.length === 0) return dispatch();
    if (line.charCodeAt(0) === 58 /* : */) return;
    const colon = line.indexOf(':');
    let field = line;
    let value = '';
    if (colon !== -1) {
      field = line.slice(0, colon);
      value = line.slice(colon + (line.charCodeAt(colon + 1) === 32 ? 2 : 1));
    }
    if (field === 'data') {
      if (hasData) {
        if (data.length + value.length + 1 > maxPacketSize) {
          throw new ParseError(`packet larger than ${maxPacketSize}`);
        }
        data += '\n' + value;
      } else {
        data = value;
        hasData = true;
      }
    } else if (field === 'event') {
      eventType = value;
    }
  };
}

function ndjsonLines(emit, isFinished) {
  return (line) => {
    if (isFinished()) return;
    if (line.trim() === '') return;
    const value = parseJSON(line);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new ParseError('NDJSON line is not an object');
    }
    const keys = ['progress', 'done', 'error'].filter((key) => Object.hasOwn(value, key));
    if (keys.length !== 1) {
      throw new ParseError('NDJSON line needs exactly one of "progress", "done", "error"');
    }
    const type = keys[0];
    emit(type, type === 'error' ? errorObject(value.error) : value[type]);
  };
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
      if (!err || typeof err !== 'object') throw new ParseError('legacy error packet without "error"');
      const object = { message: String(err.str ?? ''), status: Number(err.type) || 500 };
      if (err.error_id !== undefined) object.error_id = err.error_id;
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
            const digit = hexValue(byte);
            if (digit < 0) throw new ParseError('legacy packet length is not hexadecimal');
            if (++hexDigits > MAX_HEX_DIGITS) throw new ParseError('legacy packet length too long');
            length = length * 16 + digit;
            if (length > maxPacketSize) throw new ParseError(`packet larger than ${maxPacketSize}`);
          }
        } else if (state === TYPE) {
          type = chunk[pos++];
          const known = type === 0x73 || type === 0x61 || (isFinal && type === 0x65);
          if (!known) throw new ParseError(`unknown legacy packet type ${JSON.stringify(String.fromCharCode(type))}`);
          state = isFinal ? FINAL : PAYLOAD;
        } else if (state === PAYLOAD) {
          const end = Math.min(chunk.length, pos + (length - partsLength));
          take(chunk, pos, end);
          pos = end;
        } else {
          // The final payload runs to the end of the response.
          if (partsLength + chunk.length - pos > maxPacketSize) {
            throw new ParseError(`packet larger than ${maxPacketSize}`);
          }
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

let utf8;
function decodeUtf8(bytes) {
  return (utf8 ??= new TextDecoder('utf-8', { ignoreBOM: true })).decode(bytes);
}

// ---------------------------------------------------------------------------

function parseJSON(text) {
  try {
    return JSON.parse(text);
  } catch {
    throw new ParseError(`invalid JSON in packet: ${text.length > 60 ? text.slice(0, 60) + '…' : text}`);
  }
}

// Error packets carry `{ message, status, error_id? }`; clients ignore unknown
// fields and do not trust the rest blindly.
function errorObject(value) {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ParseError('error packet does not hold an error object');
  }
  return {
    ...value,
    message: typeof value.message === 'string' ? value.message : String(value.message ?? ''),
    status: Number.isInteger(value.status) ? value.status : 500,
  };
}
