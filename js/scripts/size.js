// Prints what each entry point of rivulet-client costs a page: bundled by
// esbuild (ESM, minified) as a bundler would, then gzipped by Node's zlib at
// level 6 (as `gzip -c`, give or take a few bytes of header). The output is a
// Markdown table that README.md and js/README.md quote between the
// `<!-- size:start -->` and `<!-- size:end -->` markers; test/size.test.js
// fails when they drift.
//
//   npm run size             # print the table
//   npm run size -- --write  # and put it into both READMEs
import { buildSync, version } from 'esbuild';
import { readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));

// The output files of one build of `entry`, by name.
function build(entry, { splitting = false, external = [] } = {}) {
  const { outputFiles } = buildSync({
    entryPoints: [here(`../${entry}`)],
    bundle: true,
    minify: true,
    format: 'esm',
    splitting,
    outdir: here('../.size'), // nothing is written
    write: false,
    // Imports a row does not count: React or jQuery (the page's own), and
    // for react.js the client it sits on (its own row).
    external,
  });
  return outputFiles.map((file) => ({ name: file.path.split('/').pop(), contents: file.contents }));
}

const sizes = (contents) => ({ minified: contents.length, gzipped: gzipSync(contents).length });
// Files a page loads together, each gzipped on its own (as a server sends them).
const sum = (files) =>
  files.map(sizes).reduce((a, b) => ({ minified: a.minified + b.minified, gzipped: a.gzipped + b.gzipped }));
const bytes = (n) => `${n.toLocaleString('en-US')} B`;

/** The table's rows: [file, what is counted, sizes]. */
export function measure() {
  const split = build('stream.js', { splitting: true });
  // The entry and the chunks it shares with share.js load at once; share.js's
  // own chunk only where a stream is shared across tabs.
  const share = split.find((file) => file.name.startsWith('share'));
  const firstLoad = split.filter((file) => file !== share).map((file) => file.contents);
  return [
    ['`stream.js`', 'with `parser.js`, `resume.js`, `callbacks.js`, `transport.js`; `share.js` split off', sum(firstLoad)],
    ['`share.js`', 'loaded only by a stream with `shareAcrossTabs`', sizes(share.contents)],
    ['`stream.js`', 'one bundle, `share.js` included', sizes(build('stream.js')[0].contents)],
    ['`jquery.stream.js`', 'with `parser.js` (jQuery not counted)', sizes(build('jquery.stream.js', { external: ['jquery'] })[0].contents)],
    ['`react.js`', 'on top of `stream.js` (React not counted)', sizes(build('react.js', { external: ['react', './stream.js'] })[0].contents)],
    ['`ai-sdk.js`', 'on top of the AI SDK (`ai` not counted)', sizes(build('ai-sdk.js', { external: ['ai'] })[0].contents)],
  ];
}

/** The Markdown the READMEs quote. */
export function table(rows = measure()) {
  const lines = [
    `| file | what is counted | minified | minified + gzipped |`,
    `| --- | --- | ---: | ---: |`,
    ...rows.map(([file, what, { minified, gzipped }]) => `| ${file} | ${what} | ${bytes(minified)} | ${bytes(gzipped)} |`),
    '',
    `esbuild ${version}, ESM, minified; gzip level 6 (Node's zlib). From \`cd js && npm run size\`.`,
  ];
  return lines.join('\n');
}

/** The READMEs that quote the table. */
export const QUOTED_IN = [here('../../README.md'), here('../README.md')];
export const START = '<!-- size:start -->';
export const END = '<!-- size:end -->';

/** The table quoted in `text`, between the markers, or undefined. */
export function quoted(text) {
  const start = text.indexOf(START);
  const end = text.indexOf(END);
  if (start < 0 || end < start) return undefined;
  return text.slice(start + START.length, end).trim();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const output = table();
  console.log(output);
  if (process.argv.includes('--write')) {
    for (const path of QUOTED_IN) {
      const text = readFileSync(path, 'utf8');
      if (quoted(text) === undefined) throw new Error(`${path} has no ${START} … ${END} block`);
      const start = text.indexOf(START) + START.length;
      writeFileSync(path, `${text.slice(0, start)}\n${output}\n${text.slice(text.indexOf(END))}`);
    }
  }
}
