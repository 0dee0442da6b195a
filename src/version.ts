import { createRequire } from 'node:module';

/** This build's version, from package.json (the same path from src/ and from dist/). */
export const TALLY_VERSION = (
  createRequire(import.meta.url)('../package.json') as { version: string }
).version;
