// Shared by the browser tests: the server under test, Chromium, and in-page
// helpers. Run through tests/browser/run.sh, which starts the demo server and
// sets RIVULET_URL; the npm packages come from js/ (npm ci there).

import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const requireFromJs = createRequire(new URL('../../js/package.json', import.meta.url));
const { chromium } = requireFromJs('playwright-core');

export const BASE = (process.env.RIVULET_URL ?? '').replace(/\/$/, '');
if (!BASE) throw new Error('RIVULET_URL is not set: run tests/browser/run.sh');

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

/**
 * The folder of the binaries under test (`rivulet`, `examples/…`): run.sh
 * exports RIVULET_BIN_DIR after building; otherwise cargo is asked where its
 * target folder is (it honours CARGO_TARGET_DIR and cargo config files) and
 * the release build there is used.
 */
export function binDir() {
  if (process.env.RIVULET_BIN_DIR) return process.env.RIVULET_BIN_DIR;
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const metadata = execFileSync('cargo', ['metadata', '--format-version', '1', '--no-deps'], {
    cwd: root,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return join(JSON.parse(metadata).target_directory, 'release');
}

/** Where screenshots go (gitignored). */
export const SCREENSHOTS = fileURLToPath(new URL('./screenshots/', import.meta.url));
mkdirSync(SCREENSHOTS, { recursive: true });

/** The jQuery that npm installed in js/, as script text. */
export const JQUERY_PATH = requireFromJs.resolve('jquery'); // dist/jquery.js, the browser build

/** Longest any single wait may take; nothing in these tests waits unbounded. */
export const WAIT_MS = 20_000;

/** Headless Chromium with the usual flags and `extraArgs`. */
export async function launchBrowser(extraArgs = []) {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', ...extraArgs],
    timeout: WAIT_MS,
  });
}

/**
 * A page on the server's origin with nothing in it: the tests import the
 * client from /rivulet/ as a page would. Only this one made-up URL is
 * answered by the test; every other request goes to the real server.
 */
export async function blankPage(browser) {
  const page = await browser.newPage();
  page.setDefaultTimeout(WAIT_MS);
  const errors = [];
  page.on('pageerror', (err) => errors.push(err));
  await page.route(`${BASE}/__blank`, (route) =>
    route.fulfill({ contentType: 'text/html', body: '<!doctype html><meta charset="utf-8"><title>blank</title>' }),
  );
  await page.goto(`${BASE}/__blank`);
  page.errors = errors;
  return page;
}

/**
 * Runs createStream(url, options) in the page and returns every callback in
 * the order it ran: ['progress', data], ['done', data] or
 * ['error', errorType, message, status, responseJSON]. `abortAfter: n` aborts
 * after the n-th progress packet; `xhr: true` sends it over XMLHttpRequest.
 */
export function record(page, url, options = {}, { abortAfter = 0, xhr = false } = {}) {
  return page.evaluate(
    async ({ url, options, abortAfter, xhr, waitMs }) => {
      const { createStream } = await import('/rivulet/stream.js');
      return new Promise((resolve) => {
        const log = [];
        const guard = setTimeout(() => resolve([...log, ['test gave up waiting']]), waitMs);
        const stream = createStream(url, options);
        // An uploadProgress callback makes the client use XMLHttpRequest.
        if (xhr) stream.uploadProgress(() => {});
        stream
          .progress((data) => {
            log.push(['progress', data]);
            if (abortAfter && log.length === abortAfter) stream.abort();
          })
          .done((data) => log.push(['done', data]))
          .error((xhr, errorType, message) => log.push(['error', errorType, message, xhr.status, xhr.responseJSON ?? null]))
          .always(() => {
            clearTimeout(guard);
            resolve(log);
          })
          .start();
      });
    },
    { url, options, abortAfter, xhr, waitMs: WAIT_MS },
  );
}

/** The server's Prometheus metrics: {name: value}, summed over labels. */
export async function metrics() {
  const text = await (await fetch(`${BASE}/metrics`, { signal: AbortSignal.timeout(WAIT_MS) })).text();
  const values = {};
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{[^}]*\})?\s+(\S+)/.exec(line);
    if (match) values[match[1]] = (values[match[1]] ?? 0) + Number(match[2]);
  }
  return values;
}

/** Polls `check` until it returns a truthy value; fails after WAIT_MS. */
export async function eventually(check, what) {
  const deadline = Date.now() + WAIT_MS;
  let last;
  for (;;) {
    last = await check();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until the server runs no stream handler and returns the metrics then. */
export function serverIdle() {
  return eventually(async () => {
    const m = await metrics();
    return (m.rivulet_streams_active ?? 0) === 0 ? m : null;
  }, 'rivulet_streams_active to return to 0');
}
