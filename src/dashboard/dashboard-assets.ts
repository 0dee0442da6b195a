import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

/** One file of the dashboard as served: its bytes, gzipped copy and their validators. */
export interface Asset {
  type: string;
  body: Buffer;
  gzip: Buffer;
  /** A short content hash: the ETag, and the `?v=` the page puts on its asset URLs. */
  hash: string;
}

/** The page at `/` and the files under `/dashboard/`, by name. */
export interface DashboardAssets {
  page: Asset;
  files: ReadonlyMap<string, Asset>;
}

const HERE = new URL('./', import.meta.url);
/** uPlot's own build, from the installed package (a runtime dependency): no CDN. */
const UPLOT = dirname(createRequire(import.meta.url).resolve('uplot'));

const TYPES = {
  js: 'application/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  html: 'text/html; charset=utf-8',
} as const;
type Kind = keyof typeof TYPES;

/** Where each served file comes from: ours beside this module, uPlot's from its package. */
const SOURCES: Record<string, { path: string; kind: Kind }> = {
  'app.js': { path: fileURLToPath(new URL('app.js', HERE)), kind: 'js' },
  'app.css': { path: fileURLToPath(new URL('app.css', HERE)), kind: 'css' },
  'uplot.min.js': { path: join(UPLOT, 'uPlot.iife.min.js'), kind: 'js' },
  'uplot.min.css': { path: join(UPLOT, 'uPlot.min.css'), kind: 'css' },
};
/** Ours, minified at start (or by `npm run build`); uPlot's are minified already. */
export const OWN_FILES = ['app.js', 'app.css', 'index.html'] as const;

type Minify = (code: string, kind: Kind) => Promise<string>;

/** esbuild when installed (development, the launcher's build); else the files as they are. */
async function minifier(): Promise<Minify | undefined> {
  try {
    const { transform } = await import('esbuild');
    return async (code, kind) =>
      kind === 'html'
        ? code
        : (
            await transform(code, {
              loader: kind,
              minify: true,
              target: kind === 'js' ? 'es2020' : 'chrome100',
              legalComments: 'none',
            })
          ).code;
  } catch {
    return undefined;
  }
}

/** Minifies one of our files (also used by the build step, which writes the result to dist/). */
export async function minifyOwn(name: (typeof OWN_FILES)[number]): Promise<string | undefined> {
  const kind: Kind = name.endsWith('.js') ? 'js' : name.endsWith('.css') ? 'css' : 'html';
  const code = await readFile(new URL(name, HERE), 'utf8');
  const minify = await minifier();
  return minify ? minify(code, kind) : undefined;
}

function asset(kind: Kind, text: string | Buffer): Asset {
  const body = Buffer.from(text);
  return {
    type: TYPES[kind],
    body,
    gzip: gzipSync(body, { level: 9 }),
    hash: createHash('sha256').update(body).digest('base64url').slice(0, 16),
  };
}

/**
 * Reads and prepares every file once at start-up (about 30 ms with esbuild). The page names
 * each asset with its hash (`app.js?v=…`), so a release is seen at once and the assets may be
 * cached for a year.
 */
export async function loadDashboard(): Promise<DashboardAssets> {
  const minify = await minifier();
  const files = new Map<string, Asset>();
  for (const [name, { path, kind }] of Object.entries(SOURCES)) {
    const code = await readFile(path, 'utf8');
    const own = !name.startsWith('uplot');
    files.set(name, asset(kind, own && minify ? await minify(code, kind) : code));
  }
  const html = (await readFile(new URL('index.html', HERE), 'utf8')).replace(
    /\{\{v:([\w.]+)\}\}/g,
    (_, name: string) => files.get(name)?.hash ?? '',
  );
  return { page: asset('html', html), files };
}

/** Gzipped bytes of the dashboard's JavaScript: ours alone, and with uPlot. */
export function jsSizes(a: DashboardAssets): { own: number; withUplot: number } {
  const own = a.files.get('app.js')!.gzip.length;
  return { own, withUplot: own + a.files.get('uplot.min.js')!.gzip.length };
}
