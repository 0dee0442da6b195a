import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** What a key may do. `admin` may do everything; `read` reads reports; `ingest` sends events. */
export const SCOPES = ['read', 'ingest', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

/**
 * A key as the user holds it: `tally_<id>_<secret>`. The id (10 characters, public, shown in
 * listings) finds the row; the secret (32 random bytes) is never stored, only SHA-256 of the
 * whole key. A slow password hash buys nothing for 256 random bits and would cost every request.
 */
const PREFIX = 'tally_';
const ID_CHARS = 10;
const TOKEN = /^tally_([0-9a-z]{10})_([A-Za-z0-9_-]{43})$/;

export interface NewKey {
  id: string;
  /** The whole key: shown once, to the person who created it. */
  token: string;
  secretHash: Buffer;
}

export function generateKey(): NewKey {
  const id = randomBytes(16).toString('hex').slice(0, ID_CHARS);
  const token = `${PREFIX}${id}_${randomBytes(32).toString('base64url')}`;
  return { id, token, secretHash: hashToken(token) };
}

/** The id of a well-formed key, else undefined (nothing else about the input is kept). */
export function keyId(token: string): string | undefined {
  return TOKEN.exec(token)?.[1];
}

export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

/** Constant-time comparison of a presented key with a stored hash. */
export function tokenMatches(token: string, secretHash: Buffer): boolean {
  const h = hashToken(token);
  return h.length === secretHash.length && timingSafeEqual(h, secretHash);
}

/** What an `Authorization` header holds, as far as keys go. */
export type Presented =
  { kind: 'none' } | { kind: 'malformed' } | { kind: 'bearer'; token: string };

/**
 * The token of an `Authorization: Bearer <token>` header. Anything else in the header (another
 * scheme, junk, a huge value) is malformed.
 */
export function bearerToken(header: string | undefined): Presented {
  if (header === undefined || header === '') {
    return { kind: 'none' };
  }
  if (header.length > 200) {
    return { kind: 'malformed' };
  }
  const m = /^Bearer +(\S+) *$/i.exec(header);
  return m ? { kind: 'bearer', token: m[1]! } : { kind: 'malformed' };
}
