/** Seed 002 (tracking pixels on /event/impression and /event/click, GET /health) over real HTTP. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCampaignAccounts } from '../../src/compat/seed-002-pixels/routes.js';
import { caughtUp, startServer, waitFor, type TestServer } from '../helpers/server.js';
import { drops, request, TOO_FAR_AHEAD, TOO_OLD } from './readme.js';

const dir = mkdtempSync(join(tmpdir(), 'tally-seed002-'));
const accountsFile = join(dir, 'campaign-accounts.json');
writeFileSync(accountsFile, JSON.stringify({ '456': 'acct-1', 'camp-b': 'acct-2' }));

let s: TestServer;
beforeAll(async () => {
  s = await startServer({ CAMPAIGN_ACCOUNTS_FILE: accountsFile, MAX_BODY_BYTES: '2048' });
});
afterAll(async () => {
  await s.close();
  rmSync(dir, { recursive: true, force: true });
});

// The README's two curl examples, byte for byte (1707048000000 is 2024-02-04T12:00:00.000Z).
const README_QUERY =
  'ad_unit_id=123&campaign_id=456&creative_id=789&page_url=https://example.com&timestamp=1707048000000';
const README_IMPRESSION = `/event/impression?${README_QUERY}`;
const README_CLICK = `/event/click?${README_QUERY}`;
const README_HOUR = '2024-02-04T12:00:00.000Z';
const pixel = (type: string, query: string, init: RequestInit = { method: 'POST' }) =>
  request(`${s.url}/event/${type}?${query}`, init);
const GET = { method: 'GET' };
/** Hourly impressions and clicks of one hour grouped by one dimension (the seed's metrics_hourly). */
async function hourly(groupBy: string, filter: string, hour = README_HOUR) {
  const r = await request(
    `${s.url}/v1/ads/stats?interval=hour&from=${hour}&to=${hour}&group_by=${groupBy}&${filter}`,
  );
  expect(r.status, r.text).toBe(200);
  return r.json.rows;
}
/** Every hourly row of campaign 456 on the README's day, per campaign. */
const readmeDay = async () => {
  const r = await request(
    `${s.url}/v1/ads/stats?interval=hour&from=2024-02-04&to=2024-02-04&group_by=campaign_id&campaign_id=456`,
  );
  expect(r.status, r.text).toBe(200);
  return r.json.rows;
};

describe('seed 002 README examples, sent as written', () => {
  it('POST /event/impression?…&timestamp=1707048000000 → 204, one impression in hour 2024-02-04T12:00Z', async () => {
    const r = await request(`${s.url}${README_IMPRESSION}`, { method: 'POST' });
    expect(r.status).toBe(204);
    expect(r.text).toBe('');
    await caughtUp(s);
    expect(await readmeDay()).toEqual([
      { bucket: README_HOUR, group: '456', impressions: 1, clicks: 0, ctr: 0 },
    ]);
  });

  it('POST /event/click?…&timestamp=1707048000000 → 204, one click in the same hour', async () => {
    const r = await request(`${s.url}${README_CLICK}`, { method: 'POST' });
    expect(r.status).toBe(204);
    expect(r.text).toBe('');
    await caughtUp(s);
    expect(await readmeDay()).toEqual([
      { bucket: README_HOUR, group: '456', impressions: 1, clicks: 1, ctr: 1 },
    ]);
  });

  it('GET /health answers its fields (and Tally’s)', async () => {
    const r = await request(`${s.url}/health`);
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({
      status: 'healthy',
      service: 'tally',
      timestamp: expect.stringMatching(/Z$/),
      database: 'connected',
      uptime: expect.any(Number),
      ok: true,
    });
  });

  it('hourly metrics per account (from the campaign mapping), ad unit and campaign', async () => {
    await caughtUp(s);
    const row = { bucket: README_HOUR, impressions: 1, clicks: 1, ctr: 1 };
    expect(await hourly('account_id', 'campaign_id=456')).toEqual([{ ...row, group: 'acct-1' }]);
    expect(await hourly('ad_unit_id', 'account_id=acct-1')).toEqual([{ ...row, group: '123' }]);
    expect(await hourly('campaign_id', 'ad_unit_id=123')).toEqual([{ ...row, group: '456' }]);
  });
});

describe('seed 002 timestamps: MIN_EVENT_TS (2000-01-01) up to MAX_FUTURE_MS ahead', () => {
  const unit = 'ad_unit_id=range-002&campaign_id=camp-b&creative_id=c&page_url=u';

  it.each([
    ['epoch ms of 1999-12-31T23:59:59.999Z', '946684799999', `timestamp ${TOO_OLD}`],
    ['epoch ms of 1970-01-12 (10 digits)', '1000000000', `timestamp ${TOO_OLD}`],
    ['ISO 1970-01-01T00:00:00Z', '1970-01-01T00:00:00Z', `timestamp ${TOO_OLD}`],
    ['epoch ms in the year 9999', '253402300799999', `timestamp ${TOO_FAR_AHEAD}`],
    ['ISO 9999-12-31T23:59:59Z', '9999-12-31T23:59:59Z', `timestamp ${TOO_FAR_AHEAD}`],
  ])('refuses %s (400 in its shape)', async (_name, ts, error) => {
    const r = await pixel('impression', `${unit}&timestamp=${ts}`);
    expect(r.status).toBe(400);
    expect(r.json).toEqual({ error });
  });

  it('refuses epoch ms 0 (400), and counts every time before the floor as too_old', async () => {
    const r = await pixel('click', `${unit}&timestamp=0`, GET);
    expect(r.status).toBe(400);
    expect(r.json).toEqual({ error: `timestamp ${TOO_OLD}` });
    // The three refusals before the floor above (946684799999, 1000000000, 1970-01-01…) and 0.
    await waitFor(async () => ((await drops(s.url)).too_old ?? 0) === 4);
  });

  it('accepts the floor itself (946684800000), counted in hour 2000-01-01T00:00Z', async () => {
    expect((await pixel('click', `${unit}&timestamp=946684800000`)).status).toBe(204);
    await caughtUp(s);
    expect(await hourly('ad_unit_id', 'ad_unit_id=range-002', '2000-01-01T00:00:00.000Z')).toEqual([
      { bucket: '2000-01-01T00:00:00.000Z', group: 'range-002', impressions: 0, clicks: 1, ctr: 0 },
    ]);
  });
});

describe('seed 002 pixels', () => {
  it('answer GET too (browsers fire pixels with GET), never cached', async () => {
    const r = await pixel(
      'impression',
      'ad_unit_id=get-unit&campaign_id=camp-b&creative_id=c&page_url=https://shop.example/p?x=1',
      GET,
    );
    expect(r.status).toBe(204);
    expect(r.headers.get('cache-control')).toBe('no-store');
  });

  it('an unknown campaign is no error; account_id may then be given; event_id deduplicates', async () => {
    const unit = 'ad_unit_id=u-002&creative_id=c&page_url=https://x.example';
    const base = `${unit}&timestamp=1707048000000`;
    expect((await pixel('impression', `${base}&campaign_id=unknown`, GET)).status).toBe(204);
    expect(
      (await pixel('impression', `${base}&campaign_id=unknown&account_id=acct-9`)).status,
    ).toBe(204);
    for (let i = 0; i < 3; i++) {
      expect(
        (await pixel('click', `${base}&campaign_id=camp-b&event_id=click-once`, GET)).status,
      ).toBe(204);
    }
    // ISO-8601 with an offset is accepted as well as epoch milliseconds.
    expect(
      (await pixel('click', `${unit}&campaign_id=camp-b&timestamp=2024-02-04T13:30:00%2B01:30`))
        .status,
    ).toBe(204);
    await caughtUp(s);
    const bucket = README_HOUR;
    expect(await hourly('account_id', 'ad_unit_id=u-002')).toEqual([
      { bucket, group: '', impressions: 1, clicks: 0, ctr: 0 },
      { bucket, group: 'acct-2', impressions: 0, clicks: 2, ctr: 0 },
      { bucket, group: 'acct-9', impressions: 1, clicks: 0, ctr: 0 },
    ]);
  });

  it('skip whatever body a POST carries', async () => {
    const r = await pixel('click', `ad_unit_id=body&campaign_id=x&creative_id=c&page_url=u`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"not": json',
    });
    expect(r.status).toBe(204);
  });
});

describe('seed 002 refuses, in its own error shape', () => {
  it.each([
    ['no parameters', '', 400, { error: 'Missing required parameters' }],
    [
      'no page_url',
      'ad_unit_id=1&campaign_id=2&creative_id=3',
      400,
      { error: 'Missing required parameters' },
    ],
    [
      'an empty campaign_id',
      'ad_unit_id=1&campaign_id=&creative_id=3&page_url=u',
      400,
      { error: 'Missing required parameters' },
    ],
    [
      'a repeated parameter',
      'ad_unit_id=1&ad_unit_id=2&campaign_id=2&creative_id=3&page_url=u',
      400,
      { error: 'ad_unit_id must be given once' },
    ],
    [
      'an impossible date',
      'ad_unit_id=1&campaign_id=2&creative_id=3&page_url=u&timestamp=2026-02-30T00:00:00Z',
      400,
      {
        error: 'timestamp must be an ISO-8601 timestamp with Z or an offset, or epoch milliseconds',
      },
    ],
    [
      'a timestamp that is no number',
      'ad_unit_id=1&campaign_id=2&creative_id=3&page_url=u&timestamp=soon',
      400,
      {
        error: 'timestamp must be an ISO-8601 timestamp with Z or an offset, or epoch milliseconds',
      },
    ],
    [
      'an over-long page_url',
      `ad_unit_id=1&campaign_id=2&creative_id=3&page_url=${'u'.repeat(2049)}`,
      400,
      {
        error: 'page_url must be 1 to 2048 characters long',
      },
    ],
  ])('%s (GET and POST)', async (_name, query, status, body) => {
    for (const init of [GET, { method: 'POST' }]) {
      const r = await pixel('impression', query, init);
      expect(r.status).toBe(status);
      expect(r.json).toEqual(body);
    }
  });

  it('a POST body over MAX_BODY_BYTES: 413', async () => {
    const r = await pixel('click', 'ad_unit_id=1&campaign_id=2&creative_id=3&page_url=u', {
      method: 'POST',
      body: 'x'.repeat(3000),
    });
    expect(r).toMatchObject({
      status: 413,
      json: { error: 'request body is larger than 2048 bytes' },
    });
  });

  it('a CAMPAIGN_ACCOUNTS_FILE that is not an object of strings stops start-up', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ c: 5 }));
    await expect(loadCampaignAccounts(bad)).rejects.toThrow(
      `CAMPAIGN_ACCOUNTS_FILE=${bad}: "c" must map to a string of 1-128 characters`,
    );
    writeFileSync(bad, '[1]');
    await expect(loadCampaignAccounts(bad)).rejects.toThrow(
      'must be a JSON object of campaign_id → account_id',
    );
    await expect(loadCampaignAccounts(join(dir, 'missing.json'))).rejects.toThrow('ENOENT');
    expect(await loadCampaignAccounts(undefined)).toEqual(new Map());
  });
});
