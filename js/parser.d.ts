// Types for parser.js; they are written once, in stream.d.ts.
export {
  createParser,
  formatFromContentType,
  ParseError,
  DEFAULT_MAX_PACKET_SIZE,
  Packet,
  Parser,
  ParserOptions,
  StreamFormat,
  RivuletErrorObject,
  ParseErrorKind,
} from './stream.js';

/** The media type of each wire format, shared by the parser and the stream client. */
export declare const CONTENT_TYPES: Readonly<{ sse: string; ndjson: string; legacy: string }>;
