/**
 * The Election controller and its runner against an in-memory world (test/support/memoryworld.ts):
 * the order of its writes, what a failure leaves behind, the finalizer's life, and what
 * reconcile(key) asks of the runner.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatMicroTime } from "../../src/election/record.ts";
import { ElectionController } from "../../src/operator/controller.ts";
import { FINALIZER, type Election } from "../../src/operator/election.ts";
import { WorkQueue } from "../../src/operator/queue.ts";
import { runWorkers } from "../../src/operator/runner.ts";
import { FakeClock } from "../support/fakeclock.ts";
import { MemoryWorld } from "../support/memoryworld.ts";

const silent = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const KEY = "shop/db";

function setup(finalized = true): { world: MemoryWorld; clock: FakeClock; controller: ElectionController } {
  const clock = new FakeClock();
  const world = new MemoryWorld();
  const election: Election = {
    metadata: { name: "db", namespace: "shop", uid: "uid-db", generation: 1, resourceVersion: "1", ...(finalized ? { finalizers: [FINALIZER] } : {}) },
    spec: { candidates: { selector: { matchLabels: { app: "db" } } }, leaderLabel: { key: "leader", value: "true" }, service: { name: "db" } },
  };
  world.elections.set(KEY, election);
  for (const [i, name] of ["pod-a", "pod-b", "pod-c"].entries()) {
    world.pods.set(`shop/${name}`, {
      metadata: { name, namespace: "shop", uid: `uid-${name}`, labels: { app: "db", ...(name === "pod-b" ? { leader: "true" } : {}) } },
      spec: { nodeName: "n1", containers: [{ name: "db", ports: [{ name: "pg", containerPort: 5432 }] }] },
      status: { phase: "Running", podIP: `10.0.0.${String(i + 1)}`, conditions: [{ type: "Ready", status: "True" }] },
    });
  }
  world.services.set("shop/db", {
    metadata: { name: "db", namespace: "shop" },
    spec: { ports: [{ name: "sql", port: 5432, targetPort: "pg", protocol: "TCP" }] },
  });
  const renewed = formatMicroTime(clock.wall());
  world.leases.set("shop/db", {
    lease: {
      metadata: { name: "db", namespace: "shop" },
      spec: {
        holderIdentity: "pod-a",
        leaseDurationSeconds: 15,
        acquireTime: renewed as unknown as Date,
        renewTime: renewed as unknown as Date,
        leaseTransitions: 3,
      },
    },
    unchangedForMs: 1000,
  });
  return { world, clock, controller: new ElectionController(world, world, clock, silent) };
}

const at = (writes: string[], prefix: string): number => writes.findIndex((w) => w.startsWith(prefix));

test("a new Election gets the controller's finalizer, and nothing else until it comes back", async () => {
  const { world, controller } = setup(false);
  assert.deepEqual(await controller.reconcile(KEY), {});
  assert.deepEqual(world.writes, ["finalizer add"]);
});

test("a live leader: the label leaves the others before the leader gets it, the slice follows, the status comes last", async () => {
  const { world, controller } = setup();
  const next = await controller.reconcile(KEY);
  const { writes } = world;
  assert.ok(at(writes, "label pod-b leader=(removed)") < at(writes, "label pod-a leader=true"), writes.join("\n"));
  assert.ok(at(writes, "slice create db-elector-db 10.0.0.1") >= 0, writes.join("\n"));
  assert.equal(writes.at(-1), "status", "the status is written after the routing it reports");
  assert.deepEqual(world.doubleLabels, []);
  assert.equal(world.elections.get(KEY)?.status?.leader, "pod-a");
  // It asks to look again when the Lease would expire by the operator's own observation.
  assert.ok(next.requeueAfterMs !== undefined && next.requeueAfterMs > 0 && next.requeueAfterMs <= 15_000, JSON.stringify(next));

  const before = writes.length;
  await controller.reconcile(KEY);
  assert.deepEqual(writes.slice(before), [], "a second reconcile of an unchanged world writes nothing");

  // pod-b takes over: the label moves, and the change of leader is an Event.
  const lease = world.leases.get("shop/db")?.lease.spec;
  assert.ok(lease);
  Object.assign(lease, { holderIdentity: "pod-b", leaseTransitions: 4 });
  await controller.reconcile(KEY);
  assert.ok(at(writes, "label pod-a leader=(removed)") < at(writes, "label pod-b leader=true"), writes.join("\n"));
  assert.deepEqual(world.doubleLabels, []);
  assert.ok(world.events.length > 0, "a change of leader is an Event");
});

test("a failed write: the other route settles, no status is written, and the error reaches the runner", async () => {
  const { world, controller } = setup();
  world.failNext = "slice create";
  await assert.rejects(controller.reconcile(KEY), /injected failure of "slice create/);
  assert.ok(at(world.writes, "label pod-a leader=true") >= 0, "the label write was abandoned");
  assert.equal(at(world.writes, "status"), -1, "Routed was reported for routing that failed");
});

test("a status computed from an old Election is refused (409), and nothing is reported as done", async () => {
  const { world, controller } = setup();
  const stale = world.election(KEY);
  const stored = world.elections.get(KEY);
  assert.ok(stale && stored);
  // Someone changed the Election after the cache was read: the cache hands out the old one.
  stored.metadata.resourceVersion = "99";
  world.election = () => structuredClone(stale);
  await assert.rejects(controller.reconcile(KEY), (err: { code?: number }) => err.code === 409);
  assert.deepEqual(world.events, []);
});

test("a deleted Election: the label comes off, its slices go, then the finalizer", async () => {
  const { world, controller } = setup();
  await controller.reconcile(KEY);
  const election = world.elections.get(KEY);
  assert.ok(election);
  election.metadata.deletionTimestamp = new Date();
  world.writes.length = 0;
  assert.deepEqual(await controller.reconcile(KEY), {});
  assert.deepEqual(world.writes, ["label pod-a leader=(removed)", "slice delete db-elector-db", "finalizer remove"]);
  assert.equal(
    [...world.pods.values()].some((p) => p.metadata?.labels?.leader),
    false,
  );
});

test("the runner queues a key again after the delay its reconcile asks for, and backs off one that fails", async () => {
  const clock = new FakeClock();
  const queue = new WorkQueue(clock, { baseMs: 100, maxMs: 1000 });
  const runs: { key: string; at: number }[] = [];
  const running = runWorkers({
    queue,
    workers: 2,
    log: silent,
    reconcile: (key) => {
      runs.push({ key, at: clock.monotonic() });
      if (key === "shop/failing") return Promise.reject(new Error("boom"));
      return Promise.resolve(runs.filter((r) => r.key === key).length === 1 ? { requeueAfterMs: 5000 } : {});
    },
  });
  queue.add("shop/db");
  queue.add("shop/failing");
  await clock.advance(5000);
  queue.shutDown();
  await running;
  assert.deepEqual(
    runs.filter((r) => r.key === "shop/db").map((r) => r.at),
    [0, 5000],
  );
  // 100, 200, 400, 800, 1000, 1000 … ms apart.
  const failing = runs.filter((r) => r.key === "shop/failing").map((r) => r.at);
  assert.deepEqual(failing.slice(0, 5), [0, 100, 300, 700, 1500]);
});
