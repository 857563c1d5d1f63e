/**
 * A work queue of keys with client-go's workqueue semantics: a key waits at most once however
 * often it is added, is never handed to two workers at once (added while in work, it is queued
 * again when that work is done), can be added after a delay, and backs off exponentially per key
 * while its reconciles keep failing.
 */
import type { Clock } from "../election/clock.ts";

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

  constructor(clock: Clock, backoff: Backoff = DEFAULT_BACKOFF) {
    this.clock = clock;
    this.backoff = backoff;
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return;
    const waiter = this.waiters.shift();
    if (waiter) {
      this.dirty.delete(key);
      this.processing.add(key);
      waiter(key);
    } else {
      this.queue.push(key);
    }
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
      this.dirty.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key)) {
      this.dirty.delete(key);
      this.add(key);
    }
  }

  /** Keys waiting to be worked on (not those delayed or in work): the queue depth. */
  get length(): number {
    return this.queue.length;
  }

  shutDown(): void {
    this.shuttingDown = true;
    for (const { cancel } of this.delayed.values()) cancel();
    this.delayed.clear();
    for (const waiter of this.waiters.splice(0)) waiter(undefined);
  }
}
