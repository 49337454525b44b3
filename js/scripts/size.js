// Prints the size of stream.js as a browser gets it: bundled with parser.js,
// minified by esbuild, then gzipped (level 6, like gzip -c). `npm run size`.
import { buildSync } from 'esbuild';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';

for (const entry of ['stream.js', 'jquery.stream.js']) {
  const { outputFiles } = buildSync({
    entryPoints: [fileURLToPath(new URL(`../${entry}`, import.meta.url))],
    bundle: true,
    minify: true,
    format: 'esm',
    write: false,
  });
  const minified = outputFiles[0].contents;
  const gzipped = gzipSync(minified); // level 6, as gzip -c
  console.log(`${entry} (+ imports): ${minified.length} B minified, ${gzipped.length} B minified + gzipped`);
}
