/**
 * `make demo`: elector end to end on a real local control plane, in one command. It builds or
 * reuses the control plane, installs the CRD, starts the operator and three agents posing as the
 * pods db-0, db-1 and db-2 of a small database, applies an Election that labels the leader and
 * keeps a selector-less Service's EndpointSlice on it, and then kills the leader every few seconds,
 * SIGTERM (a graceful handover) and SIGKILL (a crash) in turn, showing who leads, the
 * `kubectl get elections -o wide` row, where the Service routes, and how long each handover took.
 *
 * On a terminal the view is redrawn in place; otherwise every change is printed as a line. Ctrl-C
 * stops it at any moment. It always removes its namespace and processes, and stops the control
 * plane if it started it. Options: --rounds N (default 6; 0 runs until Ctrl-C).
 */
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { KubeClient } from "../src/kube/client.ts";
import { loadConnection } from "../src/kube/kubeconfig.ts";
import { DEFAULT_CLUSTER_DIR, down, status } from "../test/cluster/controlplane.ts";
import { FAST, launchAgent, type Agent } from "../test/support/agents.ts";
import { createNamespace, eventually, kubectl, testCluster } from "../test/support/cluster.ts";
import { apply, createPod, installCrd, launchOperator, labelled, sliceAddresses, type RunningOperator } from "../test/support/operator.ts";

const { values } = parseArgs({ options: { rounds: { type: "string", default: "6" } } });
const ROUNDS = Number(values.rounds);
const PODS = [
  ["db-0", "10.1.0.10"],
  ["db-1", "10.1.0.11"],
  ["db-2", "10.1.0.12"],
] as const;
/** How long the view rests on a settled leader before the next kill. */
const PAUSE_MS = 4000;
const live = process.stdout.isTTY;

/** What the view shows; each refresh replaces all of it at once, so a frame is never half old. */
interface Snapshot {
  /** Each agent's answer to GET /, by pod. */
  agents: [string, string][];
  electionRow: string;
  route: string;
  /** The one agent that says it leads while the label and the slice are on it, if there is one. */
  routedLeader: string | undefined;
  /** When this look began (performance.now()). */
  takenAt: number;
}

interface View extends Snapshot {
  namespace: string;
  history: string[];
  handovers: { signal: string; ms: number }[];
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
  const screen = [
    `elector demo: namespace ${view.namespace}, lease 4s / renew 3s / retry 1s        Ctrl-C stops it`,
    "",
    "  pod    agent (GET /)",
    ...view.agents.map(([id, answer]) => `  ${id.padEnd(6)} ${answer}`),
    "",
    `  $ kubectl get elections -n ${view.namespace} -o wide`,
    ...view.electionRow.split("\n").map((l) => `  ${l}`),
    "",
    `  Service db routes to: ${view.route}`,
    "",
    "  what happened:",
    ...view.history.slice(-12).map((l) => `  ${l}`),
  ];
  process.stdout.write(`\x1b[H\x1b[2J${screen.join("\n")}\n`);
}

/** Looks at everything the view shows: each agent's answer, the Election's row, the routing. */
async function snapshot(namespace: string, agents: Map<string, Agent | undefined>): Promise<Snapshot> {
  const takenAt = performance.now();
  const answers = await Promise.all(
    [...agents].map(async ([id, agent]): Promise<[string, string, boolean]> => {
      const s = agent?.running ? await agent.status() : undefined;
      const answer = !agent?.running ? "(restarting)" : s ? `${s.is_leader ? "LEADER  " : "follower"}  leader=${s.leader || "-"}  fencing_token=${s.fencing_token ?? "-"}` : "(starting)";
      return [id, answer, s?.is_leader ?? false];
    }),
  );
  const [row, labels, slice] = await Promise.all([kubectl(["get", "elections", "-n", namespace, "-o", "wide"]), labelled(namespace, "leader", "true"), sliceAddresses(namespace, "db")]);
  const leaders = answers.filter(([, , leads]) => leads).map(([id]) => id);
  const leaderIp = new Map<string, string>(PODS).get(leaders[0] ?? "");
  const routed = leaders.length === 1 && labels.join() === leaders[0] && slice.join() === leaderIp;
  return {
    agents: answers.map(([id, answer]) => [id, answer]),
    electionRow: row.code === 0 ? row.stdout.trim() : "(no Election yet)",
    route: `pod label leader=true on ${labels.join(", ") || "none"}; EndpointSlice ${slice.join(", ") || "empty"}`,
    routedLeader: routed ? leaders[0] : undefined,
    takenAt,
  };
}

/** Resolves with the moment the Lease names a holder other than `from`. */
function nextHolder(client: KubeClient, namespace: string, from: string): Promise<{ holder: string; at: number }> {
  return new Promise((resolve) => {
    const stop = client.watch<{ spec?: { holderIdentity?: string } }>(`/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`, { fieldSelector: "metadata.name=db" }, {
      onConnected: () => undefined,
      onEvent: (_type, lease) => {
        const holder = lease.spec?.holderIdentity ?? "";
        if (holder !== "" && holder !== from) {
          stop();
          resolve({ holder, at: performance.now() });
        }
      },
      onClosed: () => undefined,
    });
  });
}

async function main(): Promise<number> {
  const usingTestCluster = process.env.ELECTOR_TEST_CLUSTER_DIR !== undefined;
  const wasUp = usingTestCluster || (await status(DEFAULT_CLUSTER_DIR)).healthy;
  if (!wasUp) console.error("starting a local control plane (the first time, this builds it from Go modules: about 12 minutes)");
  const { plane, kc } = await testCluster();
  const client = new KubeClient(loadConnection(plane.kubeconfig));
  await installCrd();
  const namespace = await createNamespace(kc, "elector-demo");
  const agents = new Map<string, Agent | undefined>();
  const view: View = { namespace, agents: [], electionRow: "", route: "", routedLeader: undefined, takenAt: 0, history: [], handovers: [] };
  let operator: RunningOperator | undefined;
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
    const next = await snapshot(namespace, agents);
    // Without a terminal, a line only when NAME, LEADER, TRANSITIONS or READY change, not AGE.
    const meaning = (row: string): string => row.split("\n").map((l) => l.split(/\s+/).slice(0, 4).join(" ")).join("\n");
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
  const start = (id: string): Promise<Agent> => launchAgent({ namespace, election: "db", id, kubeconfig: plane.kubeconfig, args: FAST, logLevel: "warn" });
  try {
    say(view, `namespace ${namespace}: Service db (no selector), pods db-0..db-2 with IPs, the operator, three agents`);
    await apply(namespace, { apiVersion: "v1", kind: "Service", metadata: { name: "db" }, spec: { ports: [{ name: "sql", port: 5432, targetPort: "pg" }] } });
    for (const [name, ip] of PODS) await createPod(namespace, name, { app: "db" }, ip);
    operator = await launchOperator(plane.kubeconfig, namespace, [], "info");
    for (const [id] of PODS) agents.set(id, await start(id));
    await apply(namespace, {
      apiVersion: "elector.dev/v1alpha1",
      kind: "Election",
      metadata: { name: "db" },
      spec: { candidates: { selector: { matchLabels: { app: "db" } } }, leaderLabel: {}, service: { name: "db" } },
    });
    say(view, "applied Election db: label the leader leader=true, keep Service db's EndpointSlice on it");

    for (let round = 1; (ROUNDS === 0 || round <= ROUNDS) && !stopped(); round++) {
      // Only a look begun now counts: an older one may name a leader that has since been replaced.
      const since = performance.now();
      const leader = await eventually("one leader, routed", () => Promise.resolve(view.takenAt > since ? agents.get(view.routedLeader ?? "") : undefined));
      say(view, `${leader.id} leads, carries the label, and the Service routes to it`);
      await sleep(PAUSE_MS, undefined, { signal: stopping.signal }).catch(() => undefined);
      if (stopped()) break;
      const signal = round % 2 === 1 ? "SIGTERM" : "SIGKILL";
      const next = nextHolder(client, namespace, leader.id);
      const sent = performance.now();
      leader.kill(signal);
      say(view, `${signal} to the leader ${leader.id}${signal === "SIGKILL" ? " (a crash: nobody releases the lease, so it has to run out)" : " (it releases the lease on the way out)"}`);
      const { holder, at } = await next;
      const took = at - sent;
      view.handovers.push({ signal, ms: took });
      say(view, `${holder} leads ${took >= 1000 ? `${(took / 1000).toFixed(2)} s` : `${took.toFixed(0)} ms`} after the ${signal}`);
      await leader.exited;
      leader.dispose();
      agents.set(leader.id, undefined);
      agents.set(leader.id, await start(leader.id));
    }
    const end = performance.now();
    if (!stopped()) await eventually("the last leader, routed", () => Promise.resolve(view.takenAt > end ? view.routedLeader : undefined));
    say(view, stopped() ? "stopped by Ctrl-C; cleaning up" : "done; cleaning up");
    await refresh();
    return 0;
  } finally {
    refreshing.abort();
    await refresher;
    process.off("SIGINT", onInterrupt);
    process.off("SIGTERM", onInterrupt);
    for (const agent of agents.values()) agent?.dispose();
    // While the operator still runs: it takes the label and the slice away and lets the Election go.
    if (operator) await kubectl(["delete", "election", "db", "-n", namespace, "--ignore-not-found", "--wait=true", "--timeout=20s"]);
    operator?.process.kill("SIGTERM");
    await Promise.race([operator?.process.exited, sleep(10_000)]);
    operator?.process.dispose();
    await client.request("DELETE", `/api/v1/namespaces/${namespace}`, { timeoutMs: 10_000 }).catch(() => undefined);
    if (!wasUp) {
      console.error("stopping the control plane the demo started");
      await down(DEFAULT_CLUSTER_DIR);
    }
    console.log(summary(view.handovers));
  }
}

/** What stays on the screen afterwards: the handover times, by kind. */
function summary(handovers: View["handovers"]): string {
  const times = (signal: string, format: (ms: number) => string): string => handovers.filter((h) => h.signal === signal).map((h) => format(h.ms)).join(", ") || "none";
  return [
    "handovers measured (signal sent → the Lease names another holder):",
    `  SIGTERM, the leader releases the lease:  ${times("SIGTERM", (ms) => `${ms.toFixed(0)} ms`)}`,
    `  SIGKILL, the lease has to run out (4 s, counted from the last renewal, at most 1 s before the kill):  ${times("SIGKILL", (ms) => `${(ms / 1000).toFixed(2)} s`)}`,
  ].join("\n");
}

process.exitCode = await main();
