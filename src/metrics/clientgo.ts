/**
 * client-go's metrics under its names, labels and help texts (leader election, REST client), so
 * the dashboards and alerts written for Kubernetes components apply unchanged.
 */
import type { Family } from "./exposition.ts";

function masterStatus(name: string, isLeader: boolean): Family {
  return {
    name: "leader_election_master_status",
    help:
      "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master." +
      " 'name' is the string used to identify the lease.",
    type: "gauge",
    samples: [{ labels: { name }, value: isLeader ? 1 : 0 }],
  };
}

function slowpathTotal(name: string, count: number): Family {
  return {
    name: "leader_election_slowpath_total",
    help: "Total number of slow path exercised in renewing leader leases. 'name' is the string used to identify the lease.",
    type: "counter",
    samples: [{ labels: { name }, value: count }],
  };
}

/** What an elector reports of one Lease (ElectorStatus has these fields). */
export interface LeaderElectionState {
  isLeader: boolean;
  slowpathTotal: number;
}

/** client-go's leader-election families for the Lease `name`: the agent's election and the operator's own export the same. */
export function leaderElectionFamilies(name: string, state: LeaderElectionState): Family[] {
  return [masterStatus(name, state.isLeader), slowpathTotal(name, state.slowpathTotal)];
}

/** `requests` by "code method", as the client counts them (KubeClient.requests). */
export function restClientRequests(host: string, requests: ReadonlyMap<string, number>): Family {
  return {
    name: "rest_client_requests_total",
    help: "Number of HTTP requests, partitioned by status code, method, and host.",
    type: "counter",
    samples: [...requests].map(([key, value]) => {
      const [code = "", method = ""] = key.split(" ");
      return { labels: { code, method, host }, value };
    }),
  };
}
