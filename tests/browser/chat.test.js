// The demo's chat page (/chat: React, useChat from @ai-sdk/react, the real
// `ai` package) in headless Chromium against the demo's /api/chat: the stock
// DefaultChatTransport renders the answer; useChat({ resume: true }) after a
// reload mid-answer shows the whole answer once; the stock transport's stop
// leaves the job running and resumable; RivuletChatTransport's stop ends it
// on the server within a second.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { BASE, WAIT_MS, eventually, launchBrowser } from './support.js';

const opts = { timeout: WAIT_MS * 2 };
let browser;
let chats = 0;

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

/** A chat id no other test uses. */
const newChat = (name) => `${name}-${process.pid}-${++chats}`;

/** The chat page for chat `chat`, with `transport` ('rivulet' or 'default') and words `delta` ms apart. */
async function chatPage(chat, { transport = 'rivulet', delta = 100 } = {}) {
  const page = await browser.newPage();
  page.setDefaultTimeout(WAIT_MS);
  page.errors = [];
  page.on('pageerror', (err) => page.errors.push(String(err)));
  page.sent = [];
  page.on('request', (req) => {
    const url = new URL(req.url());
    if (url.pathname.startsWith('/api/chat')) page.sent.push(`${req.method()} ${url.pathname}`);
  });
  const query = new URLSearchParams({ chat, transport, delta_ms: String(delta) });
  await page.goto(`${BASE}/chat?${query}`);
  await page.waitForSelector('#status[data-status=ready]');
  return page;
}

async function ask(page, question) {
  await page.fill('#input', question);
  await page.click('#send');
}

const assistantTexts = (page) => page.$$eval('li[data-role=assistant]', (items) => items.map((li) => li.textContent));

/** Waits until the assistant's answer has at least `words` words. */
const answered = (page, words) =>
  eventually(async () => {
    const texts = await assistantTexts(page);
    return texts.length === 1 && texts[0].split(' ').length > words;
  }, `${words} words of the answer`);

/** The parts of an answer body (every `data:` event before `[DONE]`). */
function parts(text) {
  const events = text.split('\n\n').filter((event) => event.startsWith('data: '));
  assert.equal(events.at(-1), 'data: [DONE]', text);
  return events.slice(0, -1).map((event) => JSON.parse(event.slice(6)));
}

const said = (parts) =>
  parts
    .filter((part) => part.type === 'text-delta')
    .map((part) => part.delta)
    .join('');

/** The whole answer to `question` alone, read with fetch: the stand-in model always gives the same one. */
async function expectedAnswer(question) {
  const body = {
    id: newChat('expected'),
    messages: [{ id: 'm1', role: 'user', parts: [{ type: 'text', text: question }] }],
    trigger: 'submit-message',
  };
  const response = await fetch(`${BASE}/api/chat?delta_ms=0`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(WAIT_MS),
  });
  assert.equal(response.status, 200);
  return said(parts(await response.text()));
}

/** GET /api/chat/{chat}/stream: its status, and its body read to the end when it is 200. */
async function resume(chat) {
  const response = await fetch(`${BASE}/api/chat/${chat}/stream`, { signal: AbortSignal.timeout(WAIT_MS) });
  return { status: response.status, text: response.status === 200 ? await response.text() : '' };
}

test('the stock DefaultChatTransport renders the demo answer', opts, async () => {
  const question = 'What does the stock transport show?';
  const expected = await expectedAnswer(question);
  assert.ok(expected.split(' ').length >= 30, expected);
  const page = await chatPage(newChat('stock'), { transport: 'default', delta: 5 });
  await ask(page, question);
  await eventually(async () => (await assistantTexts(page))[0] === expected, 'the whole answer');
  await page.waitForSelector('#status[data-status=ready]');
  assert.deepEqual(await page.$$eval('li[data-role=user]', (items) => items.map((li) => li.textContent)), [question]);
  assert.deepEqual(await assistantTexts(page), [expected]);
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('useChat({ resume: true }) after a reload mid-answer shows the whole answer once', opts, async () => {
  const question = 'Does a reload lose the answer?';
  const expected = await expectedAnswer(question);
  const chat = newChat('reload');
  const page = await chatPage(chat);
  await ask(page, question);
  await answered(page, 3);
  await page.reload();
  // On mount, useChat asks GET /api/chat/{chat}/stream and gets the answer from its first part.
  await eventually(async () => (await page.$('#status[data-status=streaming]')) || (await assistantTexts(page)).length, 'the resumed answer');
  await page.waitForSelector('#status[data-status=ready]');
  assert.deepEqual(await assistantTexts(page), [expected]);
  assert.ok(page.sent.includes(`GET /api/chat/${chat}/stream`), page.sent.join(', '));
  assert.ok(!page.sent.includes(`DELETE /api/chat/${chat}/stream`), 'a reload cancels nothing');
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('stop with the stock transport keeps the job running and resumable', opts, async () => {
  const question = 'Does the stock stop stop the job?';
  const expected = await expectedAnswer(question);
  const chat = newChat('stock-stop');
  const page = await chatPage(chat, { transport: 'default' });
  await ask(page, question);
  await answered(page, 3);
  await page.click('#stop');
  await page.waitForSelector('#status[data-status=ready]');
  const shown = (await assistantTexts(page))[0];
  assert.ok(shown.length < expected.length, 'the page stopped mid-answer');
  // The job ran on: a resume gets the whole answer from its first part.
  const resumed = await resume(chat);
  assert.equal(resumed.status, 200);
  const resumedParts = parts(resumed.text);
  assert.equal(said(resumedParts), expected);
  assert.equal(resumedParts.at(-1).type, 'finish');
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('stop with RivuletChatTransport ends the job on the server within a second', opts, async () => {
  const question = 'Does the Rivulet stop stop the job?';
  const expected = await expectedAnswer(question);
  const chat = newChat('rivulet-stop');
  const page = await chatPage(chat);
  await ask(page, question);
  await answered(page, 3);
  await page.click('#stop');
  const stopped = Date.now();
  // Nothing runs any more: a resume is 204.
  await eventually(async () => {
    const response = await fetch(`${BASE}/api/chat/${chat}/stream`, { signal: AbortSignal.timeout(WAIT_MS) });
    await response.body?.cancel();
    return response.status === 204;
  }, 'the cancelled job to end');
  const took = Date.now() - stopped;
  assert.ok(took < 1000, `the job ended ${took} ms after the stop`);
  assert.ok(page.sent.includes(`DELETE /api/chat/${chat}/stream`), page.sent.join(', '));
  await page.waitForSelector('#status[data-status=ready]');
  const shown = (await assistantTexts(page))[0];
  assert.ok(shown.length < expected.length && expected.startsWith(shown), `a prefix of the answer: ${shown}`);
  assert.deepEqual(page.errors, []);
  await page.close();
});
