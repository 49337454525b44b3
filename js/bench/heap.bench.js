// Streams a large response through createStream() in headless Chromium and
// reads the page's JS heap before, during (each sample after a forced GC, and
// without one) and after. The client keeps no body text, so the heap should
// stay flat however long the stream runs.
//
//   node js/bench/heap.bench.js <server base URL> <megabytes>
//
// `cargo run --release -p rivulet-bench -- js-heap` starts the bench server
// (GET /heap: the page; GET /bulk?mb=N: ~1 KiB packets) and runs this script.
// Uses the system Chromium; never downloads a browser.

import { chromium } from 'playwright-core';

const [base, mbArg] = process.argv.slice(2);
const mb = Number(mbArg || 200);
if (!base) {
  console.error('usage: node js/bench/heap.bench.js <base URL> [megabytes]');
  process.exit(2);
}
const deadline = setTimeout(() => {
  console.error('heap bench: timed out');
  process.exit(1);
}, 300_000);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const MiB = 1024 * 1024;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});
try {
  const page = await browser.newPage();
  await page.goto(`${base}/heap`);
  await page.waitForFunction(() => window.ready === true);
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('HeapProfiler.enable');
  const heap = async (collect) => {
    if (collect) await cdp.send('HeapProfiler.collectGarbage');
    return (await cdp.send('Runtime.getHeapUsage')).usedSize;
  };
  const baseline = await heap(true);
  let peak = baseline;
  let peakRetained = baseline;
  let finished = false;
  const started = performance.now();
  const run = page
    .evaluate((url) => window.runStream(url), `${base}/bulk?mb=${mb}`)
    .finally(() => (finished = true));
  // Bounded: the deadline above ends the process if the stream never finishes.
  while (!finished) {
    await sleep(100);
    peak = Math.max(peak, await heap(false));
    peakRetained = Math.max(peakRetained, await heap(true));
  }
  const packets = await run;
  const seconds = (performance.now() - started) / 1000;
  const after = await heap(true);
  const fmt = (bytes) => `${(bytes / MiB).toFixed(2)} MiB`;
  console.log(`  ${packets} packets, ${mb} MB in ${seconds.toFixed(1)} s (${(mb / seconds).toFixed(0)} MB/s)`);
  console.log(`  heap before ${fmt(baseline)}, after ${fmt(after)} (both after GC)`);
  // During the stream the heap also holds the chunk being parsed and its
  // decoded text: a working set that comes and goes, not growth.
  console.log(
    `  growth over the stream: ${fmt(after - baseline)}; largest during it (a chunk in flight):` +
      ` ${fmt(peakRetained - baseline)} after GC, ${fmt(peak - baseline)} without`,
  );
  console.log(`  target: growth < 2 MiB: ${after - baseline < 2 * MiB ? 'holds' : 'MISSED'}`);
} finally {
  await browser.close();
  clearTimeout(deadline);
}
