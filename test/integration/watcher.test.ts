/**
 * The access layer's watcher and reflector (src/kube) against the real API server: list then
 * watch, a relist after etcd was compacted under a disconnected watch (410 Gone) that drops what
 * was deleted meanwhile, an API-server restart, and a watch that goes silent.
 */
import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import { compactEtcd, restartApiServer } from "../cluster/controlplane.ts";
import { ApiError, KubeClient, type KubeObject } from "../../src/kube/client.ts";
import { loadConnection } from "../../src/kube/kubeconfig.ts";
import { Reflector } from "../../src/kube/reflector.ts";
import { eventually, testCluster, testNamespace } from "../support/cluster.ts";
import { STALL, testFaultProxy } from "../support/faultproxy.ts";

type Named = KubeObject & { metadata: { name: string; namespace: string; labels?: Record<string, string>; managedFields?: unknown } };

async function admin(kubeconfig?: string): Promise<KubeClient> {
  return new KubeClient(loadConnection(kubeconfig ?? (await testCluster()).plane.kubeconfig));
}

const configMaps = (namespace: string): string => `/api/v1/namespaces/${namespace}/configmaps`;
const podTemplates = (namespace: string): string => `/api/v1/namespaces/${namespace}/podtemplates`;

async function create(client: KubeClient, collection: string, name: string, labels: Record<string, string> = {}): Promise<void> {
  const template = collection.endsWith("podtemplates") ? { template: { spec: { containers: [{ name: "c", image: "unused" }] } } } : {};
  await client.request("POST", collection, { body: { metadata: { name, labels }, ...template }, timeoutMs: 5000 });
}

async function remove(client: KubeClient, collection: string, name: string): Promise<void> {
  await client.request("DELETE", `${collection}/${name}`, { timeoutMs: 5000 });
}

/** A reflector with a record of what it was told, stopped when the test ends. */
function reflect(t: TestContext, client: KubeClient, path: string, options: { idleTimeoutMs?: number; labelSelector?: string } = {}) {
  const seen = { changes: [] as string[], errors: [] as Error[] };
  const reflector = new Reflector<Named>(client, {
    path,
    requestTimeoutMs: 5000,
    backoff: { initialMs: 100, maxMs: 1000 },
    ...options,
    index: (o) => Object.entries(o.metadata.labels ?? {}).map(([k, v]) => `${k}=${v}`),
    onChange: (o, deleted) => seen.changes.push(`${deleted ? "-" : "+"}${o.metadata.name}`),
    onError: (err) => seen.errors.push(err),
  });
  reflector.start();
  t.after(() => reflector.stop());
  const names = (): string[] =>
    reflector
      .list()
      .map((o) => o.metadata.name)
      .sort();
  const holds = (what: string, expected: string[], timeoutMs = 15_000): Promise<true> =>
    eventually(
      `${what}: ${expected.join(",")} (has ${names().join(",")}; errors: ${seen.errors.map((e) => e.message).join("; ")})`,
      () => Promise.resolve(names().join() === expected.join() ? true : undefined),
      timeoutMs,
    );
  return { reflector, seen, names, holds };
}

test("the reflector lists, then watches from the list's version: adds, changes, deletes, an index, and no managedFields", async (t) => {
  const namespace = await testNamespace(t);
  const client = await admin();
  await create(client, configMaps(namespace), "before", { app: "x" });
  const { reflector, seen, holds } = reflect(t, client, configMaps(namespace), { labelSelector: "app" });
  await reflector.synced;
  await holds("the listed object", ["before"]);
  await create(client, configMaps(namespace), "after", { app: "y" });
  await create(client, configMaps(namespace), "unselected");
  await holds("the watched object", ["after", "before"]);
  await client.request("PATCH", `${configMaps(namespace)}/before`, {
    body: { metadata: { labels: { app: "y" } } },
    contentType: "application/merge-patch+json",
    timeoutMs: 5000,
  });
  await eventually("the index to follow the label change", () => Promise.resolve(reflector.byIndex("app=y").length === 2 ? true : undefined));
  assert.deepEqual(reflector.byIndex("app=x"), []);
  await remove(client, configMaps(namespace), "after");
  await holds("the deletion", ["before"]);
  assert.equal(reflector.get(namespace, "before")?.metadata.managedFields, undefined, "managedFields are kept");
  assert.deepEqual(seen.changes, ["+before", "+after", "+before", "-after"]);
  assert.deepEqual(seen.errors, []);
});

test("etcd compacted under a disconnected watch: 410 Gone, a relist, and what was deleted meanwhile leaves the store", async (t) => {
  const namespace = await testNamespace(t);
  const { plane } = await testCluster();
  const direct = await admin();
  const proxy = await testFaultProxy(t);
  for (const name of ["kept", "deleted"]) await create(direct, podTemplates(namespace), name);
  const { seen, holds } = reflect(t, await admin(proxy.kubeconfig), podTemplates(namespace));
  await holds("the first list", ["deleted", "kept"]);

  // The watch drops and cannot come back while the world moves on and etcd forgets its history.
  proxy.inject = () => ({ code: 503, reason: "ServiceUnavailable" });
  proxy.cutAll();
  await remove(direct, podTemplates(namespace), "deleted");
  await create(direct, podTemplates(namespace), "created");
  const revision = await compactEtcd(plane);
  t.diagnostic(`compacted etcd at revision ${String(revision)}`);
  proxy.inject = () => undefined;

  await holds("the relist", ["created", "kept"]);
  assert.ok(
    seen.errors.some((e) => e instanceof ApiError && e.code === 410),
    `no 410 Gone was seen: ${seen.errors.map((e) => e.message).join("; ")}`,
  );
  assert.ok(seen.changes.includes("-deleted"), `the relist did not report the deletion: ${seen.changes.join(",")}`);
});

test("an API-server restart: the watch comes back and nothing changed meanwhile is lost", async (t) => {
  const namespace = await testNamespace(t);
  const { plane } = await testCluster();
  const client = await admin();
  await create(client, configMaps(namespace), "first", { app: "x" });
  const { holds, seen } = reflect(t, client, configMaps(namespace), { labelSelector: "app" });
  await holds("the first list", ["first"]);
  await restartApiServer(plane);
  await create(client, configMaps(namespace), "second", { app: "x" });
  await remove(client, configMaps(namespace), "first");
  await holds("the changes after the restart", ["second"], 30_000);
  assert.ok(seen.errors.length > 0, "the restart went unnoticed: the watch should have failed and come back");
});

test("a watch that goes silent is replaced after its idle timeout, and the change it hid arrives", async (t) => {
  const namespace = await testNamespace(t);
  const direct = await admin();
  const proxy = await testFaultProxy(t);
  // Lists pass; the first watch gets its headers and then silence.
  let stalled = 0;
  proxy.inject = (req) => (req.url?.includes("watch=true") && stalled++ === 0 ? STALL : undefined);
  const { reflector, holds, seen } = reflect(t, await admin(proxy.kubeconfig), configMaps(namespace), { idleTimeoutMs: 2000, labelSelector: "app" });
  await reflector.synced;
  await create(direct, configMaps(namespace), "hidden", { app: "x" });
  await holds("the change made during the silence", ["hidden"]);
  assert.equal(proxy.injected, 1);
  assert.ok(
    seen.errors.some((e) => /no data for 2000 ms/.test(e.message)),
    `the silent watch was not detected: ${seen.errors.map((e) => e.message).join("; ")}`,
  );
});
