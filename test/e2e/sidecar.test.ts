/**
 * On the real node: examples/sidecar.yaml as a Deployment of 3 pods (the agent in-cluster with its
 * projected ServiceAccount token and the pod name as identity), routed both ways by the operator
 * the chart installed (examples/label-routing.yaml and examples/service-routing.yaml). Deleting
 * the leader pod and killing the leader's agent container each move leadership, the Election's
 * status, the leader label and the EndpointSlice, and real requests sent to each Service's
 * ClusterIP from inside the cluster answer from the Lease's holder only, following it. A rolling
 * restart of the Deployment finishes (every replica is Ready, not only the leader).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { ControlPlane } from "../cluster/controlplane.ts";
import { eventually, kubectl } from "../support/cluster.ts";
import { getElection, sliceAddresses } from "../support/operator.ts";
import {
  answeringPod,
  applyObjects,
  asDatabase,
  example,
  killContainer,
  lease,
  onTheNode,
  pods,
  rolledOut,
  serviceIp,
  sidecarDeployment,
  type PodView,
} from "../support/node.ts";

interface Routed {
  /** The Election, its Lease and its pods' label selector. */
  name: string;
  selector: string;
  /** A request that the operator's routing must bring to the leader. */
  url: string;
}

/** Waits until the Lease, the Election's status, the label, the slice and the traffic all name one new holder. */
async function converged(
  plane: ControlPlane,
  namespace: string,
  routed: Routed,
  before: { holder?: string; transitions: number },
): Promise<{ holder: string; transitions: number }> {
  const now = await eventually(
    `a new term of ${routed.name}`,
    async () => {
      const l = await lease(namespace, routed.name);
      return l?.holderIdentity && (l.leaseTransitions ?? 0) > before.transitions
        ? { holder: l.holderIdentity, transitions: l.leaseTransitions ?? 0 }
        : undefined;
    },
    60_000,
  );
  const members = await pods(namespace, routed.selector);
  const leader = members.find((p) => p.name === now.holder);
  assert.ok(leader, `the Lease names ${now.holder}, which is none of ${members.map((p) => p.name).join(", ")}: the identity is not the pod name`);
  await eventually(`${routed.name}'s status to name ${now.holder}`, async () => {
    const e = await getElection(namespace, routed.name);
    return e?.status?.leader === now.holder && e.status.transitions === now.transitions && e.status.leaderPod?.ip === leader.ip ? true : undefined;
  });
  await eventually(
    `requests to ${routed.url} to reach ${now.holder}`,
    async () => ((await answeringPod(plane, routed.url)) === now.holder ? true : undefined),
    20_000,
  );
  for (let i = 0; i < 10; i++) assert.equal(await answeringPod(plane, routed.url), now.holder, `request ${String(i)} to ${routed.url}`);
  return now;
}

test("a sidecar Deployment on the real node: deleting the leader pod and crashing its agent move leadership, status, label, slice and traffic", async (t) => {
  const stage = await onTheNode(t);
  if (!stage) return;
  const { plane, namespace } = stage;
  const deployment = await sidecarDeployment();
  await applyObjects(namespace, [
    ...(await example("rbac.yaml")),
    deployment,
    asDatabase(deployment),
    ...(await example("label-routing.yaml")),
    ...(await example("service-routing.yaml")),
  ]);
  await rolledOut(namespace, "deployment/scheduler");
  await rolledOut(namespace, "deployment/db");

  const routes: Routed[] = [
    { name: "scheduler", selector: "app=scheduler", url: `http://${await serviceIp(namespace, "scheduler-leader")}/` },
    { name: "db", selector: "app=db", url: `http://${await serviceIp(namespace, "db-primary")}:5432/` },
  ];
  for (const routed of routes) {
    let term = await converged(plane, namespace, routed, { transitions: -1 });
    const holderPod = async (): Promise<PodView> => {
      const p = (await pods(namespace, routed.selector)).find((x) => x.name === term.holder);
      assert.ok(p);
      return p;
    };
    const checkRouting = async (): Promise<void> => {
      const members = await pods(namespace, routed.selector);
      if (routed.name === "scheduler") {
        const labelled = members.filter((p) => p.labels.leader === "true" && !p.deleting).map((p) => p.name);
        assert.deepEqual(labelled, [term.holder], "the leader label is on the holder only");
      } else {
        const ip = members.find((p) => p.name === term.holder)?.ip;
        await eventually("the slice on the holder", async () => ((await sliceAddresses(namespace, "db-primary")).join() === ip ? true : undefined));
      }
    };
    await checkRouting();

    // kubectl delete pod: the kubelet's SIGTERM makes the agent release; another pod leads.
    const deleted = await holderPod();
    const del = await kubectl(["delete", "pod", deleted.name, "-n", namespace, "--wait=false"]);
    assert.equal(del.code, 0, del.stderr);
    term = await converged(plane, namespace, routed, term);
    assert.notEqual(term.holder, deleted.name, "a deleted pod kept leading");
    await checkRouting();

    // A crash: the agent's container SIGKILLed; its term ends only when the lease runs out.
    const crashed = await holderPod();
    await killContainer(plane, crashed, "elector");
    term = await converged(plane, namespace, routed, term);
    await checkRouting();
    t.diagnostic(`${routed.name}: after a deletion and a crash, ${term.holder} leads in term ${String(term.transitions)}`);
  }
  const election = await getElection(namespace, "scheduler");
  assert.equal(election?.status?.conditions?.find((c) => c.type === "Ready")?.status, "True");

  // The example rolls: every replica is Ready on /readyz, so a rolling restart replaces all three
  // (the leader among them) and ends with a new term, routed.
  const [scheduler] = routes;
  assert.ok(scheduler);
  const before = (await lease(namespace, "scheduler"))?.leaseTransitions ?? 0;
  const restart = await kubectl(["rollout", "restart", "deployment/scheduler", "-n", namespace]);
  assert.equal(restart.code, 0, restart.stderr);
  await rolledOut(namespace, "deployment/scheduler");
  const rolled = await converged(plane, namespace, scheduler, { transitions: before });
  t.diagnostic(`after kubectl rollout restart, ${rolled.holder} leads in term ${String(rolled.transitions)}`);
});
