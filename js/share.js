// One connection for a GET stream shared by every tab of an origin
// (createStream(url, { shareAcrossTabs: true })); stream.js loads this module
// only for such streams.
//
// Every client of the stream asks for the same Web Lock; the one that gets it
// holds the connection and relays what arrives over a BroadcastChannel of the
// same name, and the others replay it through their own callbacks. When the
// holding tab closes (the browser frees its lock) or aborts its client, the
// next client in the lock's queue connects, resuming after the last relayed
// packet when the stream is resumable, or opening a fresh stream when it is
// not. Only a final packet or failure ends the others; an abort is the
// aborting client's own.

import { parseResumePoint } from './resume.js';

// How long a holder whose stream ended keeps the lock: the final message it
// relayed reaches the other clients before one of them could be given the
// lock and open the stream again.
const HANDOVER_GRACE_MS = 200;

/**
 * Shares the stream `request` (from stream.js) among the clients of every
 * tab that ask for the same one; `follow` is the client's side: connect() to
 * hold the connection, response/progress/settle to replay another tab's.
 * Returns what the client reports to: response, progress and settled.
 */
export function shareAcrossTabs(request, follow) {
  const name = `rivulet:${JSON.stringify([
    request.method,
    new URL(request.url, globalThis.location?.href).href,
    [...request.headers],
    request.credentials ?? 'same-origin',
  ])}`;
  const channel = new BroadcastChannel(name);
  const queued = new AbortController(); // withdraws the lock request
  let holding = false;
  let head; // the holder's response head, for clients that join later
  let release;
  let point; // the resume point of the last packet replayed here

  channel.onmessage = ({ data: message }) => {
    if (holding) {
      if (message.type === 'join' && head) channel.postMessage(head);
    } else if (message.type === 'response') {
      const headers = parseHeaders(message.headers);
      follow.response(message.status, message.statusText, (name) => headers.get(name), () => message.headers);
    } else if (message.type === 'progress' && after(message.point, point)) {
      point = message.point ?? point;
      follow.progress(message.data, message.point);
    } else if (message.type === 'settled') {
      follow.settle(message.state, message.args);
    }
  };
  channel.postMessage({ type: 'join' });

  navigator.locks
    .request(name, { signal: queued.signal }, () => {
      if (queued.signal.aborted) return undefined; // settled while the lock was on its way
      holding = true;
      follow.connect();
      return new Promise((resolve) => {
        release = resolve;
      });
    })
    .catch(() => {
      // AbortError: the client settled while waiting for the lock.
    });

  return {
    response(status, statusText, headers) {
      if (!holding) return;
      head = { type: 'response', status, statusText, headers };
      channel.postMessage(head);
    },
    progress(data, point) {
      if (holding) channel.postMessage({ type: 'progress', data, point });
    },
    settled(state, args) {
      queued.abort();
      let grace = 0;
      // An abort is this client's own: the next one in the queue takes over.
      if (holding && args[1] !== 'abort') {
        // done's [data], or error's [xhr, errorType, message] with the xhr as data.
        const relayed = state === 'resolved' ? args : [pickXhr(args[0]), args[1], args[2]];
        channel.postMessage({ type: 'settled', state, args: relayed });
        grace = HANDOVER_GRACE_MS;
      }
      holding = false;
      channel.close();
      setTimeout(() => release?.(), grace);
    },
  };
}

// Whether a packet at resume point `next` comes after `last`. A tab that takes
// over resumes from the last packet it got, so it can relay again one that
// the closing holder relayed just before: the others drop it.
function after(next, last) {
  if (!next || !last) return true;
  const a = parseResumePoint(next);
  const b = parseResumePoint(last);
  return a.id !== b.id || a.count > b.count;
}

// `getAllResponseHeaders()` text back into Headers.
function parseHeaders(text) {
  const headers = new Headers();
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  return headers;
}

// What error callbacks read of the xhr, as data a BroadcastChannel can carry.
function pickXhr({ status, statusText, responseText, responseJSON }) {
  return { status, statusText, responseText, responseJSON };
}
