/**
 * The client's country through real HTTP: the whole single-process service (embedded log and
 * database, as `npm start`), with the bundled country database. What reaches the log is read
 * by spying on the transport's publish (called through): the IP must not be in it, the country
 * must, from a trusted proxy's X-Forwarded-For only. Also the seed routes and a bad MAXMIND_DB.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ConfigError } from '../../src/config.js';
import type { CanonicalEvent } from '../../src/events/event.js';
import { newDataDir, post, startServer, type TestServer } from '../helpers/server.js';

const CHROME =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const pv = (siteId: string) => ({
  type: 'page_view',
  site_id: siteId,
  url: 'https://shop.example/?utm_campaign=spring',
  referrer: 'https://www.google.de/',
});

/** Starts a server and records every event it publishes. */
async function recording(env: Record<string, string>) {
  const server = await startServer(env);
  const published: CanonicalEvent[] = [];
  const transport = server.running.transport;
  const publish = transport.publish.bind(transport);
  vi.spyOn(transport, 'publish').mockImplementation(async (events) => {
    published.push(...events);
    return publish(events);
  });
  return { server, published };
}

describe('country behind a trusted proxy (TRUSTED_PROXIES=127.0.0.1)', () => {
  let s: TestServer;
  let published: CanonicalEvent[];
  beforeAll(async () => {
    ({ server: s, published } = await recording({ TRUSTED_PROXIES: '127.0.0.1' }));
  });
  afterAll(() => s.close());

  const send = async (siteId: string, headers: Record<string, string>) => {
    const res = await post(`${s.url}/v1/events`, pv(siteId), { 'user-agent': CHROME, ...headers });
    expect(res.status).toBe(202);
    return published.filter((e) => e.site_id === siteId);
  };

  it("takes the forwarded client's country, IPv4 and IPv6; the IP is not in the event", async () => {
    const [v4] = await send('site-v4', { 'x-forwarded-for': '8.8.8.8' });
    expect(v4).toMatchObject({
      country: 'US',
      ua: CHROME,
      url: 'https://shop.example/?utm_campaign=spring',
      referrer: 'https://www.google.de/',
    });
    expect(JSON.stringify(v4)).not.toContain('8.8.8.8');
    const [v6] = await send('site-v6', { 'x-forwarded-for': '2001:67c:2e8:22::c100:68b' });
    expect(v6?.country).toBe('NL');
  });

  it('walks the chain from the right: a client-written entry left of the proxy is ignored', async () => {
    // The client wrote 8.8.8.8; the proxy at 127.0.0.1 appended the peer it saw, 193.0.6.139.
    const [e] = await send('site-chain', { 'x-forwarded-for': '8.8.8.8, 193.0.6.139' });
    expect(e?.country).toBe('NL');
  });

  it('has no country for a private client address or no header (the loopback peer)', async () => {
    const [priv] = await send('site-private', { 'x-forwarded-for': '192.168.1.1' });
    expect(priv).toBeDefined();
    expect(priv && 'country' in priv).toBe(false);
    const [none] = await send('site-none', {});
    expect(none && 'country' in none).toBe(false);
  });

  it('refuses a client-sent country', async () => {
    const res = await post(`${s.url}/v1/events`, { ...pv('site-forged'), country: 'FR' });
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body)).toContain('country');
  });

  it('sets ua and country on the seed routes too', async () => {
    const headers = { 'user-agent': CHROME, 'x-forwarded-for': '8.8.8.8' };
    const ts = new Date().toISOString();
    const seeds: [string, Record<string, unknown>, string][] = [
      [
        '/api/ingestion/event',
        { site_id: 'seed-001', event_type: 'page_view', timestamp: ts },
        'seed-001',
      ],
      [
        '/api/event',
        { siteId: 'seed-003', eventType: 'page_view', path: '/', timestamp: ts },
        'seed-003',
      ],
      [
        '/event',
        { site_id: 'seed-004', event_type: 'page_view', path: '/', timestamp: ts },
        'seed-004',
      ],
    ];
    for (const [path, body, siteId] of seeds) {
      const res = await post(`${s.url}${path}`, body, headers);
      expect([path, res.status]).toEqual([path, 202]);
      expect(published.find((e) => e.site_id === siteId)).toMatchObject({
        country: 'US',
        ua: CHROME,
      });
    }
  });
});

describe('country from an untrusted peer', () => {
  let s: TestServer;
  let published: CanonicalEvent[];
  beforeAll(async () => {
    // The test's peer (127.0.0.1) is not the trusted proxy: its X-Forwarded-For is not believed.
    ({ server: s, published } = await recording({ TRUSTED_PROXIES: '10.9.9.9' }));
  });
  afterAll(() => s.close());

  it('ignores X-Forwarded-For and looks up the peer (loopback: no country)', async () => {
    const res = await post(`${s.url}/v1/events`, pv('site-untrusted'), {
      'x-forwarded-for': '8.8.8.8',
    });
    expect(res.status).toBe(202);
    const [e] = published.filter((x) => x.site_id === 'site-untrusted');
    expect(e).toBeDefined();
    expect(e && 'country' in e).toBe(false);
  });
});

describe('MAXMIND_DB', () => {
  it('a missing file stops start-up with a ConfigError naming it', async () => {
    const dir = newDataDir();
    const err = await startServer({ MAXMIND_DB: '/nonexistent/geo.mmdb' }, dir).then(
      () => undefined,
      (e: unknown) => e,
    );
    rmSync(dir, { recursive: true, force: true });
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/^invalid MAXMIND_DB="\/nonexistent\/geo\.mmdb": /);
  });
});
