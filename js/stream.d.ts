// Types for the Rivulet browser client: stream.js (createStream), parser.js
// (createParser) and jquery.stream.js ($.stream). The wire protocol they read
// is described in docs/protocol.md.

/** The three wire formats. */
export type StreamFormat = 'sse' | 'ndjson' | 'legacy';

/** jQuery's words for why a request failed. */
export type ErrorType = 'error' | 'timeout' | 'abort' | 'parsererror';

/** The error object of an error packet or of an HTTP error body `{"error": …}`. */
export interface RivuletErrorObject {
  /** Text meant for the user. */
  message: string;
  /** An HTTP status classifying the error (422, 500, 503, …). */
  status: number;
  /** Present for internal errors; the same id is in the server's log. */
  error_id?: string;
  [field: string]: unknown;
}

/**
 * What error callbacks receive first, shaped like jQuery's jqXHR. The streamed
 * body is not kept: `responseText` holds the body of an HTTP error only.
 */
export interface StreamXHR {
  /** 0 before start, 1 sent, 2 headers received, 3 streaming, 4 settled. */
  readyState: 0 | 1 | 2 | 3 | 4;
  /** The HTTP status, or 0 when no response came (network failure, abort before headers). */
  status: number;
  statusText: string;
  responseText: string;
  /**
   * `{error: RivuletErrorObject}` after an error packet or an HTTP error with
   * a JSON body; otherwise the parsed error body, or undefined.
   */
  responseJSON?: { error?: RivuletErrorObject; [field: string]: unknown };
  getResponseHeader(name: string): string | null;
  getAllResponseHeaders(): string;
  abort(): void;
}

export interface StreamOptions {
  /** Default: `'GET'`, or `'POST'` when there is a body. */
  method?: string;
  /** Sent with the request; an `Accept` given here replaces the one `format` picks. */
  headers?: HeadersInit;
  /**
   * The request body. A plain object or array is sent as JSON
   * (`Content-Type: application/json`); the other kinds as fetch sends them.
   */
  body?: string | FormData | Blob | URLSearchParams | ArrayBuffer | ArrayBufferView | Record<string, unknown> | unknown[] | null;
  /** As for fetch (`'omit' | 'same-origin' | 'include'`). */
  credentials?: RequestCredentials;
  /** Idle timeout in milliseconds: fails with `'timeout'` when nothing arrives for this long. */
  timeout?: number;
  /** Aborting the signal aborts the stream (errorType `'abort'`). */
  signal?: AbortSignal;
  /**
   * The format asked for (default `'sse'`): it sets `Accept`
   * (`text/event-stream`, `application/x-ndjson`) or, for `'legacy'`,
   * `X-Request-Type: stream`. The response is decoded by its `Content-Type`
   * whatever was asked; without one, by this format.
   */
  format?: StreamFormat;
  /** The largest packet accepted (default 16 MiB); a larger one fails with `'parsererror'`. */
  maxPacketSize?: number;
  /**
   * For resumable streams (the response carries `Rivulet-Stream-Id`): after a
   * dropped connection or a body that ends before the final packet, reconnect
   * with `Last-Event-ID` and go on after the last packet received. On by
   * default ({@link DEFAULT_RECONNECT}); `false` turns it off. The wait before
   * attempt n is random between half and all of `min(maxDelay, delay * 2^(n-1))`
   * ms; every packet that arrives starts the count again. Never after a final
   * packet, an HTTP error, or bad framing.
   */
  reconnect?: boolean | ReconnectOptions;
  /**
   * Resume a stream instead of starting one: a value `lastEventId()` returned
   * earlier (kept in `sessionStorage` across a page reload, say). A stream
   * that can no longer be resumed fails with the message
   * `'the stream can no longer be resumed'`.
   */
  lastEventId?: string;
  /**
   * Milliseconds until the response head must arrive, for each connection
   * (reconnects of a resumable stream too); default
   * {@link DEFAULT_CONNECT_TIMEOUT} (10 s) for a request without a body, none
   * for one with a body (its upload may take long; upload progress stops the
   * clock); `0` waits for ever. A stream that gets no head in time fails with
   * `'timeout'` and a message naming the likely cause: over HTTP/1.1 a browser
   * opens at most 6 connections per origin and queues the other requests
   * without a word.
   */
  connectTimeout?: number;
  /**
   * For GET streams without a body: the tabs of this origin that open the same
   * stream (same URL, headers and credentials) share one connection. One tab
   * holds it and relays its packets to the others (Web Locks API and
   * BroadcastChannel); when that tab closes or aborts, another takes over,
   * resuming after the last packet if the stream is resumable and opening it
   * anew otherwise. The callbacks behave as for an own connection. Where the
   * APIs are missing (Node, say) the stream has its own connection.
   */
  shareAcrossTabs?: boolean;
}

/** How a resumable stream reconnects. */
export interface ReconnectOptions {
  /** Attempts in a row without a packet before giving up (default 8). */
  retries?: number;
  /** Milliseconds before the first attempt, doubled for each next one (default 500). */
  delay?: number;
  /** The longest wait in milliseconds (default 15000). */
  maxDelay?: number;
}

/** Milliseconds until a response head must arrive unless `options.connectTimeout` changes it: 10000. */
export const DEFAULT_CONNECT_TIMEOUT: number;

/** The message of a stream that got no response head within `ms` milliseconds. */
export function connectTimeoutMessage(ms: number): string;

/** The reconnect settings used unless `options.reconnect` changes them. */
export const DEFAULT_RECONNECT: Readonly<Required<ReconnectOptions>>;

export type ProgressCallback<P = any> = (this: RivuletStream<P>, data: P) => void;
export type DoneCallback<F = any> = (this: RivuletStream, data: F) => void;
export type ErrorCallback = (this: RivuletStream, xhr: StreamXHR, errorType: ErrorType, message: string) => void;
export type UploadProgressCallback = (this: RivuletStream, event: ProgressEvent) => void;
export type AlwaysCallback = (this: RivuletStream, ...args: [data: any] | [xhr: StreamXHR, errorType: ErrorType, message: string]) => void;

type OneOrMany<T> = T | T[];

/**
 * A stream client. Nothing is sent until `start()`, `then()` (so `await`) or
 * `for await`. Callbacks follow jQuery's Deferred: several per event, run in
 * the order added, and one added after its event runs at once (progress ones
 * with the latest packet).
 *
 * @typeParam P the progress packets' type
 * @typeParam F the final packet's type
 */
export interface RivuletStream<P = any, F = any> extends PromiseLike<F>, AsyncIterable<P> {
  /** Each progress packet, with its JSON shape. */
  progress(...callbacks: OneOrMany<ProgressCallback<P>>[]): this;
  /** The final packet. */
  done(...callbacks: OneOrMany<DoneCallback<F>>[]): this;
  /** An HTTP error, network failure, error packet, idle timeout, abort, truncated stream or bad framing. */
  error(...callbacks: OneOrMany<ErrorCallback>[]): this;
  /** The same as `error`. */
  fail(...callbacks: OneOrMany<ErrorCallback>[]): this;
  /**
   * Upload progress of the request body. Register it before `start()`: the
   * request then goes over XMLHttpRequest, as fetch cannot report it.
   */
  uploadProgress(...callbacks: OneOrMany<UploadProgressCallback>[]): this;
  /** After done (with its argument) or error (with its three). */
  always(...callbacks: OneOrMany<AlwaysCallback>[]): this;
  /** Sends the request; later calls do nothing. */
  start(): this;
  /** Ends the request; error callbacks run with errorType `'abort'`. Nothing happens once settled. */
  abort(): this;
  /** `'pending'` before start, `'running'`, then `'resolved'` or `'rejected'`. */
  state(): 'pending' | 'running' | 'resolved' | 'rejected';
  /**
   * For a resumable stream, where it would resume: `<stream id>.<packets
   * received>` (pass it as `options.lastEventId` to resume after a reload);
   * otherwise undefined.
   */
  lastEventId(): string | undefined;
  /** Starts the stream; resolves with the final packet, rejects with a {@link StreamError}. */
  then<A = F, B = never>(
    onDone?: ((data: F) => A | PromiseLike<A>) | null,
    onError?: ((error: StreamError) => B | PromiseLike<B>) | null,
  ): Promise<A | B>;
  catch<B = never>(onError?: ((error: StreamError) => B | PromiseLike<B>) | null): Promise<F | B>;
  finally(onFinally?: (() => void) | null): Promise<F>;
  /**
   * Starts the stream and yields the progress packets that arrive from now on;
   * ends at the final packet (read it with `await`), throws a
   * {@link StreamError} on failure. Leaving the loop early aborts the stream.
   */
  [Symbol.asyncIterator](): AsyncIterator<P, undefined>;
}

/** Creates a stream client for `url`. */
export function createStream<P = any, F = any>(url: string | URL, options?: StreamOptions): RivuletStream<P, F>;

/** Why a stream failed: what `await` and `for await` throw. */
export class StreamError extends Error {
  constructor(xhr: StreamXHR, errorType: ErrorType, message: string);
  readonly name: 'StreamError';
  readonly xhr: StreamXHR;
  readonly errorType: ErrorType;
  readonly status: number;
  readonly responseJSON: StreamXHR['responseJSON'];
}

// ---------------------------------------------------------------------------
// parser.js (also re-exported by stream.js)

export type Packet =
  | { type: 'progress'; data: any }
  | { type: 'done'; data: any }
  | { type: 'error'; data: RivuletErrorObject };

export interface ParserOptions {
  /** Default `'sse'`. */
  format?: StreamFormat;
  /** Called once per complete packet, in order. */
  onPacket(packet: Packet): void;
  /** Default 16 MiB: bytes for legacy, characters for SSE and NDJSON. */
  maxPacketSize?: number;
}

export interface Parser {
  /** The next piece of the body, of any size; text is taken as already decoded. Throws {@link ParseError}. */
  feed(chunk: Uint8Array | string): void;
  /** The body has ended: delivers legacy's final packet, drops an unterminated one. Throws {@link ParseError}. */
  end(): void;
}

export function createParser(options: ParserOptions): Parser;

/** The format a Content-Type names, or undefined. */
export function formatFromContentType(contentType: string | null | undefined): StreamFormat | undefined;

/** Thrown by a parser for bad framing, bad JSON or a packet over the size limit. */
export class ParseError extends Error {
  constructor(kind: ParseErrorKind, message: string);
  readonly name: 'ParseError';
  /** The Rust `DecodeError` variant for the same input (docs/protocol.md). */
  readonly kind: ParseErrorKind;
}

/** Why a parser refused its input. */
export type ParseErrorKind = 'json' | 'malformed' | 'too_large';

export const DEFAULT_MAX_PACKET_SIZE: number;

// ---------------------------------------------------------------------------
// jquery.stream.js

/** `$.stream` options: jQuery.ajax's usual names, plus those of createStream. */
export interface JQueryStreamOptions extends StreamOptions {
  url?: string;
  /** jQuery's name for `method`. */
  type?: string;
  /** A query string for GET and HEAD, a form body for other methods (FormData, Blob… as they are). */
  data?: string | Record<string, unknown> | unknown[] | FormData | Blob | URLSearchParams;
  /** `{withCredentials: true}` means `credentials: 'include'`. */
  xhrFields?: { withCredentials?: boolean };
}

/**
 * What `$.stream` returns: a jQuery promise (so `then` and `always` behave as
 * jQuery's) with the stream's own methods.
 */
export interface JQueryStream<P = any, F = any> {
  progress(...callbacks: OneOrMany<(data: P) => void>[]): this;
  done(...callbacks: OneOrMany<(data: F, textStatus: 'success', client: RivuletStream<P, F>) => void>[]): this;
  fail(...callbacks: OneOrMany<(xhr: StreamXHR, errorType: ErrorType, message: string) => void>[]): this;
  error(...callbacks: OneOrMany<(xhr: StreamXHR, errorType: ErrorType, message: string) => void>[]): this;
  always(...callbacks: OneOrMany<(...args: any[]) => void>[]): this;
  uploadProgress(...callbacks: OneOrMany<(event: ProgressEvent) => void>[]): this;
  abort(): this;
  state(): 'pending' | 'resolved' | 'rejected';
  /** jQuery's then: returns a new jQuery promise. */
  then(
    onDone?: ((data: F, textStatus: 'success', client: RivuletStream<P, F>) => any) | null,
    onFail?: ((xhr: StreamXHR, errorType: ErrorType, message: string) => any) | null,
    onProgress?: ((data: P) => any) | null,
  ): PromiseLike<any>;
  catch(onFail: (xhr: StreamXHR, errorType: ErrorType, message: string) => any): PromiseLike<any>;
}

export interface JQueryStreamStatic {
  <P = any, F = any>(url: string | URL, options?: JQueryStreamOptions): JQueryStream<P, F>;
  <P = any, F = any>(options: JQueryStreamOptions & { url: string }): JQueryStream<P, F>;
}

declare global {
  interface JQueryStatic {
    /** Added by rivulet-client's jquery.stream.js. */
    stream: JQueryStreamStatic;
  }
}
