/**
 * The demo's cast on the real node: a Deployment db of 3 pods, each an application (which answers
 * with its pod's name) beside the elector agent as a sidecar (examples/sidecar.yaml), the operator
 * installed by the chart, and an Election that routes both ways: Service db-leader selects the
 * leader=true label, Service db-primary (no selector) gets the EndpointSlice. The faults are
 * `kubectl delete pod` on the leader (the kubelet's SIGTERM: the agent releases) and a SIGKILL of
 * the leader's agent container (a crash: the lease has to run out).
 */
import { clusterFetch } from "../../test/cluster/controlplane.ts";
import { FAST } from "../../test/support/agents.ts";
import { kubectl, type TestCluster } from "../../test/support/cluster.ts";
import {
  answeringPod,
  applyObjects,
  asDatabase,
  example,
  killContainer,
  pods,
  rolledOut,
  serviceIp,
  sidecarDeployment,
  stageReady,
} from "../../test/support/node.ts";
import type { Cast, Fault, Look } from "./cast.ts";

interface Container {
  name: string;
  args?: string[];
}

export function podCast({ plane }: TestCluster, namespace: string): Cast {
  const routes: [string, string][] = [];
  return {
    namespace,
    lease: "db",
    timing: "lease 4s / renew 3s / retry 1s",
    scene: "the chart's operator (2 replicas), Deployment db (3 pods: app + elector sidecar), Services db-leader (label) and db-primary (EndpointSlice)",
    async setUp() {
      await stageReady(plane);
      const db = asDatabase(await sidecarDeployment()) as { spec: { template: { spec: { containers: Container[] } } } };
      for (const c of db.spec.template.spec.containers) if (c.name === "elector") c.args = [...(c.args ?? []), ...FAST];
      await applyObjects(namespace, [
        ...(await example("rbac.yaml")),
        db,
        { apiVersion: "v1", kind: "Service", metadata: { name: "db-primary" }, spec: { ports: [{ name: "sql", port: 5432, targetPort: "pg" }] } },
        {
          apiVersion: "v1",
          kind: "Service",
          metadata: { name: "db-leader" },
          spec: { selector: { app: "db", leader: "true" }, ports: [{ name: "sql", port: 5432, targetPort: "pg" }] },
        },
        {
          apiVersion: "elector.dev/v1alpha1",
          kind: "Election",
          metadata: { name: "db" },
          spec: { candidates: { selector: { matchLabels: { app: "db" } } }, leaderLabel: {}, service: { name: "db-primary" } },
        },
      ]);
      await rolledOut(namespace, "deployment/db");
      for (const service of ["db-leader", "db-primary"]) routes.push([service, `http://${await serviceIp(namespace, service)}:5432/`]);
    },
    async look(): Promise<Look> {
      const members = await pods(namespace, "app=db");
      const lines = await Promise.all(
        members.map(async (p): Promise<[string, string, boolean]> => {
          const r = p.ip ? await clusterFetch(plane, `http://${p.ip}:4040/`, 500) : { status: 0, body: "" };
          const s = r.status === 200 ? (JSON.parse(r.body) as { is_leader: boolean; leader: string; fencing_token: number | null }) : undefined;
          const state = p.deleting
            ? "(terminating)"
            : !s
              ? "(starting)"
              : `${s.is_leader ? "LEADER  " : "follower"}  leader=${s.leader || "-"}  fencing_token=${String(s.fencing_token ?? "-")}`;
          const label = p.labels.leader === "true" ? "  [leader=true]" : "";
          return [`${p.name} ${p.ip || "-"}`, `${state}${label}`, s?.is_leader ?? false];
        }),
      );
      const answered = await Promise.all(routes.map(async ([service, url]) => [service, await answeringPod(plane, url)] as const));
      const leaders = members.filter((_, i) => lines[i]?.[2]).map((p) => p.name);
      return {
        pods: lines.map(([pod, line]) => [pod, line]),
        route: answered.map(([service, pod]) => `Service ${service} answers from ${pod ?? "nobody"}`).join("; "),
        routedLeader: leaders.length === 1 && answered.every(([, pod]) => pod === leaders[0]) ? leaders[0] : undefined,
      };
    },
    faults: [
      { name: "delete pod", explain: "the kubelet's SIGTERM: the agent releases the lease on its way out", crash: false },
      { name: "container crash", explain: "SIGKILL to its elector container: nobody releases the lease, so it has to run out", crash: true },
    ],
    async inflict(fault: Fault, leader: string) {
      if (!fault.crash) {
        const r = await kubectl(["delete", "pod", leader, "-n", namespace, "--wait=false"]);
        if (r.code !== 0) throw new Error(r.stderr);
        return;
      }
      const pod = (await pods(namespace, "app=db")).find((p) => p.name === leader);
      if (pod) await killContainer(plane, pod, "elector");
    },
    async servedBy(holder: string, timeoutMs: number) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const answered = await Promise.all(routes.map(([, url]) => answeringPod(plane, url)));
        if (answered.every((pod) => pod === holder)) return;
        if (Date.now() > deadline) throw new Error(`the Services did not answer from ${holder} within ${String(timeoutMs / 1000)} s: ${answered.join(", ")}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    async tearDown() {
      // While the operator still runs: it takes the label and the slice away and lets the Election go.
      await kubectl(["delete", "election", "db", "-n", namespace, "--ignore-not-found", "--wait=true", "--timeout=20s"]);
    },
  };
}
