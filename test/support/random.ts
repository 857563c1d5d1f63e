/**
 * A seeded source of randomness (mulberry32), so that a generated test input, or a schedule of
 * faults, is the same every run for one seed: a failure names its seed and can be replayed.
 */
export class Random {
  readonly seed: number;
  private state: number;

  constructor(seed: number) {
    this.seed = seed;
    this.state = seed >>> 0;
  }

  /** In [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.next() * n);
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error("pick from an empty list");
    return items[this.below(items.length)] as T;
  }

  chance(p: number): boolean {
    return this.next() < p;
  }
}

/** The seed of this run: ELECTOR_SEED when given (to replay one), else a fixed one. */
export function runSeed(fallback: number): number {
  const given = Number(process.env.ELECTOR_SEED);
  return Number.isInteger(given) && process.env.ELECTOR_SEED !== undefined ? given : fallback;
}
