// The .d.ts files are checked by compiling test/types/usage.ts with TypeScript
// (a devDependency), under --strict and again with exactOptionalPropertyTypes:
// documented uses must compile, wrong ones must not; test/types/esm-only.ts
// checks that the ESM types leave the global jQuery type alone; test/types/ai-sdk.ts
// checks rivulet-client/ai-sdk against the `ai` package's types.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

for (const config of ['tsconfig.json', 'tsconfig.exact.json', 'tsconfig.esm.json', 'tsconfig.ai-sdk.json']) {
  test(`stream.d.ts accepts the documented API and refuses misuse (${config})`, () => {
    const pkg = createRequire(import.meta.url).resolve('typescript/package.json');
    const tsc = new URL('bin/tsc', `file://${pkg}`).pathname;
    const project = fileURLToPath(new URL(`./types/${config}`, import.meta.url));
    try {
      execFileSync(process.execPath, [tsc, '-p', project], { encoding: 'utf8', stdio: 'pipe' });
    } catch (err) {
      assert.fail(`tsc failed:\n${err.stdout}${err.stderr}`);
    }
  });
}
