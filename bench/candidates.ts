/** Measurements of one kind of candidate that more than one bench takes: its start, and its memory once settled. */
import { readFile } from "node:fs/promises";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import type { KubeConfig } from "@kubernetes/client-node";
import type { ControlPlane } from "../test/cluster/controlplane.ts";
import type { Agent, LaunchOptions } from "../test/support/agents.ts";
import { createNamespace } from "../test/support/cluster.ts";

/** Starts one candidate of an election. */
export type Launch = (o: LaunchOptions) => Promise<Agent>;

/** Milliseconds from spawning each of `n` candidates, one after another, to the first 200 from its `/`. */
export async function startupMs(plane: ControlPlane, kc: KubeConfig, launch: Launch, n: number): Promise<number[]> {
  const namespace = await createNamespace(kc, "bench-startup");
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const started = performance.now();
    const agent = await launch({ namespace, election: "startup", id: `s${String(i)}`, kubeconfig: plane.kubeconfig });
    // Polled every 10 ms: `eventually`'s 100 ms steps would round every start up by as much.
    while ((await agent.status()) === undefined) {
      if (performance.now() - started > 10_000) throw new Error("no HTTP answer within 10 s");
      await sleep(10);
    }
    samples.push(performance.now() - started);
    agent.kill("SIGTERM");
    await agent.exited;
    agent.dispose();
  }
  return samples;
}

/** A process's resident memory in MB: all of it (VmRSS), its anonymous pages, and pages of files it maps (its executable's). */
export interface Memory {
  rss: number;
  anon: number;
  file: number;
}

export async function memoryOf(pid: number | undefined): Promise<Memory> {
  const status = await readFile(`/proc/${String(pid ?? 0)}/status`, "utf8");
  const kb = (field: string): number => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? Number.NaN) / 1024;
  return { rss: kb("VmRSS"), anon: kb("RssAnon"), file: kb("RssFile") };
}

/** The memory of each of three candidates of one election (`args` its timing), a minute after they start. */
export async function settledMemory(plane: ControlPlane, kc: KubeConfig, launch: Launch, args: string[]): Promise<Memory[]> {
  const namespace = await createNamespace(kc, "bench-footprint");
  const candidates = await Promise.all(["f0", "f1", "f2"].map((id) => launch({ namespace, election: "footprint", id, kubeconfig: plane.kubeconfig, args })));
  try {
    await sleep(60_000);
    return await Promise.all(candidates.map((c) => memoryOf(c.process.pid)));
  } finally {
    for (const c of candidates) c.dispose();
  }
}
