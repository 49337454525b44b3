// Types for the Rivulet browser client: stream.js (createStream) and parser.js
// (createParser); jquery.stream.js ($.stream) has its own in
// jquery.stream.d.ts, so importing this module leaves the global jQuery type
// as it is. The wire protocol they read is described in docs/protocol.md.

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
  method?: string | undefined;
  /** Sent with the request; an `Accept` given here replaces the one `format` picks. */
  headers?: HeadersInit | undefined;
  /**
   * The request body. A plain object or array is sent as JSON
   * (`Content-Type: application/json`); the other kinds as fetch sends them.
   */
  body?: string | FormData | Blob | URLSearchParams | ArrayBuffer | ArrayBufferView | Record<string, unknown> | unknown[] | null | undefined;
  /** As for fetch (`'omit' | 'same-origin' | 'include'`). */
  credentials?: RequestCredentials | undefined;
  /** Idle timeout in milliseconds: fails with `'timeout'` when nothing arrives for this long. */
  timeout?: number | undefined;
  /** Aborting the signal aborts the stream (errorType `'abort'`). */
  signal?: AbortSignal | undefined;
  /**
   * The format asked for (default `'sse'`): it sets `Accept`
   * (`text/event-stream`, `application/x-ndjson`) or, for `'legacy'`,
   * `X-Request-Type: stream`. The response is decoded by its `Content-Type`
   * whatever was asked; without one, by this format.
   */
  format?: StreamFormat | undefined;
  /** The largest packet accepted (default 16 MiB); a larger one fails with `'parsererror'`. */
  maxPacketSize?: number | undefined;
  /**
   * For resumable streams and live feeds (the response carries `Rivulet-Stream-Id`): after a
   * dropped connection or a body that ends before the final packet, reconnect
   * with `Last-Event-ID` and go on after the last packet received. On by
   * default ({@link DEFAULT_RECONNECT}); `false` turns it off. The wait before
   * attempt n is random between half and all of `min(maxDelay, delay * 2^(n-1))`
   * ms; every packet that arrives starts the count again. Never after a final
   * packet, an HTTP error, or bad framing.
   */
  reconnect?: boolean | ReconnectOptions | undefined;
  /**
   * Resume a stream instead of starting one: a value `lastEventId()` returned
   * earlier (kept in `sessionStorage` across a page reload, say). A stream
   * that can no longer be resumed fails with the message
   * `'the stream can no longer be resumed'`.
   */
  lastEventId?: string | undefined;
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
  connectTimeout?: number | undefined;
  /**
   * For GET streams without a body: the tabs of this origin that open the same
   * stream (same URL, headers and credentials) share one connection. One tab
   * holds it and relays its packets to the others (Web Locks API and
   * BroadcastChannel); when that tab closes or aborts, another takes over,
   * resuming after the last packet if the stream is resumable and opening it
   * anew otherwise. The callbacks behave as for an own connection. Where the
   * APIs are missing (Node, say) the stream has its own connection.
   */
  shareAcrossTabs?: boolean | undefined;
}

/** How a resumable stream reconnects. */
export interface ReconnectOptions {
  /** Attempts in a row without a packet before giving up (default 8). */
  retries?: number | undefined;
  /** Milliseconds before the first attempt, doubled for each next one (default 500). */
  delay?: number | undefined;
  /** The longest wait in milliseconds (default 15000). */
  maxDelay?: number | undefined;
}

/** Milliseconds until a response head must arrive unless `options.connectTimeout` changes it: 10000. */
export const DEFAULT_CONNECT_TIMEOUT: number;

/** The message of a stream that got no response head within `ms` milliseconds. */
export function connectTimeoutMessage(ms: number): string;

/** The reconnect settings used unless `options.reconnect` changes them. */
export const DEFAULT_RECONNECT: { readonly retries: number; readonly delay: number; readonly maxDelay: number };

/** How much of an HTTP error's body the client reads: 64 KiB (the rest is not read). */
export const MAX_ERROR_BODY: number;

/** Connections in a row that may drop after one new packet each before a resumable stream gives up (10). */
export const MAX_SHORT_CONNECTIONS: number;

export type ProgressCallback<P = any> = (this: RivuletStream<P>, data: P) => void;
export type DoneCallback<F = any> = (this: RivuletStream, data: F) => void;
export type ErrorCallback = (this: RivuletStream, xhr: StreamXHR, errorType: ErrorType, message: string) => void;
export type UploadProgressCallback = (this: RivuletStream, event: ProgressEvent) => void;
/**
 * After done, with its one argument; after an error, with error's three. The
 * first is typed `any` as it is either.
 */
export type AlwaysCallback = (this: RivuletStream, dataOrXhr: any, errorType?: ErrorType, message?: string) => void;

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
  /**
   * Ends the request as `abort()` does and tells the server to stop the job:
   * `DELETE` on the stream's URL (with its headers and credentials) carrying
   * the resume point in `Last-Event-ID`. `abort()` only disconnects, so a
   * resumable job goes on; `cancel()` stops it. Resolves `true` when the
   * server told a running stream to stop (202), `false` when nothing ran
   * under that id (204), when the stream is not resumable (no
   * `Rivulet-Stream-Id` seen: no request is sent) or got its final packet;
   * rejects with a {@link StreamError} for any other answer or a network failure.
   */
  cancel(): Promise<boolean>;
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

export type Packet = (
  | { type: 'progress'; data: any }
  | { type: 'done'; data: any }
  | { type: 'error'; data: RivuletErrorObject }
) & {
  /** The SSE event's own `id` field, with `ids: true` only. */
  id?: string;
};

export interface ParserOptions {
  /** Default `'sse'`. */
  format?: StreamFormat;
  /** Called once per complete packet, in order. */
  onPacket(packet: Packet): void;
  /** Default 16 MiB: bytes for legacy, characters for SSE and NDJSON. */
  maxPacketSize?: number;
  /** Give SSE packets their event's own `id` field (default false). */
  ids?: boolean;
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
