// Types for jquery.stream.js ($.stream). Importing it (or rivulet-client/jquery)
// adds `stream` to the global jQuery type; stream.d.ts does not.
import type { ErrorType, StreamFormat, StreamXHR } from './stream.js';

type OneOrMany<T> = T | T[];

/** Adds `stream` to the given jQuery and returns it. */
export declare function install<T extends object>($: T): T & { stream: JQueryStreamStatic };

/** The most response text a `$.stream` request keeps before it fails (64 Mi characters). */
export declare const DEFAULT_MAX_RESPONSE_SIZE: number;

/**
 * `$.stream` options: jQuery.ajax's settings (they go through jQuery.ajax, with
 * `$.ajaxSetup`'s defaults), plus the stream's own `format`, `maxPacketSize`
 * and `maxResponseSize`.
 */
export interface JQueryStreamOptions {
  url?: string | undefined;
  /** jQuery's name for `method`. */
  type?: string | undefined;
  method?: string | undefined;
  /** As jQuery.ajax encodes it: a query string for GET, a form body otherwise; FormData, Blob… as they are. */
  data?: string | Record<string, unknown> | unknown[] | FormData | Blob | URLSearchParams | undefined;
  headers?: Record<string, string> | undefined;
  contentType?: string | false | undefined;
  dataType?: string | undefined;
  processData?: boolean | undefined;
  /** jQuery's: for the whole request, in milliseconds (the stream fails with `'timeout'`). */
  timeout?: number | undefined;
  xhrFields?: { withCredentials?: boolean | undefined; [field: string]: unknown } | undefined;
  beforeSend?: ((jqXHR: JQueryStreamXHR, settings: object) => false | void) | undefined;
  /** Asks for SSE or NDJSON (it sets `Accept`); by default the legacy framing, as the original plugin got. */
  format?: StreamFormat | undefined;
  /** The largest packet accepted (default 16 MiB); a larger one fails with `'parsererror'`. */
  maxPacketSize?: number | undefined;
  /** The most response text kept (default 64 Mi characters); a longer response fails with `'error'`. */
  maxResponseSize?: number | undefined;
  /** Any other jQuery.ajax setting (`cache`, `global`, `crossDomain`, `context`, …). */
  [setting: string]: unknown;
}

/**
 * The error object of `$.stream`'s `xhr.responseJSON.error`, as the original
 * plugin's pages read it: `type` (the status) and `str` (the message), beside
 * Rivulet's own fields. For an error packet `status` is `'Stream Error'`; for
 * an HTTP error it is the status number.
 */
export interface HazaarErrorObject {
  type: number;
  str: string;
  status: 'Stream Error' | number;
  message: string;
  error_id?: string;
  [field: string]: unknown;
}

/** The jqXHR that `$.stream`'s error callbacks receive. */
export interface JQueryStreamXHR extends Omit<StreamXHR, 'responseJSON'> {
  responseJSON?: { ok?: false; error?: HazaarErrorObject; [field: string]: unknown } | undefined;
  setRequestHeader(name: string, value: string): unknown;
}

type JQueryFailCallback = (xhr: JQueryStreamXHR, errorType: ErrorType, message: string) => void;

/**
 * What `$.stream` returns: a jQuery promise (so `then` and `always` behave as
 * jQuery's) with the stream's own methods and a few of jqXHR's.
 */
export interface JQueryStream<P = any, F = any> {
  progress(...callbacks: OneOrMany<(data: P) => void>[]): this;
  done(...callbacks: OneOrMany<(data: F, textStatus: 'success', jqXHR: JQueryStreamXHR) => void>[]): this;
  fail(...callbacks: OneOrMany<JQueryFailCallback>[]): this;
  error(...callbacks: OneOrMany<JQueryFailCallback>[]): this;
  /** After done (data, 'success', jqXHR) or fail (jqXHR, errorType, message). */
  always(...callbacks: OneOrMany<(dataOrXhr: any, textStatus?: 'success' | ErrorType, jqXHROrMessage?: any) => void>[]): this;
  uploadProgress(...callbacks: OneOrMany<(event: ProgressEvent) => void>[]): this;
  abort(): this;
  state(): 'pending' | 'resolved' | 'rejected';
  getResponseHeader(name: string): string | null;
  getAllResponseHeaders(): string;
  readonly readyState: number;
  readonly status: number;
  readonly statusText: string;
  /** The request's jqXHR. */
  readonly xhr: JQueryStreamXHR;
  /** jQuery's then: returns a new jQuery promise. */
  then(
    onDone?: ((data: F, textStatus: 'success', jqXHR: JQueryStreamXHR) => any) | null,
    onFail?: ((xhr: JQueryStreamXHR, errorType: ErrorType, message: string) => any) | null,
    onProgress?: ((data: P) => any) | null,
  ): PromiseLike<any>;
  catch(onFail: (xhr: JQueryStreamXHR, errorType: ErrorType, message: string) => any): PromiseLike<any>;
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
