/**
 * `npm run build`, after tsc: writes the minified tracker next to the compiled routes
 * (dist/tracker/tracker.min.js), which loadTracker serves where esbuild is not installed (the
 * production image). Here in src/ because the image's build stage copies only src/.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { minifyTracker } from './tracker-asset.js';

const source = new URL('./tracker.js', import.meta.url);
const target = new URL('../../dist/tracker/tracker.min.js', import.meta.url);
await writeFile(target, await minifyTracker(await readFile(source, 'utf8')));
process.stdout.write(`wrote ${target.pathname}\n`);
