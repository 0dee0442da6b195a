import { describe, expect, it } from 'vitest';
import type { CanonicalEvent } from '../events/event.js';
import { hashKey, partitionKey, partitionOf } from './partition-key.js';

const ev = (e: Partial<CanonicalEvent>): CanonicalEvent => ({
  event_id: 'e1',
  type: 'page_view',
  ts: 0,
  received_at: 0,
  ...e,
});

describe('partitionKey', () => {
  it('pins ad events to their ad (else ad unit), site events to their site, the rest to their id', () => {
    expect(
      partitionKey(ev({ type: 'impression', ad_id: 'a', ad_unit_id: 'u', site_id: 's' })),
    ).toBe('a:a');
    expect(partitionKey(ev({ type: 'click', ad_unit_id: 'u' }))).toBe('u:u');
    expect(partitionKey(ev({ type: 'page_view', site_id: 's', ad_id: 'a' }))).toBe('s:s');
    expect(partitionKey(ev({ type: 'signup' }))).toBe('e:e1');
  });

  it('hashes stably (FNV-1a 32-bit) and spreads keys over the partitions', () => {
    expect(hashKey('')).toBe(0x811c9dc5);
    expect(hashKey('a')).toBe(0xe40c292c);
    const counts = new Array<number>(6).fill(0);
    for (let i = 0; i < 6000; i++) {
      counts[partitionOf(ev({ site_id: `site-${i}` }), 6)]!++;
    }
    expect(Math.min(...counts)).toBeGreaterThan(800);
  });
});
