import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Reader, type CountryResponse } from 'maxmind';
import { ConfigError } from '../config.js';

/** An IP address to its country: ISO 3166-1 alpha-2, upper case, or undefined when unknown. */
export type CountryOf = (ip: string) => string | undefined;

export interface Countries {
  countryOf: CountryOf;
  /** Where the database was read from (logged at start-up). */
  path: string;
}

/**
 * The bundled database: `@ip-location-db/geo-whois-asn-country-mmdb`, IPv4 and IPv6 in one file
 * (GeoFeed, then RIR whois, then RIR ASN data; packaged CC0, the RIR data it is built from is
 * CC BY 4.0 by the NRO, credited in the README). Updated by updating the package.
 */
export const BUNDLED_COUNTRY_DB = createRequire(import.meta.url).resolve(
  '@ip-location-db/geo-whois-asn-country-mmdb/geo-whois-asn-country.mmdb',
);

/** ip-location-db's record; GeoLite2/GeoIP2's is a CountryResponse. */
type CountryRecord = CountryResponse & { country_code?: unknown };

const CODE = /^[A-Z]{2}$/;

/**
 * Opens the country database once, at start-up: `path` (MAXMIND_DB) or the bundled one. Any
 * MaxMind-format database whose records carry `country_code` (ip-location-db) or
 * `country.iso_code` (GeoLite2/GeoIP2 Country or City) works. A missing or unreadable file
 * throws a one-line ConfigError, which stops start-up.
 *
 * Measured on this machine (2 shared cores, Node 20, 200,000 lookups of 8 public IPv4 and IPv6
 * addresses in turn, three runs on a busy machine): 1.0–2.4 µs per lookup; opening 8–30 ms
 * (the 7.8 MB file is read into memory). The ingest looks up once per request, not per event,
 * and the answers for the addresses of the last minute are kept (below). Ad-only requests are looked up too (one lookup, cheaper than
 * scanning the batch for a site), but only a site's events carry the country (normalize.ts).
 */
export function openCountries(path: string | undefined): Countries {
  const file = path ?? BUNDLED_COUNTRY_DB;
  let reader: Reader<CountryRecord>;
  try {
    reader = new Reader<CountryRecord>(readFileSync(file));
  } catch (err) {
    const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new ConfigError(
      `invalid MAXMIND_DB=${JSON.stringify(file)}: cannot read it as a MaxMind database (${why})`,
    );
  }
  const lookup = (raw: string): string | undefined => {
    const ip = unmapIPv4(raw);
    if (!isPublic(ip)) {
      return undefined;
    }
    let rec;
    try {
      rec = reader.get(ip);
    } catch {
      return undefined; // not an IP address: the socket's address always is, but be safe
    }
    const code = rec?.country_code ?? rec?.country?.iso_code;
    // "ZZ" is the databases' "unknown or unassigned"; EU/AP (old GeoIP) are not countries.
    return typeof code === 'string' &&
      CODE.test(code) &&
      code !== 'ZZ' &&
      code !== 'EU' &&
      code !== 'AP'
      ? code
      : undefined;
  };
  // The countries of the addresses seen lately ('' for none), so that a visitor's next requests
  // cost a map lookup instead of a parse and a tree walk (1–2.4 µs). In memory only, never
  // stored or logged; bounded in size and forgotten every minute, so no address stays long.
  const recent = new Map<string, string>();
  let forgetAt = 0;
  return {
    path: file,
    countryOf(raw) {
      let code = recent.get(raw);
      if (code === undefined) {
        const now = Date.now();
        if (recent.size >= RECENT_MAX || now >= forgetAt) {
          recent.clear();
          forgetAt = now + RECENT_MS;
        }
        code = lookup(raw) ?? '';
        recent.set(raw, code);
      }
      return code === '' ? undefined : code;
    },
  };
}

const RECENT_MAX = 10_000;
const RECENT_MS = 60_000;

/** `::ffff:1.2.3.4` (a dual-stack socket's IPv4 peer) to `1.2.3.4`: not in the database. */
function unmapIPv4(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

/**
 * Whether an address can be located at all: not private, loopback, link-local, CGNAT,
 * multicast or reserved. The bundled database answers some private ranges with a country
 * (192.168.1.1 → "AU", measured): they must not be counted as that country.
 */
export function isPublic(ip: string): boolean {
  if (!ip.includes(':')) {
    const parts = ip.split('.');
    if (parts.length !== 4) {
      return false;
    }
    const a = Number(parts[0]);
    const b = Number(parts[1]);
    return !(
      a === 0 ||
      a === 10 ||
      a === 127 ||
      a >= 224 ||
      (a === 100 && b >= 64 && b <= 127) ||
      (a === 169 && b === 254) ||
      (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168) ||
      (a === 192 && b === 0 && Number(parts[2]) === 0) ||
      (a === 198 && (b === 18 || b === 19))
    );
  }
  if (ip.startsWith('::')) {
    return false; // ::, ::1 and the deprecated IPv4-compatible range
  }
  const first = parseInt(ip.slice(0, ip.indexOf(':')), 16);
  return !(
    Number.isNaN(first) ||
    (first & 0xfe00) === 0xfc00 || // unique local fc00::/7
    (first & 0xffc0) === 0xfe80 || // link-local fe80::/10
    (first & 0xff00) === 0xff00 // multicast ff00::/8
  );
}
