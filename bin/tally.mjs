#!/usr/bin/env node
// `tally` as a command (npx tally, npm's bin link): the TypeScript source through tsx when it is
// here (a clone after `npm install`: no build step), else the build (`npm run build`, or an
// install without dev dependencies, as in the Docker image).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const at = (p) => new URL(`../${p}`, import.meta.url);
const source = at('src/main/cli.ts');
let tsx;
try {
  tsx = await import('tsx/esm/api');
} catch {
  tsx = undefined;
}
if (tsx && existsSync(fileURLToPath(source))) {
  tsx.register();
  await import(source.href);
} else if (existsSync(fileURLToPath(at('dist/main/cli.js')))) {
  await import(at('dist/main/cli.js').href);
} else {
  process.stderr.write('tally: neither the source with tsx nor a build (npm run build) is here\n');
  process.exitCode = 1;
}
