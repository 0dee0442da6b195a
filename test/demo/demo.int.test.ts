/**
 * `npm run demo` on a small scale (2 days, a tenth of the traffic): it starts its own Tally on
 * a fresh data directory, sends through the public ingest API, and says it checked the reports;
 * a server started afterwards on that directory counts exactly what the demo says it sent.
 */
import { readFileSync } from 'node:fs';
import { afterAll, expect, it } from 'vitest';
import { spawnNode } from '../harness/spawn.js';
import { newDataDir, startServer, type TestServer } from '../helpers/server.js';

let server: TestServer | undefined;
afterAll(async () => {
  await server?.close();
});

it('fills a data directory with exactly the traffic it reports', async () => {
  const dataDir = newDataDir();
  const demo = spawnNode('demo', 'scripts/demo.ts', ['--days', '2', '--scale', '0.1', '--json'], {
    env: { DATA_DIR: dataDir },
  });
  const code = await demo.exited;
  expect(code, demo.output()).toBe(0);
  const out = JSON.parse(demo.output().trim().split('\n').pop()!) as {
    from: string;
    to: string;
    verified: boolean;
    sent: {
      sites: Record<string, { views: number; events: Record<string, number> }>;
      ads: { impressions: number; clicks: number };
      bots: number;
    };
  };
  expect(out.verified).toBe(true);
  expect(Object.keys(out.sent.sites).sort()).toEqual(['blog', 'shop']);
  expect(out.sent.ads.impressions).toBeGreaterThan(0);

  const adminKey = readFileSync(`${dataDir}/admin.key`, 'utf8').trim();
  server = await startServer({ AUTH: 'on' }, dataDir);
  const get = async (path: string): Promise<any> => {
    const res = await fetch(`${server!.url}${path}`, {
      headers: { authorization: `Bearer ${adminKey}` },
    });
    return res.json();
  };
  for (const [site, want] of Object.entries(out.sent.sites)) {
    const s = await get(`/v1/stats?site_id=${site}&from=${out.from}&to=${out.to}`);
    expect({ views: s.total_views, events: s.events_by_type }, site).toEqual(want);
  }
  const drops = await get(`/v1/drops?from=${out.from}&to=${out.to}`);
  expect(drops.drops.bot ?? 0).toBe(out.sent.bots);
  const sites = await get('/v1/sites');
  expect(sites.sites.map((s: { site_id: string }) => s.site_id)).toEqual(['blog', 'shop']);
});
