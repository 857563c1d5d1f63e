/**
 * 1,000 generated mutations of a valid Election spec (seeded: ELECTOR_SEED replays a run), sent to
 * the real API server with an operator watching: each is refused at admission with a message (the
 * CRD's schema and CEL rules), or accepted and reconciled, its status saying with a condition
 * what holds. The operator must survive all of them, its queue must drain, and every accepted
 * Election must be deletable (the operator removes its finalizer).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ApiError, KubeClient } from "../../src/kube/client.ts";
import { loadConnection } from "../../src/kube/kubeconfig.ts";
import type { Election } from "../../src/operator/election.ts";
import { eventually, testCluster, testNamespace } from "../support/cluster.ts";
import { startOperator } from "../support/operator.ts";
import { Random, runSeed } from "../support/random.ts";

const CASES = 1000;
const VALID = {
  leaseName: "db",
  candidates: { selector: { matchLabels: { app: "db" }, matchExpressions: [{ key: "tier", operator: "In", values: ["primary"] }] } },
  leaderLabel: { key: "leader", value: "true" },
  service: { name: "db-primary" },
  preferredHolder: "db-1",
  handoverTimeoutSeconds: 30,
};
const GARBAGE: unknown[] = [
  null,
  "",
  " ",
  "db",
  "DB",
  "-db",
  "db-",
  "a/b",
  "example.com/leader",
  "x".repeat(64),
  "x".repeat(300),
  "🦄",
  "In",
  "Exists",
  "Maybe",
  0,
  -1,
  1,
  3600,
  3601,
  2 ** 31,
  1.5,
  true,
  [],
  ["a", "b"],
  {},
  { app: "db" },
  { "bad key!": "v" },
  { app: "bad value!" },
];

/** Every path into VALID, objects and arrays included: where a mutation may land. */
function paths(value: unknown, at: (string | number)[] = []): (string | number)[][] {
  if (value === null || typeof value !== "object") return [at];
  const children = Array.isArray(value) ? value.map((v, i) => paths(v, [...at, i])) : Object.entries(value).map(([k, v]) => paths(v, [...at, k]));
  return [at, ...children.flat()];
}

function mutate(random: Random): Record<string, unknown> {
  const spec = structuredClone(VALID) as Record<string, unknown>;
  for (let n = 1 + random.below(3); n > 0; n--) {
    const path = random.pick(paths(spec).filter((p) => p.length > 0));
    const parent = path.slice(0, -1).reduce<unknown>((o, k) => (o as Record<string | number, unknown>)[k], spec) as Record<string | number, unknown>;
    const key = path.at(-1) ?? "";
    if (random.chance(0.25)) Reflect.deleteProperty(parent, key);
    else if (random.chance(0.1)) parent[`extra${String(random.below(9))}`] = random.pick(GARBAGE);
    else parent[key] = structuredClone(random.pick(GARBAGE));
  }
  return spec;
}

test("1,000 mutated Election specs: each refused with a message, or reconciled with a condition; the operator survives and its queue drains", async (t) => {
  const namespace = await testNamespace(t);
  const client = new KubeClient(loadConnection((await testCluster()).plane.kubeconfig));
  const operator = await startOperator(t, namespace);
  const collection = `/apis/elector.dev/v1alpha1/namespaces/${namespace}/elections`;
  const seed = runSeed(20261204);
  const random = new Random(seed);
  const accepted: string[] = [];
  const refusals = new Map<number, number>();
  for (let i = 0; i < CASES; i++) {
    const spec = mutate(random);
    const name = `f-${String(i)}`;
    try {
      await client.request("POST", collection, { body: { apiVersion: "elector.dev/v1alpha1", kind: "Election", metadata: { name }, spec }, timeoutMs: 10_000 });
      accepted.push(name);
    } catch (err) {
      assert.ok(err instanceof ApiError && err.code >= 400 && err.code < 500, `seed ${String(seed)}, ${name}: ${String(err)} for ${JSON.stringify(spec)}`);
      assert.ok(err.message.length > 0, `seed ${String(seed)}, ${name}: refused without a message`);
      refusals.set(err.code, (refusals.get(err.code) ?? 0) + 1);
    }
  }
  t.diagnostic(`seed ${String(seed)}: ${String(accepted.length)} accepted, refused ${JSON.stringify(Object.fromEntries(refusals))}`);
  assert.ok(accepted.length > 50 && accepted.length < CASES - 50, "the generator should make both kinds");

  const reconciled = await eventually(
    "every accepted Election reconciled",
    async () => {
      const list = await client.request<{ items: Election[] }>("GET", collection, { timeoutMs: 30_000 });
      const done = list.items.filter(
        (e) => e.status?.observedGeneration === e.metadata.generation && (e.status?.conditions ?? []).some((c) => c.type === "LeaderElected"),
      );
      return done.length === accepted.length ? list.items : undefined;
    },
    120_000,
  );
  const reasons = new Map<string, number>();
  for (const e of reconciled) for (const c of e.status?.conditions ?? []) reasons.set(`${c.type}/${c.reason}`, (reasons.get(`${c.type}/${c.reason}`) ?? 0) + 1);
  t.diagnostic(`conditions: ${JSON.stringify(Object.fromEntries(reasons))}`);
  assert.ok(operator.process.running, "the operator exited");
  let depth = "";
  await eventually(
    "the operator's queue empty",
    async () => {
      depth = /^workqueue_depth\b.*$/m.exec(await operator.metrics())?.[0] ?? "no workqueue_depth";
      return depth.endsWith(" 0") ? true : undefined;
    },
    30_000,
  ).catch((err: unknown) => {
    throw new Error(`${err instanceof Error ? err.message : String(err)}: ${depth}`);
  });

  await client.request("DELETE", collection, { timeoutMs: 30_000 });
  await eventually(
    "every Election gone (its finalizer removed)",
    async () => ((await client.request<{ items: unknown[] }>("GET", collection, { timeoutMs: 30_000 })).items.length === 0 ? true : undefined),
    120_000,
  );
});
