/**
 * A work queue of keys with client-go's workqueue semantics: a key waits at most once however
 * often it is added, is never handed to two workers at once (added while in work, it is queued
 * again when that work is done), can be added after a delay, and backs off exponentially per key
 * while its reconciles keep failing.
 */
import type { Clock } from "../election/clock.ts";
import type { QueueStats } from "../metrics/controllerruntime.ts";
import { Histogram } from "../metrics/exposition.ts";

/** client-go's workqueue metrics buckets: ExponentialBuckets(10e-9, 10, 12), 10 ns to 1,000 s. */
const DURATION_BUCKETS = Array.from({ length: 12 }, (_, i) => Number(`1e${String(i - 8)}`));

export interface Backoff {
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: Backoff = { baseMs: 5, maxMs: 60_000 };

export class WorkQueue {
  private readonly clock: Clock;
  private readonly backoff: Backoff;
  private readonly queue: string[] = [];
  /** Keys waiting in `queue`, or to be queued again when their work is done. */
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  /** The earliest pending delayed add of each key, with its cancel function. */
  private readonly delayed = new Map<string, { at: number; cancel: () => void }>();
  private readonly failures = new Map<string, number>();
  private readonly waiters: ((key: string | undefined) => void)[] = [];
  private shuttingDown = false;
  /** When each queued key was added, and when each key in work was handed out (monotonic ms). */
  private readonly addedAt = new Map<string, number>();
  private readonly startedAt = new Map<string, number>();
  private adds = 0;
  private retries = 0;
  private readonly queueDuration = new Histogram(DURATION_BUCKETS);
  private readonly workDuration = new Histogram(DURATION_BUCKETS);

  constructor(clock: Clock, backoff: Backoff = DEFAULT_BACKOFF) {
    this.clock = clock;
    this.backoff = backoff;
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.adds++;
    this.dirty.add(key);
    this.addedAt.set(key, this.clock.monotonic());
    if (!this.processing.has(key)) this.enqueue(key);
  }

  /** Adds `key` after `ms`; of several pending delays for one key, the earliest wins. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = this.clock.monotonic() + ms;
    const pending = this.delayed.get(key);
    if (pending && pending.at <= at) return;
    pending?.cancel();
    const cancel = this.clock.after(ms, () => {
      this.delayed.delete(key);
      this.add(key);
    });
    this.delayed.set(key, { at, cancel });
  }

  /** Adds `key` after its next backoff: 5 ms, 10 ms, 20 ms … up to a minute. */
  addRateLimited(key: string): void {
    const n = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, n);
    this.retries++;
    this.addAfter(key, Math.min(this.backoff.baseMs * 2 ** (n - 1), this.backoff.maxMs));
  }

  /** The key's reconcile succeeded: its backoff starts over. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /** The next key to work on; undefined once shut down. Call done(key) when finished. */
  get(): Promise<string | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const key = this.queue.shift();
    if (key !== undefined) {
      this.start(key);
      return Promise.resolve(key);
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  done(key: string): void {
    const started = this.startedAt.get(key);
    if (started !== undefined) this.workDuration.observe((this.clock.monotonic() - started) / 1000);
    this.startedAt.delete(key);
    this.processing.delete(key);
    // Added again while in work: it waited, and is queued now.
    if (this.dirty.has(key) && !this.shuttingDown) this.enqueue(key);
  }

  /** Keys waiting to be worked on (not those delayed or in work): the queue depth. */
  get length(): number {
    return this.queue.length;
  }

  stats(): QueueStats {
    const now = this.clock.monotonic();
    const running = [...this.startedAt.values()].map((at) => (now - at) / 1000);
    return {
      depth: this.queue.length,
      adds: this.adds,
      retries: this.retries,
      queueDuration: this.queueDuration,
      workDuration: this.workDuration,
      unfinishedWorkSeconds: running.reduce((a, b) => a + b, 0),
      longestRunningProcessorSeconds: Math.max(0, ...running),
    };
  }

  private enqueue(key: string): void {
    const waiter = this.waiters.shift();
    if (waiter) {
      this.start(key);
      waiter(key);
    } else {
      this.queue.push(key);
    }
  }

  private start(key: string): void {
    this.dirty.delete(key);
    this.processing.add(key);
    const added = this.addedAt.get(key);
    if (added !== undefined) this.queueDuration.observe((this.clock.monotonic() - added) / 1000);
    this.addedAt.delete(key);
    this.startedAt.set(key, this.clock.monotonic());
  }

  shutDown(): void {
    this.shuttingDown = true;
    for (const { cancel } of this.delayed.values()) cancel();
    this.delayed.clear();
    for (const waiter of this.waiters.splice(0)) waiter(undefined);
  }
}
