// Past the six-connection limit of HTTP/1.1: the demo over TLS
// (`rivulet demo --tls-self-signed`) speaks HTTP/2 by ALPN, so one page in
// Chromium runs 20 concurrent createStream feeds over one connection. The
// test starts its own HTTPS demo on a free loopback port (run.sh's demo is
// plain HTTP) and Chromium that accepts its self-signed certificate. The
// protocol of each feed request is read from the DevTools protocol's
// Network.responseReceived, as the page cannot see it itself.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import https from 'node:https';
import { join } from 'node:path';

import { WAIT_MS, launchBrowser, binDir } from './support.js';

const opts = { timeout: WAIT_MS * 3 };
const BINARY = join(binDir(), 'rivulet');
const FEEDS = 20;
const FEED = '/stream/feed?interval_ms=100';

let server;
let serverLog = '';
let base;
let browser;

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** GET `path` from the HTTPS demo with Node, trusting its self-signed certificate. */
function httpsGet(path) {
  return new Promise((resolve, reject) => {
    const req = https.get(`${base}${path}`, { rejectUnauthorized: false, timeout: WAIT_MS }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
  });
}

/** The HTTPS demo's Prometheus metrics: {name: value}, summed over labels. */
async function metrics() {
  const { body } = await httpsGet('/metrics');
  const values = {};
  for (const line of body.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{[^}]*\})?\s+(\S+)/.exec(line);
    if (match) values[match[1]] = (values[match[1]] ?? 0) + Number(match[2]);
  }
  return values;
}

async function eventually(check, what) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const last = await check();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function stopServer() {
  if (!server || server.exitCode !== null || server.signalCode !== null) return;
  const exited = once(server, 'exit');
  server.kill('SIGTERM');
  const timer = setTimeout(() => server.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

// Never leave the demo running, even if the runner exits early.
process.on('exit', () => server?.kill('SIGKILL'));

before(async () => {
  const port = await freePort();
  base = `https://127.0.0.1:${port}`;
  server = spawn(BINARY, ['demo', '--tls-self-signed', '--addr', `127.0.0.1:${port}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const out of [server.stdout, server.stderr]) out.on('data', (chunk) => (serverLog += chunk));
  try {
    await eventually(async () => {
      assert.equal(server.exitCode, null, `the demo exited:\n${serverLog}`);
      try {
        return (await httpsGet('/metrics')).status === 200;
      } catch {
        return false;
      }
    }, 'the HTTPS demo to answer');
    browser = await launchBrowser(['--ignore-certificate-errors']);
  } catch (e) {
    await stopServer();
    throw e;
  }
});

after(async () => {
  await browser?.close();
  await stopServer();
});

test(`${FEEDS} feeds on one page over TLS + HTTP/2 all flow; aborting one cancels only it`, opts, async (t) => {
  const page = await browser.newPage();
  page.setDefaultTimeout(WAIT_MS);
  const errors = [];
  page.on('pageerror', (err) => errors.push(err));

  // The protocol every response of the page came over, by URL.
  const cdp = await page.context().newCDPSession(page);
  const protocols = [];
  cdp.on('Network.responseReceived', ({ response }) => protocols.push([response.url, response.protocol]));
  await cdp.send('Network.enable');

  await page.route(`${base}/__blank`, (route) =>
    route.fulfill({ contentType: 'text/html', body: '<!doctype html><meta charset="utf-8"><title>h2</title>' }),
  );
  await page.goto(`${base}/__blank`);
  const atStart = await metrics();

  await page.evaluate(
    async ({ url, feeds }) => {
      const { createStream } = await import('/rivulet/stream.js');
      window.counts = Array(feeds).fill(0);
      window.ends = [];
      window.streams = window.counts.map((_, i) =>
        createStream(url)
          .progress(() => void window.counts[i]++)
          .done(() => window.ends.push([i, 'done']))
          .error((xhr, errorType) => window.ends.push([i, 'error', errorType]))
          .start(),
      );
    },
    { url: FEED, feeds: FEEDS },
  );
  const counts = () => page.evaluate(() => window.counts);
  const moreThan = (had, more, which, what) =>
    eventually(async () => {
      const now = await counts();
      return which.every((i) => now[i] >= had[i] + more) ? now : null;
    }, what);
  const all = [...Array(FEEDS).keys()];

  await moreThan(Array(FEEDS).fill(0), 3, all, `all ${FEEDS} feeds to receive packets`);
  const feedProtocols = protocols.filter(([url]) => new URL(url).pathname === '/stream/feed');
  assert.equal(feedProtocols.length, FEEDS, `a response for every feed: ${JSON.stringify(protocols)}`);
  assert.ok(feedProtocols.every(([, protocol]) => protocol === 'h2'), `every feed over h2: ${JSON.stringify(feedProtocols)}`);
  assert.equal((await metrics()).rivulet_streams_active - (atStart.rivulet_streams_active ?? 0), FEEDS, 'a handler per feed');

  const aborted = 7;
  await page.evaluate((i) => void window.streams[i].abort(), aborted);
  const atAbort = await counts();
  const others = all.filter((i) => i !== aborted);
  await moreThan(atAbort, 5, others, `the other ${FEEDS - 1} feeds to go on after the abort`);
  assert.deepStrictEqual(await page.evaluate(() => window.ends), [[aborted, 'error', 'abort']]);
  assert.equal((await counts())[aborted], atAbort[aborted], 'nothing reaches the aborted stream');

  const cancelled = (m) => m.rivulet_streams_cancelled_total ?? 0;
  const active = (m) => (m.rivulet_streams_active ?? 0) - (atStart.rivulet_streams_active ?? 0);
  const afterAbort = await eventually(async () => {
    const m = await metrics();
    return active(m) === FEEDS - 1 && cancelled(m) > cancelled(atStart) ? m : null;
  }, 'the aborted stream to be cancelled on the server');
  assert.equal(cancelled(afterAbort) - cancelled(atStart), 1, 'exactly one stream cancelled');
  t.diagnostic(`packets per feed after the abort: ${await counts()}`);

  await page.evaluate(() => window.streams.forEach((s) => s.abort()));
  await page.close();
  assert.deepStrictEqual(errors, []);
});
