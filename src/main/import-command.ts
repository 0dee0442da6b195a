import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadCampaignAccounts } from '../compat/seed-002-pixels/routes.js';
import type { Config } from '../config.js';
import {
  canonicalFields,
  formatOf,
  openFileSource,
  type FileFormat,
} from '../import/file-source.js';
import { ImportMovedOn, ImportNameTaken } from '../import/imports.repo.js';
import { progressBar } from '../import/progress.js';
import { runImport, StrictImportStopped, type ImportSummary } from '../import/run-import.js';
import type { ImportSource } from '../import/source.js';
import { migrate } from '../storage/migrate.js';
import { takeLock } from '../transport/embedded-log/dir-lock.js';
import { openDb } from './components.js';

export const IMPORT_USAGE = `usage: tally import [options] <file.ndjson|file.csv|->
       tally import --from <seed-000|seed-001|seed-002|seed-003|seed-004> <postgres://…>

Imports history exactly once: re-running an import, or resuming one that was stopped, counts
every record once. Into DATABASE_URL when set, else the embedded database under DATA_DIR (stop
the server first: the import takes its lock).

options:
  --format ndjson|csv   the file's format (default: from its extension; ndjson for -)
  --fields NAME         field names of the records: canonical (default) or seed-000 … seed-004
  --name NAME           the import's name (default: from the source; required for -)
  --batch N             records per transaction (default 20000)
  --strict              stop at the first refused record (exit 1)
  --no-dedup            do not deduplicate by event_id (faster; for ids known to be unique):
                        the default for --from, whose rows are unique by the seed's own key
  --dedup               deduplicate by event_id, also against events sent to the API within
                        the window: the default for files
  --quiet               no progress bar`;

const SEEDS = ['seed-000', 'seed-001', 'seed-002', 'seed-003', 'seed-004'] as const;
type Seed = (typeof SEEDS)[number];
const isSeed = (s: string | undefined): s is Seed => SEEDS.includes(s as Seed);

class UsageError extends Error {}

async function sourceFrom(args: ReturnType<typeof parse>, config: Config): Promise<ImportSource> {
  const { values, positionals } = args;
  if (positionals.length !== 1) {
    throw new UsageError('give one file (or - for standard input), or --from with a database URL');
  }
  const target = positionals[0]!;
  if (values.from !== undefined) {
    if (!isSeed(values.from)) {
      throw new UsageError(`--from takes ${SEEDS.join(', ')}`);
    }
    if (!/^postgres(ql)?:\/\//.test(target)) {
      throw new UsageError(`--from ${values.from} takes the seed's postgres:// URL`);
    }
    const accounts = await loadCampaignAccounts(config.compat.campaignAccountsFile);
    const { openSeedDbSource } = await import('../import/seed-db.js');
    return openSeedDbSource(values.from, target, {
      campaignAccounts: Object.fromEntries(accounts),
    });
  }
  const format = (values.format ?? formatOf(target) ?? (target === '-' ? 'ndjson' : undefined)) as
    FileFormat | undefined;
  if (format !== 'ndjson' && format !== 'csv') {
    throw new UsageError('--format takes ndjson or csv (the file name does not tell)');
  }
  const fields = values.fields ?? 'canonical';
  if (fields !== 'canonical' && !isSeed(fields)) {
    throw new UsageError(`--fields takes canonical, ${SEEDS.join(', ')}`);
  }
  let mapper = canonicalFields;
  if (fields !== 'canonical') {
    // Loaded only when used, as the seed database sources are.
    const { seedRecordToEvent } = await import('../import/seed-fields.js');
    mapper = (r) => seedRecordToEvent(fields, r);
  }
  return openFileSource(target, format, mapper);
}

const parse = (argv: string[]) =>
  parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      from: { type: 'string' },
      format: { type: 'string' },
      fields: { type: 'string' },
      name: { type: 'string' },
      batch: { type: 'string' },
      strict: { type: 'boolean', default: false },
      'no-dedup': { type: 'boolean', default: false },
      dedup: { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });

const fmt = (n: number) => n.toLocaleString('en-US');

function summaryLine(s: ImportSummary, secs: number): string {
  const reasons = Object.entries(s.refused)
    .sort()
    .map(([r, n]) => `${r}: ${fmt(n)}`)
    .join(', ');
  const refused = Object.values(s.refused).reduce((a, b) => a + b, 0);
  const rate = Math.round(s.thisRun.records / Math.max(secs, 0.001));
  return (
    `import "${s.name}": ${fmt(s.thisRun.records)} records read in ${secs.toFixed(1)} s (${fmt(rate)}/s), ` +
    `${fmt(s.thisRun.imported)} counted${s.resumed ? ' (resumed)' : ''}; ` +
    `in all ${fmt(s.records)} records, ${fmt(s.imported)} counted, ${fmt(refused)} refused` +
    (reasons ? ` (${reasons})` : '')
  );
}

/** `tally import …`; returns the exit code. */
export async function importCommand(argv: string[], config: Config): Promise<number> {
  let args;
  let source: ImportSource;
  try {
    args = parse(argv);
    if (args.values.help) {
      process.stdout.write(`${IMPORT_USAGE}\n`);
      return 0;
    }
    if (args.values.dedup && args.values['no-dedup']) {
      throw new UsageError('--dedup and --no-dedup: give one');
    }
    const batch = Number(args.values.batch ?? 20_000);
    if (!Number.isInteger(batch) || batch < 1 || batch > 100_000) {
      throw new UsageError('--batch takes a whole number from 1 to 100000');
    }
    source = await sourceFrom(args, config);
    const name = args.values.name ?? source.defaultName;
    if (name === undefined) {
      await source.close();
      throw new UsageError('standard input has no name of its own: give --name');
    }
    return await run(source, config, {
      name,
      batch,
      strict: args.values.strict,
      // A seed's rows are unique by its own key: its ids need no dedup table.
      dedup: args.values.dedup || (!args.values['no-dedup'] && args.values.from === undefined),
      quiet: args.values.quiet,
    });
  } catch (err) {
    if (
      err instanceof UsageError ||
      (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
    ) {
      process.stderr.write(`tally import: ${(err as Error).message}\n\n${IMPORT_USAGE}\n`);
      return 2;
    }
    throw err;
  }
}

async function run(
  source: ImportSource,
  config: Config,
  o: { name: string; batch: number; strict: boolean; dedup: boolean; quiet: boolean },
): Promise<number> {
  const embedded = config.db.url === undefined;
  const logDir = config.transport.dir;
  if (embedded) {
    // The embedded database belongs to one process: refuse while a server holds it, and keep
    // one from starting meanwhile.
    await mkdir(logDir, { recursive: true });
    try {
      await takeLock(logDir);
    } catch (err) {
      await source.close();
      process.stderr.write(
        `tally import: ${(err as Error).message}: stop the server first, or import into PostgreSQL (DATABASE_URL)\n`,
      );
      return 1;
    }
  }
  const db = await openDb(config);
  const started = Date.now();
  const bar = progressBar(process.stderr, started);
  try {
    await migrate(db);
    const summary = await runImport(db, source, {
      name: o.name,
      batchRecords: o.batch,
      strict: o.strict,
      dedup: o.dedup ? { windowMs: config.aggregator.dedupWindowMs } : undefined,
      normalize: { minTsMs: config.ingest.minTsMs, maxFutureMs: config.ingest.maxFutureMs },
      ...(o.quiet ? {} : { onProgress: (p) => bar.update(p) }),
    });
    bar.done();
    process.stdout.write(`${summaryLine(summary, (Date.now() - started) / 1000)}\n`);
    for (const e of summary.examples) {
      process.stdout.write(`  refused ${e.where}: ${e.reason}: ${e.message}\n`);
    }
    return 0;
  } catch (err) {
    bar.done();
    if (
      err instanceof StrictImportStopped ||
      err instanceof ImportNameTaken ||
      err instanceof ImportMovedOn
    ) {
      process.stderr.write(`tally import: ${err.message}\n`);
      return 1;
    }
    throw err;
  } finally {
    await db.close();
    if (embedded) {
      await rm(join(logDir, 'LOCK'), { force: true });
    }
  }
}
