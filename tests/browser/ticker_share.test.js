// A live feed shared across tabs: four tabs (pages of one browser context)
// follow the demo's /stream/ticker with createStream(url, { shareAcrossTabs:
// true }). One connection follows the feed (the server's
// rivulet_feed_subscribers), a value POSTed to /stream/ticker reaches all
// four, and when the holding tab closes another takes over and a value
// published after that reaches the remaining three.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { BASE, WAIT_MS, eventually, launchBrowser, metrics, serverIdle } from './support.js';

const opts = { timeout: WAIT_MS * 3 };
const TABS = 4;
const TICKER = '/stream/ticker';

let browser;

before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

/** A tab of `context` on the server's origin following the ticker, shared. */
async function openTab(context) {
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  page.errors = [];
  page.on('pageerror', (err) => page.errors.push(err));
  await page.route(`${BASE}/__blank`, (route) =>
    route.fulfill({ contentType: 'text/html', body: '<!doctype html><meta charset="utf-8"><title>tab</title>' }),
  );
  await page.goto(`${BASE}/__blank`);
  await page.evaluate(async (url) => {
    // The stream requests this tab sends itself, and the response heads it
    // got: the server subscribes a request to the feed before it answers.
    window.requests = 0;
    window.heads = 0;
    const ownFetch = window.fetch;
    window.fetch = async (input, init) => {
      window.requests++;
      const response = await ownFetch(input, init);
      window.heads++;
      return response;
    };
    const { createStream } = await import('/rivulet/stream.js');
    // start() loads ./share.js, which joins the tabs' channel, only then: a
    // value published before this tab joined is not this tab's. With the
    // module loaded here, it has joined once a task has run after start().
    await import('/rivulet/share.js');
    window.log = [];
    window.stream = createStream(url, { shareAcrossTabs: true })
      .progress((data) => window.log.push(['progress', data]))
      .done((data) => window.log.push(['done', data]))
      .error((xhr, errorType, message) => window.log.push(['error', errorType, message]))
      .start();
    await new Promise((resolve) => setTimeout(resolve, 0));
  }, TICKER);
  return page;
}

async function publish(value) {
  const res = await fetch(`${BASE}${TICKER}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(value),
    signal: AbortSignal.timeout(WAIT_MS),
  });
  assert.equal(res.status, 202, await res.text());
}

const logOf = (tab) => tab.evaluate(() => window.log);

/** Waits until every tab has received `value` as a progress packet. */
async function allReceive(tabs, value, what) {
  let logs;
  try {
    await eventually(async () => {
      logs = await Promise.all(tabs.map(logOf));
      return logs.every((log) => log.some(([kind, data]) => kind === 'progress' && data?.tick === value.tick));
    }, what);
  } catch (e) {
    const counts = await Promise.all(tabs.map((tab) => tab.evaluate(() => [window.requests, window.heads])));
    throw new Error(`${e.message}; requests and heads per tab ${JSON.stringify(counts)}; logs ${JSON.stringify(logs)}`);
  }
}

/** The tab that sent the feed's request; fails unless exactly one of `tabs` did. */
async function holderOf(tabs) {
  const sent = await Promise.all(tabs.map((tab) => tab.evaluate(() => window.requests)));
  assert.equal(sent.reduce((a, b) => a + b, 0), 1, `one request in all, sent per tab: ${sent}`);
  return tabs[sent.indexOf(1)];
}

/** Waits until one of `tabs` has its answer from the ticker and it is the feed's only subscriber. */
function oneFollower(tabs, what) {
  return eventually(async () => {
    const counts = await Promise.all(tabs.map((tab) => tab.evaluate(() => [window.requests, window.heads])));
    const sum = (k) => counts.reduce((total, c) => total + c[k], 0);
    return sum(0) === 1 && sum(1) === 1 && (await metrics()).rivulet_feed_subscribers === 1;
  }, what);
}

test(`${TABS} tabs follow the ticker over one connection; a publish reaches all, before and after a handover`, opts, async () => {
  await serverIdle();
  await eventually(async () => ((await metrics()).rivulet_feed_subscribers ?? 0) === 0, 'no subscriber to the ticker');
  const context = await browser.newContext();
  const tabs = [];
  for (let i = 0; i < TABS; i++) tabs.push(await openTab(context));

  // One tab connects; the others listen to it. Publishing before the feed is
  // followed would reach no one, so wait for the follower first.
  await oneFollower(tabs, 'one follower of the ticker');
  const first = { tick: Date.now() };
  await publish(first);
  await allReceive(tabs, first, `every one of ${TABS} tabs to receive the published value`);
  const holder = await holderOf(tabs);
  assert.equal((await metrics()).rivulet_feed_subscribers, 1, 'one subscriber to the feed');

  await holder.close();
  const others = tabs.filter((tab) => tab !== holder);
  // Another tab takes over with a connection of its own, and the holder's is gone.
  await oneFollower(others, 'another tab to take over the feed, alone');
  const next = await holderOf(others);
  assert.notEqual(next, holder);

  const second = { tick: first.tick + 1 };
  await publish(second);
  await allReceive(others, second, `the remaining ${TABS - 1} tabs to receive a value published after the handover`);
  for (const tab of others) {
    const log = await logOf(tab);
    assert.ok(log.every(([kind]) => kind === 'progress'), `nothing but progress packets: ${JSON.stringify(log)}`);
    // Each value once, in the order published.
    const ticks = log.map(([, data]) => data?.tick).filter((tick) => tick === first.tick || tick === second.tick);
    assert.deepStrictEqual(ticks, [first.tick, second.tick]);
    assert.deepStrictEqual(tab.errors, []);
  }

  await context.close();
  await eventually(async () => (await metrics()).rivulet_feed_subscribers === 0, 'no subscriber to the ticker');
});
