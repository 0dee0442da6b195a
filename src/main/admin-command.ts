import { mkdir } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { KeyView, SiteView } from '../auth/admin.js';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import { migrate } from '../storage/migrate.js';
import { releaseLock, takeLock } from '../transport/embedded-log/dir-lock.js';
import { adminKeyFor, dbAdminClient, httpAdminClient, type AdminClient } from './admin-client.js';
import { openDb } from './components.js';

export const ADMIN_USAGE = `usage:
  tally sites list
  tally sites add <site_id> [--name N] [--origin O]... [--public] [--ingest-key-required]
  tally sites update <site_id> [--name N] [--origin O]... [--no-origins] [--public | --private]
                               [--ingest-key-required | --no-ingest-key-required]
  tally sites remove <site_id>
  tally keys list
  tally keys create --scope read|ingest|admin [--site ID]... [--name N]
  tally keys revoke <key_id>
  tally users delete <user_id> [--site ID]
  tally links sign --target URL [--site ID] [--path P] [--ad-id A] [--ad-unit U] [--campaign C]
                   [--creative K] [--account N] [--base URL]
options:
  --url URL   use a running server's admin API (key: TALLY_ADMIN_KEY, else DATA_DIR/admin.key);
              without it, the database itself, or the local server when it holds the embedded one
  --json      print JSON`;

const OPTIONS = {
  name: { type: 'string' },
  origin: { type: 'string', multiple: true },
  'no-origins': { type: 'boolean' },
  public: { type: 'boolean' },
  private: { type: 'boolean' },
  'ingest-key-required': { type: 'boolean' },
  'no-ingest-key-required': { type: 'boolean' },
  scope: { type: 'string' },
  site: { type: 'string', multiple: true },
  url: { type: 'string' },
  target: { type: 'string' },
  path: { type: 'string' },
  'ad-id': { type: 'string' },
  'ad-unit': { type: 'string' },
  campaign: { type: 'string' },
  creative: { type: 'string' },
  account: { type: 'string' },
  base: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<
  typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>
>['values'];

/** `tally sites|keys|users|links …`: exit code 0, 1 (refused: the reason on stderr) or 2 (usage). */
export async function adminCommand(noun: string, argv: string[], config: Config): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    process.stderr.write(`tally ${noun}: ${(err as Error).message}\n${ADMIN_USAGE}\n`);
    return 2;
  }
  const { values: v, positionals } = parsed;
  const [verb, arg] = positionals;
  if (v.help || verb === undefined) {
    process.stdout.write(`${ADMIN_USAGE}\n`);
    return v.help ? 0 : 2;
  }
  const action = ACTIONS[`${noun} ${verb}`];
  if (action === undefined || (action.needsArg && arg === undefined)) {
    process.stderr.write(`tally ${noun} ${verb}: not a command here\n${ADMIN_USAGE}\n`);
    return 2;
  }
  const out = (x: unknown, text: string) =>
    process.stdout.write(v.json ? `${JSON.stringify(x, null, 2)}\n` : `${text}\n`);
  return withClient(config, v.url, async (client) => {
    v.base ??= v.url ?? `http://localhost:${config.http.port}`;
    try {
      await action.run(client, arg ?? '', v, out);
      return 0;
    } catch (err) {
      if (err instanceof AppError) {
        process.stderr.write(`tally ${noun} ${verb}: ${err.message}\n`);
        return 1;
      }
      throw err;
    }
  });
}

type Out = (x: unknown, text: string) => void;
interface Action {
  needsArg: boolean;
  run(c: AdminClient, arg: string, v: Values, out: Out): Promise<void>;
}

const flag = (on: boolean | undefined, off: boolean | undefined) =>
  on ? true : off ? false : undefined;
const siteInput = (v: Values) => ({
  name: v.name,
  origins: v['no-origins'] ? [] : v.origin,
  public_reports: flag(v.public, v.private),
  ingest_key_required: flag(v['ingest-key-required'], v['no-ingest-key-required']),
});

const siteLine = (s: SiteView) =>
  `${s.site_id}\t${s.public_reports ? 'public' : 'private'}\t${
    s.ingest_key_required ? 'ingest key required' : 'server-side open'
  }\torigins: ${s.origins.length ? s.origins.join(' ') : 'any'}${s.name ? `\t${s.name}` : ''}`;
const keyLine = (k: KeyView) =>
  `${k.id}\t${k.scope}\t${k.sites.length ? k.sites.join(',') : 'all sites'}\t${
    k.revoked_at ? `revoked ${k.revoked_at}` : `last used ${k.last_used_at ?? 'never'}`
  }${k.name ? `\t${k.name}` : ''}`;

const linkInput = (v: Values) => {
  const input: Record<string, string | undefined> = {
    target: v.target,
    site_id: v.site?.[0],
    path: v.path,
    ad_id: v['ad-id'],
    ad_unit_id: v['ad-unit'],
    campaign_id: v.campaign,
    creative_id: v.creative,
    account_id: v.account,
  };
  return Object.fromEntries(Object.entries(input).filter(([, x]) => x !== undefined));
};

const ACTIONS: Record<string, Action> = {
  'links sign': {
    needsArg: false,
    run: async (c, _a, v, out) => {
      if ((v.site?.length ?? 0) > 1) {
        throw new AppError('INVALID_PARAMETER', 'give at most one --site', 400);
      }
      const link = await c.signLink(linkInput(v), v.base!);
      out(link, link.url);
    },
  },
  'sites list': {
    needsArg: false,
    run: async (c, _a, _v, out) => {
      const sites = await c.listSites();
      out(sites, sites.length ? sites.map(siteLine).join('\n') : 'no sites registered');
    },
  },
  'sites add': {
    needsArg: true,
    run: async (c, id, v, out) => {
      const s = await c.addSite({ site_id: id, ...siteInput(v) });
      out(s, siteLine(s));
    },
  },
  'sites update': {
    needsArg: true,
    run: async (c, id, v, out) => {
      const s = await c.updateSite(id, siteInput(v));
      out(s, siteLine(s));
    },
  },
  'sites remove': {
    needsArg: true,
    run: async (c, id, _v, out) => {
      await c.removeSite(id);
      out({ removed: id }, `removed ${id} (its numbers stay)`);
    },
  },
  'keys list': {
    needsArg: false,
    run: async (c, _a, _v, out) => {
      const keys = await c.listKeys();
      out(keys, keys.length ? keys.map(keyLine).join('\n') : 'no keys');
    },
  },
  'keys create': {
    needsArg: false,
    run: async (c, _a, v, out) => {
      const k = await c.createKey({ scope: v.scope, sites: v.site ?? [], name: v.name ?? '' });
      if (!v.json) {
        process.stderr.write(
          `${keyLine(k)}\nthe key, shown this once (it is stored only as a hash):\n`,
        );
      }
      out(k, k.key);
    },
  },
  'keys revoke': {
    needsArg: true,
    run: async (c, id, _v, out) => {
      await c.revokeKey(id);
      out({ revoked: id }, `revoked ${id}`);
    },
  },
  'users delete': {
    needsArg: true,
    run: async (c, user, v, out) => {
      if ((v.site?.length ?? 0) > 1) {
        throw new AppError('INVALID_PARAMETER', 'give at most one --site', 400);
      }
      const site = v.site?.[0];
      const d = await c.deleteUser(user, site);
      out(
        { user_id: user, site_id: site ?? null, deleted: d },
        `deleted ${d.unique_user_rows} unique-user rows and ${d.dead_letters} dead letters of ${user}${site ? ` on ${site}` : ' on every site'}`,
      );
    },
  },
};

/**
 * The database when this process may open it; the running server's admin API with `--url`, or
 * when a local server holds the embedded database.
 */
async function withClient(
  config: Config,
  url: string | undefined,
  fn: (c: AdminClient) => Promise<number>,
): Promise<number> {
  const key = () => adminKeyFor(config.auth.adminKeyFile);
  if (url !== undefined) {
    return fn(httpAdminClient(url, await key()));
  }
  if (config.db.url === undefined) {
    await mkdir(config.transport.dir, { recursive: true });
    try {
      await takeLock(config.transport.dir);
    } catch {
      const host = config.http.host === '0.0.0.0' ? '127.0.0.1' : config.http.host;
      return fn(httpAdminClient(`http://${host}:${config.http.port}`, await key()));
    }
  }
  const db = await openDb(config);
  try {
    await migrate(db);
    return await fn(dbAdminClient(db, { linkSecret: config.links.secret }));
  } finally {
    await db.close();
    if (config.db.url === undefined) {
      await releaseLock(config.transport.dir);
    }
  }
}
