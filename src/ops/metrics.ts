import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Db } from '../storage/db.js';
import type { LogStats } from '../transport/transport.js';

/** What the metrics read, each part optional (an API process has no aggregator, a worker no edge). */
export interface MetricSources {
  db: Db;
  log: { stats(): LogStats };
  ingest?: { accepted(): number };
  /** Refusals and drops counted at the edge, per reason (invalid, origin_refused, rate_limited…). */
  drops?: { totals(): Readonly<Record<string, number>> };
  aggregator?: {
    stats(): {
      batches: number;
      counted: number;
      duplicates: number;
      deadLettered: number;
      lastBatchAt: number | undefined;
      dedupFilter?: { ready: boolean; ids: number };
    };
  };
}

export interface Metrics {
  readonly registry: Registry;
  /** Adds what a part built later offers (the edge's ingest and drops; the aggregator). */
  attach(more: Partial<MetricSources>): void;
  /** A batch applied by the aggregator: its size and how long its transaction took. */
  observeBatch(events: number, seconds: number): void;
  /** Fastify plugin: counts and times every request by route pattern, method and status. */
  httpHooks(): (app: FastifyInstance) => Promise<void>;
  text(): Promise<string>;
  readonly contentType: string;
}

/**
 * Prometheus metrics, in a registry of this process's own. Labels are bounded: a route is its
 * pattern (`/v1/sites/:site_id`, or `unmatched`), never a path, site id or user. Counts that
 * other parts keep anyway (events accepted, drops, aggregator totals, the log's backlog, the
 * database pool) are read when scraped, so the ingest path pays for one counter and one
 * histogram observation per request, through children cached per label set.
 */
export function createMetrics(base: Pick<MetricSources, 'db' | 'log'>): Metrics {
  const src: MetricSources = { ...base };
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'tally_' });
  const batchSize = new Histogram({
    name: 'tally_aggregator_batch_events',
    help: 'Events per batch the aggregator applied',
    buckets: [1, 10, 100, 500, 1000, 2500, 5000, 10_000, 50_000],
    registers: [registry],
  });
  const batchSeconds = new Histogram({
    name: 'tally_aggregator_batch_seconds',
    help: 'Time to apply one batch (its storage transaction, retries excluded)',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [registry],
  });
  const read = (
    name: string,
    help: string,
    value: () => number | undefined,
    type: 'counter' | 'gauge',
  ) => {
    const Metric = type === 'counter' ? Counter : Gauge;
    new Metric({
      name,
      help,
      registers: [registry],
      collect(this: Counter | Gauge) {
        const v = value();
        if (v !== undefined) {
          this.reset();
          (this as Gauge).inc(v);
        }
      },
    });
  };
  const attachIngest = (ingest: NonNullable<MetricSources['ingest']>) => {
    read(
      'tally_events_accepted_total',
      'Events acknowledged (durable in the log)',
      () => ingest.accepted(),
      'counter',
    );
  };
  const attachDrops = (drops: NonNullable<MetricSources['drops']>) => {
    new Counter({
      name: 'tally_events_refused_total',
      help: 'Events (or requests, for rate_limited_requests) refused at the edge, by reason',
      labelNames: ['reason'],
      registers: [registry],
      collect(this: Counter<'reason'>) {
        this.reset();
        for (const [reason, n] of Object.entries(drops.totals())) {
          this.inc({ reason }, n);
        }
      },
    });
  };
  read(
    'tally_log_backlog_events',
    'Events in the event log not yet aggregated (consumer lag; a lower bound on brokers)',
    () => src.log.stats().waiting,
    'gauge',
  );
  read(
    'tally_log_backlog_bytes',
    'Bytes the event log keeps for events not yet aggregated, where known',
    () => src.log.stats().bytes,
    'gauge',
  );
  read(
    'tally_log_up',
    '1 when the event log is reachable',
    () => (src.log.stats().state === 'up' ? 1 : 0),
    'gauge',
  );
  const attachAggregator = (agg: NonNullable<MetricSources['aggregator']>) => {
    read('tally_aggregator_batches_total', 'Batches applied', () => agg.stats().batches, 'counter');
    read(
      'tally_events_counted_total',
      'Events counted into the rollups (new, not duplicates)',
      () => agg.stats().counted,
      'counter',
    );
    read(
      'tally_events_duplicate_total',
      'Events dropped by the aggregator as duplicates',
      () => agg.stats().duplicates,
      'counter',
    );
    read(
      'tally_events_dead_lettered_total',
      'Events stored as dead letters',
      () => agg.stats().deadLettered,
      'counter',
    );
    read(
      'tally_aggregator_last_batch_age_seconds',
      'Seconds since the last batch was applied',
      () => {
        const at = agg.stats().lastBatchAt;
        return at === undefined ? undefined : (Date.now() - at) / 1000;
      },
      'gauge',
    );
    read(
      'tally_dedup_filter_ready',
      '1 while the embedded database dedup filter is trusted (new ids skip the conflict check)',
      () => {
        const f = agg.stats().dedupFilter;
        return f === undefined ? undefined : f.ready ? 1 : 0;
      },
      'gauge',
    );
    read(
      'tally_dedup_filter_ids',
      'Event ids added to the embedded database dedup filter (one written while it fills may count twice)',
      () => agg.stats().dedupFilter?.ids,
      'gauge',
    );
  };
  if (src.db.pool) {
    const pool = src.db.pool.bind(src.db);
    new Gauge({
      name: 'tally_db_pool_connections',
      help: 'PostgreSQL pool connections by state',
      labelNames: ['state'],
      registers: [registry],
      collect(this: Gauge<'state'>) {
        const p = pool();
        this.set({ state: 'total' }, p.total);
        this.set({ state: 'idle' }, p.idle);
        this.set({ state: 'waiting' }, p.waiting);
      },
    });
  }

  const attach = (more: Partial<MetricSources>) => {
    if (more.ingest && !src.ingest) {
      src.ingest = more.ingest;
      attachIngest(more.ingest);
    }
    if (more.drops && !src.drops) {
      src.drops = more.drops;
      attachDrops(more.drops);
    }
    if (more.aggregator && !src.aggregator) {
      src.aggregator = more.aggregator;
      attachAggregator(more.aggregator);
    }
  };

  const http = new HttpStats();
  const onResponse = (req: FastifyRequest, reply: FastifyReply, done: () => void) => {
    http.observe(req.method, req.routeOptions.url, reply.statusCode, reply.elapsedTime / 1000);
    done();
  };

  return {
    registry,
    attach,
    observeBatch(events, seconds) {
      batchSize.observe(events);
      batchSeconds.observe(seconds);
    },
    httpHooks() {
      const plugin = async (app: FastifyInstance) => {
        app.addHook('onResponse', onResponse);
      };
      (plugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
      return plugin;
    },
    text: async () => `${await registry.metrics()}${http.render()}`,
    contentType: registry.contentType,
  };
}

/** `GET /metrics` (admin key: Prometheus sends it with `authorization: credentials`). */
export function metricsRoutes(metrics: Metrics) {
  return async (app: FastifyInstance) => {
    app.get(
      '/metrics',
      {
        config: { access: { scope: 'admin' } },
        schema: { summary: 'Prometheus metrics (text exposition format)' },
      },
      async (_req, reply) => reply.type(metrics.contentType).send(await metrics.text()),
    );
  };
}

const HTTP_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

interface RouteCount {
  labels: string;
  n: number;
}
interface RouteTimes {
  labels: string;
  buckets: number[];
  sum: number;
  n: number;
  /** The counts of this route and method, by status. */
  statuses: Map<number, RouteCount>;
}

class HttpStats {
  /** In the order first seen (the order rendered). */
  private readonly counts: RouteCount[] = [];
  private readonly times: RouteTimes[] = [];
  /**
   * Route pattern, then method, then status: each key the same string (or number) on every
   * request, so no key is built per request (a built key is hashed again each time).
   */
  private readonly byRoute = new Map<string, Map<string, RouteTimes>>();

  observe(method: string, url: string | undefined, status: number, seconds: number): void {
    const route = url ?? 'unmatched';
    let byMethod = this.byRoute.get(route);
    if (byMethod === undefined) {
      byMethod = new Map();
      this.byRoute.set(route, byMethod);
    }
    let t = byMethod.get(method);
    if (t === undefined) {
      t = {
        labels: `route="${escape(route)}",method="${escape(method)}"`,
        buckets: HTTP_BUCKETS.map(() => 0),
        sum: 0,
        n: 0,
        statuses: new Map(),
      };
      byMethod.set(method, t);
      this.times.push(t);
    }
    let i = 0;
    while (i < HTTP_BUCKETS.length && seconds > HTTP_BUCKETS[i]!) {
      i++;
    }
    if (i < HTTP_BUCKETS.length) {
      t.buckets[i]!++;
    }
    t.sum += seconds;
    t.n++;
    let c = t.statuses.get(status);
    if (c === undefined) {
      c = { labels: `${t.labels},status="${status}"`, n: 0 };
      t.statuses.set(status, c);
      this.counts.push(c);
    }
    c.n++;
  }

  render(): string {
    const out = [
      '# HELP tally_http_requests_total HTTP requests by route pattern, method and status',
      '# TYPE tally_http_requests_total counter',
    ];
    for (const c of this.counts) {
      out.push(`tally_http_requests_total{${c.labels}} ${c.n}`);
    }
    out.push(
      '# HELP tally_http_request_duration_seconds Time to answer, by route pattern; on ingest routes this is the ack latency (the reply waits for the durable write)',
      '# TYPE tally_http_request_duration_seconds histogram',
    );
    for (const t of this.times) {
      let cumulative = 0;
      HTTP_BUCKETS.forEach((le, i) => {
        cumulative += t.buckets[i]!;
        out.push(
          `tally_http_request_duration_seconds_bucket{${t.labels},le="${le}"} ${cumulative}`,
        );
      });
      out.push(`tally_http_request_duration_seconds_bucket{${t.labels},le="+Inf"} ${t.n}`);
      out.push(`tally_http_request_duration_seconds_sum{${t.labels}} ${t.sum}`);
      out.push(`tally_http_request_duration_seconds_count{${t.labels}} ${t.n}`);
    }
    return `${out.join('\n')}\n`;
  }
}

/** A label value in the exposition format. */
const escape = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
