/** Running the demo (`make demo`) as a person would, without a terminal, and checking it cleaned up. */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { kubectl } from "./cluster.ts";

const DEMO = fileURLToPath(new URL("../../scripts/demo.ts", import.meta.url));

export interface DemoRun {
  output: () => string;
  interrupt: () => void;
  exited: Promise<number | null>;
}

export function runDemo(rounds: number, args: string[] = []): DemoRun {
  const child = spawn(process.execPath, [DEMO, `--rounds=${String(rounds)}`, ...args], { stdio: ["ignore", "pipe", "pipe"] });
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
export async function assertCleanedUp(output: string): Promise<void> {
  const namespace = /namespace (elector-demo-[a-z0-9]+)/.exec(output)?.[1];
  assert.ok(namespace, output);
  const phase = await kubectl(["get", "namespace", namespace, "-o", "jsonpath={.status.phase}"]);
  assert.ok(phase.code !== 0 || phase.stdout === "Terminating", `namespace ${namespace} is still ${phase.stdout}`);
  const health = await kubectl(["get", "--raw", "/readyz"]);
  assert.equal(health.stdout, "ok", "the demo left the control plane it did not start running");
}
