/**
 * The chart on the real node, installed as a user would (`helm upgrade --install --wait`): the
 * operator's two replicas run elector:dev in-cluster with their projected ServiceAccount tokens,
 * pass their probes, one leads through the shared election core and the other takes over when it
 * goes; the namespace enforces Pod Security `restricted`, the API server refusing what breaks it
 * and the kubelet refusing an image that would run as root.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { binaryImage, importImage } from "../cluster/images.ts";
import { ensureNodeBinaries } from "../cluster/build.ts";
import { eventually, helm, kubectl } from "../support/cluster.ts";
import { installChart, lease, nodeCluster, OPERATOR_NAMESPACE, pods } from "../support/node.ts";

const OPERATOR = "app.kubernetes.io/name=elector,app.kubernetes.io/component=operator";

test("the chart on the node: two operator replicas pass their probes, one leads, the other takes over; restricted is enforced", async (t) => {
  const plane = await nodeCluster(t);
  if (!plane) return;
  await installChart();
  const replicas = await eventually(
    "two Ready operator pods",
    async () => {
      const p = (await pods(OPERATOR_NAMESPACE, OPERATOR)).filter((x) => !x.deleting);
      return p.length === 2 && p.every((x) => x.ready) ? p : undefined;
    },
    60_000,
  );
  for (const p of replicas) {
    const restarts = p.containers.map((c) => c.restarts);
    if (restarts.length === 1 && restarts[0] === 0) continue;
    // Why, in the restarted container's own last words: a restart is rare, and worth understanding.
    const previous = await kubectl(["logs", "-n", OPERATOR_NAMESPACE, p.name, "--previous", "--tail=8"]);
    assert.fail(`${p.name} restarted (${restarts.join(", ")}); its previous container's last lines:\n${previous.stdout || previous.stderr}`);
  }
  const holder = await eventually("the operator's Lease held by a replica", async () => {
    const h = (await lease(OPERATOR_NAMESPACE, "elector-operator"))?.holderIdentity;
    return replicas.some((p) => p.name === h) ? h : undefined;
  });
  assert.ok(holder);

  // The leading replica goes (the kubelet's SIGTERM); the standby leads within its lease.
  const deletedAt = Date.now();
  const del = await kubectl(["delete", "pod", holder, "-n", OPERATOR_NAMESPACE, "--wait=false"]);
  assert.equal(del.code, 0, del.stderr);
  const next = await eventually(
    "the standby to lead",
    async () => {
      const h = (await lease(OPERATOR_NAMESPACE, "elector-operator"))?.holderIdentity;
      return h && h !== holder ? h : undefined;
    },
    30_000,
  );
  // Usually the standby; the replacement pod may win the race when it starts before the old leader
  // has released (both watch the release). Either way a replica took over, within the lease.
  const current = (await pods(OPERATOR_NAMESPACE, OPERATOR)).map((p) => p.name);
  assert.ok(current.includes(next), `${next} is no operator replica: ${current.join(", ")}`);
  assert.ok(Date.now() - deletedAt < 15_000, `a replica led ${String(Date.now() - deletedAt)} ms after the leader's deletion, past its 15 s lease`);
  await eventually(
    "two Ready operator pods again",
    async () => {
      const p = (await pods(OPERATOR_NAMESPACE, OPERATOR)).filter((x) => !x.deleting);
      return p.length === 2 && p.every((x) => x.ready) ? true : undefined;
    },
    60_000,
  );

  // Admission: a pod that breaks `restricted` is refused in the operator's namespace.
  const privileged = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "privileged" },
    spec: { containers: [{ name: "c", image: "localhost/elector/pause:dev", securityContext: { privileged: true } }] },
  };
  const refused = await kubectl(["apply", "-n", OPERATOR_NAMESPACE, "-f", "-"], JSON.stringify(privileged));
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /violates PodSecurity "restricted:latest"/);

  // The kubelet: runAsNonRoot with an image whose user is root never starts.
  const image = "localhost/elector-e2e/as-root:dev";
  await importImage(plane.node?.containerdSocket ?? "", await binaryImage(image, (await ensureNodeBinaries()).pause, join(plane.dir, "images", "as-root.tar")));
  const restricted = { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } };
  const asRoot = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "as-root" },
    spec: {
      securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
      containers: [{ name: "c", image, securityContext: restricted }],
    },
  };
  const admitted = await kubectl(["apply", "-n", OPERATOR_NAMESPACE, "-f", "-"], JSON.stringify(asRoot));
  assert.equal(admitted.code, 0, admitted.stderr);
  t.after(() => kubectl(["delete", "pod", "as-root", "-n", OPERATOR_NAMESPACE, "--wait=false"]));
  const reason = await eventually(
    "the kubelet to refuse the container",
    async () => {
      const r = await kubectl(["get", "pod", "as-root", "-n", OPERATOR_NAMESPACE, "-o", "jsonpath={.status.containerStatuses[0].state.waiting.message}"]);
      return /runAsNonRoot/.test(r.stdout) ? r.stdout : undefined;
    },
    60_000,
  );
  t.diagnostic(`${holder} led, then ${next}; the kubelet: ${reason}`);
});

test("helm test: a pod of the operator's own image checks that the operator answers on its metrics Service", async (t) => {
  const plane = await nodeCluster(t);
  if (!plane) return;
  await installChart();
  const tested = await helm(["test", "elector", "-n", OPERATOR_NAMESPACE, "--logs", "--timeout", "120s"]);
  assert.equal(tested.code, 0, tested.stdout + tested.stderr);
  assert.match(tested.stdout, /the operator answers on https:\/\/[\d.]+:8443\/metrics/);
});
