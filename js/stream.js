// Rivulet browser client: read a stream of packets from one HTTP response.
//
//   import { createStream } from '/rivulet/stream.js';
//   createStream('/stream/process')
//     .progress((data) => console.log('progress', data))
//     .done((final) => console.log('done', final))
//     .error((xhr, errorType, message) => console.error(errorType, message))
//     .start();
//
// `for await (const data of createStream(url))` yields the progress packets,
// and `await createStream(url)` gives the final one: the client is a thenable.
// The wire formats are decoded by ./parser.js; see docs/protocol.md.
//
// A resumable stream or a live feed (its response names it in
// `Rivulet-Stream-Id`) survives a dropped connection: the client reconnects
// with backoff and jitter and resumes after the last packet it got
// (options.reconnect). `lastEventId()`
// gives the point to resume from, which a page can keep to resume after a
// reload (options.lastEventId).
//
// A browser opens at most 6 HTTP/1.1 connections per origin and queues the
// rest silently, so a stream whose response head does not come within
// options.connectTimeout fails with 'timeout' and says why. With
// options.shareAcrossTabs the tabs of one origin share one connection for a
// GET stream (./share.js, loaded only then).

import { CONTENT_TYPES, createParser, formatFromContentType, ParseError } from './parser.js';
import { createCallbacks } from './callbacks.js';
import { createResume, packetsIn } from './resume.js';
import { fetchTransport, MAX_ERROR_BODY, readPrefix, xhrTransport } from './transport.js';

export { createParser, formatFromContentType, ParseError, DEFAULT_MAX_PACKET_SIZE } from './parser.js';
export { DEFAULT_RECONNECT, MAX_SHORT_CONNECTIONS } from './resume.js';
export { MAX_ERROR_BODY } from './transport.js';

// A client asks for a format by its Content-Type.
const ACCEPT = CONTENT_TYPES;

/** The reason a stream failed, as one value: what `await` and `for await` throw. */
export class StreamError extends Error {
  constructor(xhr, errorType, message) {
    super(message || errorType);
    this.name = 'StreamError';
    this.xhr = xhr;
    this.errorType = errorType;
    this.status = xhr.status;
    this.responseJSON = xhr.responseJSON;
  }
}

/** Milliseconds until a response head must arrive unless options.connectTimeout says otherwise. */
export const DEFAULT_CONNECT_TIMEOUT = 10_000;

/** What a stream that got no response head within `ms` reports. */
export const connectTimeoutMessage = (ms) =>
  `no response within ${ms} ms: over HTTP/1.1 a browser opens at most 6 connections per origin ` +
  'and queues the other requests; serve HTTP/2, share the stream across tabs (shareAcrossTabs) or open fewer streams';

/**
 * Creates a stream client for `url`. Nothing is sent until `start()` (or
 * `await`, `then`, `for await`).
 */
export function createStream(url, options = {}) {
  const request = prepareRequest(url, options);
  // An upload may take long before its response: a request with a body gets
  // a deadline only when asked for, and its upload progress stops the clock.
  const connectTimeout = options.connectTimeout ?? (request.body === null ? DEFAULT_CONNECT_TIMEOUT : 0);
  if (!(connectTimeout >= 0)) throw new TypeError('createStream: connectTimeout must be a number >= 0');
  const share = options.shareAcrossTabs && shareable(request);
  const resume = createResume(options.reconnect, options.lastEventId);
  let connection = 0; // numbers the transports; only the latest one reports
  const callbacks = createCallbacks(['progress', 'done', 'error', 'uploadProgress', 'always'], () => client);
  const iterators = new Set();
  // What jQuery's jqXHR offers, for error callbacks. The streamed body is not
  // kept (memory stays flat); responseText holds an HTTP error's body only.
  const xhr = {
    readyState: 0,
    status: 0,
    statusText: '',
    responseText: '',
    responseJSON: undefined,
    getResponseHeader: () => null,
    getAllResponseHeaders: () => '',
    abort: () => client.abort(),
  };
  let state = 'pending'; // then 'running', 'resolved' or 'rejected'
  let result; // the arguments of done() or error() once settled
  let parser;
  let stopTransport;
  let finalPacket = false; // settled by the stream's own final packet
  let idleTimer;
  let connectTimer;
  let promise;
  // While shared across tabs: ./share.js's side of it. This client reports
  // what its own connection receives to `shared` (relayed when this tab holds
  // the connection), and is fed what another tab's connection received.
  let shared;

  const settled = () => state === 'resolved' || state === 'rejected';

  const add = (name, fns) => {
    callbacks.add(name, fns);
    return client;
  };

  const settle = (newState, args) => {
    if (settled()) return;
    state = newState;
    result = args;
    xhr.readyState = 4;
    clearTimeout(idleTimer);
    clearTimeout(connectTimer);
    clearTimeout(resume.timer);
    options.signal?.removeEventListener('abort', onSignal);
    // After a final packet the transport reads the response to its end rather
    // than abort it (a finished stream must not show as failed in the
    // browser's network panel); otherwise it aborts.
    stopTransport?.(finalPacket);
    shared?.settled(newState, args);
    callbacks.fire(newState === 'resolved' ? 'done' : 'error', args);
    callbacks.fire('always', args);
    for (const it of iterators) it.wake();
  };
  const resolve = (data) => settle('resolved', [data]);
  const reject = (errorType, message) => settle('rejected', [xhr, errorType, message]);
  const onSignal = () => reject('abort', 'abort');

  const armIdleTimer = () => {
    if (!(options.timeout > 0) || settled()) return;
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => reject('timeout', 'timeout'), options.timeout);
  };

  const onPacket = (packet) => {
    // One chunk can hold many packets; after abort() in a callback, or after
    // the final packet, the rest of the chunk is dropped.
    if (settled()) return;
    // In a resumable SSE stream the id says the packet's number: a server
    // may send again what the client has (a lying or confused one does).
    if (!resume.count(packet.id, packet.type === 'progress' ? packet.data : undefined)) return;
    if (packet.type === 'progress') {
      shared?.progress(packet.data, lastEventId());
      callbacks.fire('progress', [packet.data]);
      for (const it of iterators) it.push(packet.data);
    } else if (packet.type === 'done') {
      finalPacket = true;
      resolve(packet.data);
    } else {
      finalPacket = true;
      xhr.responseJSON = { error: packet.data };
      reject('error', packet.data.message);
    }
  };

  // After a dropped connection of a resumable stream: true when another one
  // is on its way (after a backoff delay with jitter), false to give up.
  const retry = () => {
    const next = settled() ? undefined : resume.next();
    if (!next) return false;
    if (next.fail) {
      reject('error', next.fail);
      return true;
    }
    connection += 1; // what the dropped transport still reports is ignored
    clearTimeout(connectTimer);
    stopTransport?.();
    xhr.readyState = 1;
    resume.timer = setTimeout(connect, next.wait);
    return true;
  };
  const lastEventId = resume.point;

  // What a transport reports to; every method is a no-op once settled.
  const sink = {
    get closed() {
      return settled();
    },
    // Returns true when the body is a stream to feed to chunk(), false when it
    // is an HTTP error to read whole and pass to httpError().
    response(status, statusText, getHeader, getAllHeaders) {
      if (settled()) return false;
      clearTimeout(connectTimer);
      armIdleTimer();
      Object.assign(xhr, {
        readyState: 2,
        status,
        statusText,
        getResponseHeader: (name) => getHeader(name),
        getAllResponseHeaders: getAllHeaders,
      });
      if (status < 200 || status > 299) return false;
      if (status === 204 && resume.id) {
        reject('error', 'the stream can no longer be resumed');
        return false;
      }
      resume.response(getHeader);
      const contentType = getHeader('Content-Type');
      const format = contentType ? formatFromContentType(contentType) : request.format;
      if (!format) {
        reject('parsererror', `unexpected Content-Type: ${contentType}`);
        return false;
      }
      parser = createParser({ format, onPacket, maxPacketSize: options.maxPacketSize, ids: Boolean(resume.id) });
      xhr.readyState = 3;
      shared?.response(status, statusText, getAllHeaders());
      return true;
    },
    chunk(data) {
      if (settled()) return;
      armIdleTimer();
      guard(() => parser.feed(data));
    },
    end() {
      if (settled()) return;
      try {
        parser.end();
      } catch (err) {
        // A resumable stream cut inside its (legacy) final packet resumes.
        if (!(err instanceof ParseError)) throw err;
        if (!retry()) reject('parsererror', err.message);
        return;
      }
      if (settled() || retry()) return;
      reject('error', 'stream ended without a final packet');
    },
    httpError(text) {
      if (settled()) return;
      // A server that is restarting or overloaded while a stream resumes.
      if (resume.attempt > 0 && [502, 503, 504].includes(xhr.status) && retry()) return;
      xhr.responseText = text;
      try {
        xhr.responseJSON = JSON.parse(text);
      } catch {
        // Not JSON (a proxy's HTML page, say): responseJSON stays undefined.
      }
      const message = xhr.responseJSON?.error?.message;
      reject('error', typeof message === 'string' ? message : xhr.statusText || `HTTP ${xhr.status}`);
    },
    fail(err) {
      if (settled() || retry()) return;
      reject('error', err?.message || 'network error');
    },
    upload(event) {
      if (settled()) return;
      clearTimeout(connectTimer); // it has a connection
      armIdleTimer();
      callbacks.fire('uploadProgress', [event]);
    },
  };
  const guard = (fn) => {
    try {
      fn();
    } catch (err) {
      if (!(err instanceof ParseError)) throw err;
      reject('parsererror', err.message);
    }
  };

  // Each transport gets a view of the sink that goes quiet once a newer
  // connection has replaced it.
  let transport;
  const connect = () => {
    const current = ++connection;
    const live = () => current === connection;
    const view = {
      get closed() {
        return settled() || !live();
      },
      response: (...args) => live() && sink.response(...args),
      chunk: (data) => live() && sink.chunk(data),
      end: () => live() && sink.end(),
      httpError: (text) => live() && sink.httpError(text),
      fail: (err) => live() && sink.fail(err),
      upload: (event) => live() && sink.upload(event),
    };
    let sent = request;
    if (resume.id) {
      const headers = new Headers(request.headers);
      headers.set('Last-Event-ID', lastEventId());
      sent = { ...request, headers };
    }
    clearTimeout(connectTimer);
    if (connectTimeout > 0) {
      connectTimer = setTimeout(() => live() && reject('timeout', connectTimeoutMessage(connectTimeout)), connectTimeout);
    }
    stopTransport = transport(sent, view);
  };

  // What ./share.js calls: connect() once this tab holds the connection, the
  // others to replay what the holding tab's connection received.
  const follow = {
    connect,
    response: sink.response,
    progress(data, point) {
      if (settled()) return;
      armIdleTimer();
      if (point) {
        resume.from(point); // where the holder's stream is, so lastEventId() in callbacks is right
        resume.received -= packetsIn(data); // onPacket counts this packet
      }
      onPacket({ type: 'progress', data });
    },
    settle(newState, args) {
      if (newState === 'resolved') return resolve(args[0]);
      Object.assign(xhr, args[0]);
      reject(args[1], args[2]);
    },
  };

  const client = {
    progress: (...fns) => add('progress', fns),
    done: (...fns) => add('done', fns),
    error: (...fns) => add('error', fns),
    fail: (...fns) => add('error', fns),
    uploadProgress: (...fns) => add('uploadProgress', fns),
    always: (...fns) => add('always', fns),

    /** 'pending' before start, 'running', then 'resolved' or 'rejected'. */
    state: () => state,

    /**
     * Where a resumable stream would resume: `<stream id>.<packets received>`,
     * or undefined for a stream that is not resumable (or before its response).
     */
    lastEventId,

    start() {
      if (state !== 'pending') return client;
      if (options.signal?.aborted) return client.abort();
      state = 'running';
      xhr.readyState = 1;
      options.signal?.addEventListener('abort', onSignal, { once: true });
      armIdleTimer();
      // fetch cannot report upload progress, so XMLHttpRequest is used when
      // someone listens for it.
      const xhrAvailable = typeof XMLHttpRequest === 'function'; // not in Node, Deno or workers
      transport = callbacks.has('uploadProgress') && xhrAvailable ? xhrTransport : fetchTransport;
      if (!share) connect();
      else {
        import('./share.js').then(
          (module) => settled() || (shared = module.shareAcrossTabs(request, follow)),
          (err) => sink.fail(err),
        );
      }
      return client;
    },

    abort() {
      reject('abort', 'abort');
      return client;
    },

    /**
     * Disconnects and tells the server to stop the job: DELETE on the
     * stream's URL with its resume point in Last-Event-ID (docs/protocol.md).
     * Resolves true when a running stream was told to stop (202), false when
     * nothing ran under that id (204) or the stream is not resumable or has
     * ended; rejects with a StreamError for any other answer.
     */
    cancel() {
      const point = finalPacket ? undefined : lastEventId();
      client.abort();
      if (!point) return Promise.resolve(false);
      const headers = new Headers(request.headers);
      headers.delete('Content-Type');
      headers.set('Last-Event-ID', point);
      const failed = (status, statusText, text, message) => {
        const x = { ...xhr, readyState: 4, status, statusText, responseText: text, responseJSON: undefined };
        try {
          x.responseJSON = JSON.parse(text);
        } catch {
          // Not JSON: responseJSON stays undefined.
        }
        throw new StreamError(x, 'error', x.responseJSON?.error?.message ?? message);
      };
      return fetch(request.url, { method: 'DELETE', headers, credentials: request.credentials, cache: 'no-store' }).then(
        async (response) => {
          const text = await readPrefix(response, MAX_ERROR_BODY);
          if (response.status === 202 || response.status === 204) return response.status === 202;
          return failed(response.status, response.statusText, text, `cancel: HTTP ${response.status}`);
        },
        (err) => failed(0, '', '', err?.message || 'network error'),
      );
    },

    then(onDone, onError) {
      client.start();
      promise ??= new Promise((res, rej) => {
        add('done', [res]);
        add('error', [(x, errorType, message) => rej(new StreamError(x, errorType, message))]);
      });
      return promise.then(onDone, onError);
    },
    catch: (onError) => client.then(undefined, onError),
    finally: (fn) => client.then().finally(fn),

    [Symbol.asyncIterator]() {
      client.start();
      const queue = [];
      const waiters = [];
      const wake = () => {
        for (const resume of waiters.splice(0)) resume();
      };
      const it = {
        push(data) {
          queue.push(data);
          wake();
        },
        wake,
      };
      iterators.add(it);
      return {
        async next() {
          while (!queue.length && !settled()) await new Promise((r) => waiters.push(r));
          if (queue.length) return { value: queue.shift(), done: false };
          iterators.delete(it);
          if (state === 'rejected') throw new StreamError(...result);
          return { value: undefined, done: true };
        },
        // Leaving a for-await loop early (break, return, throw) aborts the stream.
        async return() {
          iterators.delete(it);
          client.abort();
          return { value: undefined, done: true };
        },
        [Symbol.asyncIterator]() {
          return this;
        },
      };
    },
  };
  return client;
}

// Sharing needs the Web Locks API and BroadcastChannel (not in Node, say);
// without them a stream has its own connection.
function shareable(request) {
  if (request.method !== 'GET' || request.body !== null) {
    throw new TypeError('createStream: shareAcrossTabs is for GET streams without a body');
  }
  return typeof navigator !== 'undefined' && !!navigator.locks && typeof BroadcastChannel === 'function';
}

function prepareRequest(url, options) {
  const format = options.format ?? 'sse';
  if (!ACCEPT[format]) throw new TypeError(`createStream: unknown format ${JSON.stringify(format)}`);
  const headers = new Headers(options.headers);
  if (!headers.has('Accept')) headers.set('Accept', ACCEPT[format]);
  if (format === 'legacy' && !headers.has('X-Request-Type')) headers.set('X-Request-Type', 'stream');
  let body = options.body ?? null;
  if (isPlainData(body)) {
    body = JSON.stringify(body);
    if (!headers.has('Content-Type')) headers.set('Content-Type', 'application/json');
  }
  const method = (options.method ?? (body === null ? 'GET' : 'POST')).toUpperCase();
  return { url: String(url), method, headers, body, credentials: options.credentials, format };
}

// Plain objects and arrays are sent as JSON; FormData, Blob, URLSearchParams,
// ArrayBuffer and strings go as they are.
function isPlainData(value) {
  if (value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) return true;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
