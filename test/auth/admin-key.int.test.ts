/** ADMIN_KEY: a provisioned admin key works, writes no file, and a changed value retires the old. */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { newDataDir, startServer } from '../helpers/server.js';

const dataDir = newDataDir();
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

const key = (id: string, fill: string) => `tally_${id}_${fill.repeat(43)}`;
const sites = (url: string, k: string) =>
  fetch(`${url}/v1/sites`, { headers: { authorization: `Bearer ${k}` } }).then((r) => r.status);

describe('ADMIN_KEY', () => {
  it('is accepted without a key file, and replacing it revokes the value before', async () => {
    const first = key('aaaaaaaaaa', 'a');
    const second = key('bbbbbbbbbb', 'b');
    let s = await startServer({ AUTH: 'on', ADMIN_KEY: first }, dataDir);
    expect(await sites(s.url, first)).toBe(200);
    expect(existsSync(join(dataDir, 'admin.key'))).toBe(false);
    await s.close({ keepData: true });

    s = await startServer({ AUTH: 'on', ADMIN_KEY: second }, dataDir);
    try {
      expect(await sites(s.url, second)).toBe(200);
      expect(await sites(s.url, first)).toBe(401);
      const keys = await fetch(`${s.url}/v1/keys`, {
        headers: { authorization: `Bearer ${second}` },
      }).then((r) => r.json() as Promise<{ keys: { id: string; revoked_at: string | null }[] }>);
      expect(keys.keys.map((k) => [k.id, k.revoked_at === null])).toEqual([
        ['aaaaaaaaaa', false],
        ['bbbbbbbbbb', true],
      ]);
    } finally {
      await s.close({ keepData: true });
    }
  });
});
