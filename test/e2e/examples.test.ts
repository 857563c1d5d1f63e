/**
 * On the real node, the examples not covered by sidecar.test.ts, each doing what its comments say:
 * examples/wrapper.yaml starts its command on the leading pod only, with the fencing token and
 * identity in its environment, and on another pod once the leader is deleted; examples/handover.yaml
 * moves leadership to the pod it names, the routed Service follows, and a GitOps tool re-applying
 * the manifest all the while never has anything to put back; and every example's workload survives
 * `kubectl rollout restart` with a leader at the end (examples/native-sidecar.yaml included).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { clusterFetch } from "../cluster/controlplane.ts";
import { eventually, kubectl, testNamespace } from "../support/cluster.ts";
import { getElection } from "../support/operator.ts";
import {
  answeringPod,
  applyObjects,
  asDatabase,
  example,
  exampleImages,
  lease,
  nodeCluster,
  onTheNode,
  pods,
  rolledOut,
  serviceIp,
  sidecarDeployment,
} from "../support/node.ts";

test("examples/wrapper.yaml: the command runs on the leading pod only, with its fencing token, and moves when that pod is deleted", async (t) => {
  const plane = await nodeCluster(t);
  if (!plane) return;
  await exampleImages(plane);
  const namespace = await testNamespace(t);
  await applyObjects(namespace, [...(await example("rbac.yaml")), ...(await example("wrapper.yaml"))]);
  await rolledOut(namespace, "statefulset/singleton");

  /** Which pods' commands answer, and what they say. */
  const running = async (): Promise<{ pod: string; token: number; identity: string }[]> => {
    const answers = [];
    for (const p of await pods(namespace, "app=singleton")) {
      const a = await answeringPodWorker(p.ip);
      if (a) answers.push(a);
    }
    return answers;
  };
  const answeringPodWorker = async (ip: string): Promise<{ pod: string; token: number; identity: string } | undefined> => {
    if (!ip) return undefined;
    const r = await clusterFetch(plane, `http://${ip}:8080/`, 500);
    return r.status === 200 ? (JSON.parse(r.body) as { pod: string; token: number; identity: string }) : undefined;
  };

  let last = -1;
  for (let round = 0; round < 2; round++) {
    const [worker, ...others] = await eventually(
      "one pod's command to answer",
      async () => {
        const r = await running();
        return r.length === 1 ? r : undefined;
      },
      60_000,
    );
    assert.ok(worker);
    assert.deepEqual(others, []);
    const held = await lease(namespace, "singleton");
    assert.equal(worker.pod, held?.holderIdentity, "the command runs on a pod that does not hold the Lease");
    assert.equal(worker.identity, worker.pod);
    assert.equal(worker.token, held?.leaseTransitions, "ELECTOR_FENCING_TOKEN is not the Lease's transitions");
    assert.ok(worker.token > last, `the fencing token went from ${String(last)} to ${String(worker.token)}`);
    last = worker.token;
    t.diagnostic(`round ${String(round)}: ${worker.pod} runs the command with token ${String(worker.token)}`);
    const del = await kubectl(["delete", "pod", worker.pod, "-n", namespace, "--wait=false"]);
    assert.equal(del.code, 0, del.stderr);
    await eventually(
      `${worker.pod}'s command to stop`,
      async () => ((await running()).some((w) => w.pod === worker.pod && w.token === worker.token) ? undefined : true),
      60_000,
    );
  }
});

test("examples/handover.yaml: leadership moves to the pod it names, the Service follows, a GitOps loop beside it fights over nothing", async (t) => {
  const stage = await onTheNode(t);
  if (!stage) return;
  const { plane, namespace } = stage;
  const deployment = await sidecarDeployment();
  const [service, routing] = await example("service-routing.yaml");
  await applyObjects(namespace, [...(await example("rbac.yaml")), asDatabase(deployment, "StatefulSet"), service, routing]);
  await rolledOut(namespace, "statefulset/db");
  const url = `http://${await serviceIp(namespace, "db-primary")}:5432/`;
  const first = await eventually(
    "a leader the Service routes to",
    async () => {
      const holder = (await lease(namespace, "db"))?.holderIdentity;
      return holder && (await answeringPod(plane, url)) === holder ? holder : undefined;
    },
    60_000,
  );

  // The example names db-1; if db-1 already leads, hand over to db-0 instead, so leadership moves.
  const [handover] = await example("handover.yaml");
  const to = first === "db-1" ? "db-0" : "db-1";
  const spec = (handover as { spec: { preferredHolder: string } }).spec;
  spec.preferredHolder = to;
  const gitops = selfHealing(namespace, handover);
  let seen = "";
  await eventually(
    `${to} to lead and the Service to reach it`,
    async () => {
      const holder = (await lease(namespace, "db"))?.holderIdentity;
      const answered = await answeringPod(plane, url);
      const conditions = (await getElection(namespace, "db"))?.status?.conditions?.map((c) => c.message);
      seen = `the Lease names ${holder ?? "nobody"}, ${answered ?? "nobody"} answers, the Election says ${JSON.stringify(conditions)}`;
      return holder === to && answered === to ? true : undefined;
    },
    60_000,
  ).catch((err: unknown) => {
    throw new Error(`${String(err)}; ${seen}`);
  });
  // A few more rounds of the loop after the handover: the operator has written status meanwhile.
  await new Promise((resolve) => setTimeout(resolve, 5000));
  const applies = await gitops.stop();
  assert.ok(applies.length >= 5, `${String(applies.length)} applies`);
  const [firstApply] = applies;
  for (const [i, a] of applies.entries()) {
    assert.equal(a.generation, firstApply?.generation, `apply ${String(i)} found spec changed: someone else wrote it`);
    assert.deepEqual(a.mine, firstApply?.mine, `apply ${String(i)}: the GitOps manager's fields or their time changed, so it wrote again`);
    assert.deepEqual(a.specOwners, ["gitops"], `apply ${String(i)}: spec.preferredHolder is owned by ${a.specOwners.join(", ")}`);
  }
  t.diagnostic(`${String(applies.length)} server-side applies, every one a no-op after the first (generation ${String(firstApply?.generation)})`);
  const e = await getElection(namespace, "db");
  assert.equal(e?.status?.leader, to);
  assert.equal((await pods(namespace, "app=db")).length, 3);
  t.diagnostic(`handed over from ${first} to ${to}`);
});

interface Applied {
  generation: number;
  /** The GitOps manager's managedFields entry: the fields it owns and when it last changed them. */
  mine: unknown;
  /** The managers that own spec.preferredHolder. */
  specOwners: string[];
}

/**
 * Argo CD or Flux with self-heal, reduced to what matters here: server-side apply of the user's
 * manifest every second under one field manager, never forcing a conflict.
 */
function selfHealing(namespace: string, manifest: unknown): { stop(): Promise<Applied[]> } {
  const applies: Applied[] = [];
  const state = { running: true };
  const loop = (async () => {
    while (state.running) {
      const r = await kubectl(
        ["apply", "--server-side", "--field-manager=gitops", "--show-managed-fields", "-n", namespace, "-o", "json", "-f", "-"],
        JSON.stringify(manifest),
      );
      assert.equal(r.code, 0, `the GitOps apply failed: ${r.stderr}`);
      const object = JSON.parse(r.stdout) as {
        metadata: {
          generation: number;
          managedFields: { manager: string; operation: string; time: string; fieldsV1?: { "f:spec"?: Record<string, unknown> } }[];
        };
      };
      const fields = object.metadata.managedFields;
      applies.push({
        generation: object.metadata.generation,
        mine: fields.find((f) => f.manager === "gitops"),
        specOwners: fields.filter((f) => f.fieldsV1?.["f:spec"]?.["f:preferredHolder"] !== undefined).map((f) => f.manager),
      });
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  })();
  return {
    async stop() {
      state.running = false;
      await loop;
      return applies;
    },
  };
}

test("every example's workload survives kubectl rollout restart: the rollout finishes and a leader exists at the end", async (t) => {
  const stage = await onTheNode(t);
  if (!stage) return;
  const { namespace } = stage;
  const deployment = await sidecarDeployment();
  const [service, serviceRouting] = await example("service-routing.yaml");
  await applyObjects(namespace, [
    ...(await example("rbac.yaml")),
    deployment,
    ...(await example("label-routing.yaml")),
    ...(await example("native-sidecar.yaml")),
    ...(await example("wrapper.yaml")),
    asDatabase(deployment, "StatefulSet"),
    service,
    serviceRouting,
  ]);
  const workloads: { workload: string; selector: string; lease: string; election?: string }[] = [
    { workload: "deployment/scheduler", selector: "app=scheduler", lease: "scheduler", election: "scheduler" },
    { workload: "deployment/reports", selector: "app=reports", lease: "reports" },
    { workload: "statefulset/singleton", selector: "app=singleton", lease: "singleton" },
    { workload: "statefulset/db", selector: "app=db", lease: "db", election: "db" },
  ];
  for (const w of workloads) await rolledOut(namespace, w.workload, "180s");
  for (const w of workloads) {
    const before = (await lease(namespace, w.lease))?.leaseTransitions ?? 0;
    const restarted = await kubectl(["rollout", "restart", "-n", namespace, w.workload]);
    assert.equal(restarted.code, 0, restarted.stderr);
    await rolledOut(namespace, w.workload, "180s");
    const holder = await eventually(
      `a leader of ${w.lease} among the restarted pods`,
      async () => {
        const current = await pods(namespace, w.selector);
        const held = await lease(namespace, w.lease);
        const pod = current.find((p) => p.name === held?.holderIdentity);
        return pod?.ready && !pod.deleting && (held?.leaseTransitions ?? 0) > before ? pod.name : undefined;
      },
      60_000,
    );
    if (w.election) {
      const election = w.election;
      await eventually(`Election ${election} Ready with ${holder}`, async () => {
        const e = await getElection(namespace, election);
        return e?.status?.leader === holder && e.status.conditions?.find((c) => c.type === "Ready")?.status === "True" ? true : undefined;
      });
    }
    t.diagnostic(`${w.workload}: rolled out again, ${holder} leads (${w.lease} transitions ${String(before)} → more)`);
  }
});
