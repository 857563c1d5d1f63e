/**
 * The operator's Prometheus metrics, under the names dashboards already use: controller-runtime's
 * reconcile and workqueue families, client-go's leader-election and REST-client families, and per
 * Election, kube-state-metrics style series (`elector_election_*`: an info series, one series per
 * condition and status, counters as `_total`). Per-Election series come from the leader only: a
 * standby's cache is empty.
 */
import type { KubeClient } from "../kube/client.ts";
import { leaderElectionFamilies, restClientRequests, type LeaderElectionState } from "../metrics/clientgo.ts";
import { reconcileFamilies, RECONCILE_BUCKETS, workqueueFamilies, type ReconcileResult, type ReconcileStats } from "../metrics/controllerruntime.ts";
import { Histogram, processFamilies, render, type Family, type Sample } from "../metrics/exposition.ts";
import type { Election } from "./election.ts";
import type { WorkQueue } from "./queue.ts";

/** The controller's name in controller_runtime_* and workqueue_* series. */
export const CONTROLLER = "election";

export interface OperatorMetricsSources {
  client: Pick<KubeClient, "host" | "requests">;
  queue: WorkQueue;
  workers: number;
  elections: () => Election[];
  /** The operator's own Lease and its elector's state (whether this replica holds it); undefined without --leader-elect. */
  leadership?: () => { lease: string; state: LeaderElectionState };
}

export class OperatorMetrics {
  private readonly sources: OperatorMetricsSources;
  private readonly reconciles: ReconcileStats;

  constructor(sources: OperatorMetricsSources) {
    this.sources = sources;
    this.reconciles = {
      results: { success: 0, error: 0, requeue_after: 0 },
      time: new Histogram(RECONCILE_BUCKETS),
      workers: sources.workers,
      activeWorkers: 0,
    };
  }

  started(): void {
    this.reconciles.activeWorkers++;
  }

  reconciled(result: ReconcileResult, seconds: number): void {
    this.reconciles.activeWorkers--;
    this.reconciles.results[result]++;
    this.reconciles.time.observe(seconds);
  }

  scrape(): string {
    const { client, queue, leadership, elections } = this.sources;
    const leader = leadership?.();
    return render([
      ...reconcileFamilies(CONTROLLER, this.reconciles),
      ...workqueueFamilies(CONTROLLER, queue.stats()),
      ...(leader ? leaderElectionFamilies(leader.lease, leader.state) : []),
      restClientRequests(client.host, client.requests),
      ...((leader?.state.isLeader ?? true) ? electionFamilies(elections()) : []),
      ...processFamilies(),
    ]);
  }
}

const CONDITIONS = ["LeaderElected", "Routed", "Ready", "HandoverFailed"] as const;
const STATUSES = ["true", "false", "unknown"] as const;

/** kube-state-metrics' shape: `_info` carries the names, each condition is three 0/1 series, timestamps in seconds. */
export function electionFamilies(elections: Election[]): Family[] {
  const of = (e: Election): Record<string, string> => ({ namespace: e.metadata.namespace, election: e.metadata.name });
  const each = (value: (e: Election) => number | undefined): Sample[] =>
    elections.flatMap((e) => {
      const v = value(e);
      return v === undefined ? [] : [{ labels: of(e), value: v }];
    });
  const seconds = (time: string | undefined): number | undefined => (time ? Date.parse(time) / 1000 : undefined);
  return [
    {
      name: "elector_election_info",
      help: "Information about an Election: its Lease and current leader (empty when none).",
      type: "gauge",
      samples: elections.map((e) => ({ labels: { ...of(e), lease: e.spec.leaseName ?? e.metadata.name, leader: e.status?.leader ?? "" }, value: 1 })),
    },
    {
      name: "elector_election_created",
      help: "Unix creation timestamp of the Election.",
      type: "gauge",
      // A string as the API sends it (client-node's type says Date).
      samples: each((e) => seconds(e.metadata.creationTimestamp ? String(e.metadata.creationTimestamp) : undefined)),
    },
    {
      name: "elector_election_status_condition",
      help: "The condition of an Election: 1 for the status it has, 0 for the others.",
      type: "gauge",
      samples: elections.flatMap((e) =>
        CONDITIONS.flatMap((condition) => {
          const c = e.status?.conditions?.find((x) => x.type === condition);
          if (!c) return [];
          return STATUSES.map((status) => ({ labels: { ...of(e), condition, status }, value: c.status.toLowerCase() === status ? 1 : 0 }));
        }),
      ),
    },
    {
      name: "elector_election_status_condition_last_transition_time",
      help: "Unix timestamp of the last time an Election's condition changed status.",
      type: "gauge",
      samples: elections.flatMap((e) =>
        (e.status?.conditions ?? []).map((c) => ({ labels: { ...of(e), condition: c.type }, value: Date.parse(c.lastTransitionTime) / 1000 })),
      ),
    },
    {
      name: "elector_election_transitions_total",
      help: "The Election's Lease leaseTransitions: how often leadership changed hands, and the current leader's fencing token.",
      type: "counter",
      samples: each((e) => e.status?.transitions),
    },
    {
      name: "elector_election_lease_duration_seconds",
      help: "The Lease's leaseDurationSeconds: how long a silent leader keeps it.",
      type: "gauge",
      samples: each((e) => e.status?.leaseDurationSeconds),
    },
    { name: "elector_election_candidates", help: "Pods selected by candidates.selector.", type: "gauge", samples: each((e) => e.status?.candidates?.total) },
    {
      name: "elector_election_candidates_ready",
      help: "Candidate pods that are ready and not terminating.",
      type: "gauge",
      samples: each((e) => e.status?.candidates?.ready),
    },
  ];
}
