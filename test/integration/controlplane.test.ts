/**
 * Proof that the local control plane is the real thing: optimistic concurrency, CRDs,
 * garbage collection and Pod Security admission behave as on any conforming cluster.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ApiException, CoordinationV1Api, CoreV1Api, type V1Lease } from "@kubernetes/client-node";
import { KUBERNETES_VERSION } from "../cluster/versions.ts";
import { eventually, kubectl, testCluster, testNamespace } from "../support/cluster.ts";

test("kubectl reports the pinned Kubernetes version", async () => {
  const run = await kubectl(["version", "-o", "json"]);
  assert.equal(run.code, 0, run.stderr);
  const version = JSON.parse(run.stdout) as { serverVersion: { gitVersion: string }; clientVersion: { gitVersion: string } };
  assert.equal(version.serverVersion.gitVersion, `v${KUBERNETES_VERSION}`);
  assert.equal(version.clientVersion.gitVersion, `v${KUBERNETES_VERSION}`);
});

test("a Lease update with a stale resourceVersion gets 409 Conflict", async (t) => {
  const namespace = await testNamespace(t);
  const { kc } = await testCluster();
  const leases = kc.makeApiClient(CoordinationV1Api);
  const created = await leases.createNamespacedLease({
    namespace,
    body: { metadata: { name: "smoke" }, spec: { holderIdentity: "a", leaseDurationSeconds: 15 } },
  });
  const first: V1Lease = { ...created, spec: { ...created.spec, holderIdentity: "b" } };
  await leases.replaceNamespacedLease({ name: "smoke", namespace, body: first });

  const stale: V1Lease = { ...created, spec: { ...created.spec, holderIdentity: "c" } };
  const err = await leases.replaceNamespacedLease({ name: "smoke", namespace, body: stale }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof ApiException, `expected an ApiException, got ${String(err)}`);
  assert.equal(err.code, 409);
  const now = await leases.readNamespacedLease({ name: "smoke", namespace });
  assert.equal(now.spec?.holderIdentity, "b");
});

test("a CRD applied with kubectl becomes Established and serves its kind", async (t) => {
  const namespace = await testNamespace(t);
  const group = `smoke${Date.now().toString(36)}.elector.dev`;
  const crd = {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `widgets.${group}` },
    spec: {
      group,
      scope: "Namespaced",
      names: { plural: "widgets", singular: "widget", kind: "Widget" },
      versions: [
        {
          name: "v1",
          served: true,
          storage: true,
          schema: { openAPIV3Schema: { type: "object", properties: { spec: { type: "object", properties: { size: { type: "integer" } } } } } },
        },
      ],
    },
  };
  t.after(async () => {
    await kubectl(["delete", "crd", crd.metadata.name, "--wait=false"]);
  });
  const applied = await kubectl(["apply", "-f", "-"], JSON.stringify(crd));
  assert.equal(applied.code, 0, applied.stderr);
  const waited = await kubectl(["wait", "--for=condition=Established", `crd/${crd.metadata.name}`, "--timeout=60s"]);
  assert.equal(waited.code, 0, waited.stderr);

  const widget = { apiVersion: `${group}/v1`, kind: "Widget", metadata: { name: "w1", namespace }, spec: { size: 3 } };
  // Discovery may lag the Established condition by a moment; kubectl refreshes it on retry.
  await eventually("the Widget to be created", async () => {
    const r = await kubectl(["apply", "-f", "-"], JSON.stringify(widget));
    return r.code === 0 ? r : undefined;
  });
  const got = await kubectl(["get", `widgets.${group}`, "w1", "-n", namespace, "-o", "jsonpath={.spec.size}"]);
  assert.equal(got.code, 0, got.stderr);
  assert.equal(got.stdout, "3");
});

test("an object with an ownerReference is garbage-collected after its owner is deleted", async (t) => {
  const namespace = await testNamespace(t);
  const { kc } = await testCluster();
  const core = kc.makeApiClient(CoreV1Api);
  const owner = await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: "owner" } } });
  const uid = owner.metadata?.uid;
  assert.ok(uid);
  await core.createNamespacedConfigMap({
    namespace,
    body: { metadata: { name: "dependent", ownerReferences: [{ apiVersion: "v1", kind: "ConfigMap", name: "owner", uid }] } },
  });
  await core.deleteNamespacedConfigMap({ name: "owner", namespace, propagationPolicy: "Background" });
  await eventually("the dependent ConfigMap to be collected", async () => {
    const exists = await core.readNamespacedConfigMap({ name: "dependent", namespace }).then(
      () => true,
      (e: unknown) => {
        if (e instanceof ApiException && e.code === 404) return false;
        throw e;
      },
    );
    return exists ? undefined : true;
  });
});

test("a restricted namespace rejects a privileged pod and admits a compliant one", async (t) => {
  const namespace = await testNamespace(t);
  const { kc } = await testCluster();
  const core = kc.makeApiClient(CoreV1Api);
  const err = await core
    .createNamespacedPod({
      namespace,
      body: {
        metadata: { name: "privileged" },
        spec: { containers: [{ name: "c", image: "busybox", securityContext: { privileged: true } }] },
      },
    })
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  assert.ok(err instanceof ApiException, `expected the pod to be refused, got ${String(err)}`);
  assert.equal(err.code, 403);
  // client-node hands the Status over as the response text.
  const status = JSON.parse(String(err.body)) as { message?: string };
  assert.match(status.message ?? "", /violates PodSecurity "restricted:latest": privileged/);

  // The same namespace admits a pod that meets `restricted`, so the refusal above is not a blanket one.
  await core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name: "compliant" },
      spec: {
        securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
        containers: [
          {
            name: "c",
            image: "busybox",
            securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
          },
        ],
      },
    },
  });
});
