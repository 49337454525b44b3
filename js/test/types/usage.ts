// Compiled (never run) by test/types.test.js: the declarations in stream.d.ts
// must accept the documented uses and refuse the wrong ones.
import {
  createStream,
  StreamError,
  createParser,
  DEFAULT_CONNECT_TIMEOUT,
  connectTimeoutMessage,
  type StreamXHR,
  type ErrorType,
} from 'rivulet-client';
import { createParser as parserOnly, ParseError } from 'rivulet-client/parser';
import { install } from 'rivulet-client/jquery';

interface Final {
  success: boolean;
  processed: number;
}

const stream = createStream<string, Final>('/stream/process', {
  method: 'POST',
  headers: { 'X-Custom': '1' },
  body: { items: 10 },
  credentials: 'include',
  timeout: 5000,
  signal: new AbortController().signal,
  format: 'ndjson',
  maxPacketSize: 1024,
});

stream
  .progress((data) => data.toUpperCase())
  .progress([(data: string) => data, (data: string) => data])
  .done((final) => final.processed.toFixed())
  .error((xhr: StreamXHR, errorType: ErrorType, message: string) => {
    const status: number = xhr.status;
    const detail: string | undefined = xhr.responseJSON?.error?.message;
    return [status, detail, errorType, message];
  })
  .fail((xhr) => xhr.getResponseHeader('Content-Type'))
  .uploadProgress((event) => event.loaded / event.total)
  .always(() => undefined)
  .always((dataOrXhr, errorType, message) => {
    const kind: ErrorType | undefined = errorType;
    const text: string | undefined = message;
    return [dataOrXhr, kind, text];
  })
  .start()
  .abort();

const state: 'pending' | 'running' | 'resolved' | 'rejected' = stream.state();

const stopped: Promise<boolean> = createStream('/stream/process').cancel();
// @ts-expect-error cancel() returns a Promise, not the stream: it does not chain
createStream('/stream/process').cancel().progress(() => {});

async function modern(): Promise<number> {
  for await (const data of createStream<string, Final>('/stream/process')) {
    const text: string = data;
    void text;
  }
  const final: Final = await createStream<string, Final>('/stream/process');
  try {
    await createStream('/stream/riskyProcess');
  } catch (err) {
    if (err instanceof StreamError) {
      const kind: ErrorType = err.errorType;
      return err.status + kind.length;
    }
  }
  return final.processed;
}

new FormData();
createStream('/x', { body: new FormData() });
createStream('/x', { body: new Blob(['a']) });
createStream('/x', { body: new URLSearchParams('a=1') });
createStream('/x', { body: new ArrayBuffer(2) });
createStream('/x', { body: 'text' });
createStream(new URL('http://localhost/x'), { headers: new Headers() });

// @ts-expect-error: not a format
createStream('/x', { format: 'xml' });
// @ts-expect-error: timeout is a number of milliseconds
createStream('/x', { timeout: '5s' });
// @ts-expect-error: progress callbacks get the packet, typed
createStream<string>('/x').progress((data: number) => data);

const parser = createParser({ format: 'legacy', onPacket: (packet) => packet.type });
parser.feed(new Uint8Array([1]));
parser.feed('text');
parser.end();
parserOnly({ onPacket() {} });
const parseError: Error = new ParseError('json', 'x');
const parseErrorKind: 'json' | 'malformed' | 'too_large' = new ParseError('malformed', 'x').kind;

declare const jq: { Deferred: unknown };
const $ = install(jq);
$.stream<string, Final>('/stream/process', { type: 'POST', data: { a: 1 }, xhrFields: { withCredentials: true } })
  .progress((data) => data.length)
  .done((final, textStatus) => [final.success, textStatus])
  .fail((xhr, errorType, message) => [xhr.status, errorType, message])
  .error(() => undefined)
  .uploadProgress((event) => event.loaded)
  .always(() => undefined)
  .abort()
  .then((final) => final, (xhr) => xhr.status, (data) => data);
$.stream({ url: '/stream/status' });
$.stream('/stream/riskyProcess', { format: 'ndjson', headers: { 'X-CSRF-Token': 't' }, beforeSend: (x) => void x.setRequestHeader('A', 'b') })
  .error((xhr, errorType, message) => [xhr.responseJSON?.error?.str, xhr.responseJSON?.error?.type, errorType, message])
  .always((dataOrXhr, textStatus) => [dataOrXhr, textStatus]);
// @ts-expect-error: not a format
$.stream('/x', { format: 'xml' });

declare const jQuery: JQueryStatic;
jQuery.stream('/stream').done(() => undefined);

// Resumable streams.
const durable = createStream('/stream/durable', {
  reconnect: { retries: 5, delay: 250, maxDelay: 5000 },
  lastEventId: sessionStorage.getItem('durable') ?? undefined,
});
const resumeAt: string | undefined = durable.lastEventId();
// Checked with exactOptionalPropertyTypes too (tsconfig.exact.json): the
// README's pattern, and undefined for any option.
createStream('/stream/durable', { lastEventId: sessionStorage.getItem('job') ?? undefined, timeout: undefined });
createStream('/stream/durable', { reconnect: false });
// @ts-expect-error reconnect takes a boolean or its options
createStream('/stream/durable', { reconnect: 3 });

// The connection: a deadline for the response head, one connection for every tab.
createStream('/stream/feed', { connectTimeout: 3000, shareAcrossTabs: true });
const defaultConnectTimeout: number = DEFAULT_CONNECT_TIMEOUT;
const timeoutMessage: string = connectTimeoutMessage(3000);
// @ts-expect-error: connectTimeout is a number of milliseconds
createStream('/x', { connectTimeout: '3s' });
// @ts-expect-error: shareAcrossTabs is on or off
createStream('/x', { shareAcrossTabs: 'yes' });

export { modern, state, parseError, parseErrorKind, resumeAt, defaultConnectTimeout, timeoutMessage };

// rivulet-client/react
import { useStream, useFeed, type StreamStatus } from 'rivulet-client/react';

function hookUses(): void {
  const job = useStream<{ i: number }, { total: number }>('/stream/process', {
    immediate: true,
    keep: 10,
    resumeKey: 'job',
    body: { n: 1 },
    onProgress: (data) => void data.i,
    onDone: (data) => void data.total,
    onError: (error) => void error.errorType,
    onUploadProgress: (event) => void event.loaded,
  });
  const status: StreamStatus = job.status;
  const first: number | undefined = job.packets[0]?.i;
  const total: number | undefined = job.result?.total;
  const errorType: ErrorType | undefined = job.error?.errorType;
  job.start({ body: { n: 2 } });
  job.abort();
  const stopped: Promise<boolean> = job.cancel();
  // @ts-expect-error packets are read-only state
  job.packets.push({ i: 1 });
  // @ts-expect-error not a status
  const wrong: StreamStatus = 'resolved';
  const feed = useFeed<{ price: number }>('/feed/ticker', { keep: 20, shareAcrossTabs: true });
  const price: number | undefined = feed.value?.price;
  const prices: readonly { price: number }[] = feed.history;
  void [status, first, total, errorType, stopped, wrong, price, prices];
}
void hookUses;
