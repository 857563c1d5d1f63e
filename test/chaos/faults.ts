/**
 * The faults the chaos harness injects, each as a real cluster would suffer it:
 * - pod-delete: `kubectl delete pod` (the kubelet's SIGTERM, then a new pod);
 * - crash: SIGKILL of the pod's election container, through the node's containerd;
 * - freeze: the pod's cgroup frozen (cgroup v1 freezer) and thawed later, as a stalled VM or a long
 *   GC pause would;
 * - partition: the pod cut off from the API server by packet filters inside its own network
 *   namespace (both directions, the `kubernetes` Service's address and the API server's), then
 *   reconnected;
 * - operator-crash: SIGKILL of an operator replica's container;
 * - apiserver-restart, etcd-restart, kubelet-restart: the component stopped and started again.
 * A lasting fault returns the step that heals it. Everything touched is the cluster's own: its
 * pods' cgroups (below the cluster's cgroup root), its pods' network namespaces, its components.
 */
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { adminGet, apiServerReady, restartApiServer, startComponent, stopComponent, type ControlPlane } from "../cluster/controlplane.ts";
import { NODE_IP, API_PORT } from "../cluster/node.ts";
import { kubectl, runCommand } from "../support/cluster.ts";
import { killContainer, type PodView } from "../support/node.ts";
import type { FaultKind } from "./schedule.ts";

export interface Victim {
  namespace: string;
  pod: PodView;
  container: string;
}

/** Undoes a lasting fault (a thaw, a reconnection). */
export type Heal = () => Promise<void>;

/** The pod's folder in the freezer hierarchy, found by its UID below the cluster's cgroup root. */
async function freezerFolder(plane: ControlPlane, uid: string): Promise<string> {
  const want = `pod${uid}`;
  const search = async (dir: string, depth: number): Promise<string | undefined> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries.filter((x) => x.isDirectory())) {
      if (e.name === want) return join(dir, e.name);
      const found = depth > 0 ? await search(join(dir, e.name), depth - 1) : undefined;
      if (found) return found;
    }
    return undefined;
  };
  const found = await search(join("/sys/fs/cgroup/freezer", plane.node?.cgroupRoot ?? "/nowhere", "kubepods"), 2);
  if (!found) throw new Error(`no freezer cgroup for pod ${uid}`);
  return found;
}

async function setFreezer(folder: string, state: "FROZEN" | "THAWED"): Promise<void> {
  await writeFile(join(folder, "freezer.state"), state);
  // The kernel reports FREEZING until every task has stopped.
  for (let i = 0; i < 100 && (await readFile(join(folder, "freezer.state"), "utf8")).trim() !== state; i++) await sleep(20);
}

/** A process of the pod (its sandbox's or a container's), as the host numbers it: the way into its network namespace. */
async function podProcess(folder: string): Promise<number> {
  const search = async (dir: string): Promise<number | undefined> => {
    const pid = Number((await readFile(join(dir, "cgroup.procs"), "utf8").catch(() => "")).split("\n")[0]);
    if (pid > 0) return pid;
    for (const e of (await readdir(dir, { withFileTypes: true })).filter((x) => x.isDirectory())) {
      const found = await search(join(dir, e.name));
      if (found) return found;
    }
    return undefined;
  };
  const pid = await search(folder);
  if (!pid) throw new Error(`no process in ${folder}`);
  return pid;
}

/** The packet filters of a partition: everything to and from the API server, by either address it has for pods. */
async function partitionRules(plane: ControlPlane): Promise<string[][]> {
  const service = JSON.parse((await adminGet(plane, "/api/v1/namespaces/default/services/kubernetes")).body) as { spec: { clusterIP: string } };
  return [
    [service.spec.clusterIP, "443"],
    [NODE_IP, String(API_PORT)],
  ].flatMap(([address = "", port = ""]) => [
    ["OUTPUT", "-d", address, "-p", "tcp", "--dport", port, "-j", "DROP"],
    ["INPUT", "-s", address, "-p", "tcp", "--sport", port, "-j", "DROP"],
  ]);
}

async function iptablesIn(pid: number, action: "-I" | "-D", rules: string[][]): Promise<void> {
  for (const [chain = "", ...rule] of rules) {
    const r = await runCommand("nsenter", [`--net=/proc/${String(pid)}/ns/net`, "iptables", "-w", action, chain, ...rule]);
    if (r.code !== 0 && action === "-I") throw new Error(`iptables ${action} ${chain} ${rule.join(" ")}: ${r.stderr}`);
  }
}

/**
 * Injects one fault. A pod fault needs its victim; a restart lasts `durationMs` and has healed when
 * this resolves; a freeze or a partition resolves once in place, with the step that heals it.
 */
export async function inject(plane: ControlPlane, kind: FaultKind, durationMs: number, victim?: Victim): Promise<Heal | undefined> {
  const need = (): Victim => {
    if (!victim) throw new Error(`${kind} needs a pod`);
    return victim;
  };
  switch (kind) {
    case "pod-delete": {
      const { pod, namespace } = need();
      const r = await kubectl(["delete", "pod", pod.name, "-n", namespace, "--wait=false"]);
      if (r.code !== 0) throw new Error(r.stderr);
      return undefined;
    }
    case "crash":
    case "operator-crash": {
      const { pod, container } = need();
      await killContainer(plane, pod, container);
      return undefined;
    }
    case "freeze": {
      const folder = await freezerFolder(plane, need().pod.uid);
      await setFreezer(folder, "FROZEN");
      return () => setFreezer(folder, "THAWED");
    }
    case "partition": {
      const pid = await podProcess(await freezerFolder(plane, need().pod.uid));
      const rules = await partitionRules(plane);
      await iptablesIn(pid, "-I", rules);
      // The pod may be gone by the time it is healed: its namespace, and the rules, with it.
      return () => iptablesIn(pid, "-D", rules);
    }
    case "apiserver-restart":
      await restartApiServer(plane, () => sleep(durationMs));
      return undefined;
    case "etcd-restart":
      await stopComponent(plane, "etcd");
      await sleep(durationMs);
      await startComponent(plane, "etcd");
      await apiServerReady(plane, "etcd's restart");
      return undefined;
    case "kubelet-restart":
      await stopComponent(plane, "kubelet");
      await sleep(durationMs);
      await startComponent(plane, "kubelet");
      return undefined;
  }
}
