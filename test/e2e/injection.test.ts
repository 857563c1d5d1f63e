/**
 * Injection by annotation on the real node, through the chart's webhook: a Deployment annotated
 * `elector.dev/election` and nothing else gets the agent as a native sidecar, elects a leader, and
 * an Election routes a Service to it; a bad annotation is refused with what to fix; a pod whose
 * ServiceAccount may not hold Leases is admitted with a warning; removing the annotation and rolling
 * out removes the sidecar; and with no operator answering, annotated pods are refused (the chart's
 * failurePolicy, Fail) while other pods are admitted as before.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { eventually, kubectl } from "../support/cluster.ts";
import { answeringPod, APP_IMAGE, applyObjects, lease, OPERATOR_NAMESPACE, onTheNode, rolledOut, serviceIp } from "../support/node.ts";

const OPERATOR_DEPLOYMENT = "deployment/elector-operator";

/** A pod template's containers as the API server stored them. */
async function containersOf(namespace: string, selector: string): Promise<{ pod: string; init: { name: string; restartPolicy?: string }[]; app: string[] }[]> {
  const r = await kubectl(["get", "pods", "-n", namespace, "-l", selector, "-o", "json"]);
  assert.equal(r.code, 0, r.stderr);
  interface Pod {
    metadata: { name: string; deletionTimestamp?: string };
    spec: { initContainers?: { name: string; restartPolicy?: string }[]; containers: { name: string }[] };
  }
  return (JSON.parse(r.stdout) as { items: Pod[] }).items
    .filter((p) => !p.metadata.deletionTimestamp)
    .map((p) => ({ pod: p.metadata.name, init: p.spec.initContainers ?? [], app: p.spec.containers.map((c) => c.name) }));
}

function pod(name: string, annotations: Record<string, string>): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, labels: { app: name }, annotations },
    spec: {
      securityContext: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: "RuntimeDefault" } },
      containers: [
        {
          name: "app",
          image: APP_IMAGE,
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
          ports: [{ containerPort: 8080 }],
        },
      ],
    },
  };
}

test("an annotated Deployment joins an election with no other change, a bad annotation is refused, and removing it removes the agent", async (t) => {
  const stage = await onTheNode(t);
  if (!stage) return;
  const { plane, namespace } = stage;

  // Before the ServiceAccount may hold Leases: admitted, with a warning that says how to fix it.
  const warned = await kubectl(["apply", "-n", namespace, "-f", "-"], JSON.stringify(pod("early", { "elector.dev/election": "web" })));
  assert.equal(warned.code, 0, warned.stderr);
  assert.match(warned.stderr, /Warning: elector: ServiceAccount \S+\/default may not get, watch, create, update Lease web/);
  await kubectl(["delete", "pod", "early", "-n", namespace, "--wait=false"]);
  const refused = await kubectl(
    ["apply", "-n", namespace, "-f", "-"],
    JSON.stringify(pod("bad", { "elector.dev/election": "web", "elector.dev/port": "http" })),
  );
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /elector: elector.dev\/port: "http" is not a port/);

  const bound = await kubectl([
    "create",
    "rolebinding",
    "web-elector",
    "-n",
    namespace,
    "--clusterrole=elector-agent",
    `--serviceaccount=${namespace}:default`,
  ]);
  assert.equal(bound.code, 0, bound.stderr);
  const { spec: podSpec } = pod("web", {});
  const deployment = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "web" },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: "web" } },
      // The only mention of elector in the workload: the annotation.
      template: { metadata: { labels: { app: "web" }, annotations: { "elector.dev/election": "web" } }, spec: podSpec },
    },
  };
  const election = {
    apiVersion: "elector.dev/v1alpha1",
    kind: "Election",
    metadata: { name: "web" },
    spec: { candidates: { selector: { matchLabels: { app: "web" } } }, leaderLabel: {} },
  };
  const service = {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "web-leader" },
    spec: { selector: { app: "web", leader: "true" }, ports: [{ port: 80, targetPort: 8080 }] },
  };
  await applyObjects(namespace, [deployment, election, service]);
  await rolledOut(namespace, "deployment/web");
  const injected = await containersOf(namespace, "app=web");
  assert.equal(injected.length, 3);
  for (const p of injected) {
    assert.deepEqual(p.init, [{ ...p.init[0], name: "elector", restartPolicy: "Always" }], `${p.pod}: ${JSON.stringify(p.init)}`);
    assert.deepEqual(p.app, ["app"]);
  }
  const url = `http://${await serviceIp(namespace, "web-leader")}/`;
  const leader = await eventually(
    "the Lease's holder answering through the Service",
    async () => {
      const holder = (await lease(namespace, "web"))?.holderIdentity;
      return holder && (await answeringPod(plane, url)) === holder ? holder : undefined;
    },
    60_000,
  );
  t.diagnostic(`${leader} leads and answers through web-leader`);

  // The annotation gone from the template: the rollout's pods have no agent.
  const removed = await kubectl([
    "patch",
    "deployment",
    "web",
    "-n",
    namespace,
    "--type=json",
    "-p",
    JSON.stringify([{ op: "remove", path: "/spec/template/metadata/annotations/elector.dev~1election" }]),
  ]);
  assert.equal(removed.code, 0, removed.stderr);
  await rolledOut(namespace, "deployment/web");
  await eventually(
    "only pods without the agent",
    async () => {
      const now = await containersOf(namespace, "app=web");
      return now.length === 3 && now.every((p) => p.init.length === 0) ? true : undefined;
    },
    60_000,
  );
});

test("with no operator answering, annotated pods are refused and other pods are admitted", async (t) => {
  const stage = await onTheNode(t);
  if (!stage) return;
  const { namespace } = stage;
  const scaled = await kubectl(["scale", OPERATOR_DEPLOYMENT, "-n", OPERATOR_NAMESPACE, "--replicas=0"]);
  assert.equal(scaled.code, 0, scaled.stderr);
  t.after(async () => {
    await kubectl(["scale", OPERATOR_DEPLOYMENT, "-n", OPERATOR_NAMESPACE, "--replicas=2"]);
    await rolledOut(OPERATOR_NAMESPACE, OPERATOR_DEPLOYMENT);
  });
  await eventually(
    "no operator pod",
    async () => {
      const r = await kubectl(["get", "pods", "-n", OPERATOR_NAMESPACE, "-l", "app.kubernetes.io/component=operator", "-o", "name"]);
      return r.code === 0 && r.stdout.trim() === "" ? true : undefined;
    },
    60_000,
  );
  const refused = await kubectl(["apply", "-n", namespace, "-f", "-"], JSON.stringify(pod("annotated", { "elector.dev/election": "web" })));
  assert.notEqual(refused.code, 0, "an annotated pod was admitted with no webhook to inject its agent");
  assert.match(refused.stderr, /failed calling webhook "inject.elector.dev"/);
  const admitted = await kubectl(["apply", "-n", namespace, "-f", "-"], JSON.stringify(pod("plain", {})));
  assert.equal(admitted.code, 0, admitted.stderr);
  assert.deepEqual((await containersOf(namespace, "app=plain"))[0]?.init, []);
});
