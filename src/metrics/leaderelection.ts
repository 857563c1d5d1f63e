/** client-go's leader election metrics, under its names and help texts, so its dashboards and alerts apply. */
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
