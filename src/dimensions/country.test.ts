/** The bundled country database, read from node_modules (real file, no network). */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../config.js';
import { BUNDLED_COUNTRY_DB, isPublic, openCountries } from './country.js';

const { countryOf } = openCountries(undefined);

describe('countryOf (bundled @ip-location-db database)', () => {
  it('locates IPv4 addresses whose country is stable', () => {
    expect(countryOf('8.8.8.8')).toBe('US'); // Google DNS
    expect(countryOf('9.9.9.9')).toBe('US'); // Quad9
    expect(countryOf('193.0.6.139')).toBe('NL'); // RIPE NCC, Amsterdam
    expect(countryOf('81.2.69.142')).toBe('GB'); // MaxMind's own test address
    expect(countryOf('1.1.1.1')).toBe('AU'); // APNIC's research prefix, as the database has it
  });

  it('locates IPv6 addresses', () => {
    expect(countryOf('2001:4860:4860::8888')).toBe('US'); // Google DNS
    expect(countryOf('2001:67c:2e8:22::c100:68b')).toBe('NL'); // RIPE NCC
  });

  it('unmaps IPv4-mapped IPv6 (a dual-stack socket peer)', () => {
    expect(countryOf('::ffff:8.8.8.8')).toBe('US');
  });

  it('knows no country for private, loopback, link-local, CGNAT or garbage addresses', () => {
    for (const ip of [
      '127.0.0.1',
      '10.1.2.3',
      '172.16.0.1',
      '192.168.1.1', // the database says "AU" for it: filtered before the lookup
      '100.64.0.1',
      '169.254.1.1',
      '0.0.0.0',
      '224.0.0.1',
      '::1',
      '::',
      'fe80::1',
      'fd00::1',
      'ff02::1',
      '::ffff:10.0.0.1',
      'not-an-ip',
      '',
    ]) {
      expect([ip, countryOf(ip)]).toEqual([ip, undefined]);
    }
  });

  it('isPublic keeps the ranges next to the private ones', () => {
    expect(isPublic('172.15.255.255')).toBe(true);
    expect(isPublic('172.32.0.1')).toBe(true);
    expect(isPublic('100.63.255.255')).toBe(true);
    expect(isPublic('2001:db8::1')).toBe(true);
  });
});

describe('openCountries', () => {
  it('answers an address seen lately from memory, the same as the first time, past the bound too', () => {
    const { countryOf: fresh } = openCountries(undefined);
    const ips = ['8.8.8.8', '192.168.1.1', '193.0.6.139', '::1', '2001:67c:2e8:22::c100:68b'];
    const first = ips.map((ip) => fresh(ip));
    expect(first).toEqual(['US', undefined, 'NL', undefined, 'NL']);
    // Again, between more distinct addresses than the memory holds (it starts over when full).
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 12_000; i++) {
        fresh(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
      }
      expect(ips.map((ip) => fresh(ip))).toEqual(first);
    }
  });

  it('reads a MAXMIND_DB path instead of the bundled file', () => {
    expect(openCountries(BUNDLED_COUNTRY_DB).countryOf('8.8.8.8')).toBe('US');
  });

  it('stops with a one-line ConfigError naming MAXMIND_DB for a missing or unreadable file', () => {
    const missing = '/nonexistent/country.mmdb';
    expect(() => openCountries(missing)).toThrow(ConfigError);
    expect(() => openCountries(missing)).toThrow(
      /^invalid MAXMIND_DB="\/nonexistent\/country\.mmdb": cannot read it as a MaxMind database \(ENOENT[^\n]*\)$/,
    );
    const junk = join(mkdtempSync(join(tmpdir(), 'tally-mmdb-')), 'junk.mmdb');
    writeFileSync(junk, 'not a database');
    expect(() => openCountries(junk)).toThrow(/^invalid MAXMIND_DB=.*junk\.mmdb": cannot read it/);
  });
});
