/**
 * Top self-time functions of V8 CPU profiles (`node --cpu-prof`, as `npm run bench -- --profile`
 * writes them), then the top inclusive ("total") times of Tally's own functions (src/), so that
 * what a route handler costs with everything it calls is visible. `--from S --to S` keep only
 * the samples between those seconds of the profile (a measured phase, not start-up and counting).
 * Usage: node --import tsx scripts/bench/profile-summary.ts FILE.cpuprofile… [--top N]
 *        [--from S] [--to S]
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const nameOf = (f: ProfileNode['callFrame']) =>
  `${f.functionName || '(anonymous)'}${f.url ? ` ${f.url.replace(/^file:\/\/.*?\/(node_modules|src)\//, '$1/').replace(/^file:\/\/.*?\/\.build-[0-9a-f]+\//, 'src/')}:${f.lineNumber + 1}` : ''}`;

/** The profile with only the samples between `fromS` and `toS` seconds after its start. */
export function window(profile: Profile, fromS = 0, toS = Infinity): Profile {
  let t = 0;
  const samples: number[] = [];
  const timeDeltas: number[] = [];
  profile.samples.forEach((id, i) => {
    const d = profile.timeDeltas[i] ?? 0;
    t += d;
    if (t >= fromS * 1e6 && t <= toS * 1e6) {
      samples.push(id);
      timeDeltas.push(d);
    }
  });
  return { ...profile, samples, timeDeltas };
}

/**
 * Inclusive time of each of Tally's functions (src/ or its build), a function counted once per
 * sample however often it is on the stack; shares are of the non-idle samples.
 */
export function totalTimes(profile: Profile): { name: string; ms: number; share: number }[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    for (const c of n.children ?? []) {
      parent.set(c, n.id);
    }
  }
  const acc = new Map<string, number>();
  let busy = 0;
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    const leaf = byId.get(id)!.callFrame.functionName;
    if (leaf === '(idle)' || leaf === '(program)' || leaf === '(garbage collector)') {
      return;
    }
    busy += us;
    const seen = new Set<string>();
    for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) {
      const f = byId.get(n)!.callFrame;
      if (/\/(src|\.build-[0-9a-f]+)\//.test(f.url) && !f.url.includes('node_modules')) {
        seen.add(nameOf(f));
      }
    }
    for (const name of seen) {
      acc.set(name, (acc.get(name) ?? 0) + us);
    }
  });
  return [...acc.entries()]
    .map(([name, us]) => ({ name, ms: us / 1000, share: us / (busy || 1) }))
    .sort((a, b) => b.ms - a.ms);
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
    const name = nameOf(byId.get(id)!.callFrame);
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
const opt = (name: string) => {
  const at = args.indexOf(name);
  return at >= 0 ? Number(args[at + 1]) : undefined;
};
const top = opt('--top') ?? 25;
const files = args.filter((a) => a.endsWith('.cpuprofile'));
for (const file of files) {
  const whole = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const from = opt('--from');
  const to = opt('--to');
  const profile = window(whole, from, to);
  const secs = (whole.endTime - whole.startTime) / 1e6;
  process.stdout.write(
    `\n${basename(file)} (${secs.toFixed(1)} s${from !== undefined || to !== undefined ? `; samples from ${from ?? 0} s to ${to ?? secs.toFixed(1)} s` : ''})\n`,
  );
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
  process.stdout.write("\n  inclusive, Tally's own functions (share of the busy samples):\n");
  for (const r of totalTimes(profile).slice(0, top)) {
    process.stdout.write(
      `${(r.share * 100).toFixed(1).padStart(5)} %  ${r.ms.toFixed(0).padStart(7)} ms  ${r.name}\n`,
    );
  }
}
