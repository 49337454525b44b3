// $.stream(url, options) for pages written for the original jQuery plugin.
//
//   <script src="/js/jquery.min.js"></script>
//   <script type="module" src="/rivulet/jquery.stream.js"></script>
//   <script type="module">
//     $.stream('/stream/process', { type: 'POST', data: { items: 20 } })
//       .progress((data) => console.log(data))
//       .done((final) => console.log('done', final))
//       .error((xhr, errorType, message) => console.error(xhr.responseJSON.error.str));
//   </script>
//
// Like the original, the request goes through jQuery.ajax, so whatever a page
// configured for jQuery applies: $.ajaxSetup headers and options, `headers`,
// `data` (jQuery's encoding: a query string for GET, a form body otherwise),
// `type`/`method`, `contentType`, `dataType`, `beforeSend`, `xhrFields`,
// `timeout` (jQuery's: for the whole request), and the global ajaxSend /
// ajaxComplete events; jQuery adds `X-Requested-With: XMLHttpRequest` on the
// same origin, and this plugin `X-Request-Type: stream`. The body arrives in
// the XMLHttpRequest's progress events and is decoded by ./parser.js in any of
// the three formats (legacy unless `format` asks for SSE or NDJSON).
//
// An XMLHttpRequest keeps the whole response text, so a response longer than
// `maxResponseSize` characters (64 Mi by default) is cut off with an error;
// endless feeds belong to createStream (stream.js), which keeps nothing.
//
// Importing this module registers $.stream on window.jQuery when jQuery is
// loaded as a global; with a bundled jQuery call install($) instead.

import { CONTENT_TYPES, createParser, formatFromContentType, ParseError } from './parser.js';

/** The most response text a `$.stream` request keeps before it gives up. */
export const DEFAULT_MAX_RESPONSE_SIZE = 64 * 1024 * 1024;

// After the final packet the response is read to its end (so the browser does
// not list a finished stream as failed), for at most this long.
const DRAIN_MS = 5000;

// `format` asks for SSE or NDJSON by its Content-Type; legacy is what X-Request-Type gets.
const ACCEPT = { sse: CONTENT_TYPES.sse, ndjson: CONTENT_TYPES.ndjson };

/** Adds `stream` to the given jQuery and returns it. */
export function install($) {
  $.stream = function stream(url, options) {
    if (url !== null && typeof url === 'object' && !(url instanceof URL)) {
      options = url;
      url = options.url;
    }
    const { format, maxPacketSize, maxResponseSize = DEFAULT_MAX_RESPONSE_SIZE, ...settings } = options ?? {};
    if (format !== undefined && format !== 'legacy' && !ACCEPT[format]) {
      throw new TypeError(`$.stream: unknown format ${JSON.stringify(format)}`);
    }

    const deferred = $.Deferred();
    const uploads = [];
    let jqXHR;
    let xhr; // the XMLHttpRequest under jqXHR
    let parser;
    let seen = 0; // characters of responseText already decoded
    let bodyEnded = false;
    let drainTimer;

    const settled = () => deferred.state() !== 'pending';
    const reject = (errorType, message) => {
      if (!settled()) deferred.rejectWith(promise, [jqXHR, errorType, message]);
    };
    const stop = (errorType, message) => {
      reject(errorType, message);
      jqXHR.abort();
    };
    const onPacket = (packet) => {
      if (settled()) return;
      // jQuery fills these in when the request completes; a packet may come first.
      jqXHR.status = xhr.status;
      jqXHR.statusText = xhr.statusText;
      if (packet.type === 'progress') {
        deferred.notifyWith(promise, [packet.data]);
        return;
      }
      if (packet.type === 'done') {
        deferred.resolveWith(promise, [packet.data, 'success', jqXHR]);
      } else {
        jqXHR.responseJSON = streamErrorBody(packet.data);
        reject('error', 'Internal Error'); // the original plugin's words
      }
      // Read on to the end of the response rather than abort it, but not forever.
      if (!bodyEnded) drainTimer = setTimeout(() => jqXHR.abort(), DRAIN_MS);
    };
    const decode = (fn) => {
      try {
        fn();
      } catch (err) {
        if (!(err instanceof ParseError)) throw err;
        stop('parsererror', err.message);
      }
    };
    const isStream = () => xhr.status >= 200 && xhr.status <= 299;
    // New response text, from a progress event or the end of the response.
    const read = () => {
      if (settled() || !isStream() || xhr.readyState < 3) return;
      if (!parser) {
        const contentType = xhr.getResponseHeader('Content-Type');
        const found = contentType ? formatFromContentType(contentType) : format ?? 'legacy';
        if (!found) return stop('parsererror', `unexpected Content-Type: ${contentType}`);
        parser = createParser({ format: found, onPacket, maxPacketSize });
      }
      const text = xhr.responseText;
      if (text.length > maxResponseSize) {
        return stop('error', `the response is longer than maxResponseSize (${maxResponseSize} characters)`);
      }
      if (text.length > seen) {
        const chunk = text.slice(seen);
        seen = text.length;
        decode(() => parser.feed(chunk));
      }
    };
    // The response is complete (called from the load event and from jQuery's
    // own completion, whichever comes first).
    const endBody = () => {
      if (bodyEnded) return;
      bodyEnded = true;
      clearTimeout(drainTimer);
      if (settled() || !isStream()) return;
      read();
      if (parser) decode(() => parser.end());
      reject('error', 'stream ended without a final packet');
    };

    const makeXhr = settings.xhr ?? $.ajaxSettings.xhr;
    settings.xhr = function () {
      xhr = makeXhr.call(this);
      xhr.addEventListener('progress', read);
      xhr.addEventListener('load', endBody);
      xhr.addEventListener('loadend', () => clearTimeout(drainTimer));
      // Only requests with a body upload anything; listening on x.upload is
      // what makes the browser report it (and costs a CORS preflight).
      if (this.hasContent) {
        xhr.upload.addEventListener('progress', (event) => {
          for (const fn of uploads.slice()) fn.call(promise, event);
        });
      }
      return xhr;
    };
    // jQuery would run a FormData or Blob through $.param and fail; it is sent
    // as it is, with the Content-Type the browser gives it (a multipart boundary).
    if (isRawBody(settings.data) && settings.processData === undefined) {
      settings.processData = false;
      if (settings.contentType === undefined) settings.contentType = false;
    }
    settings.headers = {
      'X-Request-Type': 'stream',
      ...(ACCEPT[format] && { Accept: ACCEPT[format] }),
      ...settings.headers,
    };
    // jQuery converts the whole body at the end (as JSON for dataType 'json',
    // say); the packets were decoded already, so it gets the text back as it is.
    settings.converters = { 'text json': identity, 'text xml': identity, 'text html': identity, ...settings.converters };

    jqXHR = $.ajax(url, settings);
    jqXHR.done(endBody).fail((failed, errorType, errorThrown) => {
      if (xhr && isStream() && errorType !== 'abort' && errorType !== 'timeout') return endBody();
      if (settled()) return;
      if (failed.status >= 300) {
        // An HTTP error before the stream began: jQuery's words, with the
        // body's error object readable the way the original's pages read it.
        // (The converters above leave responseJSON as text: parsed here.)
        const isJson = /\bjson\b/i.test(failed.getResponseHeader('Content-Type') ?? '');
        const body = isJson ? parseJson(failed.responseText) : undefined;
        failed.responseJSON = body?.error && typeof body.error === 'object' ? httpErrorBody(body) : body;
        const message = body?.error?.message;
        return reject(errorType, errorThrown || (typeof message === 'string' ? message : `HTTP ${failed.status}`));
      }
      reject(errorType, errorThrown || errorType);
    });

    const promise = deferred.promise({
      abort() {
        jqXHR.abort();
        return promise;
      },
      uploadProgress(...fns) {
        uploads.push(...fns.flat().filter((fn) => typeof fn === 'function'));
        return promise;
      },
      getResponseHeader: (name) => jqXHR.getResponseHeader(name),
      getAllResponseHeaders: () => jqXHR.getAllResponseHeaders(),
      get readyState() {
        return jqXHR.readyState;
      },
      get status() {
        return jqXHR.status;
      },
      get statusText() {
        return jqXHR.statusText;
      },
      /** The jqXHR of the request. */
      xhr: jqXHR,
    });
    promise.error = promise.fail;
    return promise;
  };
  return $;
}

const identity = (text) => text;

function isRawBody(data) {
  return [globalThis.FormData, globalThis.Blob, globalThis.URLSearchParams, globalThis.ArrayBuffer].some(
    (type) => typeof type === 'function' && data instanceof type,
  );
}

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

// An error packet as the original plugin's pages read it, from its legacy
// payload: {"ok": false, "error": {"type": <status>, "status": "Stream Error",
// "str": <message>}}, with Rivulet's `message` (and `error_id`) beside.
function streamErrorBody(error) {
  const { message, status, ...rest } = error;
  return { ok: false, error: { ...rest, type: status, status: 'Stream Error', str: message, message } };
}

// An HTTP error body {"error": {message, status}} keeps its fields and gains
// the original's `type` and `str`.
function httpErrorBody(body) {
  const { error } = body;
  return { ...body, ok: false, error: { type: error.status, str: error.message, ...error } };
}

if (globalThis.jQuery) install(globalThis.jQuery);
