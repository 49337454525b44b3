// The demo serves src/demo/assets/chat.js, a bundle of demo-chat/chat.js
// with its packages; it must be what `npm run demo-chat` builds from them now.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { OUTPUT, bundle } from '../scripts/demo-chat.js';

test('the committed chat page bundle is up to date (npm run demo-chat)', () => {
  const built = bundle();
  const committed = readFileSync(OUTPUT, 'utf8');
  assert.ok(built === committed, 'src/demo/assets/chat.js is stale: run `cd js && npm run demo-chat` and commit it');
});
