/**
 * The demo's node-less form (`npm run demo -- --no-node`, what `make demo` shows where no node can
 * run) as a person runs it, without a terminal: every step is a line. Run against this test run's
 * cluster (ELECTOR_TEST_CLUSTER_DIR), so it must leave that cluster running.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { eventually } from "../support/cluster.ts";
import { assertCleanedUp, runDemo } from "../support/demo.ts";

test("the demo elects, routes, and shows a graceful handover and a crash failover, each timed", async () => {
  const demo = runDemo(2, ["--no-node"]);
  assert.equal(await demo.exited, 0, demo.output());
  const out = demo.output();
  assert.match(out, /applied Election db/);
  assert.match(out, /NAME\s+LEADER\s+TRANSITIONS\s+READY\s+SERVICE\s+RENEWED\s+REASON\s+AGE\ndb\s+db-\d\s+\d+\s+True/, "the kubectl get elections -o wide row");
  assert.match(out, /db-\d leads, carries the label, and the Service routes to it/);
  assert.match(out, /SIGTERM on the leader db-\d/);
  const graceful = /(db-\d) leads (\d+) ms after the SIGTERM/.exec(out);
  assert.ok(graceful, `a timed graceful handover:\n${out}`);
  assert.ok(Number(graceful[2]) < 1000, `a graceful handover takes well under a second: ${graceful[0]}`);
  const crash = /(db-\d) leads ([\d.]+) s after the SIGKILL/.exec(out);
  assert.ok(crash, `a timed crash failover:\n${out}`);
  // The 4 s lease counts from the last renewal, which came at most a 1 s retry period before the kill.
  assert.ok(Number(crash[2]) >= 2.9, `a crash waits for the lease: ${crash[0]}`);
  assert.match(out, /done; cleaning up/);
  assert.match(out, /SIGTERM, the leader releases the lease:\s+\d+ ms\n/, "the summary that stays on screen");
  await assertCleanedUp(out);
});

test("Ctrl-C stops the demo at any point, and it still cleans up", async () => {
  const demo = runDemo(0, ["--no-node"]);
  await eventually("the demo to apply its Election", () => Promise.resolve(/applied Election db/.test(demo.output()) ? true : undefined), 60_000);
  demo.interrupt();
  assert.equal(await demo.exited, 0, demo.output());
  assert.match(demo.output(), /stopped by Ctrl-C; cleaning up/);
  await assertCleanedUp(demo.output());
});
