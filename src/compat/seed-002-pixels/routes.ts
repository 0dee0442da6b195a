import { readFile } from 'node:fs/promises';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { LIMITS } from '../../events/event.js';
import type { Ingest } from '../../ingest/ingest.js';
import { installSeedErrors, SeedError } from '../seed-errors.js';
import { acceptOne, field, type Field } from '../seed-input.js';
import { limited, type OnRequest } from '../seed-rate-limit.js';
import { documentationOnly, errorResponses, Str } from '../seed-schemas.js';

export const SEED_002_MISSING = 'Missing required parameters';
const REQUIRED = ['ad_unit_id', 'campaign_id', 'creative_id', 'page_url'] as const;
/** Not in the seed: a client id for idempotent retries, and the account when no mapping knows the campaign. */
const OPTIONAL = ['timestamp', 'event_id', 'account_id'] as const;

const PixelQuery = Type.Object({
  ad_unit_id: Str('the ad unit'),
  campaign_id: Str('the campaign'),
  creative_id: Str('the creative'),
  page_url: Str('URL of the page where the ad was displayed'),
  timestamp: Type.Optional(
    Str('Unix epoch milliseconds, or ISO 8601 with Z or an offset; now when absent'),
  ),
  event_id: Type.Optional(Str('not in the seed: a client id for idempotent retries')),
  account_id: Type.Optional(
    Str('not in the seed: the account when CAMPAIGN_ACCOUNTS_FILE does not map the campaign'),
  ),
});
const PixelError = Type.Object({ error: Type.String() });

/**
 * The seed looked the account up from the campaign. Tally reads the mapping from
 * CAMPAIGN_ACCOUNTS_FILE (a JSON object `{ "<campaign_id>": "<account_id>" }`) at start-up.
 */
export async function loadCampaignAccounts(
  file: string | undefined,
): Promise<ReadonlyMap<string, string>> {
  if (file === undefined) {
    return new Map();
  }
  const text = await readFile(file, 'utf8').catch((err: Error) => {
    throw new Error(`CAMPAIGN_ACCOUNTS_FILE=${file}: ${err.message}`);
  });
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`CAMPAIGN_ACCOUNTS_FILE=${file}: not JSON`);
  }
  const ok = (v: unknown) => typeof v === 'string' && v.length > 0 && v.length <= LIMITS.id;
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new Error(
      `CAMPAIGN_ACCOUNTS_FILE=${file}: must be a JSON object of campaign_id → account_id`,
    );
  }
  const map = new Map<string, string>();
  for (const [campaign, account] of Object.entries(parsed)) {
    if (!ok(campaign) || !ok(account)) {
      throw new Error(
        `CAMPAIGN_ACCOUNTS_FILE=${file}: ${JSON.stringify(campaign)} must map to a string of 1-${LIMITS.id} characters`,
      );
    }
    map.set(campaign, account as string);
  }
  return map;
}

function toCanonical(
  type: 'impression' | 'click',
  req: FastifyRequest,
  accounts: ReadonlyMap<string, string>,
) {
  const q = (req.query ?? {}) as Record<string, unknown>;
  const fields = new Map<string, Field>(
    [...REQUIRED, ...OPTIONAL].map((name) => [name, field(q, name)]),
  );
  if (REQUIRED.some((name) => fields.get(name)!.state === 'absent')) {
    throw new SeedError(400, SEED_002_MISSING);
  }
  for (const [name, f] of fields) {
    if (f.state === 'invalid') {
      throw new SeedError(400, `${name} must be given once`, [
        { field: name, message: 'must be given once' },
      ]);
    }
  }
  const v = (name: string) => {
    const f = fields.get(name)!;
    return f.state === 'ok' ? f.value : undefined;
  };
  const campaign = v('campaign_id')!;
  const account = accounts.get(campaign) ?? v('account_id');
  return {
    type,
    ad_unit_id: v('ad_unit_id'),
    campaign_id: campaign,
    creative_id: v('creative_id'),
    url: v('page_url'),
    ...(account === undefined ? {} : { account_id: account }),
    ...(v('event_id') === undefined ? {} : { event_id: v('event_id') }),
    // Epoch milliseconds as in the seed, or ISO-8601 with Z or an offset; absent means now.
    ...(v('timestamp') === undefined ? {} : { ts: v('timestamp') }),
  };
}

/**
 * Seed 002 (tracking pixels): `/event/impression` and `/event/click`, by POST as in the seed and
 * by GET (browsers fire pixels with GET), query parameters only → 204 once durable.
 */
export function seed002Routes(deps: {
  ingest: Ingest;
  campaignAccounts: ReadonlyMap<string, string>;
  rateLimit?: OnRequest | undefined;
}) {
  return async (app: FastifyInstance) => {
    installSeedErrors(app, {
      fieldNames: { ts: 'timestamp', url: 'page_url' },
      render: (f) => ({ error: f.message }),
    });
    // The seed never read bodies: whatever a pixel POST carries is skipped (within the body limit).
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, _body, done) =>
      done(null, undefined),
    );
    for (const type of ['impression', 'click'] as const) {
      app.route({
        method: ['GET', 'POST'],
        url: `/event/${type}`,
        // A HEAD (link checkers, prefetch) must not count as an impression or a click.
        exposeHeadRoute: false,
        schema: {
          summary: `Seed 002: tracking pixel, count one ad ${type} (GET or POST, query parameters only); 204 once durable`,
          querystring: PixelQuery,
          // A POST body is never read, so no content type is refused (no 415).
          response: {
            204: Type.Null({ description: 'No Content: the event is durable in the log' }),
            ...errorResponses(PixelError, 400, 413, 429, 500, 503),
          },
        },
        ...documentationOnly,
        ...limited(deps.rateLimit),
        handler: async (req, reply) => {
          await acceptOne(deps.ingest, req, toCanonical(type, req, deps.campaignAccounts));
          return reply.code(204).header('cache-control', 'no-store').send();
        },
      });
    }
  };
}
