/**
 * `make demo`: elector end to end on a real local cluster, in one command. On a machine that can
 * run the node it builds elector's image from the Dockerfile, brings the cluster up with it,
 * installs the chart and deploys a small application whose pods carry the agent (demo/pods.ts);
 * elsewhere it says why in one line and shows agents as processes posing as pods (demo/processes.ts).
 * Then it ends the leader's term every few seconds, gracefully and by a crash in turn, showing who
 * leads, the `kubectl get elections -o wide` row, where the Services route (with a node: which pod
 * answers the requests sent to them), and how long each handover took.
 *
 * On a terminal the view is redrawn in place; otherwise every change is printed as a line. Ctrl-C
 * stops it at any moment. It always removes its namespace and processes, and stops the cluster if
 * it started it. Options: --rounds N (default 6; 0 runs until Ctrl-C), --no-node (the processes).
 */
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { KubeClient } from "../src/kube/client.ts";
import { loadConnection } from "../src/kube/kubeconfig.ts";
import { DEFAULT_CLUSTER_DIR, down, nodeDefault, status } from "../test/cluster/controlplane.ts";
import { buildElectorImage, importImage } from "../test/cluster/images.ts";
import { createNamespace, eventually, kubectl, testCluster } from "../test/support/cluster.ts";
import { nextLeaseEvent } from "../test/support/lease.ts";
import { installCrd } from "../test/support/operator.ts";
import type { Cast } from "./demo/cast.ts";
import { podCast } from "./demo/pods.ts";
import { processCast } from "./demo/processes.ts";

const { values } = parseArgs({ options: { rounds: { type: "string", default: "6" }, "no-node": { type: "boolean", default: false } } });
const ROUNDS = Number(values.rounds);
/** How long the view rests on a settled leader before the next fault. */
const PAUSE_MS = 4000;
const live = process.stdout.isTTY;

/** What the view shows; each refresh replaces all of it at once, so a frame is never half old. */
interface Snapshot {
  /** Each pod's line. */
  pods: [string, string][];
  electionRow: string;
  route: string;
  /** The one pod that says it leads while every route points at it, if there is one. */
  routedLeader: string | undefined;
  /** When this look began (performance.now()). */
  takenAt: number;
}

interface View extends Snapshot {
  cast: Cast;
  history: string[];
  handovers: { fault: string; crash: boolean; ms: number; routedMs?: number }[];
}

const started = performance.now();
const clock = (): string => {
  const s = Math.floor((performance.now() - started) / 1000);
  return `${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
};

function say(view: View, line: string): void {
  view.history.push(`${clock()}  ${line}`);
  if (!live) console.log(`${clock()}  ${line}`);
}

function draw(view: View): void {
  if (!live) return;
  const width = Math.max(6, ...view.pods.map(([pod]) => pod.length));
  const screen = [
    `elector demo: namespace ${view.cast.namespace}, ${view.cast.timing}        Ctrl-C stops it`,
    "",
    `  ${"pod".padEnd(width)} agent (GET /)`,
    ...view.pods.map(([pod, answer]) => `  ${pod.padEnd(width)} ${answer}`),
    "",
    `  $ kubectl get elections -n ${view.cast.namespace} -o wide`,
    ...view.electionRow.split("\n").map((l) => `  ${l}`),
    "",
    `  ${view.route}`,
    "",
    "  what happened:",
    ...view.history.slice(-12).map((l) => `  ${l}`),
  ];
  process.stdout.write(`\x1b[H\x1b[2J${screen.join("\n")}\n`);
}

/** Looks at everything the view shows: the cast's pods and routes, and the Election's row. */
async function snapshot(cast: Cast): Promise<Snapshot> {
  const takenAt = performance.now();
  const [look, row] = await Promise.all([cast.look(), kubectl(["get", "elections", "-n", cast.namespace, "-o", "wide"])]);
  return { ...look, electionRow: row.code === 0 ? row.stdout.trim() : "(no Election yet)", takenAt };
}

const seconds = (ms: number): string => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`);

async function main(): Promise<number> {
  const usingTestCluster = process.env.ELECTOR_TEST_CLUSTER_DIR !== undefined;
  const node = nodeDefault();
  const withNode = node.node && !values["no-node"];
  if (!node.node) console.error(`no node: ${node.why ?? ""}; the demo shows agents as processes posing as pods instead`);
  const wasUp = usingTestCluster || (await status(DEFAULT_CLUSTER_DIR)).healthy;
  if (!wasUp) console.error("starting a local cluster (the first time, this builds it from Go modules: about 12 minutes)");
  // Built before the cluster starts, so that a new node has it from the first moment; `npm test` built it already.
  const image = withNode && !usingTestCluster ? await buildElectorImage(console.error) : undefined;
  const cluster = await testCluster();
  const { plane, kc } = cluster;
  if (image && plane.node) await importImage(plane.node.containerdSocket, image);
  const client = new KubeClient(loadConnection(plane.kubeconfig));
  await installCrd();
  const namespace = await createNamespace(kc, "elector-demo");
  const cast = withNode && plane.node ? podCast(cluster, namespace) : processCast(cluster, namespace);
  const view: View = { cast, pods: [], electionRow: "", route: "", routedLeader: undefined, takenAt: 0, history: [], handovers: [] };
  const stopping = new AbortController();
  // A function, not the property: TypeScript would take it for unchanged within one loop pass.
  const stopped = (): boolean => stopping.signal.aborted;
  const onInterrupt = (): void => {
    if (stopped()) process.exit(130);
    stopping.abort();
  };
  process.on("SIGINT", onInterrupt);
  process.on("SIGTERM", onInterrupt);
  // One refresher, never two at once: each frame is one consistent look.
  const refreshing = new AbortController();
  const refresh = async (): Promise<void> => {
    const next = await snapshot(cast);
    // Without a terminal, a line only when NAME, LEADER, TRANSITIONS or READY change, not AGE.
    const meaning = (row: string): string =>
      row
        .split("\n")
        .map((l) => l.split(/\s+/).slice(0, 4).join(" "))
        .join("\n");
    if (!live && meaning(next.electionRow) !== meaning(view.electionRow)) console.log(next.electionRow);
    Object.assign(view, next);
    draw(view);
  };
  const refresher = (async () => {
    while (!refreshing.signal.aborted) {
      await refresh().catch(() => undefined);
      await sleep(250, undefined, { signal: refreshing.signal }).catch(() => undefined);
    }
  })();
  try {
    say(view, `namespace ${namespace}: ${cast.scene}`);
    await cast.setUp();
    say(view, "applied Election db: label the leader leader=true, keep a Service's EndpointSlice on it");

    for (let round = 1; (ROUNDS === 0 || round <= ROUNDS) && !stopped(); round++) {
      // Only a look begun now counts: an older one may name a leader that has since been replaced.
      const since = performance.now();
      const leader = await eventually("one leader, routed", () => Promise.resolve(view.takenAt > since ? view.routedLeader : undefined), 120_000);
      say(view, `${leader} leads, carries the label, and the Service routes to it`);
      await sleep(PAUSE_MS, undefined, { signal: stopping.signal }).catch(() => undefined);
      if (stopped()) break;
      const fault = cast.faults[(round - 1) % cast.faults.length];
      if (!fault) break;
      const lease = await client.request<{ spec?: { leaseTransitions?: number } }>(
        "GET",
        `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${cast.lease}`,
        { timeoutMs: 10_000 },
      );
      const before = lease.spec?.leaseTransitions ?? 0;
      const next = nextLeaseEvent(client, namespace, cast.lease, (e) => e.holder !== "" && e.transitions > before);
      const sent = performance.now();
      await cast.inflict(fault, leader);
      say(view, `${fault.name} on the leader ${leader} (${fault.explain})`);
      const { holder, at } = await next;
      let routed = "";
      let routedMs: number | undefined;
      if (cast.servedBy) {
        await cast.servedBy(holder, 60_000);
        routedMs = performance.now() - sent;
        routed = `; both Services answer from it ${seconds(routedMs)} after the fault`;
      }
      view.handovers.push({ fault: fault.name, crash: fault.crash, ms: at - sent, ...(routedMs === undefined ? {} : { routedMs }) });
      say(view, `${holder} leads ${seconds(at - sent)} after the ${fault.name}${routed}`);
      await cast.recover?.(leader);
    }
    const end = performance.now();
    if (!stopped()) await eventually("the last leader, routed", () => Promise.resolve(view.takenAt > end ? view.routedLeader : undefined), 120_000);
    say(view, stopped() ? "stopped by Ctrl-C; cleaning up" : "done; cleaning up");
    await refresh();
    return 0;
  } finally {
    refreshing.abort();
    await refresher;
    process.off("SIGINT", onInterrupt);
    process.off("SIGTERM", onInterrupt);
    await cast.tearDown();
    await client.request("DELETE", `/api/v1/namespaces/${namespace}`, { timeoutMs: 10_000 }).catch(() => undefined);
    if (!wasUp) {
      console.error("stopping the cluster the demo started");
      await down(DEFAULT_CLUSTER_DIR);
    }
    console.log(summary(view.handovers));
  }
}

/** What stays on the screen afterwards: the handover times, by kind of fault. */
function summary(handovers: View["handovers"]): string {
  const kinds = [...new Map(handovers.map((h) => [h.fault, h.crash])).entries()];
  return [
    "handovers measured (fault → the Lease names the next term's holder; → the Services answer from it):",
    ...kinds.map(([fault, crash]) => {
      const times = handovers
        .filter((h) => h.fault === fault)
        .map((h) => (h.routedMs === undefined ? seconds(h.ms) : `${seconds(h.ms)} → ${seconds(h.routedMs)}`));
      const how = crash ? " (the 4 s lease has to run out, counted from the last renewal, at most 1 s before)" : ", the leader releases the lease";
      return `  ${fault}${how}:  ${times.join(", ")}`;
    }),
  ].join("\n");
}

process.exitCode = await main();
