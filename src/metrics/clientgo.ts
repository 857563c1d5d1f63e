/**
 * client-go's metrics under its names, labels and help texts (leader election, REST client), so
 * the dashboards and alerts written for Kubernetes components apply unchanged.
 */
import type { Family } from "./exposition.ts";

export function masterStatus(name: string, isLeader: boolean): Family {
  return {
    name: "leader_election_master_status",
    help:
      "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master." +
      " 'name' is the string used to identify the lease.",
    type: "gauge",
    samples: [{ labels: { name }, value: isLeader ? 1 : 0 }],
  };
}

export function slowpathTotal(name: string, count: number): Family {
  return {
    name: "leader_election_slowpath_total",
    help: "Total number of slow path exercised in renewing leader leases. 'name' is the string used to identify the lease.",
    type: "counter",
    samples: [{ labels: { name }, value: count }],
  };
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
