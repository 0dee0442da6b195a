import type { Percentiles } from './types.js';

/** Keeps every latency sample (a 10 s phase holds a few hundred thousand) for exact percentiles. */
export class LatencyRecorder {
  private samples = new Float64Array(1 << 16);
  private n = 0;

  record(ms: number): void {
    if (this.n === this.samples.length) {
      const bigger = new Float64Array(this.samples.length * 2);
      bigger.set(this.samples);
      this.samples = bigger;
    }
    this.samples[this.n++] = ms;
  }

  get count(): number {
    return this.n;
  }

  percentiles(): Percentiles {
    const sorted = this.samples.slice(0, this.n).sort();
    const at = (q: number) =>
      this.n === 0 ? 0 : round(sorted[Math.min(this.n - 1, Math.ceil(q * this.n) - 1)]!);
    return { p50: at(0.5), p99: at(0.99), p999: at(0.999), max: at(1) };
  }
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;
