/**
 * One chaos run on the node: the workloads (workloads.ts) in a namespace of their own, the
 * observer, then the schedule's faults one after another, each timed, and the judgement of what
 * the observer saw. The operator is the chart's (2 replicas), installed by stageReady.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { ControlPlane } from "../cluster/controlplane.ts";
import type { KubeClient } from "../../src/kube/client.ts";
import { eventually, kubectl } from "../support/cluster.ts";
import { applyObjects, example, OPERATOR_NAMESPACE, pods, rolledOut, serviceIp, type PodView } from "../support/node.ts";
import { inject, type Victim } from "./faults.ts";
import { Observer, ROUTED_SERVICES } from "./observer.ts";
import { schedule, type PlannedFault } from "./schedule.ts";
import { judge, type FaultRecord, type Observations, type Verdict } from "./verdict.ts";
import { ELECTION_CONTAINER, LEASE_MS, storeObjects, workloadObjects } from "./workloads.ts";

export interface ChaosOptions {
  faults: number;
  seed: number;
  namespace: string;
  log: (line: string) => void;
}

export interface ChaosRun {
  seed: number;
  faults: FaultRecord[];
  observed: Observations;
  verdict: Verdict;
  /** Restarts of the operator's containers during the run: the operator-crash faults, and replicas that exited on losing their own Lease. */
  operatorRestarts: number;
  /** From the last fault's end until everything agreed; undefined if not within the lease plus FINAL_SLACK_MS. */
  finalConvergenceMs: number | undefined;
  durationMs: number;
}

const OPERATOR_PODS = "app.kubernetes.io/name=elector,app.kubernetes.io/component=operator";
/** After the last fault everything must agree within one lease plus this. */
export const FINAL_SLACK_MS = 10_000;
/** How long the harness waits for a fault to settle before it goes on regardless. */
const SETTLE_WAIT_MS = LEASE_MS + 20_000;

/** The pod a planned fault hits, decided now: the Lease's holder, or a member by index; undefined when there is none to hit. */
function pickVictim(observer: Observer, planned: PlannedFault, namespace: string, operators: PodView[]): Victim | undefined {
  if (planned.kind === "operator-crash") {
    // Only a ready replica: one whose container was just killed still names the dead container until it has restarted.
    const pod = operators.filter((p) => p.ready)[typeof planned.target === "number" ? planned.target % 2 : 0];
    return pod ? { namespace: OPERATOR_NAMESPACE, pod, container: "operator" } : undefined;
  }
  if (!planned.workload) return undefined;
  const members = observer.members(planned.workload).filter((p) => !p.deleting && p.containers.some((c) => c.id !== ""));
  const holder = observer.holder(planned.workload)?.holder;
  const pod = planned.target === "leader" ? members.find((p) => p.name === holder) : members[planned.target % Math.max(1, members.length)];
  return pod ? { namespace, pod, container: ELECTION_CONTAINER[planned.workload] } : undefined;
}

export async function runChaos(plane: ControlPlane, client: KubeClient, o: ChaosOptions): Promise<ChaosRun> {
  const began = Date.now();
  await applyObjects(o.namespace, [...(await example("rbac.yaml")), ...storeObjects()]);
  const store = `http://${await serviceIp(o.namespace, "store")}`;
  await applyObjects(o.namespace, workloadObjects(store));
  for (const w of ["deployment/store", "deployment/fenced", "statefulset/wrapped", "deployment/mixed-elector", "deployment/mixed-client-go"]) {
    await rolledOut(o.namespace, w, "180s");
  }
  const urls = Object.fromEntries(await Promise.all(ROUTED_SERVICES.map(async (s) => [s, `http://${await serviceIp(o.namespace, s)}/`] as const)));
  const observer = new Observer(client, plane, o.namespace, store, urls, `http://${await serviceIp("default", "kubernetes")}:443/`);
  observer.start();
  const watching = Date.now();
  const first = await observer.settled(LEASE_MS, watching, 120_000);
  if (first === undefined) throw new Error(`the workloads did not settle before the first fault: ${observer.unsettled(LEASE_MS, watching).join("; ")}`);
  o.log(`settled; ${String(o.faults)} faults from seed ${String(o.seed)}`);

  const restartsBefore = await operatorRestarts();
  const faults: FaultRecord[] = [];
  for (const [i, planned] of schedule(o.faults, o.seed, LEASE_MS).entries()) {
    const operators = planned.kind === "operator-crash" ? await pods(OPERATOR_NAMESPACE, OPERATOR_PODS) : [];
    const victim = pickVictim(observer, planned, o.namespace, operators);
    if ((planned.workload || planned.kind === "operator-crash") && !victim) {
      o.log(`fault ${String(i + 1)}: ${planned.kind} has no pod to hit now; skipped`);
      continue;
    }
    const wasHolder = planned.workload !== undefined && victim?.pod.name === observer.holder(planned.workload)?.holder;
    const start = Date.now();
    if (victim && (planned.kind === "freeze" || planned.kind === "partition")) observer.impaired.add(victim.pod.name);
    // The pod may have gone between the pick and the fault (its container restarted, the pod
    // replaced): such a fault did not happen, and is said and left out.
    const heal = await inject(plane, planned.kind, planned.durationMs, victim).catch((err: unknown) => {
      if (!victim) throw err;
      return err instanceof Error ? err : new Error(String(err));
    });
    if (heal instanceof Error) {
      if (victim) observer.impaired.delete(victim.pod.name);
      o.log(`fault ${String(i + 1)}: ${planned.kind} on ${victim?.pod.name ?? ""} could not be made (${heal.message.split("\n")[0] ?? ""}); skipped`);
      continue;
    }
    try {
      if (heal) await sleep(planned.durationMs - (Date.now() - start));
    } finally {
      await heal?.();
    }
    if (victim) observer.impaired.delete(victim.pod.name);
    const record: FaultRecord = {
      kind: planned.kind,
      ...(planned.workload ? { workload: planned.workload } : {}),
      ...(victim ? { victim: victim.pod.name } : {}),
      wasHolder,
      start,
      end: Date.now(),
    };
    faults.push(record);
    if (planned.awaitConvergence) {
      const took = await observer.settled(LEASE_MS, record.end, SETTLE_WAIT_MS);
      if (took !== undefined) record.convergedMs = took;
    }
    const what = `${planned.kind}${planned.workload ? ` ${planned.workload}` : ""}${victim ? ` ${victim.pod.name}${wasHolder ? " (leader)" : ""}` : ""}`;
    o.log(`fault ${String(i + 1)}/${String(o.faults)}: ${what}${record.convergedMs === undefined ? "" : `, settled ${String(record.convergedMs)} ms after`}`);
    await sleep(planned.pauseMs);
  }

  const last = faults.at(-1)?.end ?? Date.now();
  const finalConvergenceMs = await observer.settled(LEASE_MS, last, LEASE_MS + FINAL_SLACK_MS);
  if (finalConvergenceMs === undefined) o.log(`not settled after the last fault: ${observer.unsettled(LEASE_MS, last).join("; ")}`);
  const observed = await observer.stop();
  return {
    seed: o.seed,
    faults,
    observed,
    verdict: judge(observed, faults, LEASE_MS),
    operatorRestarts: (await operatorRestarts()) - restartsBefore,
    finalConvergenceMs,
    durationMs: Date.now() - began,
  };
}

async function operatorRestarts(): Promise<number> {
  return (await pods(OPERATOR_NAMESPACE, OPERATOR_PODS)).reduce((sum, p) => sum + p.containers.reduce((n, c) => n + c.restarts, 0), 0);
}

/** Every Election, Lease and pod of the run, for a failure's message. */
export async function chaosObjects(namespace: string): Promise<string> {
  const r = await kubectl(["get", "elections,leases,pods", "-n", namespace, "-o", "wide"]);
  return r.stdout + r.stderr;
}

/** Waits until the operator's replicas are ready again after the run's operator crashes: a check of its own, and what any later run needs. */
export async function operatorsBack(): Promise<void> {
  await eventually(
    "the operator's replicas ready",
    async () => ((await pods(OPERATOR_NAMESPACE, OPERATOR_PODS)).every((p) => p.ready) ? true : undefined),
    120_000,
  );
}
