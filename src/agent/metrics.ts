/**
 * The agent's Prometheus metrics: client-go's leader election metrics under their names, so
 * existing dashboards and alerts keep working, plus elector's own and Node's process metrics.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from "prom-client";
import type { ElectorStatus } from "../election/elector.ts";

export function agentMetrics(election: string, status: () => ElectorStatus): { registry: Registry; leaderChanged: () => void } {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const labels = { name: election };

  new Gauge({
    name: "leader_election_master_status",
    help: "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master. 'name' is the string used to identify the lease.",
    labelNames: ["name"],
    registers: [registry],
    collect() {
      this.set(labels, status().isLeader ? 1 : 0);
    },
  });
  let reportedSlowpath = 0;
  new Counter({
    name: "leader_election_slowpath_total",
    help: "Total number of slow path exercised in renewing leader leases. 'name' is the string used to identify the lease.",
    labelNames: ["name"],
    registers: [registry],
    collect() {
      const total = status().slowpathTotal;
      this.inc(labels, total - reportedSlowpath);
      reportedSlowpath = total;
    },
  });
  new Gauge({
    name: "elector_lease_transitions",
    help: "leaseTransitions of the lock as last observed: the current leader's fencing token.",
    labelNames: ["name"],
    registers: [registry],
    collect() {
      this.set(labels, status().leaseTransitions);
    },
  });
  new Gauge({
    name: "elector_lock_watch_connected",
    help: "1 while the watch on the lock object is connected; without it followers poll every retry period.",
    labelNames: ["name"],
    registers: [registry],
    collect() {
      this.set(labels, status().watchConnected ? 1 : 0);
    },
  });
  const changes = new Counter({
    name: "elector_leader_changes_total",
    help: "How many times this agent has observed the holder of the lock change.",
    labelNames: ["name"],
    registers: [registry],
  });
  changes.inc(labels, 0);
  return {
    registry,
    leaderChanged: () => {
      changes.inc(labels);
    },
  };
}
