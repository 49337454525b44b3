// The size figures that README.md and js/README.md quote are the ones
// scripts/size.js prints now: a change to the client that changes its size
// must come with the new figures (`npm run size -- --write`).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { QUOTED_IN, quoted, table } from '../scripts/size.js';

test('the READMEs quote the size script’s current output', () => {
  const output = table();
  assert.match(output, /`react\.js` .* \| [\d,]+ B \| [\d,]+ B \|/);
  for (const path of QUOTED_IN) {
    assert.equal(quoted(readFileSync(path, 'utf8')), output, `${path}: run \`cd js && npm run size -- --write\``);
  }
});
