/**
 * The demo (`make demo`) as a person runs it, without a terminal: every step is a line. Run against
 * this test run's control plane (ELECTOR_TEST_CLUSTER_DIR), so it must leave that plane running.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { eventually, kubectl } from "../support/cluster.ts";

const DEMO = fileURLToPath(new URL("../../scripts/demo.ts", import.meta.url));

interface DemoRun {
  output: () => string;
  interrupt: () => void;
  exited: Promise<number | null>;
}

function runDemo(rounds: number): DemoRun {
  const child = spawn(process.execPath, [DEMO, `--rounds=${String(rounds)}`], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  return {
    output: () => output,
    interrupt: () => child.kill("SIGINT"),
    exited: new Promise((resolve) => {
      child.once("exit", resolve);
    }),
  };
}

/** The demo's namespace, named on its first line; gone (or going) once the demo has cleaned up. */
async function assertCleanedUp(output: string): Promise<void> {
  const namespace = /namespace (elector-demo-[a-z0-9]+)/.exec(output)?.[1];
  assert.ok(namespace, output);
  const phase = await kubectl(["get", "namespace", namespace, "-o", "jsonpath={.status.phase}"]);
  assert.ok(phase.code !== 0 || phase.stdout === "Terminating", `namespace ${namespace} is still ${phase.stdout}`);
  const health = await kubectl(["get", "--raw", "/readyz"]);
  assert.equal(health.stdout, "ok", "the demo left the control plane it did not start running");
}

test("the demo elects, routes, and shows a graceful handover and a crash failover, each timed", async () => {
  const demo = runDemo(2);
  assert.equal(await demo.exited, 0, demo.output());
  const out = demo.output();
  assert.match(out, /applied Election db/);
  assert.match(out, /NAME\s+LEADER\s+TRANSITIONS\s+READY\s+AGE\s+SERVICE\s+RENEWED\ndb\s+db-\d\s+\d+\s+True/, "the kubectl get elections -o wide row");
  assert.match(out, /db-\d leads, carries the label, and the Service routes to it/);
  assert.match(out, /SIGTERM to the leader db-\d/);
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
  const demo = runDemo(0);
  await eventually("the demo to apply its Election", () => Promise.resolve(/applied Election db/.test(demo.output()) ? true : undefined), 60_000);
  demo.interrupt();
  assert.equal(await demo.exited, 0, demo.output());
  assert.match(demo.output(), /stopped by Ctrl-C; cleaning up/);
  await assertCleanedUp(demo.output());
});
