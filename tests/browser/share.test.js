// createStream(url, { shareAcrossTabs: true }) in headless Chromium against the
// demo over HTTP/1.1: tabs (pages of one browser context) that open the same
// stream share one connection. Each tab counts the stream requests it sends
// itself (its fetch is wrapped before the client loads), so the test knows
// which tab holds the connection; the server's rivulet_streams_active says how
// many reach it.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { BASE, WAIT_MS, eventually, launchBrowser, metrics, serverIdle } from './support.js';

const opts = { timeout: WAIT_MS * 3 };
const FEED = '/stream/feed?interval_ms=100';
const HANDOVER_MS = 10_000; // "within a few seconds", with room for a loaded machine

let browser;
let context;

before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

/** A tab on the server's origin that runs createStream(url, options). */
async function openTab(url, options) {
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  page.errors = [];
  page.on('pageerror', (err) => page.errors.push(err));
  await page.route(`${BASE}/__blank`, (route) =>
    route.fulfill({ contentType: 'text/html', body: '<!doctype html><meta charset="utf-8"><title>tab</title>' }),
  );
  await page.goto(`${BASE}/__blank`);
  await page.evaluate(
    async ({ url, options }) => {
      // The stream requests this tab sends, with the Last-Event-ID of each.
      window.requests = [];
      const ownFetch = window.fetch;
      window.fetch = (input, init) => {
        window.requests.push(new Headers(init?.headers).get('Last-Event-ID'));
        return ownFetch(input, init);
      };
      const { createStream } = await import('/rivulet/stream.js');
      window.log = [];
      window.points = []; // lastEventId() in each progress callback
      window.stream = createStream(url, options)
        .progress((data) => {
          window.log.push(['progress', data]);
          window.points.push(window.stream.lastEventId() ?? null);
        })
        .done((data) => window.log.push(['done', data]))
        .error((xhr, errorType, message) => window.log.push(['error', errorType, message, xhr.status]))
        .start();
    },
    { url, options },
  );
  return page;
}

/** A new browser context (sharing nothing with earlier tests) with `n` tabs sharing `url`. */
async function openTabs(url, n) {
  await serverIdle();
  context = await browser.newContext();
  const tabs = [];
  for (let i = 0; i < n; i++) tabs.push(await openTab(url, { shareAcrossTabs: true }));
  return tabs;
}

const logOf = (tab) => tab.evaluate(() => window.log);
const requestsOf = (tab) => tab.evaluate(() => window.requests);
const progressCount = (tab) => tab.evaluate(() => window.log.filter(([kind]) => kind === 'progress').length);

/** The tab that sent the stream's request; fails unless exactly one did. */
async function holderOf(tabs) {
  const sent = await Promise.all(tabs.map(async (tab) => (await requestsOf(tab)).length));
  assert.equal(sent.reduce((a, b) => a + b, 0), 1, `one request in all, sent per tab: ${sent}`);
  return tabs[sent.indexOf(1)];
}

/** Waits until every tab's stream has ended with `kind` ('done' or 'error'); returns their logs. */
function finalLogs(tabs, kind) {
  return eventually(async () => {
    const logs = await Promise.all(tabs.map(logOf));
    return logs.every((log) => log.at(-1)?.[0] === kind) ? logs : null;
  }, `every tab's stream to end with ${kind}`);
}

/** Waits until every tab has `more` progress packets beyond what it had. */
async function allReceiveMore(tabs, more, what) {
  const had = await Promise.all(tabs.map(progressCount));
  await eventually(
    async () => (await Promise.all(tabs.map(progressCount))).every((n, i) => n >= had[i] + more),
    what,
  );
}

test('8 tabs share one connection to a feed; closing the holder hands it over', opts, async (t) => {
  const tabs = await openTabs(FEED, 8);

  await allReceiveMore(tabs, 5, 'every tab to receive the feed');
  assert.equal((await metrics()).rivulet_streams_active, 1, 'one stream on the server');
  const holder = await holderOf(tabs);
  for (const tab of tabs) {
    assert.ok((await logOf(tab)).every(([kind]) => kind === 'progress'), 'nothing but progress packets');
  }

  const closedAt = Date.now();
  await holder.close();
  const others = tabs.filter((tab) => tab !== holder);
  await allReceiveMore(others, 3, 'the other tabs to receive the feed again');
  const handover = Date.now() - closedAt;
  assert.ok(handover < HANDOVER_MS, `handed over in ${handover} ms`);
  t.diagnostic(`the other tabs received the feed again ${handover} ms after the holder closed`);
  const next = await holderOf(others);
  // The feed is not resumable: the next holder opened it anew.
  assert.deepStrictEqual(await requestsOf(next), [null]);
  await eventually(async () => (await metrics()).rivulet_streams_active === 1, 'one stream on the server again');
  for (const tab of others) assert.deepStrictEqual(tab.errors, []);

  await context.close();
  await serverIdle();
});

test('aborting a follower ends only its stream; aborting the holder hands over', opts, async () => {
  const tabs = await openTabs(FEED, 3);
  await allReceiveMore(tabs, 3, 'every tab to receive the feed');
  const holder = await holderOf(tabs);
  const [follower, other] = tabs.filter((tab) => tab !== holder);

  await follower.evaluate(() => void window.stream.abort());
  assert.deepStrictEqual((await logOf(follower)).at(-1), ['error', 'abort', 'abort', 200]);
  const frozen = (await logOf(follower)).length;
  await allReceiveMore([holder, other], 3, 'the holder and the other follower to go on');
  assert.equal((await logOf(follower)).length, frozen, 'nothing reaches an aborted client');
  assert.equal(await holderOf(tabs), holder);

  await holder.evaluate(() => void window.stream.abort());
  assert.deepStrictEqual((await logOf(holder)).at(-1), ['error', 'abort', 'abort', 200]);
  await allReceiveMore([other], 3, 'the last follower to take over');
  assert.deepStrictEqual(await requestsOf(other), [null]);
  await eventually(async () => (await metrics()).rivulet_streams_active === 1, 'one stream on the server');

  await other.evaluate(() => void window.stream.abort());
  await serverIdle();
  await context.close();
});

test('a resumable stream goes on after the last relayed packet when the holder closes', opts, async () => {
  const items = 40;
  const tabs = await openTabs(`/stream/durable?items=${items}&every=1&interval_ms=100`, 3);
  await allReceiveMore(tabs, 5, 'every tab to receive packets');
  const holder = await holderOf(tabs);
  await holder.close();
  const others = tabs.filter((tab) => tab !== holder);

  const logs = await finalLogs(others, 'done');
  const points = await Promise.all(others.map((tab) => tab.evaluate(() => window.points)));
  for (const [t, log] of logs.entries()) {
    // Every packet once and in order from the first this tab saw, then done.
    const seen = log.slice(0, -1).map(([kind, data]) => [kind, data === 'Starting durable process' ? 0 : Number(/\d+/.exec(data))]);
    const first = seen[0][1];
    assert.ok(first < items / 2, `joined at packet ${first}`);
    assert.deepStrictEqual(
      seen,
      Array.from({ length: items - first + 1 }, (_, i) => ['progress', first + i]),
    );
    assert.equal(log.at(-1)[1].processed, items);
    // lastEventId() in a progress callback is that packet's resume point,
    // whichever tab's connection it came over.
    const id = points[t][0].split('.')[0];
    assert.deepStrictEqual(points[t], seen.map(([, n]) => `${id}.${n + 1}`));
  }
  // The next holder resumed from the last packet relayed to it.
  const next = await holderOf(others);
  const [resumedFrom] = await requestsOf(next);
  assert.match(resumedFrom, /^[0-9a-f]{32}\.\d+$/);
  await serverIdle();
  await context.close();
});

test('an error packet reaches every tab, as over an own connection', opts, async () => {
  const tabs = await openTabs('/stream/riskyProcess?fail=1&interval_ms=4000', 3);
  const logs = await finalLogs(tabs, 'error');
  for (const log of logs) assert.deepStrictEqual(log.at(-1), ['error', 'error', 'Something went wrong!', 200]);
  assert.ok(await holderOf(tabs));
  await serverIdle();
  await context.close();
});

test('a tab that opens the stream after it ended starts it anew', opts, async () => {
  const url = '/stream/process?items=20&interval_ms=10';
  const [first] = await openTabs(url, 1);
  const [firstLog] = await finalLogs([first], 'done');
  const second = await openTab(url, { shareAcrossTabs: true });
  const [log] = await finalLogs([second], 'done');
  assert.deepStrictEqual(log.slice(0, -1), firstLog.slice(0, -1));
  assert.equal(log.at(-1)[1].processed, 20);
  assert.deepStrictEqual(await requestsOf(second), [null]);
  await serverIdle();
  await context.close();
});
