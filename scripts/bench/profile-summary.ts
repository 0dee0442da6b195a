/**
 * Top self-time functions of V8 CPU profiles (`node --cpu-prof`, as `npm run bench -- --profile`
 * writes them). Usage: node --import tsx scripts/bench/profile-summary.ts FILE.cpuprofile… [--top N]
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export function selfTimes(profile: Profile): { name: string; ms: number; share: number }[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  // timeDeltas[i] is the time before sample i; attribute it to that sample's node.
  profile.samples.forEach((id, i) =>
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)),
  );
  const total = [...self.values()].reduce((a, b) => a + b, 0) || 1;
  const byName = new Map<string, number>();
  for (const [id, us] of self) {
    const f = byId.get(id)!.callFrame;
    const where = f.url
      ? ` ${f.url.replace(/^file:\/\/.*?\/(node_modules|src)\//, '$1/')}:${f.lineNumber + 1}`
      : '';
    const name = `${f.functionName || '(anonymous)'}${where}`;
    byName.set(name, (byName.get(name) ?? 0) + us);
  }
  return [...byName.entries()]
    .map(([name, us]) => ({ name, ms: us / 1000, share: us / total }))
    .sort((a, b) => b.ms - a.ms);
}

/** Self time by where the code lives: a src/ folder, an npm package, Node internals, WebAssembly, native. */
export function byOrigin(profile: Profile): { origin: string; share: number }[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const acc = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const f = byId.get(id)!.callFrame;
    const us = profile.timeDeltas[i] ?? 0;
    total += us;
    const origin =
      f.url.startsWith('wasm://') || f.functionName.startsWith('wasm-function')
        ? 'WebAssembly'
        : (/node_modules\/((@[^/]+\/)?[^/]+)/.exec(f.url)?.[1] ??
          (/\/src\/([^/]+)\//.exec(f.url)?.[1]
            ? `src/${/\/src\/([^/]+)\//.exec(f.url)![1]}`
            : undefined) ??
          (f.url.startsWith('node:')
            ? 'node internals'
            : f.url
              ? 'other JS'
              : `native ${f.functionName}`));
    acc.set(origin, (acc.get(origin) ?? 0) + us);
  });
  return [...acc.entries()]
    .map(([origin, us]) => ({ origin, share: us / (total || 1) }))
    .sort((a, b) => b.share - a.share);
}

const args = process.argv.slice(2);
const topAt = args.indexOf('--top');
const top = topAt >= 0 ? Number(args[topAt + 1]) : 25;
const files = args.filter((a, i) => a.endsWith('.cpuprofile') && i !== topAt + 1);
for (const file of files) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const secs = (profile.endTime - profile.startTime) / 1e6;
  process.stdout.write(`\n${basename(file)} (${secs.toFixed(1)} s)\n`);
  for (const r of selfTimes(profile).slice(0, top)) {
    process.stdout.write(
      `${(r.share * 100).toFixed(1).padStart(5)} %  ${r.ms.toFixed(0).padStart(7)} ms  ${r.name}\n`,
    );
  }
  process.stdout.write('  by origin: ');
  process.stdout.write(
    byOrigin(profile)
      .slice(0, 12)
      .map((o) => `${o.origin} ${(o.share * 100).toFixed(1)} %`)
      .join(', '),
  );
  process.stdout.write('\n');
}
