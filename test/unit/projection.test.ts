/** The operator's decisions, from (Election, Lease, pods, Service) alone: no cluster, no clock. */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Election, ElectionSpec, ElectionStatus } from "../../src/operator/election.ts";
import { project, type LeaseView, type PodView, type ServiceView, type World } from "../../src/operator/projection.ts";

const NOW = new Date("2026-11-21T12:00:00Z");
const T0 = new Date("2026-11-21T11:00:00Z");

function election(spec: ElectionSpec = {}, status?: ElectionStatus, generation = 1): Election {
  return {
    metadata: { name: "db", namespace: "shop", generation },
    spec: { candidates: { selector: { matchLabels: { app: "db" } } }, ...spec },
    ...(status ? { status } : {}),
  };
}

function pod(name: string, o: Partial<PodView> = {}): PodView {
  return {
    name,
    uid: `uid-${name}`,
    ip: `10.0.0.${name.charCodeAt(name.length - 1) - 96}`,
    node: "n1",
    ready: true,
    terminating: false,
    labels: { app: "db" },
    ports: [],
    ...o,
  };
}

function lease(holder: string, transitions: number, o: Partial<LeaseView> = {}): LeaseView {
  return {
    record: { holderIdentity: holder, leaseDurationSeconds: 15, acquireTime: T0, renewTime: new Date(NOW.getTime() - 1000), leaderTransitions: transitions },
    preferredHolder: "",
    unchangedForMs: 1000,
    ...o,
  };
}

const PODS = [pod("pod-a"), pod("pod-b"), pod("pod-c")];
const SELECTORLESS: ServiceView = { exists: true, hasSelector: false, ports: [{ name: "sql", port: 5432, targetPort: "pg", protocol: "TCP" }] };

function world(o: Partial<World>): World {
  return { election: election(), lease: lease("pod-a", 0), pods: PODS, now: NOW, ...o };
}

/** The status a previous reconcile wrote while `leader` held term `transitions`. */
function seen(leader: string, transitions: number, extra: ElectionStatus = {}): ElectionStatus {
  return { observedGeneration: 1, leader, transitions, acquireTime: "2026-11-21T11:00:00Z", ...extra };
}

const conditionOf = (status: ElectionStatus, type: string): { status: string; reason: string; message: string } | undefined =>
  status.conditions?.find((c) => c.type === type);

test("a live leader: status, routing by label and by EndpointSlice, all conditions true", () => {
  const leader = pod("pod-a", { ports: [{ name: "pg", containerPort: 6432 }] });
  const d = project(
    world({
      election: election({ leaderLabel: { key: "leader", value: "true" }, service: { name: "db" } }),
      pods: [leader, pod("pod-b"), pod("pod-c", { ready: false })],
      service: SELECTORLESS,
    }),
  );
  assert.equal(d.status.leader, "pod-a");
  assert.deepEqual(d.status.leaderPod, { name: "pod-a", ip: "10.0.0.1", node: "n1" });
  assert.equal(d.status.transitions, 0);
  assert.equal(d.status.leaseDurationSeconds, 15);
  assert.equal(d.status.acquireTime, "2026-11-21T11:00:00Z");
  assert.deepEqual(d.status.candidates, { total: 3, ready: 2 });
  assert.equal(d.status.observedGeneration, 1);
  for (const type of ["LeaderElected", "Routed", "Ready"]) assert.equal(conditionOf(d.status, type)?.status, "True", type);
  assert.deepEqual(d.label, { key: "leader", value: "true", carrier: "pod-a", remove: [] });
  assert.deepEqual(d.slice, {
    service: "db",
    addressType: "IPv4",
    endpoints: [
      {
        addresses: ["10.0.0.1"],
        conditions: { ready: true, serving: true, terminating: false },
        nodeName: "n1",
        targetRef: { kind: "Pod", name: "pod-a", namespace: "shop", uid: "uid-pod-a" },
      },
    ],
    ports: [{ name: "sql", port: 6432, protocol: "TCP" }],
  });
  // The first sight of a Lease ends no term, but its leader is news: an event, no history.
  assert.deepEqual(d.events, [{ type: "Normal", reason: "LeaderChanged", note: "pod-a leads now" }]);
  assert.equal(d.status.history, undefined);
  // Looked at again when the lease would run out without a renewal.
  assert.equal(d.recheckAfterMs, 14_001);
});

test("the label leaves every other candidate before it is given to the leader", () => {
  const pods = [pod("pod-a"), pod("pod-b", { labels: { app: "db", leader: "true" } }), pod("pod-c", { labels: { app: "db", leader: "true" } })];
  const d = project(world({ election: election({ leaderLabel: { key: "leader", value: "true" } }), pods }));
  assert.deepEqual(d.label, { key: "leader", value: "true", carrier: "pod-a", remove: ["pod-b", "pod-c"] });
});

test("the pod labelled last loses the label when it leaves the selector, and only then is it touched", () => {
  const spec = { leaderLabel: { key: "leader", value: "true" } };
  // pod-a led and was labelled, then its app label changed: it is no candidate, but still holds the Lease.
  const left = project(world({ election: election(spec, seen("pod-a", 0, { leaderPod: { name: "pod-a" } })), pods: [pod("pod-b"), pod("pod-c")] }));
  assert.deepEqual(left.label, { key: "leader", value: "true", remove: ["pod-a"] });
  assert.equal(left.status.leaderPod, undefined, "the next reconcile does not touch it again");
  // While it is a candidate the cached labels decide, as for every candidate.
  const stayed = project(world({ election: election(spec, seen("pod-a", 0, { leaderPod: { name: "pod-a" } })), lease: lease("pod-b", 1) }));
  assert.deepEqual(stayed.label, { key: "leader", value: "true", carrier: "pod-b", remove: [] });
});

test("a lease unrenewed for its duration, by the operator's own observation, routes nowhere", () => {
  const pods = [pod("pod-a", { labels: { app: "db", leader: "true" } }), pod("pod-b")];
  const d = project(
    world({
      election: election({ leaderLabel: { key: "leader", value: "true" }, service: { name: "db" } }),
      pods,
      lease: lease("pod-a", 0, { unchangedForMs: 15_000 }),
      service: SELECTORLESS,
    }),
  );
  assert.equal(d.status.leader, "pod-a", "the record still names it");
  assert.equal(d.status.leaderPod, undefined);
  assert.equal(conditionOf(d.status, "LeaderElected")?.reason, "LeaseExpired");
  assert.equal(conditionOf(d.status, "Routed")?.reason, "NoLeader");
  assert.equal(conditionOf(d.status, "Ready")?.status, "False");
  assert.deepEqual(d.label, { key: "leader", value: "true", remove: ["pod-a"] });
  assert.deepEqual(d.slice?.endpoints, []);
  assert.equal(d.recheckAfterMs, undefined);
});

test("a record no candidate honours (a lease of 68 years) shows no leader and routes nowhere, saying why", () => {
  const pods = [pod("pod-a", { labels: { app: "db", leader: "true" } }), pod("pod-b")];
  const ghost = lease("pod-a", 4);
  const d = project(
    world({
      election: election({ leaderLabel: { key: "leader", value: "true" }, service: { name: "db" } }),
      pods,
      lease: { ...ghost, record: { ...ghost.record, leaseDurationSeconds: 2 ** 31 - 1 } },
      service: SELECTORLESS,
    }),
  );
  assert.equal(d.status.leaderPod, undefined);
  const elected = conditionOf(d.status, "LeaderElected");
  assert.ok(elected);
  assert.equal(elected.reason, "InvalidLease");
  assert.match(elected.message, /leaseDurationSeconds 2147483647: over a day/);
  assert.deepEqual(d.label, { key: "leader", value: "true", remove: ["pod-a"] });
  assert.deepEqual(d.slice?.endpoints, []);
});

test("a Service with a selector is refused with a condition, and a missing one is named", () => {
  const withSelector = project(world({ election: election({ service: { name: "db" } }), service: { exists: true, hasSelector: true, ports: [] } }));
  assert.equal(withSelector.slice, null);
  assert.equal(conditionOf(withSelector.status, "Routed")?.reason, "ServiceHasSelector");
  assert.match(conditionOf(withSelector.status, "Ready")?.message ?? "", /has a selector/);
  const missing = project(world({ election: election({ service: { name: "db" } }), service: { exists: false } }));
  assert.equal(missing.slice, null);
  assert.equal(conditionOf(missing.status, "Routed")?.reason, "ServiceNotFound");
});

test("a holder that is no candidate pod (a client-go program elsewhere) leads but is not routed to", () => {
  const d = project(world({ election: election({ leaderLabel: { key: "leader", value: "true" } }), lease: lease("controller-7f9c", 3) }));
  assert.equal(d.status.leader, "controller-7f9c");
  assert.equal(conditionOf(d.status, "LeaderElected")?.status, "True");
  assert.equal(conditionOf(d.status, "Routed")?.reason, "LeaderNotACandidate");
  assert.equal(d.label?.carrier, undefined);
});

test("no Lease yet, and a released one", () => {
  const none = project(world({ lease: undefined }));
  assert.equal(none.status.leader, "");
  assert.equal(conditionOf(none.status, "LeaderElected")?.reason, "LeaseNotFound");
  const released = project(world({ lease: lease("", 2) }));
  assert.equal(conditionOf(released.status, "LeaderElected")?.reason, "NoLeader");
  assert.equal(released.status.transitions, 2);
});

test("how a term ended, read from the Lease against the last status: released, expired, handed over, unknown", () => {
  const releasedAt = new Date("2026-11-21T11:59:58Z");
  const release = lease("", 4, {
    record: { holderIdentity: "", leaseDurationSeconds: 1, acquireTime: releasedAt, renewTime: releasedAt, leaderTransitions: 4 },
  });
  const released = project(world({ election: election({}, seen("pod-a", 4)), lease: release }));
  assert.deepEqual(released.status.history, [
    { leader: "pod-a", transitions: 4, acquireTime: "2026-11-21T11:00:00Z", endTime: "2026-11-21T11:59:58Z", reason: "Released" },
  ]);
  assert.deepEqual(released.events, [
    { type: "Normal", reason: "LeaderReleased", note: "pod-a no longer leads; the Lease is free (pod-a's term ended: Released)" },
  ]);

  // The next holder after a release adds no term: the release already closed it.
  const next = project(world({ election: election({}, { ...released.status }), lease: lease("pod-b", 5) }));
  assert.equal(next.status.history?.length, 1);
  assert.deepEqual(next.events, [{ type: "Normal", reason: "LeaderChanged", note: "pod-b leads now" }]);

  const takeover = lease("pod-b", 5, {
    record: { holderIdentity: "pod-b", leaseDurationSeconds: 15, acquireTime: releasedAt, renewTime: releasedAt, leaderTransitions: 5 },
  });
  const expired = project(world({ election: election({}, seen("pod-a", 4)), lease: takeover }));
  assert.equal(expired.status.history?.[0]?.reason, "Expired");
  assert.equal(expired.status.history[0].endTime, "2026-11-21T11:59:58Z");
  assert.match(expired.events[0]?.note ?? "", /pod-b leads now, after pod-a \(pod-a's term ended: Expired\)/);

  const handedOver = project(
    world({ election: election({ preferredHolder: "pod-b" }, seen("pod-a", 4, { handover: { to: "pod-b", since: "2026-11-21T11:59:50Z" } })), lease: release }),
  );
  assert.equal(handedOver.status.history?.[0]?.reason, "HandedOver");

  const sameIdentityRestarted = project(world({ election: election({}, seen("pod-a", 4)), lease: lease("pod-a", 5) }));
  assert.equal(sameIdentityRestarted.status.history?.[0]?.reason, "Expired", "a restarted process is a new term");

  const unseen = project(world({ election: election({}, seen("pod-a", 4)), lease: lease("pod-c", 7) }));
  assert.equal(unseen.status.history?.[0]?.reason, "Unknown");
  assert.equal(unseen.status.history[0].endTime, "2026-11-21T12:00:00Z");
});

test("history keeps the newest ten terms, newest first", () => {
  const old = Array.from({ length: 10 }, (_, i) => ({ leader: `old-${i}`, transitions: 9 - i, reason: "Expired" as const }));
  const d = project(world({ election: election({}, seen("pod-a", 10, { history: old })), lease: lease("pod-b", 11) }));
  assert.equal(d.status.history?.length, 10);
  const leaders = d.status.history.map((term) => term.leader);
  assert.deepEqual([leaders[0], leaders[9]], ["pod-a", "old-8"]);
});

test("a condition keeps its lastTransitionTime while its status stays", () => {
  const first = project(world({}));
  const later = project(world({ election: election({}, first.status), now: new Date(NOW.getTime() + 60_000) }));
  assert.equal(conditionOf(later.status, "LeaderElected")?.status, "True");
  assert.equal(later.status.conditions?.find((c) => c.type === "LeaderElected")?.lastTransitionTime, "2026-11-21T12:00:00Z");
  const lost = project(world({ election: election({}, first.status), lease: lease("", 0), now: new Date(NOW.getTime() + 60_000) }));
  assert.equal(lost.status.conditions?.find((c) => c.type === "LeaderElected")?.lastTransitionTime, "2026-11-21T12:01:00Z");
});

test("preferredHolder is a standing preference: annotate the Lease while that pod is a ready candidate, withdraw it when it leads, never touch spec", () => {
  const notReady = project(world({ election: election({ preferredHolder: "pod-b" }), pods: [pod("pod-a"), pod("pod-b", { ready: false })] }));
  assert.equal(notReady.leaseAnnotation, undefined, "no request while pod-b cannot take over");
  assert.deepEqual(notReady.status.handover, { to: "pod-b", since: "2026-11-21T12:00:00Z" });
  assert.equal(notReady.recheckAfterMs, 14_001);

  const ready = project(world({ election: election({ preferredHolder: "pod-b" }, notReady.status), now: new Date(NOW.getTime() + 5000) }));
  assert.equal(ready.leaseAnnotation, "pod-b");
  assert.equal(ready.status.handover?.since, "2026-11-21T12:00:00Z", "the timeout runs from the start of the attempt");
  assert.ok(!("spec" in ready), "a decision has no way to write spec");

  const done = project(world({ election: election({ preferredHolder: "pod-b" }, ready.status), lease: lease("pod-b", 1, { preferredHolder: "pod-b" }) }));
  assert.equal(done.leaseAnnotation, "");
  assert.equal(done.status.handover, undefined);
  assert.ok(done.events.some((e) => e.reason === "HandoverSucceeded"));
  assert.equal(conditionOf(done.status, "HandoverFailed")?.status, "False");

  const stays = project(world({ election: election({ preferredHolder: "pod-b" }, done.status), lease: lease("pod-b", 1) }));
  assert.equal(stays.leaseAnnotation, undefined, "nothing to write while the preferred pod leads");
  assert.deepEqual(stays.events, [], "no second HandoverSucceeded");

  // pod-b's term ends some other way (say, a rollout deleted it after an hour): the preference stands, and asks again.
  const terms = [{ leader: "pod-b", transitions: 1, acquireTime: "2026-11-21T11:00:00Z", endTime: "2026-11-21T11:59:59Z", reason: "Expired" as const }];
  const again = project(world({ election: election({ preferredHolder: "pod-b" }, seen("pod-a", 2, { history: terms })), lease: lease("pod-a", 2) }));
  assert.deepEqual(again.status.handover, { to: "pod-b", since: "2026-11-21T12:00:00Z" });
  assert.equal(again.leaseAnnotation, "pod-b");

  const removed = project(world({ election: election({}, ready.status), lease: lease("pod-a", 0, { preferredHolder: "pod-b" }) }));
  assert.equal(removed.leaseAnnotation, "", "removing the field ends it");
  assert.equal(removed.status.handover, undefined);
});

test("a handover that times out says why and is retried after a doubling wait, capped at 10 minutes", () => {
  const spec = { preferredHolder: "pod-x", handoverTimeoutSeconds: 30 };
  let status = project(world({ election: election(spec) })).status;
  let now = NOW.getTime();
  const waits: number[] = [];
  for (let attempt = 1; attempt <= 7; attempt++) {
    now += 30_000;
    const failed = project(world({ election: election(spec, status), now: new Date(now) }));
    assert.equal(failed.status.handover?.failures, attempt);
    assert.equal(conditionOf(failed.status, "HandoverFailed")?.reason, "Timeout");
    assert.equal(failed.events.find((e) => e.reason === "HandoverFailed")?.type, "Warning");
    const waitMs = Date.parse(failed.status.handover.retryAfter ?? "") - now;
    waits.push(waitMs / 1000);
    assert.equal(failed.recheckAfterMs, Math.min(waitMs, 14_001), "looks again when the wait is over (or the lease may expire)");
    const waiting = project(world({ election: election(spec, failed.status), now: new Date(now + waitMs - 1) }));
    assert.deepEqual(waiting.status.handover, failed.status.handover, "nothing is asked while waiting");
    assert.deepEqual(waiting.events, []);
    now += waitMs;
    const retried = project(world({ election: election(spec, waiting.status), now: new Date(now) }));
    assert.equal(retried.status.handover?.since, new Date(now).toISOString().replace(".000", ""), "a new attempt starts");
    assert.equal(retried.status.handover.retryAfter, undefined);
    status = retried.status;
  }
  assert.deepEqual(waits, [30, 60, 120, 240, 480, 600, 600]);
  assert.match(
    conditionOf(status, "HandoverFailed")?.message ?? "",
    /^handover to pod-x gave up after 30s: pod-x is not a pod selected by candidates.selector; the next try in 600s$/,
  );

  const stuck = project(
    world({
      election: election({ preferredHolder: "pod-b" }, seen("pod-a", 0, { handover: { to: "pod-b", since: "2026-11-21T11:58:00Z" } })),
      lease: lease("pod-a", 0, { preferredHolder: "pod-b" }),
    }),
  );
  assert.match(conditionOf(stuck.status, "HandoverFailed")?.message ?? "", /pod-b did not take over from pod-a: is its agent running with --id=pod-b\?/);
  assert.equal(stuck.leaseAnnotation, "", "the request is withdrawn from the Lease while waiting");
});

test("a preferred pod that loses the Lease soon after a handover waits before the next one (a crash loop cannot bounce leadership)", () => {
  const handedTo = (end: string): { leader: string; transitions: number; acquireTime: string; endTime: string; reason: "Expired" | "HandedOver" }[] => [
    { leader: "pod-b", transitions: 1, acquireTime: "2026-11-21T11:59:00Z", endTime: end, reason: "Expired" },
    { leader: "pod-a", transitions: 0, acquireTime: "2026-11-21T11:00:00Z", endTime: "2026-11-21T11:59:00Z", reason: "HandedOver" },
  ];
  // pod-b led 10 s after the handover, crashed; pod-a took over when its lease ran out.
  const prev = seen("pod-b", 1, { acquireTime: "2026-11-21T11:59:00Z", history: handedTo("2026-11-21T11:59:00Z").slice(1) });
  const lost = project(
    world({
      election: election({ preferredHolder: "pod-b", handoverTimeoutSeconds: 60 }, prev),
      lease: lease("pod-a", 2, { record: { ...lease("pod-a", 2).record, acquireTime: new Date("2026-11-21T11:59:10Z") } }),
    }),
  );
  assert.equal(lost.status.history?.[0]?.leader, "pod-b");
  assert.equal(lost.status.handover?.failures, 1);
  assert.equal(lost.status.handover.retryAfter, "2026-11-21T12:00:10Z", "60 s after pod-b's term ended");
  assert.equal(conditionOf(lost.status, "HandoverFailed")?.reason, "LeaseLost");
  assert.match(conditionOf(lost.status, "HandoverFailed")?.message ?? "", /pod-b lost the Lease 10s after taking it; the next handover to it waits 60s/);
  assert.equal(lost.leaseAnnotation, undefined, "not asked again at once");

  // The same history without the handover (pod-b simply won an election) is no failure.
  const won = handedTo("2026-11-21T11:59:10Z").map((t) => ({ ...t, reason: "Expired" as const }));
  const fresh = project(world({ election: election({ preferredHolder: "pod-b" }, seen("pod-a", 2, { history: won })), lease: lease("pod-a", 2) }));
  assert.equal(fresh.status.handover?.failures, undefined);
  assert.equal(fresh.leaseAnnotation, "pod-b");
});

test("renewals reach the status at most once per lease duration", () => {
  const first = project(world({}));
  assert.equal(first.status.renewTime, "2026-11-21T11:59:59Z");
  const renewed = (holder: string, transitions: number, seconds: number): LeaseView =>
    lease(holder, transitions, { record: { ...lease(holder, transitions).record, renewTime: new Date(Date.parse("2026-11-21T11:59:59Z") + seconds * 1000) } });
  assert.equal(project(world({ election: election({}, first.status), lease: renewed("pod-a", 0, 14) })).status.renewTime, "2026-11-21T11:59:59Z");
  assert.equal(project(world({ election: election({}, first.status), lease: renewed("pod-a", 0, 15) })).status.renewTime, "2026-11-21T12:00:14Z");
  // A new term shows its own renewal at once.
  assert.equal(project(world({ election: election({}, first.status), lease: renewed("pod-b", 1, 3) })).status.renewTime, "2026-11-21T12:00:02Z");
});

test("a new Election's first leader is an Event; a Lease already expired, or released, when first seen is none", () => {
  assert.deepEqual(project(world({})).events, [{ type: "Normal", reason: "LeaderChanged", note: "pod-a leads now" }]);
  assert.deepEqual(project(world({ lease: lease("pod-a", 0, { unchangedForMs: 15_000 }) })).events, []);
  assert.deepEqual(project(world({ lease: lease("", 0) })).events, []);
  // Once the status has been written, the same leader is no news.
  const first = project(world({}));
  assert.deepEqual(project(world({ election: election({}, first.status) })).events, []);
});
