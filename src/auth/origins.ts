/**
 * A site's allowed origins, compiled for the ingest hot path (a few Set lookups per request).
 * Entries: an exact origin (`https://example.com`, `http://localhost:3000`), a host with any
 * scheme (`example.com`), a wildcard for subdomains only (`*.example.com`, also with a scheme),
 * or `null` for the literal `Origin: null` of sandboxed frames and files (refused unless listed).
 */
export interface OriginRules {
  readonly exact: ReadonlySet<string>;
  readonly hosts: ReadonlySet<string>;
  /** `[scheme or '', '.example.com']`. */
  readonly suffixes: readonly (readonly [string, string])[];
  /** No entries: any origin. */
  readonly any: boolean;
}

const SCHEME = /^(https?):\/\/(.+)$/;
const HOST = /^(\*\.)?([a-z0-9-]+(\.[a-z0-9-]+)*)(:\d{1,5})?$/;

/** Why an entry cannot be an origin rule, or undefined when it can. */
export function originEntryError(entry: string): string | undefined {
  const e = entry.trim().toLowerCase();
  if (e === 'null') {
    return undefined;
  }
  const m = SCHEME.exec(e);
  const host = m ? m[2]! : e;
  if (e.includes('/') && !m) {
    return 'must be an origin (https://example.com), a host (example.com) or *.example.com';
  }
  if (!HOST.test(host)) {
    return 'must be an origin (https://example.com), a host (example.com) or *.example.com, without a path';
  }
  return undefined;
}

export function compileOrigins(entries: readonly string[]): OriginRules {
  const exact = new Set<string>();
  const hosts = new Set<string>();
  const suffixes: [string, string][] = [];
  for (const raw of entries) {
    const e = raw.trim().toLowerCase();
    if (e === 'null') {
      exact.add('null');
      continue;
    }
    const m = SCHEME.exec(e);
    const scheme = m ? m[1]! : '';
    const host = m ? m[2]! : e;
    if (host.startsWith('*.')) {
      suffixes.push([scheme, host.slice(1)]);
    } else if (scheme) {
      exact.add(`${scheme}://${host}`);
    } else {
      hosts.add(host);
    }
  }
  return { exact, hosts, suffixes, any: entries.length === 0 };
}

/** Whether `origin` (an `Origin` header value, or a Referer's origin) is allowed. */
export function originAllowed(rules: OriginRules, origin: string): boolean {
  if (rules.any) {
    return true;
  }
  const o = origin.toLowerCase();
  if (rules.exact.has(o)) {
    return true;
  }
  const at = o.indexOf('://');
  if (at <= 0) {
    return false;
  }
  const scheme = o.slice(0, at);
  const host = o.slice(at + 3);
  if (rules.hosts.has(host)) {
    return true;
  }
  for (const [s, suffix] of rules.suffixes) {
    if ((s === '' || s === scheme) && host.endsWith(suffix) && host.length > suffix.length) {
      return true;
    }
  }
  return false;
}

const REFERER_ORIGIN = /^([a-z][a-z0-9+.-]*:\/\/[^/?#]+)/i;

/** The origin of a Referer URL (`https://example.com/page?x` → `https://example.com`). */
export function refererOrigin(referer: string): string | undefined {
  return REFERER_ORIGIN.exec(referer)?.[1];
}
