#!/usr/bin/env node
import { existsSync } from 'node:fs';
import { ConfigError, loadConfig } from '../config.js';
import { createLogger } from '../logger.js';
import { migrate } from '../storage/migrate.js';
import { traitsOf } from '../transport/create-transport.js';
import { openDb } from './components.js';

// Each command's code is loaded only when it runs: `serve` does not hold the importers (pg,
// csv-parse) or the admin client in memory, and a short command does not load the server.
const USAGE = `usage: tally <command>
  serve     API and aggregator in one process (default; embedded log and database)
  api       the HTTP edge only (TRANSPORT=redis|kafka, DATABASE_URL)
  worker    the aggregator only (TRANSPORT=redis|kafka, DATABASE_URL)
  migrate   apply database migrations and exit
  import    import history from NDJSON, CSV or a seed service's database (tally import --help)
  sites     register sites: allowed origins, public reports (tally sites --help)
  keys      create, list and revoke API keys (tally keys --help)
  users     delete a user's data (tally users delete <user_id> [--site ID])
  links     sign a click link: tally links sign --target URL --ad-id A (tally links --help)
  dead-letters  list, show and replay dead letters (tally dead-letters --help)`;

async function main(argv: string[]): Promise<number> {
  const command = argv[0] ?? 'serve';
  if (existsSync('.env')) {
    process.loadEnvFile('.env');
  }
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`tally: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const logger = createLogger(config.logging);
  switch (command) {
    case 'serve':
    case 'api':
    case 'worker': {
      if (command !== 'serve' && traitsOf(config.transport.kind).inProcess) {
        process.stderr.write(
          `tally: ${command} runs apart from the ${command === 'api' ? 'aggregator' : 'API'}: set TRANSPORT=redis or TRANSPORT=kafka (the embedded log lives inside one process; use serve)\n`,
        );
        return 2;
      }
      const { start } = await import('./serve.js');
      const running = await start(command, config, logger);
      logger.info(
        {
          role: command,
          port: running.app ? config.http.port : undefined,
          db: running.db.kind,
          log: running.transport.name,
        },
        `tally ${command} is running`,
      );
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          logger.info({ signal }, 'shutting down');
          setTimeout(() => {
            logger.error(
              { timeoutMs: config.shutdownTimeoutMs },
              'shutdown deadline passed; exiting',
            );
            process.exit(1);
          }, config.shutdownTimeoutMs).unref();
          running.close().then(resolve, (err: unknown) => {
            logger.error({ err }, 'shutdown failed');
            process.exit(1);
          });
        };
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
      logger.info('stopped');
      return 0;
    }
    case 'import':
      return (await import('./import-command.js')).importCommand(argv.slice(1), config);
    case 'sites':
    case 'keys':
    case 'users':
    case 'links':
      return (await import('./admin-command.js')).adminCommand(command, argv.slice(1), config);
    case 'dead-letters':
      return (await import('./dead-letters-command.js')).deadLettersCommand(argv.slice(1), config);
    case 'migrate': {
      const db = await openDb(config);
      const r = await migrate(db);
      logger.info(r, 'migrations done');
      await db.close();
      return 0;
    }
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${USAGE}\n`);
      return 0;
    default:
      process.stderr.write(`${USAGE}\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    // A setting found wrong only at start-up (MAXMIND_DB's file): one line, as loadConfig's.
    if (err instanceof ConfigError) {
      process.stderr.write(`tally: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`tally: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
