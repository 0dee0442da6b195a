#!/usr/bin/env node
// `tally` as a command (npm start, npx tally, npm's bin link). In a clone after `npm install`
// the TypeScript source is transpiled ahead of time with esbuild into `.build-<hash>/` (about
// 0.1 s, once per change of the source) and run as plain JavaScript. Without esbuild (an
// install without dev dependencies, as in the Docker image) the build (`npm run build`) runs.
//
// Why not a loader (tsx): Node 20 runs module hooks in a thread of their own, with its own V8
// isolate, in the main thread and again in the embedded database's worker: 60 MB of RSS, a
// third of the embedded default's budget (docs/benchmarks.md, "Embedded footprint").
import { createHash } from 'node:crypto';
import { cpSync, existsSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SRC = join(ROOT, 'src');
/**
 * Older builds are deleted once there are more than KEEP and they are older than KEEP_MS: a
 * process started from one may still load a module from it (the database worker, kafkajs).
 */
const KEEP = 3;
const KEEP_MS = 24 * 3600_000;

const entry = (await fromSource()) ?? distEntry();
if (entry) {
  await import(entry);
} else {
  process.stderr.write('tally: neither the source with esbuild nor a build (npm run build)\n');
  process.exitCode = 1;
}

function distEntry() {
  const cli = join(ROOT, 'dist', 'main', 'cli.js');
  return existsSync(cli) ? new URL(`file://${cli}`).href : undefined;
}

/** The entry of an up-to-date transpiled copy of `src/`, made if needed; undefined without esbuild. */
async function fromSource() {
  if (!existsSync(SRC)) {
    return undefined;
  }
  // esbuild itself (1 MB of heap) is loaded only to build.
  let esbuildVersion;
  try {
    esbuildVersion = createRequire(import.meta.url)('esbuild/package.json').version;
  } catch {
    return undefined;
  }
  const files = listSource(SRC);
  const hash = createHash('sha256').update(esbuildVersion);
  for (const f of files) {
    const s = statSync(f);
    hash.update(`${relative(SRC, f)}\0${s.size}\0${s.mtimeMs}\0`);
  }
  // Beside `src/`, one level below the root, as `dist/` is: the code finds `migrations/` and
  // `package.json` relative to itself.
  const out = join(ROOT, `.build-${hash.digest('hex').slice(0, 12)}`);
  if (!existsSync(out)) {
    build(await import('esbuild'), files, out);
  }
  return new URL(`file://${join(out, 'main', 'cli.js')}`).href;
}

function build(esbuild, files, out) {
  const tmp = `${out}.tmp-${process.pid}`;
  esbuild.buildSync({
    entryPoints: files.filter((f) => f.endsWith('.ts')),
    outdir: tmp,
    outbase: SRC,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    sourcemap: true,
    logLevel: 'warning',
  });
  for (const f of files.filter((f) => !f.endsWith('.ts'))) {
    cpSync(f, join(tmp, relative(SRC, f)));
  }
  try {
    renameSync(tmp, out);
  } catch (err) {
    // Another process made the same build first: use theirs.
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(out)) {
      throw err;
    }
  }
  const old = readdirSync(ROOT)
    .filter((d) => /^\.build-[0-9a-f]{12}$/.test(d) && join(ROOT, d) !== out)
    .map((d) => ({ d, t: statSync(join(ROOT, d)).mtimeMs }))
    .sort((a, b) => b.t - a.t);
  for (const { d } of old.slice(KEEP).filter(({ t }) => Date.now() - t > KEEP_MS)) {
    rmSync(join(ROOT, d), { recursive: true, force: true });
  }
}

/** Every file under `dir` but tests. */
function listSource(dir) {
  const found = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      found.push(...listSource(p));
    } else if (!/\.test\.ts$/.test(e.name) && !e.name.endsWith('.map')) {
      found.push(p);
    }
  }
  return found.sort();
}
