import { describe, expect, it } from 'vitest';
import { seedRecordToEvent } from './seed-fields.js';

const refused = (reason: string, message: string) => ({ ok: false, reason, message });

describe('seedRecordToEvent', () => {
  it('seed 000: its fields are canonical; the type must be impression or click', () => {
    expect(
      seedRecordToEvent('seed-000', {
        event_id: '0f7a4d9a-2f2e-4c6c-9d1b-7b0c9c9b3c31',
        type: 'impression',
        ad_id: '1',
        campaign_id: '1',
        user_id: '1',
        ts: '2026-02-02T12:34:56.789Z',
        received_at: '2026-02-02T12:34:57.000Z',
      }),
    ).toEqual({
      ok: true,
      event: {
        type: 'impression',
        ad_id: '1',
        event_id: '0f7a4d9a-2f2e-4c6c-9d1b-7b0c9c9b3c31',
        campaign_id: '1',
        user_id: '1',
        ts: '2026-02-02T12:34:56.789Z',
      },
    });
    expect(seedRecordToEvent('seed-000', { type: 'click', ad_id: 'a', ts: 1770035696789 })).toEqual(
      { ok: true, event: { type: 'click', ad_id: 'a', ts: 1770035696789 } },
    );
    expect(seedRecordToEvent('seed-000', { type: 'Click', ad_id: 'a' })).toEqual(
      refused('invalid type', 'type must be "impression" or "click"'),
    );
    expect(seedRecordToEvent('seed-000', { type: 'click', ad_id: 7 })).toEqual(
      refused('invalid ad_id', 'ad_id must be a string'),
    );
    expect(seedRecordToEvent('seed-000', { ad_id: '' })).toEqual(
      refused('missing type', 'type is required; ad_id is required'),
    );
  });

  it('seed 001: free-text event_type normalised, timestamp required, path and user optional', () => {
    expect(
      seedRecordToEvent('seed-001', {
        site_id: 'site-abc-123',
        event_type: 'Page View',
        path: '/pricing',
        user_id: 'user-xyz-789',
        timestamp: '2025-11-12T19:30:01Z',
      }),
    ).toEqual({
      ok: true,
      event: {
        type: 'page_view',
        site_id: 'site-abc-123',
        path: '/pricing',
        user_id: 'user-xyz-789',
        ts: '2025-11-12T19:30:01Z',
      },
    });
    // CSV: empty cells are absent fields; a site's click is not an ad click.
    expect(
      seedRecordToEvent('seed-001', {
        site_id: 's',
        event_type: 'click',
        path: '',
        user_id: '',
        timestamp: '1762975801000',
      }),
    ).toEqual({
      ok: true,
      event: { type: 'site_click', site_id: 's', ts: '1762975801000' },
    });
    expect(seedRecordToEvent('seed-001', { site_id: 's', event_type: 'page_view' })).toEqual(
      refused('missing timestamp', 'timestamp is required'),
    );
    expect(
      seedRecordToEvent('seed-001', { site_id: 's', event_type: '!!!', timestamp: '1' }),
    ).toEqual(
      refused(
        'invalid event_type',
        'event_type must be at most 64 characters with a letter or digit',
      ),
    );
  });

  it('seed 002: page_url is the url, the account from the campaign mapping first', () => {
    const pixel = {
      event_type: 'impression',
      ad_unit_id: '123',
      campaign_id: '456',
      creative_id: '789',
      page_url: 'https://example.com/a?x=1',
      timestamp: '1707048000000',
    };
    expect(seedRecordToEvent('seed-002', pixel)).toEqual({
      ok: true,
      event: {
        type: 'impression',
        ad_unit_id: '123',
        campaign_id: '456',
        creative_id: '789',
        url: 'https://example.com/a?x=1',
        ts: '1707048000000',
      },
    });
    const accounts = { '456': 'acme', toString: 'never' };
    expect(
      seedRecordToEvent(
        'seed-002',
        { ...pixel, event_type: 'click', account_id: 'from-row' },
        { campaignAccounts: accounts },
      ),
    ).toEqual({
      ok: true,
      event: {
        type: 'click',
        ad_unit_id: '123',
        campaign_id: '456',
        creative_id: '789',
        url: 'https://example.com/a?x=1',
        account_id: 'acme',
        ts: '1707048000000',
      },
    });
    // An unknown campaign keeps the record's account; an inherited key is no mapping.
    expect(
      seedRecordToEvent(
        'seed-002',
        { ...pixel, campaign_id: 'constructor', account_id: 'from-row' },
        { campaignAccounts: accounts },
      ),
    ).toMatchObject({ ok: true, event: { campaign_id: 'constructor', account_id: 'from-row' } });
    expect(seedRecordToEvent('seed-002', { ...pixel, event_type: 'view', page_url: '' })).toEqual(
      refused(
        'invalid event_type',
        'event_type must be "impression" or "click"; page_url is required',
      ),
    );
  });

  it('seed 003: camelCase fields, the visitor id, an event id when given', () => {
    expect(
      seedRecordToEvent('seed-003', {
        siteId: 'site_abc123',
        eventType: 'page_view',
        path: '/products/shoes',
        timestamp: '2024-11-14T10:30:00Z',
        eventId: '550e8400-e29b-41d4-a716-446655440000',
        visitorId: '550e8400-e29b-41d4-a716-446655440001',
      }),
    ).toEqual({
      ok: true,
      event: {
        type: 'page_view',
        site_id: 'site_abc123',
        path: '/products/shoes',
        event_id: '550e8400-e29b-41d4-a716-446655440000',
        visitor_id: '550e8400-e29b-41d4-a716-446655440001',
        ts: '2024-11-14T10:30:00Z',
      },
    });
    expect(
      seedRecordToEvent('seed-003', {
        siteId: 's',
        eventType: 'Sign Up',
        path: '/',
        timestamp: 1731580200000,
        eventId: '',
        userId: 'u1',
      }),
    ).toEqual({
      ok: true,
      event: { type: 'sign_up', site_id: 's', path: '/', user_id: 'u1', ts: 1731580200000 },
    });
    // snake_case is not seed 003's: its required fields are missing.
    expect(
      seedRecordToEvent('seed-003', {
        site_id: 's',
        event_type: 'page_view',
        path: '/',
        timestamp: '2024-11-14T10:30:00Z',
      }),
    ).toEqual(refused('missing eventType', 'eventType is required; siteId is required'));
  });

  it('seed 004: path required, timestamp optional', () => {
    expect(
      seedRecordToEvent('seed-004', {
        site_id: 'shop',
        event_type: 'page_view',
        path: '/products/123',
        user_id: 'u-9',
      }),
    ).toEqual({
      ok: true,
      event: { type: 'page_view', site_id: 'shop', path: '/products/123', user_id: 'u-9' },
    });
    expect(
      seedRecordToEvent('seed-004', {
        site_id: 'shop',
        event_type: 'add_to_cart',
        timestamp: { at: 1 },
      }),
    ).toEqual(
      refused(
        'missing path',
        'path is required; timestamp must be an ISO-8601 string or epoch milliseconds',
      ),
    );
  });
});
