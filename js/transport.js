// How a stream's request travels: fetch with a ReadableStream reader, or
// XMLHttpRequest when upload progress is asked for. A transport reports to a
// sink (stream.js): the response head, each chunk, the end, an HTTP error's
// body (bounded), a network failure, upload progress. It returns a stop
// function: stop() aborts; stop(true), after the final packet, reads the rest
// of the response (bounded in time and bytes) so a finished stream does not
// show as failed in the browser's network panel.

// What a transport reads after the final packet before it aborts after all.
const DRAIN_MS = 5000;
const DRAIN_BYTES = 64 * 1024;

/**
 * How much of an HTTP error's body is read (64 KiB, as `rivulet watch` does):
 * enough for any JSON error object, and a server that answers an error with an
 * endless or huge body cannot fill the client's memory.
 */
export const MAX_ERROR_BODY = 64 * 1024;

// The body's first `limit` bytes as text; the rest is not read (the request is
// cancelled).
export async function readPrefix(response, limit) {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  let read = 0;
  while (read < limit) {
    const { done, value } = await reader.read();
    if (done) return text + decoder.decode();
    const piece = value.subarray(0, limit - read);
    read += piece.length;
    text += decoder.decode(piece, { stream: true });
  }
  reader.cancel().catch(() => {});
  return text + decoder.decode();
}

export function fetchTransport(request, sink) {
  const controller = new AbortController();
  let drain; // set once settled by the final packet: the rest is read and dropped
  const run = async () => {
    const response = await fetch(request.url, {
      method: request.method,
      headers: request.headers,
      body: request.body,
      credentials: request.credentials,
      cache: 'no-store',
      signal: controller.signal,
    });
    const { headers } = response;
    const streaming = sink.response(
      response.status,
      response.statusText,
      (name) => headers.get(name),
      () => [...headers].map(([name, value]) => `${name}: ${value}\r\n`).join(''),
    );
    if (sink.closed) return;
    if (!streaming) return sink.httpError(await readPrefix(response, MAX_ERROR_BODY));
    if (!response.body) return sink.end();
    const reader = response.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        clearTimeout(drain?.timer);
        return sink.end();
      }
      if (drain) {
        drain.bytes += value.length;
        if (drain.bytes > DRAIN_BYTES) return controller.abort();
        continue;
      }
      sink.chunk(value);
      if (sink.closed && !drain) return;
    }
  };
  // Once settled (final packet, abort, timeout) aborting ends the request and
  // its body; the rejections that follow are expected and dropped by the sink.
  run().catch((err) => sink.fail(err));
  return (toTheEnd) => {
    if (!toTheEnd) return controller.abort();
    drain = { bytes: 0, timer: setTimeout(() => controller.abort(), DRAIN_MS) };
  };
}

export function xhrTransport(request, sink) {
  const x = new XMLHttpRequest();
  x.open(request.method, request.url, true);
  request.headers.forEach((value, name) => x.setRequestHeader(name, value));
  if (request.credentials === 'include') x.withCredentials = true;
  // Listening on x.upload before send() is what makes the browser report it.
  x.upload.onprogress = (event) => sink.upload(event);
  let streaming;
  let seen = 0;
  x.onreadystatechange = () => {
    if (x.readyState < 2 || sink.closed) return;
    if (x.status === 0) return sink.fail(); // network failure (or our own abort)
    streaming ??= sink.response(
      x.status,
      x.statusText,
      (name) => x.getResponseHeader(name),
      () => x.getAllResponseHeaders(),
    );
    if (!streaming) {
      // The browser keeps the whole body; past the bound it is cut off.
      if (x.readyState === 4 || x.responseText.length > MAX_ERROR_BODY) {
        sink.httpError(x.responseText.slice(0, MAX_ERROR_BODY));
      }
      return;
    }
    // responseText is decoded by the browser (UTF-8, or Latin-1 for the
    // ASCII-only legacy framing); the parser takes text as well as bytes.
    const text = x.responseText;
    if (text.length > seen) {
      sink.chunk(text.slice(seen));
      seen = text.length;
    }
    if (x.readyState === 4) sink.end();
  };
  // Browsers differ in how often readystatechange fires while loading; progress
  // fires as data arrives. The handler only reads what is new, so both can call it.
  x.onprogress = x.onreadystatechange;
  x.send(request.body);
  return (toTheEnd) => {
    if (!toTheEnd) return x.abort();
    const timer = setTimeout(() => x.abort(), DRAIN_MS);
    x.addEventListener('loadend', () => clearTimeout(timer));
  };
}
