// The browser client (js/stream.js, run here under Node) resumes a live feed
// across a server kill: two `rivulet demo --redis` servers share the ticker
// feed through one redis-server, a small TCP balancer sends every connection
// to the first server that accepts it, and the first server is killed while
// three clients (SSE, NDJSON, legacy) follow the feed through the balancer.
// Each comes back on the second server from its own resume point and gets
// every value once, in order.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';

import { WAIT_MS, binDir } from './support.js';
import { createStream } from '../../js/stream.js';

const VALUES = 60;
const KILL_AFTER = 20;
const children = [];

/** A free loopback port. */
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

/** Resolves once something accepts connections on `port`; fails after WAIT_MS. */
async function listening(port, child) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (ok) return;
    assert.equal(child.exitCode, null, `the process on port ${port} exited`);
    assert.ok(Date.now() < deadline, `port ${port} listening in time`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function start(command, args) {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(child);
  return child;
}

/** A balancer on `port` that sends each connection to the first of `backends` that accepts it. */
function balancer(backends) {
  const sockets = new Set();
  const server = createServer((inbound) => {
    sockets.add(inbound);
    inbound.on('close', () => sockets.delete(inbound));
    inbound.on('error', () => inbound.destroy());
    const attempt = (i) => {
      if (i >= backends.length) return inbound.destroy();
      const outbound = createConnection({ host: '127.0.0.1', port: backends[i] });
      let connected = false;
      outbound.once('error', () => {
        if (connected) inbound.destroy();
        else attempt(i + 1);
      });
      outbound.once('connect', () => {
        connected = true;
        outbound.on('error', () => inbound.destroy());
        outbound.on('close', () => inbound.destroy());
        inbound.on('close', () => outbound.destroy());
        inbound.pipe(outbound);
        outbound.pipe(inbound);
      });
    };
    attempt(0);
  });
  server.sockets = sockets;
  return server;
}

let lb;
let demos;

before(async () => {
  const redisPort = await freePort();
  const redis = start('redis-server', [
    '--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
  ]);
  await listening(redisPort, redis);
  demos = [];
  for (let i = 0; i < 2; i += 1) {
    const port = await freePort();
    const child = start(join(binDir(), 'rivulet'), [
      'demo', '--addr', `127.0.0.1:${port}`, '--redis', `redis://127.0.0.1:${redisPort}`,
    ]);
    await listening(port, child);
    demos.push({ port, child });
  }
  lb = balancer(demos.map((d) => d.port));
  await new Promise((resolve) => lb.listen(0, '127.0.0.1', resolve));
});

after(async () => {
  for (const socket of lb?.sockets ?? []) socket.destroy();
  lb?.close();
  for (const child of children) child.kill('SIGKILL');
});

/** The ticker's subscribers on the demo server on `port`, from /metrics. */
async function subscribers(port) {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(WAIT_MS) })).text();
  const line = text.split('\n').find((l) => l.startsWith('rivulet_feed_subscribers'));
  return line ? Number(line.split(' ').pop()) : 0;
}

async function publish(port, value) {
  const response = await fetch(`http://127.0.0.1:${port}/stream/ticker`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(value),
    signal: AbortSignal.timeout(WAIT_MS),
  });
  assert.equal(response.status, 202, await response.text());
}

test('the client resumes the feed on the other server after a kill, nothing lost or doubled', { timeout: WAIT_MS * 3 }, async () => {
  const [a, b] = demos;
  const url = `http://127.0.0.1:${lb.address().port}/stream/ticker`;
  const readers = ['sse', 'ndjson', 'legacy'].map((format) => {
    const reader = { format, values: [], error: undefined, points: [] };
    reader.stream = createStream(url, { format, reconnect: { retries: 20, delay: 50, maxDelay: 500 } })
      .progress((data) => {
        reader.values.push(data.n);
        reader.points.push(reader.stream.lastEventId());
        if (reader.values.length === VALUES) reader.stream.abort();
      })
      .error((xhr, type, message) => {
        if (type !== 'abort') reader.error = `${type}: ${message}`;
      });
    reader.stream.start();
    return reader;
  });
  const deadline = Date.now() + WAIT_MS;
  while ((await subscribers(a.port)) < readers.length) {
    assert.ok(Date.now() < deadline, 'every client following on the first server in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  for (let n = 1; n <= VALUES; n += 1) {
    if (n === KILL_AFTER + 1) {
      // Every client has the first values from the first server: kill it.
      const until = Date.now() + WAIT_MS;
      while (readers.some((r) => r.values.length < KILL_AFTER)) {
        assert.ok(Date.now() < until, 'the first values arrive in time');
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      a.child.kill('SIGKILL');
    }
    await publish(b.port, { n });
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const until = Date.now() + WAIT_MS;
  while (readers.some((r) => r.values.length < VALUES && !r.error)) {
    assert.ok(Date.now() < until, `every value arrives in time: ${readers.map((r) => `${r.format} ${r.values.length}`)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const expected = Array.from({ length: VALUES }, (_, i) => i + 1);
  for (const reader of readers) {
    assert.equal(reader.error, undefined, reader.format);
    assert.deepStrictEqual(reader.values, expected, `${reader.format}: every value once, in order`);
    // The NDJSON and legacy clients counted their way to the same points
    // the SSE ids carry.
    assert.deepStrictEqual(
      reader.points.map((p) => p.split('.')[1]),
      readers[0].points.map((p) => p.split('.')[1]),
      reader.format,
    );
  }
});
