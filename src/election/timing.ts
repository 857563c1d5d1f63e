/** The three durations of an election and the rules client-go enforces on them. */
import { MAX_LEASE_SECONDS } from "./record.ts";

export interface Timing {
  /** How long followers wait, from the last change they saw, before taking the lock. */
  leaseDurationMs: number;
  /** How long a leader keeps retrying a failed renewal before it stops leading. */
  renewDeadlineMs: number;
  /** How often a leader renews, and how often followers poll while their watch is down. */
  retryPeriodMs: number;
}

/** client-go's defaults (15s/10s/2s), used by every core component. */
export const DEFAULT_TIMING: Timing = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };

/** client-go's wait.JitterUntil factor: followers poll every retryPeriod × [1, 2.2). */
export const JITTER_FACTOR = 1.2;

export class TimingError extends Error {
  override name = "TimingError";
}

/**
 * Throws TimingError unless leaseDuration > renewDeadline > 1.2 × retryPeriod > 0 and the lease
 * is at least a second (the record stores whole seconds) and at most a day (MAX_LEASE_SECONDS).
 */
export function validateTiming(t: Timing): void {
  const s = (ms: number): string => `${ms / 1000}s`;
  const positive = (name: string, ms: number): void => {
    if (!Number.isFinite(ms) || ms <= 0) throw new TimingError(`${name} must be greater than zero (got ${s(ms)})`);
  };
  positive("lease duration", t.leaseDurationMs);
  positive("renew deadline", t.renewDeadlineMs);
  positive("retry period", t.retryPeriodMs);
  if (t.leaseDurationMs > MAX_LEASE_SECONDS * 1000) {
    throw new TimingError(
      `lease duration must be at most ${s(MAX_LEASE_SECONDS * 1000)}, a day, or other candidates treat the record as invalid (got ${s(t.leaseDurationMs)})`,
    );
  }
  if (t.leaseDurationMs < 1000) {
    throw new TimingError(`lease duration must be at least 1s, the record's unit (got ${s(t.leaseDurationMs)})`);
  }
  if (t.leaseDurationMs <= t.renewDeadlineMs) {
    throw new TimingError(`lease duration (${s(t.leaseDurationMs)}) must be greater than renew deadline (${s(t.renewDeadlineMs)})`);
  }
  if (t.renewDeadlineMs <= JITTER_FACTOR * t.retryPeriodMs) {
    throw new TimingError(`renew deadline (${s(t.renewDeadlineMs)}) must be greater than ${JITTER_FACTOR} × retry period (${s(t.retryPeriodMs)})`);
  }
}

/**
 * How long one request to the lock may take: as Kubernetes' own components do, half the renew
 * deadline, so a hung renewal leaves time for another before the deadline.
 */
export function requestTimeoutMs(t: Timing): number {
  return t.renewDeadlineMs / 2;
}
