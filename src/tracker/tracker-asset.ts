import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';

/** The tracker script as served: minified, with its gzipped copy and their ETags. */
export interface TrackerAsset {
  body: string;
  etag: string;
  gzip: Buffer;
  gzipEtag: string;
}

const SOURCE = new URL('./tracker.js', import.meta.url);
/** Written by `npm run build` next to the compiled files, where no esbuild is installed. */
export const PREBUILT = new URL('./tracker.min.js', import.meta.url);

/** Minifies the hand-written source with esbuild (a dev dependency, through tsx). */
export async function minifyTracker(source: string): Promise<string> {
  const { transform } = await import('esbuild');
  const out = await transform(source, { minify: true, target: 'es2017', legalComments: 'none' });
  return out.code;
}

/**
 * Loads the tracker once at start-up: the prebuilt minified file when there is one (the
 * compiled image), else the source minified now (development, tests: about 20 ms).
 */
export async function loadTracker(source: URL = SOURCE): Promise<TrackerAsset> {
  const prebuilt = await readFile(PREBUILT, 'utf8').catch(() => undefined);
  const body = prebuilt ?? (await minifyTracker(await readFile(source, 'utf8')));
  const hash = createHash('sha256').update(body).digest('base64url').slice(0, 22);
  return {
    body,
    etag: `"${hash}"`,
    gzip: gzipSync(body, { level: 9 }),
    // Another representation, another validator (RFC 9110 §8.8.3).
    gzipEtag: `"${hash}-gz"`,
  };
}
