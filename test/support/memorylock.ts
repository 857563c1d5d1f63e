/**
 * An in-memory lock object shared by several candidates, with the semantics of the API server
 * that matter to the election: resourceVersion preconditions, watch events, and injectable faults.
 */
import { ConflictError, type Lock, type LockState } from "../../src/election/lock.ts";
import { recordProblem, type LeaderElectionRecord } from "../../src/election/record.ts";

interface Stored {
  record: LeaderElectionRecord;
  raw?: string;
  preferredHolder: string;
  malformed?: string;
  version: number;
}

export class MemoryStore {
  stored: Stored | undefined;
  private version = 0;
  private readonly watchers = new Set<MemoryLock>();
  /** Every successful write, in order: who wrote what. */
  readonly writes: { by: string; record: LeaderElectionRecord }[] = [];

  state(): LockState | undefined {
    const s = this.stored;
    if (!s) return undefined;
    // As the Lease and annotation backends read it: unreadable, or not to be honoured.
    const malformed = s.malformed ?? recordProblem(s.record);
    return {
      record: { ...s.record },
      raw: s.raw ?? JSON.stringify({ ...s.record, v: s.version }),
      preferredHolder: s.preferredHolder,
      ...(malformed ? { malformed } : {}),
    };
  }

  put(by: string, record: LeaderElectionRecord, expectVersion: number | undefined, malformed?: string, raw?: string): number {
    if (expectVersion !== undefined && this.stored?.version !== expectVersion) throw new ConflictError("conflict");
    this.version += 1;
    this.stored = {
      record: { ...record },
      preferredHolder: this.stored?.preferredHolder ?? "",
      version: this.version,
      ...(malformed ? { malformed } : {}),
      ...(raw ? { raw } : {}),
    };
    this.writes.push({ by, record: { ...record } });
    this.broadcast();
    return this.version;
  }

  /** Deletes the lock object, as `kubectl delete lease` would. */
  remove(): void {
    this.version += 1;
    this.stored = undefined;
    this.broadcast();
  }

  /** Sets or clears the preferred-holder annotation, as the operator would. */
  setPreferredHolder(identity: string): void {
    if (!this.stored) throw new Error("no lock object");
    this.version += 1;
    this.stored = { ...this.stored, preferredHolder: identity, version: this.version };
    this.broadcast();
  }

  subscribe(lock: MemoryLock): () => void {
    this.watchers.add(lock);
    return () => this.watchers.delete(lock);
  }

  private broadcast(): void {
    const state = this.state();
    const version = this.version;
    // Like the API server's, an event arrives after the write's own response has been handled.
    for (const w of this.watchers)
      setImmediate(() => {
        w.deliver(state, version);
      });
  }
}

export class MemoryLock implements Lock {
  /** While true, every request fails as if the API server were unreachable. */
  unreachable = false;
  /** While true, watch events are not delivered (a silently hung watch). */
  watchHung = false;
  requests = 0;
  /** Requests waiting for an answer that comes only with their cancellation or unstall(). */
  private readonly stalledRequests = new Set<() => void>();
  /** While true, requests get no answer until they are cancelled (or unstall() times them out). */
  stalled = false;
  /** Requests cancelled by their signal while in flight. */
  cancelled = 0;
  /**
   * The next write lands but its answer is lost: a timeout, or a 409 (ConflictError). With
   * `afterEvent`, the answer fails only once the write's watch event has been delivered; with
   * `cutOff`, the API server becomes unreachable the moment the write lands.
   */
  loseNextAnswer: { as: "timeout" | "conflict"; afterEvent: boolean; cutOff?: boolean } | undefined;
  private seen: number | undefined;
  private onState: ((s: LockState | undefined) => void) | undefined;
  private onStatus: ((connected: boolean) => void) | undefined;

  readonly identity: string;
  private readonly store: MemoryStore;

  constructor(identity: string, store: MemoryStore) {
    this.identity = identity;
    this.store = store;
  }

  describe(): string {
    return `memory/${this.identity}`;
  }

  get(signal?: AbortSignal): Promise<LockState | undefined> {
    return this.request(signal, () => {
      this.seen = this.store.stored?.version;
      return this.store.state();
    });
  }

  create(record: LeaderElectionRecord, signal?: AbortSignal): Promise<LockState> {
    return this.write(signal, () => {
      if (this.store.stored) throw new ConflictError("already exists");
      this.seen = this.store.put(this.identity, record, undefined);
      return this.current();
    });
  }

  update(record: LeaderElectionRecord, signal?: AbortSignal): Promise<LockState> {
    return this.write(signal, () => {
      this.seen = this.store.put(this.identity, record, this.seen ?? -1);
      return this.current();
    });
  }

  watch(onState: (s: LockState | undefined) => void, onStatus: (connected: boolean) => void): () => void {
    this.onState = onState;
    this.onStatus = onStatus;
    const unsubscribe = this.store.subscribe(this);
    queueMicrotask(() => {
      onStatus(true);
    });
    return () => {
      unsubscribe();
      this.onState = undefined;
    };
  }

  /** Answers again; the requests still stalled time out. */
  unstall(): void {
    this.stalled = false;
    for (const timedOut of this.stalledRequests) timedOut();
    this.stalledRequests.clear();
  }

  /** Reports the watch as (dis)connected; while disconnected it delivers nothing. */
  setWatchConnected(connected: boolean): void {
    this.watchHung = !connected;
    this.onStatus?.(connected);
  }

  deliver(state: LockState | undefined, version: number): void {
    if (this.watchHung || this.unreachable || !this.onState) return;
    this.seen = version;
    this.onState(state);
  }

  private current(): LockState {
    const state = this.store.state();
    if (!state) throw new Error("lock object vanished");
    return state;
  }

  private async write(signal: AbortSignal | undefined, fn: () => LockState): Promise<LockState> {
    const state = await this.request(signal, fn);
    const lost = this.loseNextAnswer;
    if (!lost) return state;
    this.loseNextAnswer = undefined;
    if (lost.cutOff) this.unreachable = true;
    if (lost.afterEvent) await new Promise(setImmediate);
    throw lost.as === "conflict" ? new ConflictError("conflict") : new Error("no response within 1500 ms");
  }

  private async request<T>(signal: AbortSignal | undefined, fn: () => T): Promise<T> {
    this.requests += 1;
    await Promise.resolve();
    if (this.stalled) {
      const cancelled = await new Promise<boolean>((resolve) => {
        const timedOut = (): void => {
          resolve(false);
        };
        this.stalledRequests.add(timedOut);
        signal?.addEventListener("abort", () => {
          this.stalledRequests.delete(timedOut);
          resolve(true);
        });
      });
      if (cancelled) this.cancelled += 1;
      throw new Error(cancelled ? "cancelled" : "no response within 1500 ms");
    }
    if (this.unreachable) throw new Error("connect ECONNREFUSED 127.0.0.1:6443");
    return fn();
  }
}
