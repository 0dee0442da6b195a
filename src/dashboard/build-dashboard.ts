/**
 * `npm run build`, after tsc: tsc copies no HTML, CSS or JavaScript, so this writes the
 * dashboard's own files, minified, next to the compiled routes (dist/dashboard/), where
 * loadDashboard reads them; without esbuild (the production image) it serves them as they are.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { minifyOwn, OWN_FILES } from './dashboard-assets.js';

const target = new URL('../../dist/dashboard/', import.meta.url);
await mkdir(target, { recursive: true });
for (const name of OWN_FILES) {
  const code = (await minifyOwn(name)) ?? (await readFile(new URL(name, import.meta.url), 'utf8'));
  await writeFile(new URL(name, target), code);
}
process.stdout.write(`wrote ${OWN_FILES.join(', ')} to ${target.pathname}\n`);
