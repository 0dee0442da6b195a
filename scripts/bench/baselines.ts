import { waitReady } from '../../test/harness/ready.js';
import { freePort, spawnNode, stopChild } from '../../test/harness/spawn.js';
import { copyBaseline } from './copy-baseline.js';
import type { Ledger } from './ledger.js';
import type { BenchOptions } from './options.js';
import { runPhase } from './phases.js';
import type { Progress } from './progress.js';
import { watchRss } from './rss.js';
import { ensureServices } from './services.js';
import type { BaselineResult } from './types.js';

/** The bare node:http server under the same load generator, connections, duration and bodies. */
export async function runBareBaseline(
  opts: BenchOptions,
  tag: string,
  progress: Progress,
): Promise<BaselineResult> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawnNode('bare node:http', 'scripts/bench/bare-server.ts', [String(port)], {
    keepChars: 4000,
  });
  const rss = watchRss([child]);
  const out: BaselineResult = {};
  try {
    await waitReady([child], { url }, { timeoutMs: 30_000 });
    const target = {
      label: 'bare node:http',
      url,
      children: [child],
      rssMiB: rss.currentMiB,
      counts: false,
    };
    const base = { connections: opts.connections, durationS: opts.durationS };
    const warm = async (batch: number) => {
      if (opts.warmupS > 0) {
        await runPhase(
          target,
          { ...base, phase: 'warmup', durationS: opts.warmupS, batch, tag: `${tag}w${batch}` },
          progress,
        );
      }
    };
    if (opts.phases.includes('single')) {
      await warm(1);
      out.bareSingle = (
        await runPhase(target, { ...base, phase: 'single', batch: 1, tag: `${tag}s` }, progress)
      ).result;
    }
    if (
      !opts.quick &&
      (opts.phases.includes('single-half') || opts.phases.includes('batch-half'))
    ) {
      const spec = {
        ...base,
        phase: 'single-half',
        batch: 1,
        reqPerS: 1000,
        tag: `${tag}f`,
      } as const;
      if (opts.warmupS > 0) {
        // Warms the paced generator itself (undici) before its figure counts.
        const warmSpec = {
          ...spec,
          phase: 'warmup',
          durationS: opts.warmupS,
          tag: `${tag}fw`,
        } as const;
        await runPhase(target, warmSpec, progress);
      }
      out.bareFloor = (await runPhase(target, spec, progress)).result;
    }
    if (opts.phases.includes('batch')) {
      await warm(opts.batch);
      out.bareBatch = (
        await runPhase(
          target,
          { ...base, phase: 'batch', batch: opts.batch, tag: `${tag}b` },
          progress,
        )
      ).result;
    }
  } finally {
    out.bareProcess = rss.peaks()[0];
    rss.stop();
    await stopChild(child, 5000);
  }
  return out;
}

/** COPY of the event ids a topology acknowledged in its batch phase. */
export async function runCopyBaseline(
  ledger: Ledger,
  tag: string,
  progress: Progress,
): Promise<BaselineResult['copy']> {
  await ensureServices({ postgres: true });
  progress.update(`[COPY] ${ledger.acknowledged} event ids into a keyed table`);
  const copy = await copyBaseline(ledger.ackedIds(), tag);
  const r = {
    rows: copy.rows,
    seconds: Math.round(copy.seconds * 100) / 100,
    rowsPerS: Math.round(copy.rowsPerS),
  };
  progress.log(`[COPY] ${r.rows} rows in ${r.seconds} s: ${r.rowsPerS} rows/s`);
  return r;
}
