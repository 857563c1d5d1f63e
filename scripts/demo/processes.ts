/**
 * The demo's cast where no node can run: pods db-0..db-2 as API objects whose status the demo
 * sets, an agent per pod as a process on this machine, and the operator as a process; the faults
 * are SIGTERM (the agent releases on its way out) and SIGKILL (a crash) to the leader's agent.
 */
import { FAST, launchAgent, type Agent } from "../../test/support/agents.ts";
import type { TestCluster } from "../../test/support/cluster.ts";
import { kubectl } from "../../test/support/cluster.ts";
import { apply, createPod, labelled, launchOperator, sliceAddresses, type RunningOperator } from "../../test/support/operator.ts";
import type { Cast, Fault, Look } from "./cast.ts";

const PODS = [
  ["db-0", "10.1.0.10"],
  ["db-1", "10.1.0.11"],
  ["db-2", "10.1.0.12"],
] as const;

export function processCast({ plane }: TestCluster, namespace: string): Cast {
  const agents = new Map<string, Agent | undefined>();
  let operator: RunningOperator | undefined;
  const start = (id: string): Promise<Agent> => launchAgent({ namespace, election: "db", id, kubeconfig: plane.kubeconfig, args: FAST, logLevel: "warn" });
  return {
    namespace,
    lease: "db",
    timing: "lease 4s / renew 3s / retry 1s",
    scene: `Service db (no selector), pods db-0..db-2 posing with IPs, the operator and three agents as processes`,
    async setUp() {
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
    },
    async look(): Promise<Look> {
      const answers = await Promise.all(
        [...agents].map(async ([id, agent]): Promise<[string, string, boolean]> => {
          const s = agent?.running ? await agent.status() : undefined;
          const answer = !agent?.running
            ? "(restarting)"
            : s
              ? `${s.is_leader ? "LEADER  " : "follower"}  leader=${s.leader || "-"}  fencing_token=${s.fencing_token ?? "-"}`
              : "(starting)";
          return [id, answer, s?.is_leader ?? false];
        }),
      );
      const [labels, slice] = await Promise.all([labelled(namespace, "leader", "true"), sliceAddresses(namespace, "db")]);
      const leaders = answers.filter(([, , leads]) => leads).map(([id]) => id);
      const leaderIp = new Map<string, string>(PODS).get(leaders[0] ?? "");
      return {
        pods: answers.map(([id, answer]) => [id, answer]),
        route: `Service db: pod label leader=true on ${labels.join(", ") || "none"}; EndpointSlice ${slice.join(", ") || "empty"}`,
        routedLeader: leaders.length === 1 && labels.join() === leaders[0] && slice.join() === leaderIp ? leaders[0] : undefined,
      };
    },
    faults: [
      { name: "SIGTERM", explain: "it releases the lease on the way out", crash: false },
      { name: "SIGKILL", explain: "a crash: nobody releases the lease, so it has to run out", crash: true },
    ],
    async inflict(fault: Fault, leader: string) {
      agents.get(leader)?.kill(fault.name === "SIGKILL" ? "SIGKILL" : "SIGTERM");
      await Promise.resolve();
    },
    async recover(leader: string) {
      const agent = agents.get(leader);
      await agent?.exited;
      agent?.dispose();
      agents.set(leader, undefined);
      agents.set(leader, await start(leader));
    },
    async tearDown() {
      for (const agent of agents.values()) agent?.dispose();
      // While the operator still runs: it takes the label and the slice away and lets the Election go.
      if (operator) await kubectl(["delete", "election", "db", "-n", namespace, "--ignore-not-found", "--wait=true", "--timeout=20s"]);
      operator?.process.kill("SIGTERM");
      await Promise.race([operator?.process.exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
      operator?.process.dispose();
    },
  };
}
