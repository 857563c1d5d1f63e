/**
 * The chaos harness (test/chaos) on the node, a short schedule: every kind of fault, mixed, and
 * the outside observer's invariants (the fenced store, the leader label, the routed Services, the
 * wrapped command in one pod at a time, convergence after the last fault). `npm run chaos` runs a
 * long one; ELECTOR_SEED replays or varies this one.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { KubeClient } from "../../src/kube/client.ts";
import { loadConnection } from "../../src/kube/kubeconfig.ts";
import { report } from "./report.ts";
import { FAULT_KINDS } from "./schedule.ts";
import { chaosObjects, operatorsBack, runChaos } from "./run.ts";
import { onTheNode } from "../support/node.ts";
import { runSeed } from "../support/random.ts";

const FAULTS = 24;
/** The run takes about 4 minutes here (30 faults took 3.8 min after the workloads settled): over the 5 the runner gives a test. */
const TIMEOUT_MS = 15 * 60_000;

test(
  `${String(FAULTS)} mixed faults on the node: one leader, label and route at a time, fenced writes, convergence after the last`,
  { timeout: TIMEOUT_MS },
  async (t) => {
    const on = await onTheNode(t);
    if (!on) return;
    const seed = runSeed(20261206);
    const client = new KubeClient(loadConnection(on.plane.kubeconfig));
    const run = await runChaos(on.plane, client, {
      faults: FAULTS,
      seed,
      namespace: on.namespace,
      log: (line) => {
        t.diagnostic(line);
      },
    });
    for (const line of report(run, `ELECTOR_SEED=${String(seed)} npm test -- test/chaos/chaos.test.ts`)) t.diagnostic(line);
    await operatorsBack();
    assert.deepEqual(run.verdict.violations, [], `seed ${String(seed)}`);
    assert.ok(run.finalConvergenceMs !== undefined, `seed ${String(seed)}: not settled after the last fault\n${await chaosObjects(on.namespace)}`);
    // A run whose writers never wrote, or whose Services never answered, would pass the checks above vacuously.
    for (const resource of ["fenced", "wrapped"])
      assert.ok(
        run.observed.writes.some((w) => w.resource === resource && w.accepted),
        `no accepted ${resource} write`,
      );
    assert.ok(run.observed.answers.filter((a) => a.pod).length > 100, "the routed Services hardly answered");
    // A fault finds no pod to hit only while a workload has none (then it is skipped): every kind still came.
    assert.deepEqual(new Set(run.faults.map((f) => f.kind)), new Set(FAULT_KINDS), "every kind of fault was injected");
  },
);
