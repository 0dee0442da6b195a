/**
 * Measures what rate limiting costs per request (not a test; run by hand):
 *   node --import tsx test/ratelimit/measure-cost.ts [redis://127.0.0.1:6379]
 * 1. API CPU: (a) the limiter's own work per request (client IP, per-IP and per-site decisions)
 *    in a tight loop; (b) the same tiny POST /v1/events route through fastify inject, without
 *    and with the rate-limit hooks (memory and Redis limiters), process CPU per request, the
 *    variants interleaved in small blocks (the machine is shared; its load hits all alike).
 * 2. Redis CPU: INFO commandstats (usec spent in the sync script) and INFO cpu (whole server,
 *    noisy if others use it) while the Redis limiter serves hot keys and all-distinct keys;
 *    and, for comparison, a check with its own round trip per request (MULTI INCRBY PEXPIRE).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { request, Agent } from 'node:http';
import Fastify, { type FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { createClient } from 'redis';
import { clientIp, ipKey, trustedProxies } from '../../src/ratelimit/client-ip.js';
import { createMemoryLimiter } from '../../src/ratelimit/memory-limiter.js';
import { siteIdsOf } from '../../src/ratelimit/site-ids.js';
import { rateLimitHooks } from '../../src/ratelimit/rate-limit.hook.js';
import type { RateLimiter } from '../../src/ratelimit/rate-limiter.js';
import { createRedisLimiter } from '../../src/ratelimit/redis-limiter.js';

const url = process.argv[2]?.startsWith('redis') ? process.argv[2] : 'redis://127.0.0.1:6379';
const silent = pino({ level: 'silent' });
const body = JSON.stringify({ type: 'page_view', site_id: 'bench', path: '/' });
const BIG = 1_000_000_000;

async function app(limiter?: RateLimiter): Promise<FastifyInstance> {
  const a = Fastify();
  if (limiter) {
    await a.register(rateLimitHooks(limiter, { trustedProxies: ['127.0.0.1'] }));
  }
  a.post('/v1/events', async (_req, reply) => reply.code(202).send({ accepted: 1 }));
  await a.ready();
  return a;
}

/** CPU µs per request over `n` injects, client IPs drawn from `ips` distinct addresses. */
async function cpuPerRequest(a: FastifyInstance, n: number, ips: number): Promise<number> {
  const start = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    await a.inject({
      method: 'POST',
      url: '/v1/events',
      headers: {
        'content-type': 'application/json',
        'x-forwarded-for': `10.${(i % ips) >> 16}.${((i % ips) >> 8) & 255}.${(i % ips) & 255}`,
      },
      payload: body,
    });
  }
  const used = process.cpuUsage(start);
  return (used.user + used.system) / n;
}

async function redisStats(r: ReturnType<typeof createClient>) {
  const stats = await r.info('commandstats');
  const cpu = await r.info('cpu');
  const usec = (cmd: string) =>
    Number(new RegExp(`cmdstat_${cmd}:calls=(\\d+),usec=(\\d+)`).exec(stats)?.[2] ?? 0);
  const calls = (cmd: string) =>
    Number(new RegExp(`cmdstat_${cmd}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
  const cpuS = (k: string) => Number(new RegExp(`${k}:([\\d.]+)`).exec(cpu)?.[1] ?? 0);
  return {
    usec: usec('evalsha') + usec('eval'),
    calls: calls('evalsha') + calls('eval'),
    cpuUs: (cpuS('used_cpu_sys') + cpuS('used_cpu_user')) * 1e6,
  };
}

/**
 * The load generator, in a child process so that its CPU is not counted: on `{port, n}` it sends
 * n requests (8 in flight, keep-alive, 1000 client IPs) and answers when all have completed.
 */
function loadGenerator(): void {
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  let seq = 0;
  const one = (port: number) =>
    new Promise<void>((resolve, reject) => {
      const i = seq++;
      const req = request(
        {
          agent,
          port,
          host: '127.0.0.1',
          method: 'POST',
          path: '/v1/events',
          headers: {
            'content-type': 'application/json',
            'x-forwarded-for': `10.0.${(i % 1000) >> 8}.${i & 255}`,
          },
        },
        (res) => {
          res.resume();
          res.on('end', resolve);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  process.on('message', (m: { port: number; n: number }) => {
    void (async () => {
      let left = m.n;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (left-- > 0) {
            await one(m.port);
          }
        }),
      );
      process.send!('done');
    })();
  });
}

/** Server CPU µs per request over real HTTP, variants interleaved in blocks. */
async function overHttp(
  variants: [string, FastifyInstance][],
  blocks: number,
  perBlock: number,
): Promise<number[]> {
  const ports: number[] = [];
  for (const [, a] of variants) {
    await a.listen({ port: 0, host: '127.0.0.1' });
    const addr = a.server.address();
    ports.push(typeof addr === 'object' && addr ? addr.port : 0);
  }
  const child: ChildProcess = fork(new URL(import.meta.url), ['--load-generator'], {
    execArgv: ['--import', 'tsx'],
  });
  const block = (port: number, n: number) =>
    new Promise<number>((resolve) => {
      const start = process.cpuUsage();
      child.once('message', () => {
        const used = process.cpuUsage(start);
        resolve((used.user + used.system) / n);
      });
      child.send({ port, n });
    });
  for (const port of ports) {
    await block(port, 2000); // warm up
  }
  const totals = variants.map(() => 0);
  for (let b = 0; b < blocks; b++) {
    for (let v = 0; v < ports.length; v++) {
      totals[v]! += (await block(ports[v]!, perBlock)) / blocks;
    }
  }
  child.kill();
  return totals;
}

/** ns per request of what the hooks compute, without fastify around it. */
function hookWork(limiter: RateLimiter): number {
  const trusted = trustedProxies(['127.0.0.1']);
  const parsed = JSON.parse(body) as unknown;
  const ips = Array.from({ length: 1000 }, (_, i) => `10.0.${i >> 8}.${i & 255}`);
  const once = (i: number) => {
    limiter.consumeSync(`ip:${ipKey(clientIp('127.0.0.1', ips[i % 1000], trusted))}`);
    for (const site of siteIdsOf(parsed)) {
      limiter.consumeSync(`site:${site}`);
    }
  };
  for (let i = 0; i < 100_000; i++) {
    once(i);
  }
  let best = Infinity;
  for (let round = 0; round < 5; round++) {
    const start = process.cpuUsage();
    for (let i = 0; i < 200_000; i++) {
      once(i);
    }
    const used = process.cpuUsage(start);
    best = Math.min(best, ((used.user + used.system) * 1000) / 200_000);
  }
  return best;
}

async function main() {
  const N = 10_000;
  const redisLimiter = createRedisLimiter(
    { url, windowMs: 60_000, max: BIG, prefix: `bench:${randomUUID()}:` },
    silent,
  );
  const variants: [string, FastifyInstance][] = [
    ['no limiter', await app()],
    ['memory limiter', await app(createMemoryLimiter({ windowMs: 60_000, max: BIG }))],
    ['redis limiter', await app(redisLimiter)],
  ];
  await new Promise((r) => setTimeout(r, 300)); // connected
  const workLimiter = createMemoryLimiter({ windowMs: 60_000, max: BIG });
  console.log(
    `Limiter work per request (client IP + per-IP + per-site decision), best of 5 × 200k:`,
  );
  console.log(
    `  memory limiter ${hookWork(workLimiter).toFixed(0)} ns, redis limiter ${hookWork(redisLimiter).toFixed(0)} ns`,
  );
  await workLimiter.close();
  for (const [, a] of variants) {
    await cpuPerRequest(a, 5000, 100); // warm up
  }
  // Variants alternate every 100 requests so that the neighbours' load hits all of them alike.
  const totals = variants.map(() => 0);
  const BLOCKS = 400;
  for (let block = 0; block < BLOCKS; block++) {
    for (let v = 0; v < variants.length; v++) {
      totals[v]! += (await cpuPerRequest(variants[v]![1], 100, 1000)) / BLOCKS;
    }
  }
  console.log(
    `API CPU per request (fastify inject, 1000 client IPs, ${BLOCKS} interleaved blocks of 100):`,
  );
  variants.forEach(([name], v) => {
    console.log(
      `  ${name.padEnd(15)} ${totals[v]!.toFixed(1)} µs (+${(totals[v]! - totals[0]!).toFixed(1)})`,
    );
  });

  const http = await overHttp(variants, 100, 200);
  console.log(
    `API CPU per request over HTTP (server process only; 100 interleaved blocks of 200):`,
  );
  variants.forEach(([name], v) => {
    console.log(
      `  ${name.padEnd(15)} ${http[v]!.toFixed(1)} µs (+${(http[v]! - http[0]!).toFixed(1)})`,
    );
  });

  const r = createClient({ url });
  await r.connect();
  for (const [label, ips] of [
    ['hot keys (100 client IPs)', 100],
    ['all-distinct client IPs', BIG],
  ] as const) {
    const before = await redisStats(r);
    const t0 = Date.now();
    await cpuPerRequest(variants[2]![1], N, ips);
    await new Promise((res) => setTimeout(res, 200)); // last sync
    const after = await redisStats(r);
    const ms = Date.now() - t0;
    console.log(
      `Redis per request, ${label}: ${((after.calls - before.calls) / N).toFixed(4)} script calls, ` +
        `${((after.usec - before.usec) / N).toFixed(2)} µs in commands, ` +
        `${((after.cpuUs - before.cpuUs) / N).toFixed(2)} µs server CPU (${N} requests in ${ms} ms)`,
    );
  }
  {
    const before = await redisStats(r);
    const apiStart = process.cpuUsage();
    for (let i = 0; i < N; i++) {
      const key = `bench:naive:${i % 1000}`;
      await r.multi().incrBy(key, 1).pExpire(key, 60_000).exec();
    }
    const api = process.cpuUsage(apiStart);
    const after = await redisStats(r);
    console.log(
      `For comparison, a round trip per request (MULTI INCRBY PEXPIRE EXEC): ` +
        `${((after.cpuUs - before.cpuUs) / N).toFixed(2)} µs server CPU, ` +
        `${((api.user + api.system) / N).toFixed(1)} µs client CPU per request`,
    );
  }
  r.destroy();
  for (const [, a] of variants) {
    await a.close();
  }
  await redisLimiter.close();
}

if (process.argv.includes('--load-generator')) {
  loadGenerator();
} else {
  await main();
}
