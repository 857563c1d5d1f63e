/**
 * Leader election over a resource lock, following client-go's `tools/leaderelection`, so that
 * elector and client-go programs can contend for the same Lease.
 *
 * What it guarantees:
 * - A candidate takes the lock only after it has seen the record unchanged for the holder's
 *   leaseDurationSeconds, measured on its own monotonic clock from the moment it saw the last
 *   change (the times inside the record are never compared with the local clock), or when the
 *   record is released (empty holder).
 * - Every write is conditional on the resourceVersion last seen; a 409 is a lost race.
 * - A leader stops leading (aborts its term's signal and awaits onStoppedLeading) as soon as it has
 *   not renewed within renewDeadline of the start of its last successful renewal, or it sees
 *   another holder or term in the record. Because renewDeadline < leaseDuration, that happens
 *   leaseDuration − renewDeadline before any follower, which started counting no earlier than the
 *   renewal was written, may take over (assuming clocks that run at the same rate).
 * - Each acquisition by this process increments leaseTransitions, also when the previous holder had
 *   the same identity (a restarted process starts a new term); that number is the fencing token.
 *   It is above every leaseTransitions this process has seen, even if a write set the record back
 *   or the lock was deleted. Past a Lease's int32 there is no next token: no claim is sent, and that is said once.
 * - A record that cannot be honoured (a lease over a day, a holder of over 1,024 characters,
 *   transitions below zero or over an int32; record.ts recordProblem) reads as expired, with one log line, as an
 *   unreadable one does: one bad write cannot hold an election.
 * - A claim whose answer was lost (timeout, dropped connection, 409) but that the lock then shows
 *   exactly as sent starts its term, counted from when it was sent, if that is within renewDeadline.
 * - On shutdown and on a planned handover it releases only after onStoppedLeading has returned,
 *   writing exactly client-go's release record.
 *
 * What it does not guarantee: that only one process acts as leader at any instant when a leader
 * is paused (SIGSTOP, a VM freeze, a long GC) longer than leaseDuration − renewDeadline, or when
 * clock rates differ by more than that margin. Work whose safety matters must carry the fencing
 * token to whatever it writes, and the store must reject tokens older than the newest it has seen.
 *
 * Beyond client-go: followers watch the lock and act on a release or an expiry the moment it
 * happens (polling every retryPeriod × [1, 2.2) only while the watch is down); a holder that sees
 * the `elector.dev/preferred-holder` annotation come to name another candidate hands over, and the
 * other candidates hold back for one leaseDuration after that release (a term that began under the
 * annotation has waited it out and keeps leading, so a request for an absent candidate cannot make
 * leadership bounce).
 */
import type { Clock } from "./clock.ts";
import { systemClock } from "./clock.ts";
import { ConflictError, type Lock, type LockState } from "./lock.ts";
import { liveForMs } from "./expiry.ts";
import type { Log } from "./log.ts";
import { MAX_TRANSITIONS, type LeaderElectionRecord } from "./record.ts";
import { JITTER_FACTOR, validateTiming, type Timing } from "./timing.ts";

/** One term of leadership by this process. */
export interface Leadership {
  /** The fencing token: leaseTransitions as written by this acquisition. */
  token: number;
  acquireTime: Date;
  /** Aborted the moment this process stops leading, before onStoppedLeading is called. */
  signal: AbortSignal;
}

export type StopReason = "renew-deadline" | "lost" | "handover" | "shutdown";

export interface Callbacks {
  /** Called when this process starts leading; not awaited. */
  onStartedLeading?(leadership: Leadership): void;
  /** Awaited before the lock is released: guarded work must have stopped when it returns. */
  onStoppedLeading?(reason: StopReason, leadership: Leadership): void | Promise<void>;
  /** The observed holder changed; "" when the lock was released or does not exist. */
  onNewLeader?(identity: string): void;
}

export interface ElectorOptions extends Timing {
  lock: Lock;
  callbacks?: Callbacks;
  clock?: Clock;
  log?: Log;
  /** A source of [0, 1) for poll jitter; injectable for deterministic tests. */
  random?: () => number;
}

export interface ElectorStatus {
  identity: string;
  isLeader: boolean;
  /** The holder, "" when none or when its lease has expired by this process's observation. */
  leader: string;
  /** This process's fencing token while it leads. */
  token: number | undefined;
  /** leaseTransitions as last observed. */
  leaseTransitions: number;
  /** The observed record, if the lock exists. */
  record: LeaderElectionRecord | undefined;
  /** How many renewals had to read the lock first (client-go's slow path). */
  slowpathTotal: number;
  /** Monotonic ms of the start of the last successful renewal of an open term. */
  renewedAt: number | undefined;
  /** Whether the lock has been read (or watched) at least once. */
  synced: boolean;
  watchConnected: boolean;
}

interface Term extends Leadership {
  controller: AbortController;
  /** The preferred holder named when this term began: a request this term already waited out. */
  preferredAtStart: string;
  /** Monotonic ms at which the last successful write of this term was started. */
  renewedAt: number;
}

const noopLog: Log = { debug() {}, info() {}, warn() {}, error() {} };

export class Elector {
  private readonly lock: Lock;
  private readonly timing: Timing;
  private readonly clock: Clock;
  private readonly log: Log;
  private readonly callbacks: Callbacks;
  private readonly random: () => number;

  private observed: LockState | undefined;
  /** Whether `observed` reflects a get, a write or a watch event (false before the first). */
  private known = false;
  /** Monotonic ms at which the observed record last changed. */
  private observedAt = 0;
  private reportedLeader: string | undefined;
  private term: Term | undefined;
  /** The token of the last term, to recognise our own record when releasing. */
  private lastToken: number | undefined;
  /** The highest leaseTransitions seen: a term begins above it, even after a record that went back. */
  private highestTransitions = -1;
  private watchConnected = false;
  /** Read the lock before the next write: a conflict or error made the cache suspect. */
  private stale = true;
  private failures = 0;
  private slowpathTotal = 0;
  private wake: (() => void) | undefined;
  /** onStoppedLeading in progress; no new term starts before it has finished. */
  private stopping: Promise<void> | undefined;
  private malformedReported = "";
  private tokensUsedUpReported = false;
  /**
   * A claim whose answer was not a success (a timeout, a dropped connection, even a 409) may still
   * have been written. If the lock then shows exactly that record, the term is ours: client-go
   * adopts any record naming its identity, we adopt only the one we sent.
   */
  private unanswered: { record: LeaderElectionRecord; startedAt: number } | undefined;

  constructor(options: ElectorOptions) {
    validateTiming(options);
    this.lock = options.lock;
    this.timing = {
      leaseDurationMs: options.leaseDurationMs,
      renewDeadlineMs: options.renewDeadlineMs,
      retryPeriodMs: options.retryPeriodMs,
    };
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? noopLog;
    this.callbacks = options.callbacks ?? {};
    this.random = options.random ?? Math.random;
  }

  /** Leading means: a term is open and its last renewal started less than renewDeadline ago. */
  isLeader(): boolean {
    return this.term !== undefined && this.clock.monotonic() < this.term.renewedAt + this.timing.renewDeadlineMs;
  }

  status(): ElectorStatus {
    const state = this.observed;
    const record = state?.record;
    const isLeader = this.isLeader();
    const leader = isLeader ? this.lock.identity : state && this.heldByOther(state) ? state.record.holderIdentity : "";
    return {
      identity: this.lock.identity,
      isLeader,
      leader,
      token: isLeader ? this.term?.token : undefined,
      leaseTransitions: record?.leaderTransitions ?? 0,
      record,
      slowpathTotal: this.slowpathTotal,
      renewedAt: this.term?.renewedAt,
      synced: this.known,
      watchConnected: this.watchConnected,
    };
  }

  /**
   * Campaigns, leads and campaigns again until `signal` aborts; then stops leading, waits for
   * onStoppedLeading and releases the lock if this process still holds it.
   */
  async run(signal: AbortSignal): Promise<void> {
    const stopWatch = this.lock.watch(
      (state) => {
        this.observe(state);
        this.known = true;
        this.notify();
      },
      (connected) => {
        this.watchConnected = connected;
        if (!connected) this.stale = true;
        this.notify();
      },
    );
    const onAbort = (): void => {
      this.notify();
    };
    signal.addEventListener("abort", onAbort);
    this.log.info({ lock: this.lock.describe(), identity: this.lock.identity }, "campaigning for leadership");
    try {
      while (!signal.aborted) {
        if (this.stopping) await this.stopping;
        else if (this.term) await this.lead(signal);
        else await this.campaign(signal);
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      stopWatch();
      if (this.term) await this.stopLeading("shutdown");
      if (this.stopping) await this.stopping;
      await this.release();
    }
  }

  private async campaign(signal: AbortSignal): Promise<void> {
    while (!signal.aborted && !this.term) {
      const acquired = await this.attempt();
      if (acquired) return;
      await this.sleep(this.nextAttemptIn(), signal);
    }
  }

  /** How long a follower may sleep before the lock could be takeable (or the next poll is due). */
  private nextAttemptIn(): number {
    const { retryPeriodMs, leaseDurationMs } = this.timing;
    if (this.failures > 0) return this.jittered(Math.min(retryPeriodMs * 2 ** (this.failures - 1), 2 * retryPeriodMs));
    let due = this.watchConnected && !this.stale ? Infinity : this.jittered(retryPeriodMs);
    const state = this.observed;
    if (!this.known || this.stale) return Math.min(due, this.jittered(retryPeriodMs));
    const elapsed = this.clock.monotonic() - this.observedAt;
    if (state && this.heldByOther(state)) due = Math.min(due, liveForMs(state.record, elapsed) + 1);
    else if (state && this.heldBackForHandover(state)) due = Math.min(due, leaseDurationMs - elapsed + 1);
    else if (this.nextToken(state) <= MAX_TRANSITIONS) due = 0;
    // Else no token is left: only a change to the lock (its deletion) can help, so wait for the watch or the next poll.
    return Math.max(0, due);
  }

  private jittered(ms: number): number {
    return ms * (1 + this.random() * JITTER_FACTOR);
  }

  private async lead(signal: AbortSignal): Promise<void> {
    const { retryPeriodMs, renewDeadlineMs } = this.timing;
    for (;;) {
      const term = this.term;
      if (!term) return;
      const renewAt = term.renewedAt + retryPeriodMs;
      await this.sleep(Math.min(renewAt, term.renewedAt + renewDeadlineMs) - this.clock.monotonic(), signal);
      if (signal.aborted) return;
      if (this.observedLoss(term)) return this.stopLeading("lost");
      if (this.handoverRequested()) {
        await this.stopLeading("handover");
        return this.release();
      }
      // Woken early by an event that asks nothing of us (such as our own renewal coming back).
      if (this.clock.monotonic() < renewAt) continue;
      if (!(await this.renewWithinDeadline(term, signal))) {
        if (this.term === term) await this.stopLeading(this.observedLoss(term) ? "lost" : "renew-deadline");
        return;
      }
    }
  }

  /** Retries the renewal every retryPeriod until it succeeds or the term's deadline passes. */
  private async renewWithinDeadline(term: Term, signal: AbortSignal): Promise<boolean> {
    const deadline = (): number => term.renewedAt + this.timing.renewDeadlineMs;
    for (;;) {
      // Never renew past the deadline: a leader that was frozen must learn it lost before it claims anything.
      if (this.clock.monotonic() >= deadline() || this.term !== term || signal.aborted) return false;
      const renewed = await this.raceDeadline((cancel) => this.attempt(cancel), deadline());
      if (renewed && this.term === term) return true;
      if (this.observedLoss(term)) return false;
      await this.sleep(Math.min(this.timing.retryPeriodMs, deadline() - this.clock.monotonic()), signal);
    }
  }

  /** False at the deadline, and the attempt's request is cancelled there: nothing of it stays in flight. */
  private raceDeadline(attempt: (signal: AbortSignal) => Promise<boolean>, deadline: number): Promise<boolean> {
    const cancel = new AbortController();
    return new Promise((resolve) => {
      const stopTimer = this.clock.after(deadline - this.clock.monotonic(), () => {
        cancel.abort(new Error("renew deadline reached"));
        resolve(false);
      });
      void attempt(cancel.signal).then((ok) => {
        stopTimer();
        resolve(ok);
      });
    });
  }

  /**
   * One round of client-go's tryAcquireOrRenew: renew optimistically if leading, else read (or
   * use what the watch delivered), decide, and write conditionally. Never throws.
   */
  private async attempt(signal?: AbortSignal): Promise<boolean> {
    const term = this.term;
    const startedAt = this.clock.monotonic();
    const now = this.clock.wall();
    try {
      if (term && !this.stale) {
        // 1. Fast path: the record we wrote last is assumed current.
        const renewed = await this.write(this.ownRecord(term, now), term, startedAt, "update", signal);
        if (renewed) return true;
      }
      // 2. Read the record, unless the watch has already told us what it is.
      let state = this.observed;
      if (this.stale || !this.known || !this.watchConnected) {
        state = await this.lock.get(signal);
        this.observe(state);
        this.known = true;
        this.stale = false;
        this.failures = 0;
      }
      if (state) this.reportMalformed(state);
      // 3. Decide from the record and the local time at which it last changed.
      if (term) {
        if (this.observedLoss(term)) return false;
        this.slowpathTotal += 1;
        return await this.write(this.ownRecord(term, now), term, startedAt, "update", signal);
      }
      if (state && (this.heldByOther(state) || this.heldBackForHandover(state))) return false;
      // 4. Take it (or make it): a new term, so a new token, even if the identity matches the previous holder.
      const token = this.nextToken(state);
      if (token > MAX_TRANSITIONS) return this.reportTokensUsedUp();
      return await this.write(this.newRecord(now, token), undefined, startedAt, state ? "update" : "create", signal);
    } catch (err) {
      this.stale = true;
      this.failures += 1;
      const message = err instanceof Error ? err.message : String(err);
      this.log.warn({ lock: this.lock.describe(), err: message, failures: this.failures }, "lock request failed; retrying");
      return false;
    }
  }

  /** Writes a record; true when it is now ours. Conflicts are lost races, other errors propagate. */
  private async write(
    record: LeaderElectionRecord,
    term: Term | undefined,
    startedAt: number,
    how: "create" | "update",
    signal?: AbortSignal,
  ): Promise<boolean> {
    let state: LockState;
    this.unanswered = undefined;
    try {
      state = how === "create" ? await this.lock.create(record, signal) : await this.lock.update(record, signal);
    } catch (err) {
      if (!term) {
        this.unanswered = { record, startedAt };
        // The watch may have shown the write before its answer failed.
        this.adoptIfUnanswered(this.observed);
        if (this.term) return true;
      }
      if (!(err instanceof ConflictError)) throw err;
      this.stale = true;
      this.log.debug({ lock: this.lock.describe() }, "lost a race for the lock");
      return false;
    }
    this.failures = 0;
    this.observe(state);
    this.known = true;
    this.stale = false;
    if (term) {
      if (this.term !== term) return false;
      term.renewedAt = startedAt;
      return true;
    }
    this.startLeading(record, startedAt);
    return true;
  }

  private newRecord(now: Date, transitions: number): LeaderElectionRecord {
    return {
      holderIdentity: this.lock.identity,
      leaseDurationSeconds: Math.floor(this.timing.leaseDurationMs / 1000),
      acquireTime: now,
      renewTime: now,
      leaderTransitions: transitions,
    };
  }

  /** The renewal of a term: its token and acquireTime, renewed `now`. */
  private ownRecord(term: Term, now: Date): LeaderElectionRecord {
    return { ...this.newRecord(now, term.token), acquireTime: term.acquireTime };
  }

  private observe(state: LockState | undefined): void {
    if (state?.raw !== this.observed?.raw) this.observedAt = this.clock.monotonic();
    if (state) this.highestTransitions = Math.max(this.highestTransitions, countedTransitions(state.record));
    this.observed = state;
    const leader = state?.record.holderIdentity ?? "";
    if (leader !== this.reportedLeader) {
      this.reportedLeader = leader;
      this.log.info(
        { lock: this.lock.describe(), leader, leaseTransitions: state?.record.leaderTransitions ?? 0 },
        leader ? "new leader observed" : "no leader",
      );
      this.callbacks.onNewLeader?.(leader);
    }
    this.adoptIfUnanswered(state);
    const term = this.term;
    if (term && this.observedLoss(term)) {
      // Learnt from a watch event or a read: stop at once rather than at the next renewal.
      void this.stopLeading("lost");
    }
    if (term && this.handoverRequested()) this.notify();
  }

  /** Starts the term of an unanswered claim that `state` shows landed, if it is still within its renew deadline. */
  private adoptIfUnanswered(state: LockState | undefined): void {
    const claim = this.unanswered;
    if (!claim || this.term || !state || state.malformed) return;
    if (!sameClaim(state.record, claim.record)) return;
    this.unanswered = undefined;
    // Counting from when the write was sent is safe: it landed no earlier, and others count from later still.
    if (this.clock.monotonic() >= claim.startedAt + this.timing.renewDeadlineMs) return;
    this.log.info({ lock: this.lock.describe(), token: claim.record.leaderTransitions }, "a claim whose answer was lost had taken the lock");
    this.startLeading(claim.record, claim.startedAt);
    this.notify();
  }

  private reportMalformed(state: LockState): void {
    if (state.malformed && state.raw !== this.malformedReported) {
      this.malformedReported = state.raw;
      this.log.warn({ lock: this.lock.describe(), problem: state.malformed }, "malformed record in the lock; treating it as expired");
    }
  }

  /** The token a term taken over `state` gets (0 on a new lock): above every one this process has seen, even on a lock deleted and made anew. */
  private nextToken(state: LockState | undefined): number {
    return Math.max(state ? countedTransitions(state.record) : -1, this.highestTransitions) + 1;
  }

  /** No next token fits a Lease's int32: the API server would refuse every claim, so none is sent, and this is said once. */
  private reportTokensUsedUp(): false {
    if (!this.tokensUsedUpReported) {
      this.tokensUsedUpReported = true;
      this.log.error(
        { lock: this.lock.describe(), leaseTransitions: MAX_TRANSITIONS },
        "no fencing token is left: leaseTransitions is at its int32 maximum; delete the lock, restart its candidates, reset fenced stores",
      );
    }
    return false;
  }

  /** The observed record is another holder's, or another term of ours, and has not expired. */
  private heldByOther(state: LockState): boolean {
    return !state.malformed && liveForMs(state.record, this.clock.monotonic() - this.observedAt) > 0;
  }

  /** A release made for a planned handover to someone else: hold back one leaseDuration. */
  private heldBackForHandover(state: LockState): boolean {
    if (state.record.holderIdentity !== "" || state.malformed) return false;
    if (state.preferredHolder === "" || state.preferredHolder === this.lock.identity) return false;
    return this.clock.monotonic() - this.observedAt < this.timing.leaseDurationMs;
  }

  private observedLoss(term: Term): boolean {
    const record = this.observed?.record;
    if (!this.known) return false;
    return record === undefined || record.holderIdentity !== this.lock.identity || record.leaderTransitions !== term.token;
  }

  /** Another candidate is preferred, and that request came after this term began. */
  private handoverRequested(): boolean {
    const preferred = this.observed?.preferredHolder ?? "";
    return preferred !== "" && preferred !== this.lock.identity && preferred !== this.term?.preferredAtStart;
  }

  private startLeading(record: LeaderElectionRecord, startedAt: number): void {
    const controller = new AbortController();
    const term: Term = {
      token: record.leaderTransitions,
      acquireTime: record.acquireTime ?? this.clock.wall(),
      signal: controller.signal,
      controller,
      renewedAt: startedAt,
      preferredAtStart: this.observed?.preferredHolder ?? "",
    };
    this.term = term;
    this.lastToken = term.token;
    this.log.info({ lock: this.lock.describe(), identity: this.lock.identity, token: term.token }, "started leading");
    try {
      this.callbacks.onStartedLeading?.({ token: term.token, acquireTime: term.acquireTime, signal: term.signal });
    } catch (err) {
      // The callback's failure is not the lock's: leadership stands, and the term's owner hears of it here.
      this.log.error({ err: err instanceof Error ? err.message : String(err) }, "onStartedLeading threw");
    }
  }

  private stopLeading(reason: StopReason): Promise<void> {
    const term = this.term;
    if (!term) return this.stopping ?? Promise.resolve();
    this.term = undefined;
    term.controller.abort(new Error(`stopped leading: ${reason}`));
    this.log.info({ lock: this.lock.describe(), identity: this.lock.identity, token: term.token, reason }, "stopped leading");
    const stopped = async (): Promise<void> => {
      try {
        await this.callbacks.onStoppedLeading?.(reason, { token: term.token, acquireTime: term.acquireTime, signal: term.signal });
      } finally {
        this.stopping = undefined;
        this.notify();
      }
    };
    this.stopping = stopped();
    return this.stopping;
  }

  /**
   * Writes client-go's release record (no holder, leaseDurationSeconds 1, transitions kept) if the
   * lock still holds our last term; retries conflicts within renewDeadline, like client-go.
   */
  private async release(): Promise<void> {
    const deadline = this.clock.monotonic() + this.timing.renewDeadlineMs;
    while (this.lastToken !== undefined && this.clock.monotonic() < deadline) {
      const record = this.observed?.record;
      if (!record || record.holderIdentity !== this.lock.identity || record.leaderTransitions !== this.lastToken) return;
      const now = this.clock.wall();
      try {
        const state = await this.lock.update({
          holderIdentity: "",
          leaseDurationSeconds: 1,
          acquireTime: now,
          renewTime: now,
          leaderTransitions: record.leaderTransitions,
        });
        this.observe(state);
        this.lastToken = undefined;
        this.log.info({ lock: this.lock.describe(), identity: this.lock.identity }, "released the lock");
        return;
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        this.log.warn({ lock: this.lock.describe(), err: message }, "could not release the lock; retrying");
        try {
          this.observe(await this.lock.get());
        } catch {
          await new Promise((resolve) => {
            this.clock.after(this.timing.retryPeriodMs, () => {
              resolve(undefined);
            });
          });
        }
      }
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** Sleeps up to `ms`, waking early on any watch event, status change or abort. */
  private sleep(ms: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted || ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const cancel = Number.isFinite(ms)
        ? this.clock.after(ms, () => {
            this.wake = undefined;
            resolve();
          })
        : () => {};
      this.wake = () => {
        cancel();
        resolve();
      };
    });
  }
}

/** The same holder, term and acquireTime: the record one claim wrote (times compared to the second, as legacy locks store them). */
/**
 * The record's leaseTransitions as a count the next term must rise above; -1 when it is no count
 * (below zero, or over what a Lease holds: past 2^53 adding one no longer changes a number, so a
 * hostile 1e20 would stop the token rising).
 */
function countedTransitions(record: LeaderElectionRecord): number {
  return record.leaderTransitions >= 0 && record.leaderTransitions <= MAX_TRANSITIONS ? record.leaderTransitions : -1;
}

function sameClaim(a: LeaderElectionRecord, b: LeaderElectionRecord): boolean {
  const seconds = (d: Date | undefined): number | undefined => (d ? Math.floor(d.getTime() / 1000) : undefined);
  return a.holderIdentity === b.holderIdentity && a.leaderTransitions === b.leaderTransitions && seconds(a.acquireTime) === seconds(b.acquireTime);
}
