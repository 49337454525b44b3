// Bundles the demo's chat page (demo-chat/chat.js with React, @ai-sdk/react
// and ai, production builds, minified) into src/demo/assets/chat.js, the file
// the demo serves. test/demo-chat.test.js builds it again and fails when the
// committed file differs.
//
//   npm run demo-chat            # write src/demo/assets/chat.js
import { buildSync } from 'esbuild';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));

/** Where the bundle is committed. */
export const OUTPUT = here('../../src/demo/assets/chat.js');

/** The bundle's text. */
export function bundle() {
  const { outputFiles } = buildSync({
    entryPoints: [here('../demo-chat/chat.js')],
    bundle: true,
    minify: true,
    format: 'esm',
    target: 'es2022',
    legalComments: 'none',
    define: { 'process.env.NODE_ENV': '"production"' },
    write: false,
    outfile: OUTPUT,
  });
  return outputFiles[0].text;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(OUTPUT, bundle());
}
