// RivuletChatTransport: the AI SDK's DefaultChatTransport for `useChat`,
// whose stop really stops the answer on the server. The stock transport's
// stop only aborts its fetch: against a Rivulet server the answer's job runs
// on (resumable, by design). This one also sends `DELETE {api}/{chatId}/stream`
// when useChat aborts a request, which cancels the job wherever it runs; a
// reload or a dropped network aborts nothing, so the answer stays resumable
// with `useChat({ resume: true })`.
//
// useChat also stops when its component unmounts: with `cancelOnStop` (the
// default) that cancels a running answer too. Pass `cancelOnStop: false` to
// keep such answers running and resumable, and call `transport.cancel(chatId)`
// next to `stop()` where the user asks to stop.
import { DefaultChatTransport } from 'ai';

// `{api}/{chatId}/stream`, as the AI SDK builds its resume URL: the path goes
// before a query string or fragment of `api`.
function streamUrl(api, chatId) {
  const cut = api.search(/[?#]/);
  const path = cut < 0 ? api : api.slice(0, cut);
  const rest = cut < 0 ? '' : api.slice(cut);
  return `${path.replace(/\/$/, '')}/${encodeURIComponent(chatId)}/stream${rest}`;
}

const resolve = async (value) => (typeof value === 'function' ? value() : value);

export class RivuletChatTransport extends DefaultChatTransport {
  constructor({ cancelOnStop = true, ...options } = {}) {
    super(options);
    this.cancelOnStop = cancelOnStop;
  }

  sendMessages(options) {
    this.#cancelOnAbort(options);
    return super.sendMessages(options);
  }

  reconnectToStream(options) {
    const resumed = super.reconnectToStream(options);
    // Only once the answer is there: under React's StrictMode, useChat's
    // simulated unmount stops the resume it started on mount at once, and
    // that must not cancel the answer the page is about to resume.
    resumed.then((stream) => stream && this.#cancelOnAbort(options), () => {});
    return resumed;
  }

  /**
   * Cancels the running answer of chat `chatId` on the server. Resolves to
   * true when an answer was running (202), false when none was (204).
   */
  async cancel(chatId) {
    const headers = new Headers(await resolve(this.headers));
    let credentials = await resolve(this.credentials);
    let url = streamUrl(this.api, chatId);
    // The same URL and headers as the resume request the app prepares.
    const prepared = await this.prepareReconnectToStreamRequest?.({
      id: chatId,
      api: this.api,
      body: await resolve(this.body),
      headers: Object.fromEntries(headers),
      credentials,
      requestMetadata: undefined,
    });
    if (prepared?.api) url = prepared.api;
    if (prepared?.credentials) credentials = prepared.credentials;
    const response = await (this.fetch ?? globalThis.fetch)(url, {
      method: 'DELETE',
      headers: prepared?.headers ?? headers,
      credentials,
      // Sent even when the page goes away right after.
      keepalive: true,
    });
    if (response.status !== 202 && response.status !== 204) {
      throw new Error(`cancelling the answer failed: ${response.status} ${await response.text()}`);
    }
    return response.status === 202;
  }

  #cancelOnAbort({ chatId, abortSignal }) {
    if (!this.cancelOnStop || !abortSignal || abortSignal.aborted) return;
    abortSignal.addEventListener(
      'abort',
      () => this.cancel(chatId).catch((error) => console.warn('rivulet-client/ai-sdk:', error)),
      { once: true },
    );
  }
}
