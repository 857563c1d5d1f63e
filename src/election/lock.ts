/**
 * The resource lock behind an election: client-go's six-method `resourcelock.Interface`, with
 * `watch` in place of `RecordEvent` (events are the agent's and operator's business, not the lock's).
 */
import type { LeaderElectionRecord } from "./record.ts";

/** What a lock object says right now. */
export interface LockState {
  record: LeaderElectionRecord;
  /**
   * The record as stored, for change detection: expiry is judged from the local time at which
   * this string last changed, never from the times inside the record.
   */
  raw: string;
  /** The `elector.dev/preferred-holder` annotation, "" when absent. */
  preferredHolder: string;
  /** Set when the stored record could not be parsed, or cannot be honoured (recordProblem); it then reads as expired. */
  malformed?: string;
}

export interface Lock {
  /** This candidate's identity. */
  readonly identity: string;
  /** For logs: `leases/ns/name`. */
  describe(): string;
  /**
   * The current state; undefined when the lock object does not exist. Every request takes a
   * `signal` that cancels it: a write cancelled in flight may still have landed (the elector's
   * lost-answer rule covers it as it covers an answer lost on the way back).
   */
  get(signal?: AbortSignal): Promise<LockState | undefined>;
  /** Creates the lock object holding `record`; a ConflictError if it already exists. */
  create(record: LeaderElectionRecord, signal?: AbortSignal): Promise<LockState>;
  /**
   * Replaces the record, conditional on the object being unchanged since this lock last saw it
   * (by get, create, update or watch); a ConflictError when it has changed. Annotations are kept.
   */
  update(record: LeaderElectionRecord, signal?: AbortSignal): Promise<LockState>;
  /**
   * Streams the lock object's changes until the returned function is called. `onState` receives
   * every change (undefined once deleted); `onStatus` tells whether the stream is connected, so
   * the elector can fall back to polling while it is not. Reconnects by itself, with backoff.
   */
  watch(onState: (state: LockState | undefined) => void, onStatus: (connected: boolean) => void): () => void;
}

/** The lock object changed under us (HTTP 409): a lost race, not a failure. */
export class ConflictError extends Error {
  override name = "ConflictError";
}
