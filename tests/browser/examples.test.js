// The example apps' pages (crates/rivulet/examples/) in Chromium: each example
// binary is started on a free loopback port (ADDR=127.0.0.1:0; it prints the
// address it got), its page is opened, and what the page shows is checked.
// run.sh builds the examples (cargo build --release -p rivulet-http --all-features --examples).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';

import { WAIT_MS, launchBrowser, binDir } from './support.js';

const EXAMPLES = join(binDir(), 'examples', '/');
const opts = { timeout: WAIT_MS * 2 };
const children = [];
let browser;

/** Starts example `name`; resolves with its base URL once it listens. */
function startExample(name) {
  const child = spawn(EXAMPLES + name, [], {
    env: { ...process.env, ADDR: '127.0.0.1:0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start`)), WAIT_MS);
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`${name} exited with ${code}`)));
    createInterface({ input: child.stdout }).once('line', (line) => {
      clearTimeout(timer);
      const url = /http:\/\/\S+/.exec(line);
      if (url) resolve(url[0].replace(/\/$/, ''));
      else reject(new Error(`${name} printed ${line}`));
    });
  });
}

/** A new page that records uncaught errors. */
async function open(url) {
  const page = await browser.newPage();
  page.setDefaultTimeout(WAIT_MS);
  page.errors = [];
  page.on('pageerror', (err) => page.errors.push(err));
  await page.goto(url);
  return page;
}

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  for (const child of children) child.kill();
});

test('streams: the page plays the four streams', opts, async () => {
  const base = await startExample('streams');
  const page = await open(base + '/?interval_ms=20');
  const log = page.locator('#log');
  const play = async (url, until) => {
    await page.click(`button[data-url="${url}"]`);
    await page.waitForFunction((until) => new RegExp(until).test(document.getElementById('log').textContent), until.source);
    return log.textContent();
  };
  let text = await play('/stream', /done: null/);
  assert.match(text, /progress: "Starting stream test"\n(progress: "i=\d+"\n){10}done: null/);
  text = await play('/stream/status', /done: null/);
  assert.match(text, /progress: \{"count":3,"items":\["alpha","beta","gamma"\],"status":"ok"\}/);
  text = await play('/stream/process', /done: /);
  assert.match(text, /progress: "Processed 50 items"\ndone: \{"processed":50,"success":true\}/);
  text = await play('/stream/riskyProcess', /done: |error: /);
  assert.match(text, /Operation succeeded"\ndone: \{"success":true\}|error: Something went wrong!/);
  assert.deepStrictEqual(page.errors.map(String), []);
});

test('upload: the page shows the bytes sent and read, then the summary', opts, async () => {
  const base = await startExample('upload');
  const page = await open(base + '/');
  const size = 5 * 600_000; // whole "line\n"s
  await page.setInputFiles('input[name=file]', {
    name: 'big.txt',
    mimeType: 'text/plain',
    buffer: Buffer.alloc(size, 'line\n'),
  });
  await page.click('form button');
  await page.waitForFunction(() => document.getElementById('log').textContent.includes('"bytes"'));
  const summary = JSON.parse(await page.locator('#log').textContent());
  assert.deepStrictEqual(summary, { name: 'big.txt', bytes: size, lines: size / 5 });
  assert.equal(await page.locator('#sent').evaluate((p) => p.value), size);
  assert.equal(await page.locator('#read').evaluate((p) => p.value), size);
  assert.deepStrictEqual(page.errors.map(String), []);
});

test('jquery: the Hazaar page counts to ten with $.stream', opts, async () => {
  const base = await startExample('jquery');
  const page = await open(base + '/?interval_ms=20');
  await page.waitForFunction(() => document.getElementById('streamTest').textContent.includes('And we are done!'));
  const lines = await page.locator('#streamTest p').allTextContents();
  assert.deepStrictEqual(lines, [
    'Received: Starting stream test',
    ...Array.from({ length: 10 }, (_, i) => `Received: i=${i + 1}`),
    'And we are done!',
  ]);
  assert.deepStrictEqual(page.errors.map(String), []);
});
