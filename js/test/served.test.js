// The Rivulet server embeds the client (crates/rivulet/src/assets.rs, from
// links in crates/rivulet/assets/ to the files here) and a page imports it
// unbundled, so every module a served module imports must be served too, and
// be in the npm package.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const js = (name) => fileURLToPath(new URL(`../${name}`, import.meta.url));
const assets = (name) => fileURLToPath(new URL(`../../crates/rivulet/assets/${name}`, import.meta.url));
const assetsRs = readFileSync(fileURLToPath(new URL('../../crates/rivulet/src/assets.rs', import.meta.url)), 'utf8');
const files = JSON.parse(readFileSync(js('package.json'), 'utf8')).files;

// The relative imports (static and dynamic) of a module's source.
const imports = (name) =>
  [...readFileSync(js(name), 'utf8').matchAll(/(?:from|import\()\s*'\.\/([\w.]+)'/g)].map((m) => m[1]);

test('every module the served client imports is served from js/ and packed', () => {
  const seen = new Set();
  const queue = ['stream.js', 'jquery.stream.js'];
  while (queue.length) {
    const name = queue.shift();
    if (seen.has(name)) continue;
    seen.add(name);
    assert.equal(realpathSync(assets(name)), realpathSync(js(name)), `crates/rivulet/assets/${name} links to js/${name}`);
    assert.ok(assetsRs.includes(`name: "${name}"`), `assets.rs serves ${name}`);
    assert.ok(files.includes(name), `package.json files has ${name}`);
    queue.push(...imports(name));
  }
  assert.deepEqual(
    [...seen].sort(),
    ['callbacks.js', 'jquery.stream.js', 'parser.js', 'resume.js', 'share.js', 'stream.js', 'transport.js'],
  );
});
