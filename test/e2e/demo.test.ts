/**
 * `make demo` on the real node, as a person runs it without a terminal: the chart's operator, a
 * Deployment whose pods carry the agent, a pod deleted and an agent container crashed, each
 * handover timed to the new term and to the moment both Services answer from the new leader.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { nodeCluster } from "../support/node.ts";
import { assertCleanedUp, runDemo } from "../support/demo.ts";

test("the demo on real pods: a deleted leader pod and a crashed agent container, each handover timed to the Lease and to the traffic", async (t) => {
  if (!(await nodeCluster(t))) return;
  const demo = runDemo(2);
  assert.equal(await demo.exited, 0, demo.output());
  const out = demo.output();
  assert.match(out, /Deployment db \(3 pods: app \+ elector sidecar\)/);
  assert.match(
    out,
    /NAME\s+LEADER\s+TRANSITIONS\s+READY\s+SERVICE\s+RENEWED\s+REASON\s+AGE\ndb\s+db-\S+\s+\d+\s+True/,
    "the kubectl get elections -o wide row",
  );
  assert.match(out, /delete pod on the leader db-\S+/);
  const graceful = /(db-\S+) leads (\d+) ms after the delete pod; both Services answer from it ([\d.]+ m?s) after the fault/.exec(out);
  assert.ok(graceful, `a timed graceful handover:\n${out}`);
  assert.ok(Number(graceful[2]) < 1000, `a graceful handover takes well under a second: ${graceful[0]}`);
  const crash = /(db-\S+) leads ([\d.]+) s after the container crash; both Services answer from it/.exec(out);
  assert.ok(crash, `a timed crash failover:\n${out}`);
  // The 4 s lease counts from the last renewal, which came at most a 1 s retry period before the kill.
  assert.ok(Number(crash[2]) >= 2.9, `a crash waits for the lease: ${crash[0]}`);
  assert.match(out, /done; cleaning up/);
  assert.match(out, /delete pod, the leader releases the lease:\s+\d+ ms → [\d.]+ m?s\n/, "the summary that stays on screen");
  await assertCleanedUp(out);
  t.diagnostic(
    out
      .split("\n")
      .filter((l) => /leads .* after/.test(l))
      .join("\n"),
  );
});
