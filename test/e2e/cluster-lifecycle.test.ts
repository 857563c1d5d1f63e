/**
 * A full up/down cycle of a cluster with a node leaves the machine as it found it: no process, no
 * namespace, no mount, no cgroup, no network interface, no host sysctl changed, no file outside
 * the cluster's folder and the caches. It runs beside the test run's own cluster (two clusters on
 * one machine must not collide) and runs a pod, so containerd, runc and CNI have done their part.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { clusterFetch, down, nodeDefault, up } from "../cluster/controlplane.ts";
import { eventually, runCommand } from "../support/cluster.ts";
import { hostState } from "../support/host.ts";

/** The pids of processes in the namespace whose /proc/<pid>/ns/<kind> link is `ns`. */
async function processesIn(kind: string, ns: string): Promise<number[]> {
  const pids = (await readdir("/proc")).filter((p) => /^\d+$/.test(p));
  const inside: number[] = [];
  for (const pid of pids) if ((await readlink(`/proc/${pid}/ns/${kind}`).catch(() => "")) === ns) inside.push(Number(pid));
  return inside;
}

test("a full up/down cycle of a cluster with a node leaves no process, namespace, mount, cgroup, interface, sysctl or file behind", async (t) => {
  const { node, why } = nodeDefault();
  if (!node) {
    t.skip(`no node here (${why ?? ""})`);
    return;
  }
  const before = await hostState();
  const dir = await mkdtemp(join(tmpdir(), "elector-lifecycle-"));
  const plane = await up(dir, { node: true, log: () => undefined });
  assert.ok(plane.node);
  const namespaces = new Map<string, string>();
  for (const kind of ["net", "mnt", "pid", "uts"]) namespaces.set(kind, await readlink(`/proc/${String(plane.rootPid)}/ns/${kind}`));
  assert.notEqual(namespaces.get("net"), await readlink("/proc/self/ns/net"), "the cluster shares the host's network namespace");

  const kubectl = (args: string[], input?: string): ReturnType<typeof runCommand> =>
    runCommand(plane.kubectl, ["--kubeconfig", plane.kubeconfig, ...args], input === undefined ? {} : { input });
  const pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "web", namespace: "default" },
    spec: { containers: [{ name: "web", image: "localhost/elector/pause:dev" }] },
  };
  assert.equal((await kubectl(["apply", "-f", "-"], JSON.stringify(pod))).code, 0);
  await eventually(
    "the pod to run",
    async () => ((await kubectl(["get", "pod", "web", "-o", "jsonpath={.status.phase}"])).stdout === "Running" ? true : undefined),
    60_000,
  );
  assert.equal((await clusterFetch(plane, "http://127.0.0.1:10256/healthz")).status, 200);
  const cgroups = plane.node.cgroupsCreated;
  assert.ok(
    cgroups.some((c) => existsSync(join(c, "kubepods"))),
    `kubelet made no kubepods below its cgroup root ${plane.node.cgroupRoot}`,
  );

  await down(dir);
  assert.ok(!existsSync(dir), "the cluster's folder is left");
  for (const [kind, ns] of namespaces) assert.deepEqual(await processesIn(kind, ns), [], `processes left in the cluster's ${kind} namespace`);
  for (const c of cgroups) assert.ok(!existsSync(c), `cgroup ${c} is left`);
  const after = await hostState();
  for (const [what, value] of before) assert.equal(after.get(what), value, `${what} changed`);
  t.diagnostic(`checked ${String(before.size)} items of host state, ${String(cgroups.length)} cgroup folders, 4 namespaces`);
});
