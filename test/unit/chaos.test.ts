/**
 * The chaos harness's pure parts: the schedule a seed gives, and the judgement of what the outside
 * observer recorded. Each violation the judgement knows is shown caught on a made-up record, and a
 * clean record is shown to pass, so that a real run's "0 violations" means something.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { FAULT_KINDS, schedule } from "../chaos/schedule.ts";
import { apiRouteBackMs } from "../chaos/report.ts";
import { judge, type FaultRecord, type LeaseVersion, type Observations, type StoreWrite } from "../chaos/verdict.ts";

const LEASE = 4000;

/** A Lease renewed every second by each holder in turn: [holder, token, from, to). */
function leaseOf(...terms: [string, number, number, number][]): LeaseVersion[] {
  return terms.flatMap(([holder, transitions, from, to]) => {
    const versions: LeaseVersion[] = [];
    for (let t = from; t < to; t += 1000) versions.push({ at: t + 5, holder, transitions, renewTime: t });
    return versions;
  });
}

/** One write every 100 ms of [from, to), accepted unless `refused`. */
function writesOf(resource: string, writer: string, token: number, from: number, to: number, refused = false): StoreWrite[] {
  const writes: StoreWrite[] = [];
  for (let t = from; t < to; t += 100) writes.push({ at: t, resource, writer, token, accepted: !refused });
  return writes;
}

const byTime = (writes: StoreWrite[]): StoreWrite[] => [...writes].sort((a, b) => a.at - b.at);

/** A clean run: a leads with token 1, b takes over with token 2 after a's release; both Services follow. */
function clean(): Observations {
  const handover = [...leaseOf(["a", 1, 0, 5000]), { at: 5000, holder: "", transitions: 1, renewTime: 5000 }, ...leaseOf(["b", 2, 5050, 10_000])];
  return {
    leases: { fenced: handover, wrapped: handover, mixed: leaseOf(["c", 0, 0, 10_000]) },
    writes: byTime([
      ...writesOf("fenced", "a", 1, 100, 4950),
      ...writesOf("fenced", "b", 2, 5100, 10_000),
      ...writesOf("wrapped", "a", 1, 100, 4950),
      ...writesOf("wrapped", "b", 2, 5100, 10_000),
    ]),
    answers: [
      { at: 500, service: "fenced-leader", pod: "a" },
      { at: 5200, service: "fenced-leader", pod: "a" },
      { at: 5400, service: "fenced-leader" },
      { at: 6000, service: "fenced-leader", pod: "b" },
      { at: 9000, service: "fenced-leader", pod: "b" },
    ],
    labelBreaches: [],
    apiRoute: [],
  };
}

test("the schedule is the seed's: the same faults for one seed, others for another, every kind in a long one", () => {
  assert.deepEqual(schedule(50, 7, LEASE), schedule(50, 7, LEASE));
  assert.notDeepEqual(schedule(50, 7, LEASE), schedule(50, 8, LEASE));
  const long = schedule(200, 1, LEASE);
  assert.deepEqual(new Set(long.map((f) => f.kind)), new Set(FAULT_KINDS));
  for (const f of long.filter((x) => x.kind === "freeze" || x.kind === "partition"))
    assert.ok(f.durationMs > LEASE, "a freeze or a partition outlasts the lease");
  for (const f of long.filter((x) => x.kind === "pod-delete" || x.kind === "crash")) assert.ok(f.workload, "a pod fault names its workload");
});

test("a clean record has no violation, and the routing lag is measured from each new term", () => {
  const verdict = judge(clean(), [], LEASE);
  assert.deepEqual(verdict.violations, []);
  assert.deepEqual(verdict.routingLagMs["fenced-leader"], [495, 945]);
});

test("a token given to two holders, or a holder that took the Lease with a lower token, is caught", () => {
  const observed = clean();
  observed.leases.mixed = [...leaseOf(["c", 3, 0, 3000]), ...leaseOf(["d", 3, 3000, 6000]), ...leaseOf(["e", 2, 6000, 8000])];
  const found = judge(observed, [], LEASE).violations;
  assert.ok(found.some((v) => v.includes("token 3 was held by c and by d")));
  assert.ok(found.some((v) => v.includes("e took the Lease with leaseTransitions 2, not above 3")));
});

test("the store accepting a write whose token the Lease gave another pod is caught", () => {
  const observed = clean();
  observed.writes = byTime([...observed.writes, { at: 7000, resource: "fenced", writer: "a", token: 2, accepted: true }]);
  assert.ok(judge(observed, [], LEASE).violations.some((v) => v.includes("accepted a's write with token 2, a token the Lease gave b")));
});

test("a write of the Lease's holder refused with its own token is caught (a legitimate write lost)", () => {
  const observed = clean();
  observed.writes = byTime([...observed.writes, { at: 8000, resource: "fenced", writer: "b", token: 2, accepted: false }]);
  assert.ok(judge(observed, [], LEASE).violations.some((v) => v.includes("refused b's write with token 2 while it held the Lease")));
});

test("the wrapped command in two pods at once is caught outside a freeze, excused inside one, and the older term's accepted writes there are caught", () => {
  const observed = clean();
  // a goes on writing after b started, with its token 1.
  observed.writes = byTime([...observed.writes, ...writesOf("wrapped", "a", 1, 5000, 5600)]);
  const outside = judge(observed, [], LEASE).violations;
  assert.ok(outside.some((v) => v.includes("ran in a and b at once") && v.includes("outside any freeze or partition")));
  assert.ok(outside.some((v) => v.includes("writes of a's older term were accepted while b ran")));

  const freeze: FaultRecord = { kind: "freeze", workload: "wrapped", victim: "a", wasHolder: true, start: 1000, end: 5050 };
  const refusedOverlap = clean();
  refusedOverlap.writes = byTime([...refusedOverlap.writes, ...writesOf("wrapped", "a", 1, 5200, 5600, true)]);
  const inside = judge(refusedOverlap, [freeze], LEASE);
  assert.deepEqual(inside.violations, []);
  assert.equal(inside.overlaps.filter((o) => o.resource === "wrapped" && o.excused).length, 1);
});

test("a Service answered by a pod that never held the Lease, or by an earlier holder after a later one answered, is caught; lag is not", () => {
  const observed = clean();
  observed.answers.push({ at: 9500, service: "fenced-leader", pod: "z" }, { at: 9600, service: "fenced-leader", pod: "a" });
  const found = judge(observed, [], LEASE).violations;
  assert.ok(found.some((v) => v.includes("answered by z, which never held the Lease")));
  assert.ok(found.some((v) => v.includes("answered by a (token 1) after b (token 2) had answered")));
  // a answering at 5200, after b's term began (and before b answered), is routing's lag.
  assert.equal(judge(clean(), [], LEASE).staleAnswers, 1);
});

test("two pods labelled leader at once is a violation", () => {
  const observed = clean();
  observed.labelBreaches.push({ at: 3000, election: "fenced", pods: ["a", "b"] });
  assert.ok(judge(observed, [], LEASE).violations.some((v) => v.includes("a and b carried the leader label at once")));
});

test("leaderless time: from a fault on the leader to another holder's renewal; none for a fault on a follower", () => {
  const observed = clean();
  const onLeader: FaultRecord = { kind: "freeze", workload: "fenced", victim: "a", wasHolder: true, start: 1000, end: 6000 };
  const onFollower: FaultRecord = { kind: "crash", workload: "fenced", victim: "b", wasHolder: false, start: 1000, end: 1000 };
  const apiserver: FaultRecord = { kind: "apiserver-restart", wasHolder: false, start: 2500, end: 4000 };
  const verdict = judge(observed, [onLeader, onFollower, apiserver], LEASE);
  assert.deepEqual(verdict.leaderlessMs, [4055, undefined, 505]);
});

test("pods' way back to the API server: from each API-server or etcd restart's end to the first connection that reached it", () => {
  const faults: FaultRecord[] = [
    { kind: "apiserver-restart", wasHolder: false, start: 1000, end: 10_000 },
    { kind: "crash", workload: "fenced", victim: "a", wasHolder: true, start: 11_000, end: 11_000 },
    { kind: "etcd-restart", wasHolder: false, start: 15_000, end: 20_000 },
  ];
  const probes = [9750, 10_000, 10_250, 10_500, 19_000, 20_000, 20_250].map((at) => ({ at, reached: at === 10_500 || at === 19_000 }));
  assert.deepEqual(apiRouteBackMs(faults, probes), [500, Infinity]);
});
