// React hooks for Rivulet streams (rivulet-client/react).
//
//   const job = useStream('/stream/process', { immediate: true });
//   job.status; job.packets; job.result; job.error; job.start(); job.cancel();
//
//   const { value, history } = useFeed('/feed/ticker', { keep: 20 });
//
// No request is made while rendering: streams start from effects or event
// handlers, so server rendering sends nothing. Under StrictMode's double
// mount the start an effect asks for is deferred to a microtask that the
// first cleanup withdraws, and a stream or a feed's connection is ended only
// after a microtask in which a remount may take it over: one request either
// way, and a stream started before the effects ran survives them.

import { useCallback, useEffect, useRef, useState, useSyncExternalStore } from 'react';
import { createStream, StreamError } from './stream.js';

/** How many progress packets `useStream` keeps unless `options.keep` says otherwise. */
export const DEFAULT_KEEP_PACKETS = 1000;

/** How many feed values `useFeed` keeps unless `options.keep` says otherwise. */
export const DEFAULT_KEEP_VALUES = 1;

const IDLE = Object.freeze({ status: 'idle', packets: Object.freeze([]), result: undefined, error: undefined, upload: undefined });

const storage = () => {
  try {
    return globalThis.sessionStorage;
  } catch {
    return undefined; // blocked by the browser's settings
  }
};

// The last `keep` items of `list` plus `item`.
const appended = (list, item, keep) => [...list.slice(Math.max(0, list.length + 1 - keep)), item];

/**
 * Runs the stream at `url` (createStream's options, and `immediate`, `keep`,
 * `resumeKey`, `onProgress`, `onDone`, `onError`, `onUploadProgress`); see
 * react.d.ts.
 */
export function useStream(url, options = {}) {
  const [state, setState] = useState(IDLE);
  const latest = useRef();
  latest.current = { url, options };
  const current = useRef(); // the running stream
  const unmounted = useRef(false);

  // Starts the stream; `resuming` (on mount) resumes from a stored point.
  const run = useCallback((overrides = {}, resuming = false) => {
    const { url, options } = latest.current;
    const { immediate, keep = DEFAULT_KEEP_PACKETS, resumeKey, onProgress, onDone, onError, onUploadProgress, ...streamOptions } = {
      ...options,
      ...overrides,
    };
    current.current?.abort();
    const store = resumeKey ? storage() : undefined;
    const saved = resuming ? store?.getItem(resumeKey) : undefined;
    // start() begins anew: a point stored for an earlier run is dropped.
    if (!resuming) store?.removeItem(resumeKey);
    const stream = createStream(url, saved ? { ...streamOptions, lastEventId: saved } : streamOptions);
    current.current = stream;
    const set = (update) => current.current === stream && !unmounted.current && setState(update);
    stream
      .progress((data) => {
        const point = stream.lastEventId();
        if (store && point) store.setItem(resumeKey, point);
        set((s) => ({ ...s, packets: appended(s.packets, data, keep) }));
        latest.current.options.onProgress?.(data);
      })
      .done((data) => {
        store?.removeItem(resumeKey);
        set((s) => ({ ...s, status: 'done', result: data }));
        latest.current.options.onDone?.(data);
      })
      .error((xhr, errorType, message) => {
        // An abort (unmount, reload, abort()) keeps the point: the job goes on
        // and the next mount resumes it; anything else ends it.
        if (errorType !== 'abort') store?.removeItem(resumeKey);
        const error = new StreamError(xhr, errorType, message);
        set((s) => ({ ...s, status: errorType === 'abort' ? 'aborted' : 'error', error }));
        latest.current.options.onError?.(error);
      });
    if (onUploadProgress) {
      stream.uploadProgress((event) => {
        set((s) => ({ ...s, upload: { loaded: event.loaded, total: event.total } }));
        latest.current.options.onUploadProgress?.(event);
      });
    }
    setState({ ...IDLE, status: 'running' });
    stream.start();
  }, []);
  const start = useCallback((overrides) => run(overrides), [run]);

  const abort = useCallback(() => {
    current.current?.abort();
  }, []);

  const cancel = useCallback(() => {
    const stream = current.current;
    const key = latest.current.options.resumeKey;
    if (!stream) return Promise.resolve(false);
    if (key) storage()?.removeItem(key);
    return stream.cancel();
  }, []);

  useEffect(() => {
    unmounted.current = false;
    const { options } = latest.current;
    const resumable = options.resumeKey && storage()?.getItem(options.resumeKey);
    let withdrawn = false;
    if (options.immediate || resumable) {
      // Not if a stream already runs: one started before StrictMode's
      // simulated unmount goes on (see the cleanup).
      queueMicrotask(() => withdrawn || unmounted.current || current.current || run(undefined, true));
    }
    return () => {
      withdrawn = true;
      unmounted.current = true;
      // StrictMode mounts again at once: the stream is ended only if nothing
      // has by the next microtask. A disconnect only: a resumable job goes on
      // and can be resumed.
      queueMicrotask(() => {
        if (!unmounted.current) return;
        current.current?.abort();
        current.current = undefined;
      });
    };
  }, [run]);

  return { ...state, start, abort, cancel };
}

// Feeds shared by every component (in this page) that reads the same one,
// by key; an entry exists only while some component is subscribed.
const feeds = new Map();

const IDLE_FEED = Object.freeze({ status: 'idle', value: undefined, history: Object.freeze([]), error: undefined });

function feedKey(url, { keep = DEFAULT_KEEP_VALUES, ...options }) {
  return JSON.stringify([String(url), keep, options.shareAcrossTabs ?? false, options.format ?? 'sse', [...new Headers(options.headers)]]);
}

// Adds `listener` to the feed `key` (opening its connection if it is the
// first) and returns what removes it.
function subscribeFeed(key, url, { keep = DEFAULT_KEEP_VALUES, ...options }, listener) {
  let entry = feeds.get(key);
  if (!entry) {
    const listeners = new Set();
    const stream = createStream(url, options);
    entry = { snapshot: { ...IDLE_FEED, status: 'running' }, listeners, stream, closing: false };
    feeds.set(key, entry);
    const set = (change) => {
      entry.snapshot = { ...entry.snapshot, ...change };
      for (const fn of listeners) fn();
    };
    stream
      .progress((value) => set({ value, history: appended(entry.snapshot.history, value, keep) }))
      .done((value) => set({ status: 'done', value }))
      .error((xhr, errorType, message) => {
        if (errorType !== 'abort') set({ status: 'error', error: new StreamError(xhr, errorType, message) });
      })
      .start();
  }
  entry.listeners.add(listener);
  entry.closing = false;
  return () => {
    entry.listeners.delete(listener);
    if (entry.listeners.size) return;
    // StrictMode (or a quick remount) subscribes again at once: close only if
    // nobody has by the next microtask.
    entry.closing = true;
    queueMicrotask(() => {
      if (!entry.closing || feeds.get(key) !== entry) return;
      feeds.delete(key);
      entry.stream.abort();
    });
  };
}

/**
 * The live feed at `url`: its latest value and the last `options.keep`
 * values, over one connection shared by every component that reads the same
 * feed (and by the tabs of the origin with `shareAcrossTabs`); see react.d.ts.
 */
export function useFeed(url, options = {}) {
  const key = feedKey(url, options);
  const latest = useRef();
  latest.current = { url, options };
  // React calls subscribe from an effect, so the connection opens on the
  // client only: never during server rendering.
  const subscribe = useCallback((listener) => subscribeFeed(key, latest.current.url, latest.current.options, listener), [key]);
  const snapshot = useCallback(() => feeds.get(key)?.snapshot ?? IDLE_FEED, [key]);
  return useSyncExternalStore(subscribe, snapshot, () => IDLE_FEED);
}
