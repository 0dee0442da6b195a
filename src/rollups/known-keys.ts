/**
 * A bounded set of keys known to be stored already, in two generations: when the young one is
 * full it becomes the old one and the oldest keys are forgotten. A forgotten key costs one
 * needless `ON CONFLICT DO NOTHING` row, never a wrong count, so the bound can be small.
 */
export class KnownKeys {
  private young = new Set<string>();
  private old = new Set<string>();

  constructor(private readonly perGeneration: number) {}

  has(key: string): boolean {
    if (this.young.has(key)) {
      return true;
    }
    if (this.old.has(key)) {
      this.add(key);
      return true;
    }
    return false;
  }

  /** Only for keys whose rows are committed. */
  add(key: string): void {
    if (this.young.size >= this.perGeneration) {
      this.old = this.young;
      this.young = new Set();
    }
    this.young.add(key);
  }

  clear(): void {
    this.young = new Set();
    this.old = new Set();
  }

  get size(): number {
    return this.young.size + this.old.size;
  }
}
