import { mkdir } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { Config } from '../config.js';
import { AppError, notFound } from '../errors.js';
import { progressBar } from '../import/progress.js';
import { createLogger } from '../logger.js';
import {
  createDeadLetterReplay,
  MAX_LISTED_SKIPS,
  type ReplayProgress,
  type ReplayRequest,
  type ReplayResult,
} from '../ops/dead-letters.js';
import { replayBody } from '../ops/dead-letters.routes.js';
import {
  deadLetter,
  deadLetters,
  type DeadLetter,
  type DeadLetterQuery,
} from '../reporting/reports/pipeline.js';
import { migrate } from '../storage/migrate.js';
import { releaseLock, takeLock } from '../transport/embedded-log/dir-lock.js';
import { traitsOf } from '../transport/create-transport.js';
import type { Transport } from '../transport/transport.js';
import { adminCall, adminKeyFor } from './admin-client.js';
import { openDb, openTransport } from './components.js';

export const DEAD_LETTERS_USAGE = `usage:
  tally dead-letters list [--replayed | --not-replayed] [--reason TEXT] [--limit N]
  tally dead-letters show <id>
  tally dead-letters replay (--id N... | --reason TEXT | --all) [--again]
replay sends each stored event back through the event log (an event already counted is not
counted again) and marks it replayed; --reason takes those whose reason contains TEXT; dead
letters replayed before are skipped unless --again.
options:
  --url URL   use a running server's admin API (key: TALLY_ADMIN_KEY, else DATA_DIR/admin.key);
              without it, the database and the event log themselves, or the local server when
              it holds them (the embedded database or log)
  --json      print JSON`;

const OPTIONS = {
  id: { type: 'string', multiple: true },
  reason: { type: 'string' },
  all: { type: 'boolean' },
  again: { type: 'boolean' },
  replayed: { type: 'boolean' },
  'not-replayed': { type: 'boolean' },
  limit: { type: 'string' },
  url: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** How `tally dead-letters` reaches them: the database and the log, or a server's admin API. */
interface DeadLetterClient {
  list(q: DeadLetterQuery): Promise<{ total: number; items: DeadLetter[] }>;
  show(id: number): Promise<DeadLetter>;
  replay(req: ReplayRequest, onProgress: (p: ReplayProgress) => void): Promise<ReplayResult>;
}

class UsageError extends Error {}

const positive = (flag: string, v: string, max = Number.MAX_SAFE_INTEGER) => {
  if (!/^\d{1,16}$/.test(v) || Number(v) < 1 || Number(v) > max) {
    throw new UsageError(`${flag} must be an integer from 1 to ${max}, not ${JSON.stringify(v)}`);
  }
  return Number(v);
};

/** `tally dead-letters …`: exit code 0, 1 (refused: the reason on stderr) or 2 (usage). */
export async function deadLettersCommand(argv: string[], config: Config): Promise<number> {
  let run: (c: DeadLetterClient) => Promise<void>;
  let url: string | undefined;
  try {
    const { values: v, positionals } = parseArgs({
      args: argv,
      options: OPTIONS,
      allowPositionals: true,
      strict: true,
    });
    if (v.help) {
      process.stdout.write(`${DEAD_LETTERS_USAGE}\n`);
      return 0;
    }
    url = v.url;
    run = action(positionals, v);
  } catch (err) {
    if (
      err instanceof UsageError ||
      (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
    ) {
      process.stderr.write(
        `tally dead-letters: ${(err as Error).message}\n${DEAD_LETTERS_USAGE}\n`,
      );
      return 2;
    }
    throw err;
  }
  return withClient(config, url, async (client) => {
    try {
      await run(client);
      return 0;
    } catch (err) {
      if (err instanceof AppError) {
        process.stderr.write(`tally dead-letters: ${err.message}\n`);
        return 1;
      }
      throw err;
    }
  });
}

type Values = ReturnType<
  typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>
>['values'];

function action(positionals: string[], v: Values): (c: DeadLetterClient) => Promise<void> {
  const [verb, arg, ...extra] = positionals;
  const out = (x: unknown, text: string) =>
    process.stdout.write(v.json ? `${JSON.stringify(x, null, 2)}\n` : `${text}\n`);
  if (extra.length > 0 || (verb !== 'show' && arg !== undefined)) {
    throw new UsageError(`unexpected argument ${JSON.stringify(extra[0] ?? arg)}`);
  }
  switch (verb) {
    case 'list': {
      if (v.replayed && v['not-replayed']) {
        throw new UsageError('give --replayed or --not-replayed, not both');
      }
      const q: DeadLetterQuery = {
        limit: v.limit === undefined ? 100 : positive('--limit', v.limit, 1000),
        replayed: v.replayed ? true : v['not-replayed'] ? false : undefined,
        reason: v.reason,
      };
      return async (c) => {
        const r = await c.list(q);
        out(r, [...r.items.map(listLine), `${r.items.length} of ${r.total} shown`].join('\n'));
      };
    }
    case 'show': {
      if (arg === undefined) {
        throw new UsageError('show needs a dead-letter id');
      }
      const id = positive('the id', arg);
      return async (c) => {
        const d = await c.show(id);
        out(d, showText(d));
      };
    }
    case 'replay': {
      const given = [v.id !== undefined, v.reason !== undefined, v.all === true];
      if (given.filter(Boolean).length !== 1) {
        throw new UsageError('replay takes exactly one of --id, --reason and --all');
      }
      const req: ReplayRequest = {
        filter: v.id
          ? { ids: v.id.map((x) => positive('--id', x)) }
          : v.reason !== undefined
            ? { reason: v.reason }
            : { all: true },
        again: v.again ?? false,
      };
      return async (c) => {
        const bar = progressBar(process.stderr);
        try {
          const r = await c.replay(req, (p) =>
            bar.update(
              {
                records: p.done,
                imported: p.replayed,
                refused: p.skipped,
                source: { done: p.done, total: p.total },
              },
              p.done === p.total, // the last one is drawn whatever the rate limit
            ),
          );
          bar.done();
          out(r, replayLine(r));
        } catch (err) {
          bar.done();
          throw err;
        }
      };
    }
    default:
      throw new UsageError(verb === undefined ? 'a command is needed' : `no command ${verb}`);
  }
}

const replayedText = (d: DeadLetter) =>
  d.replayed_at === null ? 'not replayed' : `replayed ${d.replayed_at} (${d.replays}x)`;

const listLine = (d: DeadLetter) =>
  `${d.id}\t${d.failed_at}\t${replayedText(d)}\t${d.event_id ?? '-'}\t${d.reason}`;

function showText(d: DeadLetter): string {
  let payload = d.payload;
  try {
    payload = JSON.stringify(JSON.parse(d.payload), null, 2);
  } catch {
    // shown as stored: it is what could not be read
  }
  return [
    `id        ${d.id}`,
    `failed_at ${d.failed_at}`,
    `event_id  ${d.event_id ?? '-'}`,
    `reason    ${d.reason}`,
    `replayed  ${replayedText(d)}`,
    `payload   ${payload}`,
  ].join('\n');
}

function replayLine(r: ReplayResult): string {
  const why = r.skips.map((s) => `${s.id}: ${s.reason}`);
  if (r.skipped > r.skips.length) {
    why.push(`${r.skipped - r.skips.length} more`);
  }
  return `replayed ${r.replayed}, skipped ${r.skipped}${why.length ? ` (${why.join('; ')})` : ''}`;
}

/**
 * The database and the log when this process may open them; the running server's admin API
 * with `--url`, or when a local server holds the embedded database or the embedded log (the
 * events it replays are then aggregated by that server, else at the next start).
 */
async function withClient(
  config: Config,
  url: string | undefined,
  fn: (c: DeadLetterClient) => Promise<number>,
): Promise<number> {
  const key = () => adminKeyFor(config.auth.adminKeyFile);
  if (url !== undefined) {
    return fn(httpClient(url, await key()));
  }
  const logTraits = traitsOf(config.transport.kind);
  const locked = config.db.url === undefined || logTraits.inProcess;
  if (locked) {
    await mkdir(config.transport.dir, { recursive: true });
    try {
      await takeLock(config.transport.dir);
    } catch {
      const host = config.http.host === '0.0.0.0' ? '127.0.0.1' : config.http.host;
      return fn(httpClient(`http://${host}:${config.http.port}`, await key()));
    }
  }
  // stdout is this command's output: failures come back as errors, not log lines.
  const logger = createLogger({ level: 'silent' });
  const db = await openDb(config);
  let transport: Transport | undefined;
  try {
    await migrate(db);
    const replay = createDeadLetterReplay({
      db,
      publish: async (events) =>
        (transport ??= await openTransport(config, logger)).publish(events),
      logger,
    });
    return await fn({
      list: (q) => deadLetters(db, q),
      show: async (id) => {
        const d = await deadLetter(db, id);
        if (d === undefined) {
          throw notFound(`no dead letter ${id}`);
        }
        return d;
      },
      replay,
    });
  } finally {
    await db.close();
    await transport?.close();
    // An embedded log gives its lock up as it closes; taking it away again could remove the
    // lock of a server started meanwhile.
    if (locked && !(transport && logTraits.inProcess)) {
      await releaseLock(config.transport.dir);
    }
  }
}

/** Through a running server's admin API; a replay goes page by page, for the progress bar. */
function httpClient(baseUrl: string, key: string | undefined): DeadLetterClient {
  const call = adminCall(baseUrl, key);
  const PAGE = 2000;
  return {
    list: (q) => {
      const p = new URLSearchParams({ limit: String(q.limit) });
      if (q.replayed !== undefined) {
        p.set('replayed', String(q.replayed));
      }
      if (q.reason !== undefined) {
        p.set('reason', q.reason);
      }
      return call('GET', `/v1/dead-letters?${p.toString()}`);
    },
    show: (id) => call('GET', `/v1/dead-letters/${id}`),
    async replay(req, onProgress) {
      const sum: ReplayResult = {
        replayed: 0,
        skipped: 0,
        skips: [],
        last_id: 0,
        through_id: 0,
        remaining: 0,
      };
      let page: ReplayRequest = { ...req, limit: PAGE };
      for (;;) {
        const r = await call<ReplayResult>('POST', '/v1/dead-letters/replay', replayBody(page));
        sum.replayed += r.replayed;
        sum.skipped += r.skipped;
        sum.skips.push(...r.skips.slice(0, MAX_LISTED_SKIPS - sum.skips.length));
        Object.assign(sum, {
          last_id: r.last_id,
          through_id: r.through_id,
          remaining: r.remaining,
        });
        const done = sum.replayed + sum.skipped;
        onProgress({
          done,
          total: done + r.remaining,
          replayed: sum.replayed,
          skipped: sum.skipped,
        });
        if (r.remaining === 0) {
          return sum;
        }
        page = { ...page, afterId: r.last_id, throughId: r.through_id };
      }
    },
  };
}
