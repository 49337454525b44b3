// Types for react.js (rivulet-client/react): React hooks over createStream.
import type { StreamError, StreamOptions } from './stream.js';

/** Where a `useStream` stream is: not started, running, or how it ended. */
export type StreamStatus = 'idle' | 'running' | 'done' | 'error' | 'aborted';

export interface UseStreamOptions<P = any, F = any> extends StreamOptions {
  /** Start on mount (after StrictMode's double mount: one request). Default false: call `start()`. */
  immediate?: boolean | undefined;
  /** How many of the latest progress packets `packets` keeps (default 1000). */
  keep?: number | undefined;
  /**
   * Opt-in resume across page reloads for resumable streams: the resume point
   * is kept in `sessionStorage` under this key while the stream runs, and a
   * mount that finds one resumes the stream at once. Removed at the final
   * packet, on an error other than an abort, and by `cancel()`.
   */
  resumeKey?: string | undefined;
  onProgress?: ((data: P) => void) | undefined;
  onDone?: ((data: F) => void) | undefined;
  onError?: ((error: StreamError) => void) | undefined;
  /** Upload progress of the request body; given, the request goes over XMLHttpRequest. */
  onUploadProgress?: ((event: ProgressEvent) => void) | undefined;
}

export interface UseStreamResult<P = any, F = any> {
  status: StreamStatus;
  /** The latest progress packets, oldest first (at most `options.keep`). */
  packets: readonly P[];
  /** The final packet once `status` is `'done'`. */
  result: F | undefined;
  /** Why the stream failed once `status` is `'error'` or `'aborted'`. */
  error: StreamError | undefined;
  /** The latest upload progress, with `onUploadProgress`. */
  upload: { loaded: number; total: number } | undefined;
  /** Starts the stream anew (aborting a running one; a stored resume point is dropped), with `overrides` over the hook's options (a `body`, say). */
  start(overrides?: UseStreamOptions<P, F>): void;
  /** Disconnects: a resumable job goes on (and `resumeKey` keeps its point). */
  abort(): void;
  /** Disconnects and stops the job on the server; see `RivuletStream.cancel`. */
  cancel(): Promise<boolean>;
}

/** A stream's packets and outcome as React state. Sends nothing while rendering. */
export function useStream<P = any, F = any>(url: string | URL, options?: UseStreamOptions<P, F>): UseStreamResult<P, F>;

export interface UseFeedOptions extends StreamOptions {
  /** How many of the latest values `history` keeps (default 1). */
  keep?: number | undefined;
}

export interface UseFeedResult<V = any> {
  /** `'running'` while connected, `'done'` after a final packet, `'error'` after a failure. */
  status: 'idle' | 'running' | 'done' | 'error';
  /** The latest value (progress packet), or the final one. */
  value: V | undefined;
  /** The last `keep` values, oldest first. */
  history: readonly V[];
  error: StreamError | undefined;
}

/**
 * A live feed as React state: components that read the same feed (URL,
 * `keep`, format, headers, `shareAcrossTabs`) share one connection, closed
 * when the last of them unmounts. Connects nothing while rendering.
 */
export function useFeed<V = any>(url: string | URL, options?: UseFeedOptions): UseFeedResult<V>;

/** Progress packets `useStream` keeps unless `options.keep` changes it: 1000. */
export const DEFAULT_KEEP_PACKETS: number;

/** Values `useFeed` keeps unless `options.keep` changes it: 1. */
export const DEFAULT_KEEP_VALUES: number;
