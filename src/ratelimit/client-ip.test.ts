/** Pure: client address behind trusted proxies, and the rate-limit key of an address. */
import { describe, expect, it } from 'vitest';
import { clientIp, ipKey, trustedProxies, TRUSTED } from './client-ip.js';

const trusted = trustedProxies(['127.0.0.1', '10.0.0.0/8', 'fd00::/8']);
const isTrusted = (list: string[]) => {
  const t = trustedProxies(list);
  return (address: string) => t(address) === TRUSTED;
};

describe('trustedProxies', () => {
  it('matches addresses and CIDRs of both families', () => {
    const t = isTrusted(['127.0.0.1', '10.0.0.0/8', 'fd00::/8']);
    expect(
      ['127.0.0.1', '10.1.2.3', 'fd12::1', '127.0.0.2', '11.0.0.1', '::1', 'nonsense'].map(t),
    ).toEqual([true, true, true, false, false, false, false]);
  });

  it('trusts nothing when empty', () => {
    expect(isTrusted([])('127.0.0.1')).toBe(false);
  });

  it('rejects entries that are not addresses or CIDRs', () => {
    expect(() => trustedProxies(['10.0.0.0/33'])).toThrow(/TRUSTED_PROXIES/);
    expect(() => trustedProxies(['localhost'])).toThrow(/TRUSTED_PROXIES/);
  });
});

describe('clientIp', () => {
  it('ignores X-Forwarded-For from a peer that is not a trusted proxy', () => {
    expect(clientIp('203.0.113.9', '1.2.3.4', trusted)).toBe('203.0.113.9');
  });

  it('takes the rightmost address that is not a trusted proxy', () => {
    // client forged 6.6.6.6; the real client 198.51.100.7 went through two trusted proxies.
    expect(clientIp('127.0.0.1', '6.6.6.6, 198.51.100.7, 10.0.0.5', trusted)).toBe('198.51.100.7');
  });

  it('joins repeated headers and unmaps IPv4-mapped IPv6 peers', () => {
    expect(clientIp('::ffff:127.0.0.1', ['6.6.6.6', '198.51.100.7'], trusted)).toBe('198.51.100.7');
  });

  it('strips ports some proxies add', () => {
    expect(clientIp('127.0.0.1', '198.51.100.7:5123', trusted)).toBe('198.51.100.7');
    expect(clientIp('127.0.0.1', '[2001:db8::1]:443', trusted)).toBe('2001:db8::1');
  });

  it('stops at garbage, keeping the last good hop', () => {
    expect(clientIp('127.0.0.1', 'not-an-ip, 10.0.0.5', trusted)).toBe('10.0.0.5');
  });

  it('uses the peer without the header', () => {
    expect(clientIp('127.0.0.1', undefined, trusted)).toBe('127.0.0.1');
  });
});

describe('ipKey', () => {
  it('keeps IPv4 and keys IPv6 by its /64', () => {
    expect(ipKey('198.51.100.7')).toBe('198.51.100.7');
    expect(ipKey('2001:db8:0:1:aaaa::1')).toBe('2001:db8:0:1::/64');
    expect(ipKey('2001:0db8:0000:0001:ffff:1:2:3')).toBe('2001:db8:0:1::/64');
    expect(ipKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(ipKey('::1')).toBe('0:0:0:0::/64');
    expect(ipKey('64:ff9b::1.2.3.4')).toBe('64:ff9b:0:0::/64');
  });
});

describe('address parsing', () => {
  it('rejects malformed addresses rather than matching them', () => {
    const t = isTrusted(['0.0.0.0/0', '::/0']);
    expect(
      [
        '1.2.3',
        '1.2.3.256',
        '1.2.3.4.5',
        '01.2.3.a',
        '1::2::3',
        '1:2:3:4:5:6:7:8:9',
        'g::1',
        '',
      ].map(t),
    ).toEqual([false, false, false, false, false, false, false, false]);
    expect(
      ['0.0.0.0', '255.255.255.255', '::', '1:2:3:4:5:6:7:8', 'fe80::1%eth0', '::ffff:1.2.3.4'].map(
        t,
      ),
    ).toEqual([true, true, true, true, true, true]);
  });

  it('matches IPv6 prefixes bit by bit', () => {
    const t = isTrusted(['2001:db8:8000::/33']);
    expect(
      ['2001:db8:8000::1', '2001:db8:ffff:1::', '2001:db8:7fff::1', '2001:db9:8000::'].map(t),
    ).toEqual([true, true, false, false]);
  });
});
