// An upload of a real file from disk: upload progress events from the
// browser, then the server's hashing progress, then its SHA-256.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { WAIT_MS, blankPage, launchBrowser } from './support.js';

const SIZE = 3 * 1024 * 1024 + 12345;
let browser;
let page;
let dir;
let file;
let sha256;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rivulet-upload-'));
  file = join(dir, 'random.bin');
  const bytes = randomBytes(SIZE);
  writeFileSync(file, bytes);
  sha256 = createHash('sha256').update(bytes).digest('hex');
  browser = await launchBrowser();
  page = await blankPage(browser);
  await page.setContent('<input type="file" id="file">');
  await page.setInputFiles('#file', file);
});

after(async () => {
  await browser?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('createStream: upload progress, hashing progress, then the hash', { timeout: WAIT_MS * 2 }, async () => {
  const log = await page.evaluate(async (waitMs) => {
    const { createStream } = await import('/rivulet/stream.js');
    const body = new FormData();
    body.append('file', document.getElementById('file').files[0]);
    const log = [];
    const stream = createStream('/stream/upload', { body, timeout: waitMs })
      .uploadProgress((event) => log.push(['upload', event.loaded, event.total, event.lengthComputable]))
      .progress((data) => log.push(['progress', data]));
    try {
      log.push(['done', await stream]);
    } catch (err) {
      log.push(['error', err.errorType, err.message, err.status]);
    }
    return log;
  }, WAIT_MS);

  assert.deepStrictEqual(log.at(-1), ['done', { bytes: SIZE, sha256 }]);
  const uploads = log.filter((entry) => entry[0] === 'upload');
  assert.ok(uploads.length >= 1, 'at least one upload progress event');
  for (let i = 1; i < uploads.length; i++) assert.ok(uploads[i][1] >= uploads[i - 1][1], 'upload progress only grows');
  const [, loaded, total, computable] = uploads.at(-1);
  assert.equal(computable, true);
  assert.equal(loaded, total, 'the last upload event reports the whole body');
  assert.ok(total > SIZE, 'the multipart body holds the file');

  const hashed = log.filter((entry) => entry[0] === 'progress').map((entry) => entry[1].bytes);
  assert.ok(hashed.length >= 1, 'the server reports hashing progress');
  for (let i = 1; i < hashed.length; i++) assert.ok(hashed[i] > hashed[i - 1], 'hashing progress only grows');
  assert.ok(hashed.at(-1) <= SIZE);
});

test('an upload without the file field is a 422 before the stream begins', { timeout: WAIT_MS * 2 }, async () => {
  const result = await page.evaluate(async () => {
    const { createStream } = await import('/rivulet/stream.js');
    const body = new FormData();
    body.append('other', 'value');
    return createStream('/stream/upload', { body })
      .uploadProgress(() => {})
      .then(
        (final) => ['done', final],
        (err) => ['error', err.errorType, err.status, err.responseJSON?.error?.status],
      );
  });
  assert.deepStrictEqual(result, ['error', 'error', 422, 422]);
});
