import type { Plugin } from '../http/build-server.js';
import type { Credentials } from '../config.js';
import type { Ingest } from '../ingest/ingest.js';
import type { Queryable } from '../storage/db.js';
import type { LogStats } from '../transport/transport.js';
import { seed000Routes } from './seed-000-ad-engine/routes.js';
import { seed001Routes } from './seed-001-express-bullmq/routes.js';
import { loadCampaignAccounts, seed002Routes } from './seed-002-pixels/routes.js';
import { seed003Routes } from './seed-003-nestjs/routes.js';
import { seed004IngestRoutes, seed004ReportingRoutes } from './seed-004-express-redis/routes.js';
import { seedRateLimit, type SeedRateLimit } from './seed-rate-limit.js';

export interface CompatDeps {
  ingest: Ingest;
  db: Queryable;
  transport: { stats(): LogStats };
  aggregator: { stats(): { counted: number; duplicates: number } };
  /** The per-client-IP limit of the ingest routes; absent when RATE_LIMIT_MAX is 0. */
  rateLimit?: SeedRateLimit | undefined;
  /** JSON `{ campaign_id: account_id }` for seed 002's pixels. */
  campaignAccountsFile?: string | undefined;
  /** Seed 003's queue page password (BULL_BOARD_USER/BULL_BOARD_PASSWORD). */
  bullBoard?: Credentials | undefined;
}

/**
 * The five seed services' APIs beside `/v1`, one encapsulated plugin each (each answers errors
 * in its seed's shape). Reads the campaign → account mapping first: a bad file stops start-up.
 */
export async function compatRoutes(deps: CompatDeps): Promise<Plugin[]> {
  const campaignAccounts = await loadCampaignAccounts(deps.campaignAccountsFile);
  const { ingest, db } = deps;
  const rateLimit = deps.rateLimit ? seedRateLimit(deps.rateLimit) : undefined;
  const queues = {
    log: () => deps.transport.stats(),
    aggregated: () => deps.aggregator.stats(),
    db,
  };
  return [
    seed000Routes({ ingest, rateLimit }),
    seed001Routes({ ingest, db, rateLimit }),
    seed002Routes({ ingest, campaignAccounts, rateLimit }),
    seed003Routes({ ingest, db, queues, rateLimit, bullBoard: deps.bullBoard }),
    seed004IngestRoutes({ ingest, rateLimit }),
    seed004ReportingRoutes({ db }),
  ];
}

export { seed004ReportingRoutes };

/** Seed 002's pixel routes: its ALLOWED_ORIGINS sets their CORS origins. */
export const SEED_002_PATHS = ['/event/impression', '/event/click'] as const;
