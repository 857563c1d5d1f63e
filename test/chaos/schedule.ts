/**
 * The chaos harness's schedule: which faults, in which order, how long each lasts and how long
 * the harness waits after it, all drawn from one seed, so that a run is replayed by its seed. What
 * a fault hits (which pod leads at that moment) is decided when it is injected; the rule that picks
 * it (the leader, or the n-th member by name) is part of the schedule.
 */
import { Random } from "../support/random.ts";

export const FAULT_KINDS = ["pod-delete", "crash", "freeze", "partition", "operator-crash", "apiserver-restart", "etcd-restart", "kubelet-restart"] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Faults that hit one pod of a workload. */
export const POD_FAULTS: readonly FaultKind[] = ["pod-delete", "crash", "freeze", "partition"];

/** The workloads a pod fault may hit (test/chaos/workloads.ts). */
export const WORKLOADS = ["fenced", "wrapped", "mixed"] as const;
export type Workload = (typeof WORKLOADS)[number];

/** How often each kind is drawn: a pod fault twice as often as a fault of the cluster's own parts. */
const WEIGHTS: Record<FaultKind, number> = {
  "pod-delete": 2,
  crash: 2,
  freeze: 2,
  partition: 2,
  "operator-crash": 1,
  "apiserver-restart": 1,
  "etcd-restart": 1,
  "kubelet-restart": 1,
};

export interface PlannedFault {
  kind: FaultKind;
  /** For pod faults: the workload hit. */
  workload?: Workload;
  /** For pod faults and operator crashes: the leading pod, or the member at this index (by name, modulo their number). */
  target: "leader" | number;
  /** How long a freeze, a partition or a component's stop lasts; 0 for instant faults. */
  durationMs: number;
  /** Whether the harness waits for everything to converge after this fault (else the next one comes while it may not have). */
  awaitConvergence: boolean;
  /** The pause after the fault (and the convergence, when awaited) before the next one. */
  pauseMs: number;
}

/**
 * `count` faults from `seed`. A freeze or a partition lasts longer than the lease (1–3 s more), as
 * the issue asks: long enough for another pod to take over. A component stays down 1–4 s.
 */
export function schedule(count: number, seed: number, leaseMs: number): PlannedFault[] {
  const random = new Random(seed);
  const between = (low: number, high: number): number => Math.round(low + random.next() * (high - low));
  const total = FAULT_KINDS.reduce((sum, k) => sum + WEIGHTS[k], 0);
  const pickKind = (): FaultKind => {
    let r = random.next() * total;
    for (const kind of FAULT_KINDS) {
      r -= WEIGHTS[kind];
      if (r < 0) return kind;
    }
    return FAULT_KINDS[0];
  };
  return Array.from({ length: count }, (): PlannedFault => {
    const kind = pickKind();
    const workload = POD_FAULTS.includes(kind) ? random.pick(WORKLOADS) : undefined;
    const target = random.chance(0.6) ? "leader" : random.below(4);
    const durationMs = kind === "freeze" || kind === "partition" ? leaseMs + between(1000, 3000) : kind.endsWith("-restart") ? between(1000, 4000) : 0;
    return {
      kind,
      ...(workload ? { workload } : {}),
      target,
      durationMs,
      // One fault in four comes without waiting for the last to settle: faults then pile up.
      awaitConvergence: !random.chance(0.25),
      pauseMs: between(300, 2000),
    };
  });
}
