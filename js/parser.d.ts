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
} from './stream.js';
