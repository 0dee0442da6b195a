/**
 * How long the dashboard takes to load in Chromium, on a data directory the demo filled (for a
 * year: `DATA_DIR=/tmp/demo-year npm run demo -- --days 365`): starts Tally on it, signs in
 * with its admin key, then opens each range `--runs` times in a fresh page (no cache) and
 * reports the medians of two moments: the headline figures shown, and the last table shown.
 *
 *   DATA_DIR=/tmp/demo-year node --import tsx scripts/bench/dashboard-load.ts [--site blog] [--runs 5]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { launchChromium } from '../../test/browser/browser.js';
import { serveInProcess } from '../../test/harness/in-process.js';

const { values } = parseArgs({
  options: { site: { type: 'string', default: 'blog' }, runs: { type: 'string', default: '5' } },
});
const dataDir = process.env['DATA_DIR'];
if (!dataDir) {
  throw new Error('set DATA_DIR to a data directory the demo filled');
}
const key = readFileSync(join(dataDir, 'admin.key'), 'utf8').trim();
const runs = Number(values.runs);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const today = Date.now();
const ranges: [string, string][] = [
  ['30 days', 'range=30d'],
  ['a year', `range=custom&from=${day(today - 364 * 86_400_000)}&to=${day(today)}`],
];

const { url, running } = await serveInProcess({}, dataDir);
const browser = await launchChromium();
try {
  for (const [name, query] of ranges) {
    const figures: number[] = [];
    const tables: number[] = [];
    for (let i = 0; i <= runs; i++) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      await context.addInitScript((k) => sessionStorage.setItem('tally.key', k), key);
      const p = await context.newPage();
      const t0 = Date.now();
      await p.goto(`${url}/?site=${values.site}&${query}`);
      await p.waitForFunction(() =>
        /\d/.test(document.querySelector('#kpi-visitors .value')?.textContent ?? ''),
      );
      const t1 = Date.now();
      await p.waitForFunction(
        () => document.querySelector('#table-events') && !document.querySelector('.loading'),
        undefined,
        { timeout: 60_000 },
      );
      const t2 = Date.now();
      await context.close();
      if (i > 0) {
        figures.push(t1 - t0);
        tables.push(t2 - t0);
      }
    }
    console.log(
      `${name.padEnd(8)} headline figures ${median(figures)} ms, last table ${median(tables)} ms (medians of ${runs}; runs: ${tables.join(', ')})`,
    );
  }
} finally {
  await browser.close();
  await running.close();
}
