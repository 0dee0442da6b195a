import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { LIMITS } from '../events/event.js';

/**
 * Signed click links: `/c?target=…&ad_id=…&sig=…`. The signature is an HMAC-SHA256, under the
 * install's link secret, of the link's parameters in a fixed order, the target included: a
 * link made by an admin cannot be changed, and no one else can make one, so `/c` is never an
 * open redirect.
 */
export const LINK_FIELDS = [
  'target',
  'site_id',
  'path',
  'ad_id',
  'ad_unit_id',
  'campaign_id',
  'creative_id',
  'account_id',
] as const;

export type LinkField = (typeof LINK_FIELDS)[number];
export type LinkParams = Partial<Record<LinkField, string>> & { target: string };

/** A new random secret (32 bytes, base64url): made once per install. */
export const newLinkSecret = () => randomBytes(32).toString('base64url');

/** Why a link's parameters cannot be signed or followed; undefined when they can. */
export function linkProblem(p: Record<string, unknown>): string | undefined {
  for (const f of LINK_FIELDS) {
    const v = p[f];
    if (v === undefined) {
      continue;
    }
    const max = f === 'target' || f === 'path' ? LIMITS.url : LIMITS.id;
    if (typeof v !== 'string' || v.length === 0 || v.length > max) {
      return `${f} must be a string of 1 to ${max} characters`;
    }
  }
  if (typeof p['target'] !== 'string') {
    return 'target is required';
  }
  if (p['site_id'] === undefined && p['ad_id'] === undefined && p['ad_unit_id'] === undefined) {
    return 'a link counts for a site or an ad: give site_id, ad_id or ad_unit_id';
  }
  let url: URL;
  try {
    url = new URL(p['target']);
  } catch {
    return 'target must be an absolute URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return 'target must be an http or https URL';
  }
  return undefined;
}

/** The signed string: the given fields in LINK_FIELDS order, as a query string. */
function canonical(p: LinkParams): string {
  return LINK_FIELDS.filter((f) => p[f] !== undefined)
    .map((f) => `${f}=${encodeURIComponent(p[f]!)}`)
    .join('&');
}

const mac = (secret: string, p: LinkParams) =>
  createHmac('sha256', secret)
    .update(`tally-link-v1\n${canonical(p)}`)
    .digest();

/** The link's path and query (`/c?…&sig=…`), to put after the server's origin. */
export function signLink(secret: string, p: LinkParams): string {
  return `/c?${canonical(p)}&sig=${mac(secret, p).toString('base64url')}`;
}

/** Whether `sig` is the signature of `p` (compared in constant time). */
export function verifyLink(secret: string, p: LinkParams, sig: string): boolean {
  if (!/^[A-Za-z0-9_-]{43}$/.test(sig)) {
    return false; // not a SHA-256 in base64url (whose decoder would skip stray characters)
  }
  const expected = mac(secret, p);
  const given = Buffer.from(sig, 'base64url');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
