/**
 * `tally sites|keys|users` for real: straight into the embedded database while no server runs,
 * and through the running server's admin API (with the bootstrap key) while one holds it.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { spawnTally } from '../harness/spawn.js';
import { startChild, type Child } from '../helpers/child.js';
import { newDataDir } from '../helpers/server.js';

const dataDir = newDataDir();
const children: Child[] = [];
afterAll(() => {
  for (const c of children) {
    c.proc.kill('SIGKILL');
  }
  rmSync(dataDir, { recursive: true, force: true });
});

async function tally(args: string[], env: Record<string, string> = {}) {
  const child = spawnTally(args, { env: { DATA_DIR: dataDir, LOG_LEVEL: 'warn', ...env } });
  const code = await child.exited;
  return { code, out: child.output() };
}

const json = <T>(out: string) => JSON.parse(out) as T;

describe('tally sites and keys', () => {
  let readKey = '';
  let readKeyId = '';

  it('registers sites and makes keys in the embedded database while no server runs', async () => {
    const add = await tally([
      'sites',
      'add',
      'shop',
      '--origin',
      'https://shop.example',
      '--origin',
      '*.shop.example',
      '--json',
    ]);
    expect(add.code).toBe(0);
    expect(json(add.out)).toMatchObject({
      site_id: 'shop',
      origins: ['https://shop.example', '*.shop.example'],
      public_reports: false,
      ingest_key_required: false,
    });
    const pub = await tally(['sites', 'add', 'blog', '--public']);
    expect(pub.code).toBe(0);
    expect(pub.out).toMatch(/^blog\tpublic\tserver-side open\torigins: any/);

    const key = await tally([
      'keys',
      'create',
      '--scope',
      'read',
      '--site',
      'shop',
      '--name',
      'ci',
      '--json',
    ]);
    expect(key.code).toBe(0);
    const k = json<{ id: string; key: string; scope: string; sites: string[]; name: string }>(
      key.out,
    );
    expect(k).toMatchObject({ scope: 'read', sites: ['shop'], name: 'ci' });
    expect(k.key).toMatch(/^tally_[0-9a-z]{10}_/);
    readKey = k.key;
    readKeyId = k.id;

    const list = await tally(['keys', 'list']);
    expect(list.code).toBe(0);
    expect(list.out).toContain(`${readKeyId}\tread\tshop\tlast used never\tci`);
    expect(list.out).not.toContain(readKey);
  });

  it('refuses bad input with the field and reason (exit 1), and a wrong command with usage (exit 2)', async () => {
    const bad = await tally(['sites', 'add', 'x', '--origin', 'https://a.example/path']);
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/origins\[0\]: must be an origin/);
    const dup = await tally(['sites', 'add', 'shop']);
    expect(dup.code).toBe(1);
    expect(dup.out).toMatch(/site "shop" is registered already/);
    const scope = await tally(['keys', 'create', '--scope', 'root']);
    expect(scope.code).toBe(1);
    expect(scope.out).toMatch(/scope: must be one of: read, ingest, admin/);
    const usage = await tally(['sites', 'frobnicate']);
    expect(usage.code).toBe(2);
    expect(usage.out).toMatch(/usage:/);
    const unknownFlag = await tally(['keys', 'list', '--bogus']);
    expect(unknownFlag.code).toBe(2);
  });

  it('goes through the running server when it holds the embedded database', async () => {
    const server = await startChild({ DATA_DIR: dataDir, AUTH: 'on' });
    children.push(server);
    const adminKey = readFileSync(join(dataDir, 'admin.key'), 'utf8').trim();
    expect(adminKey).toMatch(/^tally_/);

    // The key made before the server started works; it is limited to its site.
    const auth = { authorization: `Bearer ${readKey}` };
    const shop = await fetch(`${server.url}/v1/stats?site_id=shop&date=2026-12-01`, {
      headers: auth,
    });
    expect(shop.status).toBe(200);
    const other = await fetch(`${server.url}/v1/stats?site_id=else&date=2026-12-01`, {
      headers: auth,
    });
    expect(other.status).toBe(403);
    // A public site needs no key; a private one does.
    expect((await fetch(`${server.url}/v1/stats?site_id=blog&date=2026-12-01`)).status).toBe(200);
    expect((await fetch(`${server.url}/v1/stats?site_id=shop&date=2026-12-01`)).status).toBe(401);

    const env = { PORT: new URL(server.url).port, HOST: '127.0.0.1' };
    const sites = await tally(['sites', 'list', '--json'], env);
    expect(sites.code).toBe(0);
    expect(json<{ site_id: string }[]>(sites.out).map((s) => s.site_id)).toEqual(['blog', 'shop']);

    const upd = await tally(
      ['sites', 'update', 'shop', '--no-origins', '--ingest-key-required', '--json'],
      env,
    );
    expect(upd.code).toBe(0);
    expect(json(upd.out)).toMatchObject({
      site_id: 'shop',
      origins: [],
      ingest_key_required: true,
    });
    // The server took the change at once: a server-side event for shop now needs a key.
    const ev = await fetch(`${server.url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'page_view', site_id: 'shop', path: '/' }),
    });
    expect(ev.status).toBe(401);

    const revoke = await tally(['keys', 'revoke', readKeyId], env);
    expect(revoke.code).toBe(0);
    expect(revoke.out).toContain(`revoked ${readKeyId}`);
    const after = await fetch(`${server.url}/v1/stats?site_id=shop&date=2026-12-01`, {
      headers: auth,
    });
    expect(after.status).toBe(401);

    const del = await tally(['users', 'delete', 'u1', '--site', 'shop'], env);
    expect(del.code).toBe(0);
    expect(del.out).toMatch(/deleted 0 unique-user rows and 0 dead letters of u1 on shop/);

    // Without the admin key, the server refuses the CLI.
    const nokey = await tally(['sites', 'list', '--url', server.url], {
      TALLY_ADMIN_KEY: 'tally_0000000000_' + 'x'.repeat(43),
    });
    expect(nokey.code).toBe(1);
    expect(nokey.out).toMatch(/this API key is not valid/);
  });
});
