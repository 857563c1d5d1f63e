/**
 * The election core on a fake clock and an in-memory lock: client-go's algorithm, the fencing
 * token, watch-driven takeover and planned handover, with a monitor that fails any test in which
 * two candidates lead at once.
 */
import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import { Elector, type StopReason } from "../../src/election/elector.ts";
import { DEFAULT_TIMING, TimingError, validateTiming } from "../../src/election/timing.ts";
import { FakeClock } from "../support/fakeclock.ts";
import { MemoryLock, MemoryStore } from "../support/memorylock.ts";

const LD = DEFAULT_TIMING.leaseDurationMs;
const RD = DEFAULT_TIMING.renewDeadlineMs;
const RP = DEFAULT_TIMING.retryPeriodMs;

/** Records every moment at which a second candidate started leading while another still led. */
class Monitor {
  leading = new Set<string>();
  violations: string[] = [];
  stops: { id: string; reason: StopReason }[] = [];
  starts: { id: string; token: number }[] = [];
}

interface Candidate {
  id: string;
  lock: MemoryLock;
  elector: Elector;
  clock: FakeClock;
  stop(): Promise<void>;
}

function candidate(id: string, store: MemoryStore, clock: FakeClock, monitor: Monitor, opts: { checkOverlap?: boolean } = {}): Candidate {
  const lock = new MemoryLock(id, store);
  const elector = new Elector({
    lock,
    clock,
    ...DEFAULT_TIMING,
    random: () => 0.5,
    callbacks: {
      onStartedLeading: ({ token }) => {
        if (opts.checkOverlap !== false && monitor.leading.size > 0) {
          monitor.violations.push(`${id} started leading while ${[...monitor.leading].join()} led`);
        }
        monitor.leading.add(id);
        monitor.starts.push({ id, token });
      },
      onStoppedLeading: (reason) => {
        monitor.leading.delete(id);
        monitor.stops.push({ id, reason });
      },
    },
  });
  const controller = new AbortController();
  const done = elector.run(controller.signal);
  return {
    id,
    lock,
    elector,
    clock,
    async stop() {
      controller.abort();
      await clock.settle();
      await done;
    },
  };
}

function setup(t: TestContext): { store: MemoryStore; clock: FakeClock; monitor: Monitor } {
  const monitor = new Monitor();
  t.after(() => {
    assert.deepEqual(monitor.violations, [], "two candidates led at once");
  });
  return { store: new MemoryStore(), clock: new FakeClock(), monitor };
}

test("timing is validated as client-go does, with a clear message", () => {
  validateTiming(DEFAULT_TIMING);
  const bad = (leaseDurationMs: number, renewDeadlineMs: number, retryPeriodMs: number, message: RegExp): void => {
    assert.throws(
      () => {
        validateTiming({ leaseDurationMs, renewDeadlineMs, retryPeriodMs });
      },
      (err: unknown) => err instanceof TimingError && message.test(err.message),
    );
  };
  bad(10_000, 10_000, 2_000, /lease duration \(10s\) must be greater than renew deadline \(10s\)/);
  bad(15_000, 2_400, 2_000, /renew deadline \(2\.4s\) must be greater than 1\.2 × retry period \(2s\)/);
  bad(15_000, 10_000, 0, /retry period must be greater than zero/);
  bad(500, 400, 100, /lease duration must be at least 1s/);
  bad(Number.NaN, 10_000, 2_000, /lease duration must be greater than zero/);
  bad(86_401_000, 10_000, 2_000, /lease duration must be at most 86400s, a day/);
  validateTiming({ leaseDurationMs: 86_400_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 });
});

test("the first candidate creates the lock with token 0 and renews every retry period", async (t) => {
  const { store, clock, monitor } = setup(t);
  const a = candidate("a", store, clock, monitor);
  await clock.advance(0);
  assert.equal(a.elector.isLeader(), true);
  assert.deepEqual(monitor.starts, [{ id: "a", token: 0 }]);
  const created = store.writes[0]?.record;
  assert.equal(created?.holderIdentity, "a");
  assert.equal(created.leaseDurationSeconds, 15);
  assert.equal(created.leaderTransitions, 0);

  await clock.advance(10 * RP);
  assert.equal(store.writes.length, 11);
  const last = store.stored?.record;
  assert.equal(last?.acquireTime?.getTime(), created.acquireTime?.getTime());
  assert.equal(last?.renewTime?.getTime(), clock.wall().getTime());
  assert.equal(last.leaderTransitions, 0);
  await a.stop();
});

for (const watching of [true, false]) {
  test(`a follower ${watching ? "watching" : "polling"} takes over one lease duration after the last change it saw, never before`, async (t) => {
    const { store, clock, monitor } = setup(t);
    const a = candidate("a", store, clock, monitor);
    await clock.advance(0);
    const b = candidate("b", store, clock, monitor);
    await clock.advance(RP / 2);
    // Polling gives b an attempt every 3.2 s, so an early takeover could not hide behind a timer.
    if (!watching) b.lock.setWatchConnected(false);
    await clock.advance(3 * RP - RP / 2);
    assert.equal(b.elector.isLeader(), false);
    assert.equal(b.elector.status().leader, "a");

    // a loses the API server right after a renewal, which stands, written at `lastWrite`.
    const lastWrite = clock.monotonic();
    assert.equal(store.stored?.record.renewTime?.getTime(), clock.wall().getTime());
    a.lock.unreachable = true;
    await clock.advance(RD);
    assert.equal(a.elector.isLeader(), false, "a must stop leading within the renew deadline");
    assert.deepEqual(monitor.stops, [{ id: "a", reason: "renew-deadline" }]);
    await clock.advance(lastWrite + LD - 1 - clock.monotonic());
    assert.equal(b.elector.isLeader(), false, "b must not take over before the lease expires");
    // A watching follower saw the last renewal as it happened; a polling one up to a poll later.
    await clock.advance(watching ? 2 : RP * 2.2 * 2);
    assert.equal(b.elector.isLeader(), true);
    assert.deepEqual(monitor.starts.at(-1), { id: "b", token: 1 });
    a.lock.unreachable = false;
    await Promise.all([a.stop(), b.stop()]);
  });
}

test("a follower in a steady election makes no requests while its watch is healthy", async (t) => {
  const { store, clock, monitor } = setup(t);
  const a = candidate("a", store, clock, monitor);
  await clock.advance(0);
  const b = candidate("b", store, clock, monitor);
  await clock.advance(RP);
  const before = b.lock.requests;
  await clock.advance(60_000);
  assert.equal(b.lock.requests, before);
  // One read and the create at the start, then one fast-path renewal per retry period.
  assert.equal(a.lock.requests, 2 + 31, "the leader renews once per retry period, on the fast path");
  await Promise.all([a.stop(), b.stop()]);
});

test("on shutdown the leader writes client-go's release record and a watching follower takes over at once", async (t) => {
  const { store, clock, monitor } = setup(t);
  const a = candidate("a", store, clock, monitor);
  await clock.advance(0);
  const b = candidate("b", store, clock, monitor);
  await clock.advance(RP);
  const releasedAt = clock.monotonic();
  await a.stop();
  await clock.advance(0);
  assert.equal(clock.monotonic(), releasedAt);
  const release = store.writes.find((w) => w.by === "a" && w.record.holderIdentity === "");
  assert.ok(release, "a must release");
  assert.equal(release.record.leaseDurationSeconds, 1);
  assert.equal(release.record.leaderTransitions, 0);
  assert.equal(b.elector.isLeader(), true);
  assert.equal(store.stored?.record.leaderTransitions, 1);
  assert.deepEqual(monitor.stops, [{ id: "a", reason: "shutdown" }]);
  await b.stop();
});

test("a release written by a client-go peer is taken at once", async (t) => {
  const { store, clock, monitor } = setup(t);
  const now = clock.wall();
  store.put("go-peer", { holderIdentity: "go-peer", leaseDurationSeconds: 15, acquireTime: now, renewTime: now, leaderTransitions: 6 }, undefined);
  const b = candidate("b", store, clock, monitor);
  await clock.advance(5 * RP);
  assert.equal(b.elector.isLeader(), false);
  store.put("go-peer", { holderIdentity: "", leaseDurationSeconds: 1, acquireTime: now, renewTime: now, leaderTransitions: 6 }, undefined);
  await clock.advance(0);
  assert.equal(b.elector.isLeader(), true);
  assert.equal(b.elector.status().token, 7);
  await b.stop();
});

test("every acquisition increments the token, also by a restarted process with the same identity", async (t) => {
  const { store, clock, monitor } = setup(t);
  const first = candidate("a", store, clock, monitor, { checkOverlap: false });
  await clock.advance(0);
  assert.equal(first.elector.status().token, 0);
  // The first process is cut off (as if crashed); a new process with the same identity starts.
  first.lock.unreachable = true;
  const second = candidate("a", store, clock, monitor, { checkOverlap: false });
  await clock.advance(LD - RP);
  assert.equal(second.elector.isLeader(), false, "a record of an earlier process is not ours to renew");
  await clock.advance(2 * RP);
  assert.equal(second.elector.isLeader(), true);
  assert.equal(second.elector.status().token, 1);
  assert.equal(store.stored?.record.leaderTransitions, 1);
  first.lock.unreachable = false;
  await Promise.all([first.stop(), second.stop()]);
  assert.deepEqual(
    monitor.starts.map((s) => s.token),
    [0, 1],
  );
});

for (const as of ["timeout", "conflict"] as const) {
  for (const afterEvent of [false, true]) {
    test(`a claim whose answer is lost (${as}, ${afterEvent ? "after" : "before"} its watch event) is recognised when the lock shows it`, async (t) => {
      const { store, clock, monitor } = setup(t);
      const a = candidate("a", store, clock, monitor);
      await clock.advance(0);
      const b = candidate("b", store, clock, monitor);
      await clock.advance(RP);
      b.lock.loseNextAnswer = { as, afterEvent };
      await a.stop();
      await clock.advance(0);
      // Without recognising its own write, b would wait out its own record: one lease duration with no leader.
      assert.equal(b.elector.isLeader(), true);
      assert.equal(b.elector.status().token, 1);
      assert.deepEqual(monitor.starts, [
        { id: "a", token: 0 },
        { id: "b", token: 1 },
      ]);
      await clock.advance(3 * RP);
      assert.deepEqual([store.stored?.record.holderIdentity, store.stored?.record.leaderTransitions], ["b", 1], "b renews the adopted term");
      const { renewTime, acquireTime } = store.stored?.record ?? {};
      assert.ok(renewTime && acquireTime && renewTime > acquireTime, "renewed since the claim");
      await b.stop();
    });
  }
}

test("a claim seen to have landed only after its renew deadline is not adopted", async (t) => {
  const { store, clock, monitor } = setup(t);
  const a = candidate("a", store, clock, monitor);
  await clock.advance(0);
  const b = candidate("b", store, clock, monitor);
  await clock.advance(RP);
  b.lock.loseNextAnswer = { as: "timeout", afterEvent: false, cutOff: true };
  await a.stop();
  await clock.advance(RD);
  assert.equal(store.stored?.record.holderIdentity, "b", "the claim landed");
  b.lock.unreachable = false;
  // Retries back off up to 2 × RP × 1.6 (random() = 0.5).
  await clock.advance(4 * RP);
  assert.equal(b.elector.status().leader, "b", "b has read its own record");
  assert.equal(b.elector.isLeader(), false, "a term that would already be past its deadline is not started");
  await clock.advance(LD);
  assert.equal(b.elector.isLeader(), true);
  assert.equal(b.elector.status().token, 2, "b waited its own record out and took a new term");
  assert.deepEqual(monitor.starts, [
    { id: "a", token: 0 },
    { id: "b", token: 2 },
  ]);
  await b.stop();
});

test("a leader that sees another holder in the lock stops at once", async (t) => {
  const { store, clock, monitor } = setup(t);
  const a = candidate("a", store, clock, monitor);
  await clock.advance(RP / 2);
  const now = clock.wall();
  store.put("intruder", { holderIdentity: "intruder", leaseDurationSeconds: 15, acquireTime: now, renewTime: now, leaderTransitions: 1 }, undefined);
  await clock.advance(0);
  assert.equal(a.elector.isLeader(), false);
  assert.deepEqual(monitor.stops, [{ id: "a", reason: "lost" }]);
  await a.stop();
  assert.equal(store.stored?.record.holderIdentity, "intruder", "a must not release someone else's lock");
});

test("a frozen leader knows it lost the moment it resumes, and renews nothing", async (t) => {
  const { store, monitor } = setup(t);
  const clockA = new FakeClock();
  const clockB = new FakeClock();
  const a = candidate("a", store, clockA, monitor, { checkOverlap: false });
  await clockA.advance(0);
  const b = candidate("b", store, clockB, monitor, { checkOverlap: false });
  await clockB.advance(RP);
  // SIGSTOP a: its time stands still and it sees no events, while b's time runs on.
  a.lock.watchHung = true;
  await clockB.advance(LD + RP);
  assert.equal(b.elector.isLeader(), true);
  // SIGCONT: a's clock catches up all at once, before any of its timers has run.
  clockA.jump(LD + RP);
  assert.equal(a.elector.isLeader(), false, "is_leader must be false before anything else runs");
  const writesBefore = store.writes.filter((w) => w.by === "a").length;
  a.lock.watchHung = false;
  await clockA.advance(0);
  assert.equal(store.writes.filter((w) => w.by === "a").length, writesBefore, "a must not renew after its deadline");
  assert.deepEqual(
    monitor.stops.map((s) => s.id),
    ["a"],
  );
  assert.equal(store.stored?.record.holderIdentity, "b");
  await Promise.all([a.stop(), b.stop()]);
});

test("planned handover: the holder releases, the preferred candidate takes over at once, the others hold back", async (t) => {
  const { store, clock, monitor } = setup(t);
  const a = candidate("a", store, clock, monitor);
  await clock.advance(0);
  const b = candidate("b", store, clock, monitor);
  const c = candidate("c", store, clock, monitor);
  await clock.advance(RP);
  store.setPreferredHolder("c");
  await clock.advance(0);
  assert.deepEqual(monitor.stops, [{ id: "a", reason: "handover" }]);
  assert.equal(c.elector.isLeader(), true);
  assert.equal(c.elector.status().token, 1);
  await Promise.all([a.stop(), b.stop(), c.stop()]);
});

test("after a handover release to an absent candidate, the others wait one lease duration", async (t) => {
  const { store, clock, monitor } = setup(t);
  const a = candidate("a", store, clock, monitor);
  await clock.advance(0);
  const b = candidate("b", store, clock, monitor);
  await clock.advance(RP);
  store.setPreferredHolder("gone");
  await clock.advance(0);
  assert.equal(store.stored?.record.holderIdentity, "");
  const released = clock.monotonic();
  await clock.advance(LD - 1);
  assert.equal(b.elector.isLeader(), false);
  assert.equal(a.elector.isLeader(), false);
  await clock.advance(released + LD + 2 - clock.monotonic());
  assert.equal(a.elector.isLeader() || b.elector.isLeader(), true);
  // The new term began under the annotation: it has waited the request out and keeps leading.
  const token = store.state()?.record.leaderTransitions;
  await clock.advance(3 * LD);
  assert.equal(a.elector.isLeader() || b.elector.isLeader(), true);
  assert.equal(store.state()?.record.leaderTransitions, token);
  await Promise.all([a.stop(), b.stop()]);
});

test("a malformed record is treated as expired", async (t) => {
  const { store, clock, monitor } = setup(t);
  store.put(
    "junk",
    { holderIdentity: "", leaseDurationSeconds: 0, acquireTime: undefined, renewTime: undefined, leaderTransitions: 0 },
    undefined,
    "not JSON",
    "{{{",
  );
  const a = candidate("a", store, clock, monitor);
  await clock.advance(0);
  assert.equal(a.elector.isLeader(), true);
  assert.equal(a.elector.status().token, 1);
  await a.stop();
});

test("a record no candidate can honour is taken at once, with one warning: a lease of 68 years, a holder of 10 kB, transitions < 0 or > 2^53", async (t) => {
  const ghost = { holderIdentity: "ghost", leaseDurationSeconds: 15, acquireTime: new Date(), renewTime: new Date(), leaderTransitions: 3 };
  for (const [hostile, token] of [
    [{ ...ghost, leaseDurationSeconds: 2 ** 31 - 1 }, 4],
    [{ ...ghost, holderIdentity: "g".repeat(10_240) }, 4],
    [{ ...ghost, leaderTransitions: -5 }, 0],
    // Past 2^53 adding one changes nothing: counted, it would stop the token rising.
    [{ ...ghost, leaderTransitions: 2 ** 53 + 4 }, 0],
  ] as const) {
    const { store, clock, monitor } = setup(t);
    store.put("hostile", hostile, undefined);
    const warnings: string[] = [];
    const log = { debug() {}, info() {}, warn: (o: object, msg: string) => warnings.push(`${msg}: ${JSON.stringify(o)}`), error() {} };
    const elector = new Elector({
      lock: new MemoryLock("a", store),
      clock,
      ...DEFAULT_TIMING,
      log,
      callbacks: { onStartedLeading: ({ token: t }) => monitor.starts.push({ id: "a", token: t }) },
    });
    const controller = new AbortController();
    const done = elector.run(controller.signal);
    await clock.advance(RP);
    assert.deepEqual(monitor.starts, [{ id: "a", token }], JSON.stringify(hostile).slice(0, 80));
    assert.equal(warnings.filter((w) => w.startsWith("malformed record in the lock")).length, 1, warnings.join("\n"));
    controller.abort();
    await clock.settle();
    await done;
  }
});

test("a lock deleted and made anew starts above every token seen, so a fenced store still accepts the new leader", async (t) => {
  const { store, clock, monitor } = setup(t);
  store.put("ghost", { holderIdentity: "ghost", leaseDurationSeconds: 15, acquireTime: new Date(), renewTime: new Date(), leaderTransitions: 7 }, undefined);
  const a = candidate("a", store, clock, monitor);
  await clock.advance(RP);
  store.remove();
  await clock.advance(RP);
  assert.deepEqual(monitor.starts, [{ id: "a", token: 8 }]);
  await a.stop();
});

test("at the last token a Lease can hold, no one claims it: one error line, and the record is left as it is", async (t) => {
  const { store, clock, monitor } = setup(t);
  const last = { holderIdentity: "", leaseDurationSeconds: 15, acquireTime: new Date(), renewTime: new Date(), leaderTransitions: 2 ** 31 - 1 };
  store.put("released", last, undefined);
  const errors: string[] = [];
  const log = { debug() {}, info() {}, warn() {}, error: (_: object, msg: string) => errors.push(msg) };
  const elector = new Elector({ lock: new MemoryLock("a", store), clock, ...DEFAULT_TIMING, log });
  const controller = new AbortController();
  const done = elector.run(controller.signal);
  await clock.advance(LD + 5 * RP);
  assert.equal(elector.isLeader(), false);
  assert.deepEqual(store.stored?.record, last);
  assert.deepEqual(errors, [
    "no fencing token is left: leaseTransitions is at its int32 maximum; delete the lock, restart its candidates, reset fenced stores",
  ]);
  controller.abort();
  await clock.settle();
  await done;
  assert.deepEqual(monitor.starts, []);
});

test("a term begins above every token seen, even after a write that set leaseTransitions back", async (t) => {
  const { store, clock, monitor } = setup(t);
  const record = { holderIdentity: "ghost", leaseDurationSeconds: 15, acquireTime: new Date(), renewTime: new Date(), leaderTransitions: 9 };
  store.put("ghost", record, undefined);
  const a = candidate("a", store, clock, monitor);
  await clock.advance(RP);
  // A hostile client writes an older count under another holder; it is a valid record, and expires as any does.
  store.put("hostile", { ...record, holderIdentity: "ghost-2", leaderTransitions: 2 }, undefined);
  await clock.advance(LD + 2 * RP);
  assert.deepEqual(monitor.starts, [{ id: "a", token: 10 }]);
  await a.stop();
});

test("without a watch, followers fall back to polling every retry period with jitter", async (t) => {
  const { store, clock, monitor } = setup(t);
  const a = candidate("a", store, clock, monitor);
  await clock.advance(0);
  const b = candidate("b", store, clock, monitor);
  await clock.advance(RP);
  b.lock.setWatchConnected(false);
  const before = b.lock.requests;
  await clock.advance(32_000);
  // One read as the watch drops, then with random() = 0.5 one every RP × (1 + 0.5 × 1.2) = 3.2 s.
  assert.equal(b.lock.requests - before, 1 + 10);
  await a.stop();
  await clock.advance(3_200);
  assert.equal(b.elector.isLeader(), true, "the poll finds the release");
  await b.stop();
});

test("transient API errors are retried with backoff and do not end the campaign", async (t) => {
  const { store, clock, monitor } = setup(t);
  const a = candidate("a", store, clock, monitor);
  a.lock.unreachable = true;
  await clock.advance(60_000);
  const failedRequests = a.lock.requests;
  assert.ok(failedRequests >= 8 && failedRequests <= 20, `retried ${failedRequests} times in a minute`);
  a.lock.unreachable = false;
  await clock.advance(4 * RP * 2.2);
  assert.equal(a.elector.isLeader(), true);
  await a.stop();
});

test("a follower stops naming a leader whose lease has expired by its own observation", async (t) => {
  const { store, clock, monitor } = setup(t);
  const a = candidate("a", store, clock, monitor);
  await clock.advance(0);
  const b = candidate("b", store, clock, monitor);
  await clock.advance(RP);
  assert.equal(b.elector.status().leader, "a");
  // Both lose the API server: a cannot renew, b cannot take over; b must not vouch for a past the lease.
  a.lock.unreachable = true;
  b.lock.unreachable = true;
  // b saw a's last renewal at RP; the lease runs out LD after that.
  await clock.advance(LD - 1);
  assert.equal(b.elector.status().leader, "a");
  await clock.advance(2);
  assert.equal(b.elector.status().leader, "");
  assert.equal(b.elector.status().isLeader, false);
  a.lock.unreachable = false;
  b.lock.unreachable = false;
  await Promise.all([a.stop(), b.stop()]);
});

test("a renewal that gets no answer is cancelled at the renew deadline, not left in flight", async (t) => {
  const { store, clock, monitor } = setup(t);
  const a = candidate("a", store, clock, monitor);
  await clock.advance(0);
  assert.equal(a.elector.isLeader(), true);
  a.lock.stalled = true;
  await clock.advance(RD + RP);
  assert.deepEqual(monitor.stops, [{ id: "a", reason: "renew-deadline" }]);
  assert.equal(a.lock.cancelled, 1, "the renewal in flight at the deadline was not cancelled");
  a.lock.unstall();
  await a.stop();
});
