/**
 * The agent's Prometheus metrics: client-go's leader election and REST-client metrics under their
 * names, so existing dashboards and alerts keep working, plus elector's own and the process's.
 */
import type { ElectorStatus } from "../election/elector.ts";
import { isWedged } from "../election/healthz.ts";
import type { KubeClient } from "../kube/client.ts";
import { leaderElectionFamilies, restClientRequests } from "../metrics/clientgo.ts";
import { processFamilies, render, type Family } from "../metrics/exposition.ts";

export interface AgentMetrics {
  /** The exposition text, read from the elector's status at scrape time. */
  scrape: () => string;
  leaderChanged: () => void;
}

export function agentMetrics(
  election: string,
  leaseDurationMs: number,
  client: Pick<KubeClient, "host" | "requests">,
  status: () => ElectorStatus,
): AgentMetrics {
  const labels = { name: election };
  let leaderChanges = 0;
  const scrape = (): string => {
    const s = status();
    const family = (name: string, type: Family["type"], help: string, value: number): Family => ({ name, help, type, samples: [{ labels, value }] });
    return render([
      ...leaderElectionFamilies(election, s),
      restClientRequests(client.host, client.requests),
      family("elector_lease_transitions", "gauge", "leaseTransitions of the lock as last observed: the current leader's fencing token.", s.leaseTransitions),
      family(
        "elector_lock_watch_connected",
        "gauge",
        "1 while the watch on the lock object is connected; without it followers poll every retry period.",
        s.watchConnected ? 1 : 0,
      ),
      family("elector_leader_changes_total", "counter", "How many times this agent has observed the holder of the lock change.", leaderChanges),
      family(
        "elector_agent_wedged",
        "gauge",
        "1 while this agent holds a term it has not renewed for its lease duration plus 10 s: /healthz fails and the kubelet should restart it.",
        isWedged(s, leaseDurationMs, performance.now()) ? 1 : 0,
      ),
      ...processFamilies(),
    ]);
  };
  return {
    scrape,
    leaderChanged: () => {
      leaderChanges++;
    },
  };
}
