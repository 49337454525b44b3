// The chat page on two demo servers sharing one Redis (Debian's redis-server
// on a free loopback port, started here): an answer begun on one server, the
// page then opened on the other with the same chat id, shows the whole answer
// once, resumed from Redis; RivuletChatTransport's stop there ends the job
// that runs on the first server.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';

import { WAIT_MS, binDir, eventually, launchBrowser } from './support.js';

const opts = { timeout: WAIT_MS * 2 };
const children = [];
const bases = [];
let browser;
let log = '';

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

function start(command, args) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  for (const out of [child.stdout, child.stderr]) out.on('data', (chunk) => (log += chunk));
  children.push(child);
  return child;
}

async function answers(url) {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(1000) })).ok;
  } catch {
    return false;
  }
}

// Never leave a server running, even if the runner exits early.
process.on('exit', () => children.forEach((child) => child.kill('SIGKILL')));

/** True once something accepts connections on `port`. */
function listening(port) {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.end();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

before(async () => {
  const redisPort = await freePort();
  const redis = start('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
  await eventually(async () => {
    assert.equal(redis.exitCode, null, `redis-server exited:\n${log}`);
    return listening(redisPort);
  }, 'redis-server to listen');
  for (let i = 0; i < 2; i++) {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    start(join(binDir(), 'rivulet'), ['demo', '--addr', `127.0.0.1:${port}`, '--redis', `redis://127.0.0.1:${redisPort}`]);
    bases.push(base);
  }
  await eventually(async () => {
    for (const child of children) assert.equal(child.exitCode, null, `a server exited:\n${log}`);
    return (await answers(`${bases[0]}/metrics`)) && (await answers(`${bases[1]}/metrics`));
  }, 'both demo servers to answer');
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  for (const child of children) {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    if (child.exitCode === null) await once(child, 'exit');
    clearTimeout(timer);
  }
});

/** Opens chat `chat` on `base`; on mount, useChat resumes its running answer, if any. */
async function openChat(page, base, chat) {
  await page.goto(`${base}/chat?${new URLSearchParams({ chat, delta_ms: '100' })}`);
  await page.waitForSelector('#status');
}

const assistantTexts = (page) => page.$$eval('li[data-role=assistant]', (items) => items.map((li) => li.textContent));

/** The whole answer to `question` alone, with no pause between words. */
async function expectedAnswer(base, question) {
  const body = {
    id: `expected-${process.pid}-${Date.now()}`,
    messages: [{ id: 'm1', role: 'user', parts: [{ type: 'text', text: question }] }],
    trigger: 'submit-message',
  };
  const response = await fetch(`${base}/api/chat?delta_ms=0`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(WAIT_MS),
  });
  return (await response.text())
    .split('\n\n')
    .filter((event) => event.startsWith('data: {'))
    .map((event) => JSON.parse(event.slice(6)))
    .filter((part) => part.type === 'text-delta')
    .map((part) => part.delta)
    .join('');
}

const answered = (page, words) =>
  eventually(async () => {
    const texts = await assistantTexts(page);
    return texts.length === 1 && texts[0].split(' ').length > words;
  }, `${words} words of the answer`);

test('an answer begun on one server resumes whole and once on the other, through Redis', opts, async () => {
  const chat = `redis-${process.pid}`;
  const question = 'Does Redis keep the answer?';
  const expected = await expectedAnswer(bases[1], question);
  const page = await browser.newPage();
  page.setDefaultTimeout(WAIT_MS);
  const errors = [];
  page.on('pageerror', (err) => errors.push(String(err)));
  await openChat(page, bases[0], chat);
  await page.waitForSelector('#status[data-status=ready]');
  await page.fill('#input', question);
  await page.click('#send');
  await answered(page, 3);
  // The same chat on the other server: useChat's resume on mount.
  await openChat(page, bases[1], chat);
  await eventually(async () => (await assistantTexts(page)).length === 1, 'the resumed answer on the other server');
  await page.waitForSelector('#status[data-status=ready]');
  assert.deepEqual(await assistantTexts(page), [expected]);
  // Finished: neither server has anything to resume.
  for (const base of bases) {
    assert.equal((await fetch(`${base}/api/chat/${chat}/stream`, { signal: AbortSignal.timeout(WAIT_MS) })).status, 204);
  }
  assert.deepEqual(errors, []);
  await page.close();
});

test('stop on the other server ends the job of the first', opts, async () => {
  const chat = `redis-stop-${process.pid}`;
  const page = await browser.newPage();
  page.setDefaultTimeout(WAIT_MS);
  await openChat(page, bases[0], chat);
  await page.waitForSelector('#status[data-status=ready]');
  await page.fill('#input', 'Can the other server stop it?');
  await page.click('#send');
  await answered(page, 3);
  await openChat(page, bases[1], chat);
  await page.waitForSelector('#status[data-status=streaming]');
  await page.click('#stop');
  await eventually(async () => {
    const response = await fetch(`${bases[0]}/api/chat/${chat}/stream`, { signal: AbortSignal.timeout(WAIT_MS) });
    await response.body?.cancel();
    return response.status === 204;
  }, 'the job on the first server to end');
  await page.waitForSelector('#status[data-status=ready]');
  const shown = (await assistantTexts(page))[0];
  const expected = await expectedAnswer(bases[0], 'Can the other server stop it?');
  assert.ok(shown.length < expected.length && expected.startsWith(shown), `a prefix of the answer: ${shown}`);
  await page.close();
});
