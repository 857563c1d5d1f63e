/**
 * Exponential backoff with jitter, as client-go's reflector waits between failed list-and-watch
 * rounds (wait.NewExponentialBackoffManager(800ms, 30s, 2m, 2.0, 1.0)): each failure doubles the
 * wait up to a cap, each wait is stretched by up to its own length at random so that many clients
 * do not come back in step, and a success starts it over.
 */
export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
}

/** client-go's reflector: 800 ms doubling to 30 s. */
export const WATCH_BACKOFF: BackoffPolicy = { initialMs: 800, maxMs: 30_000 };

export class Backoff {
  private readonly policy: BackoffPolicy;
  private readonly random: () => number;
  private failures = 0;

  constructor(policy: BackoffPolicy, random: () => number = Math.random) {
    this.policy = policy;
    this.random = random;
  }

  /** The wait before the next attempt, after one more failure. */
  next(): number {
    const base = Math.min(this.policy.initialMs * 2 ** this.failures, this.policy.maxMs);
    this.failures += 1;
    return Math.min(Math.round(base * (1 + this.random())), this.policy.maxMs);
  }

  reset(): void {
    this.failures = 0;
  }
}

/** Resolves after `ms`, or at once when `signal` aborts: a wait between attempts that shutting down cuts short. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
