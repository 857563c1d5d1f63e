/**
 * Bad input and a hostile world: one clear line and a non-zero exit for bad configuration; retries
 * without a crash loop for an unreachable API server; the missing RBAC rule named on 403; a
 * malformed record in an existing lock treated as expired; a claim whose answer is lost recognised.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { CoreV1Api, RbacAuthorizationV1Api } from "@kubernetes/client-node";
import { eventually, kubectl, runCommand, scratchDir, serviceAccountKubeconfig, testCluster, testNamespace, type Run } from "../support/cluster.ts";
import { assertNeverTwoLeaders, EXECUTABLE, freePort, startAgent, waitForOneLeader, type Agent } from "../support/agents.ts";
import { Random, runSeed } from "../support/random.ts";
import { LOSE_ANSWER, testFaultProxy } from "../support/faultproxy.ts";
import { assertTokensRise, recordLease } from "../support/lease.ts";
import { createLock } from "../../src/election/locks/index.ts";
import { KubeClient } from "../../src/kube/client.ts";
import { loadConnection } from "../../src/kube/kubeconfig.ts";

const silent = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

const MAIN = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));

/** `elector` run by Node from the source, or as the single executable: the same answers to bad input. */
const FORMS: [string, (args: string[], env?: NodeJS.ProcessEnv) => Promise<Run>][] = [
  ["run by Node", (args, env = process.env) => runCommand(process.execPath, [MAIN, ...args], { env, timeoutMs: 20_000 })],
  ["the single executable", (args, env = process.env) => runCommand(EXECUTABLE, args, { env, timeoutMs: 20_000 })],
];

/** Waits for the agent's first failed lock request, so that counting starts with its retries. */
function firstFailure(agent: Agent): Promise<true> {
  return eventually("the first failed request", () => Promise.resolve(agent.logged("lock request failed; retrying").length > 0 ? true : undefined));
}

test("bad configuration: one line on stderr, a non-zero exit, no stack trace", async (t) => {
  const dir = await scratchDir(t);
  const garbage = join(dir, "garbage.yaml");
  await writeFile(garbage, "this: [is not: a kubeconfig\n");
  const { plane } = await testCluster();
  const busy = await freePort();
  const blocker = (await import("node:net")).createServer().listen(busy, "127.0.0.1");
  t.after(() => blocker.close());
  const kc = `-kubeconfig=${plane.kubeconfig}`;
  const cases: [string[], RegExp, NodeJS.ProcessEnv?][] = [
    [["agent"], /missing required flag -election/],
    [["agent", "-election=db", "--lease-duration=5s", "--renew-deadline=6s"], /lease duration \(5s\) must be greater than renew deadline \(6s\)/],
    [["agent", "-election=db", "--renew-deadline=soon"], /invalid duration "soon" for --renew-deadline/],
    [["agent", "-election=db", "-lock-type=zookeeper"], /invalid -lock-type "zookeeper"/],
    [["agent", "-election=db", "-http=localhost"], /invalid HTTP address "localhost": want host:port/],
    [["agent", "-election=db", kc, `-http=127.0.0.1:${busy}`], new RegExp(`cannot listen on 127.0.0.1:${busy}: EADDRINUSE`)],
    [["agent", "-election=db", `-kubeconfig=${join(dir, "missing")}`], /kubeconfig .*missing does not exist/],
    [["agent", "-election=db", `-kubeconfig=${garbage}`], /cannot read kubeconfig .*garbage.yaml/],
    [["frobnicate"], /unknown command "frobnicate"/],
    [["agent", "-election=db", "--renew-deadline=1\nsecond line"], /invalid duration "1\\nsecond line" for --renew-deadline/],
  ];
  const nowhere: NodeJS.ProcessEnv = { ...process.env, HOME: dir };
  delete nowhere.KUBECONFIG;
  for (const [form, elector] of FORMS) {
    for (const [args, message, env] of [
      ...cases,
      [["agent", "-election=db"], /no kubeconfig: not running in a pod, \$KUBECONFIG is unset/, nowhere] as const,
    ]) {
      const r = await elector([...args], env);
      assert.notEqual(r.code, 0, `${form}: ${args.join(" ")} must fail`);
      const lines = r.stderr.trimEnd().split("\n");
      assert.match(lines[0] ?? "", message, `${form}: ${args.join(" ")}: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /^\s+at /m, `${form}: ${args.join(" ")} printed a stack trace`);
    }
  }
});

test("an unreachable API server is retried with backoff, without exiting", async (t) => {
  const namespace = await testNamespace(t);
  const dir = await scratchDir(t);
  const { plane } = await testCluster();
  const deadPort = await freePort();
  const kubeconfig = join(dir, "dead.kubeconfig");
  const text = (await import("node:fs/promises")).readFile(plane.kubeconfig, "utf8");
  await writeFile(kubeconfig, (await text).replace(/server: .*/, `server: https://127.0.0.1:${deadPort}`));
  const agent = await startAgent(t, { namespace, election: "db", id: "lonely", kubeconfig });
  await firstFailure(agent);
  await sleep(6000);
  assert.equal(agent.running, true, "the agent must keep trying, not exit");
  const failures = agent.logged("lock request failed; retrying");
  // Backoff 1 s, 2 s, 2 s… × jitter [1, 2.2): 2 to 4 failures in the 6 s from the first, not a tight loop.
  assert.ok(failures.length >= 2 && failures.length <= 5, `${failures.length} failures in the 6 s from the first`);
  assert.match(String(failures[0]?.err), /ECONNREFUSED|fetch failed|connect/);
  assert.equal((await agent.get("/readyz"))?.code, 503);
  assert.equal((await agent.status())?.is_leader, false);
});

test("503 and 429 from the API server are retried with backoff, and the agent leads once they stop", async (t) => {
  const namespace = await testNamespace(t);
  const proxy = await testFaultProxy(t);
  let fault: { code: number; reason: string } | undefined = { code: 503, reason: "ServiceUnavailable" };
  proxy.inject = (req) => (req.url?.includes("/leases") ? fault : undefined);
  const agent = await startAgent(t, { namespace, election: "db", id: "pod-a", kubeconfig: proxy.kubeconfig });
  await firstFailure(agent);
  await sleep(4000);
  // Longer than the longest backoff (2 s × 2.2), so at least one request meets the 429.
  fault = { code: 429, reason: "TooManyRequests" };
  await sleep(5000);
  const failures = agent.logged("lock request failed; retrying").map((l) => String(l.err));
  assert.ok(
    failures.some((e) => /503 ServiceUnavailable: injected 503/.test(e)),
    failures.join("\n"),
  );
  assert.ok(
    failures.some((e) => /429 TooManyRequests: injected 429/.test(e)),
    failures.join("\n"),
  );
  // Backoff as above: 3 to 6 failures in the 9 s from the first.
  assert.ok(failures.length >= 3 && failures.length <= 7, `${failures.length} failures in the 9 s from the first`);
  assert.equal(agent.running, true);
  assert.equal((await agent.status())?.is_leader, false);
  fault = undefined;
  await waitForOneLeader([agent], 15_000);
});

test("a claim whose answer is lost on the way back still starts leading, without waiting out the lease", async (t) => {
  const namespace = await testNamespace(t);
  const proxy = await testFaultProxy(t);
  const first = await startAgent(t, { namespace, election: "db", id: "pod-a" });
  await waitForOneLeader([first]);
  // pod-b's first write is its claim: the API server applies it, pod-b gets a dropped connection.
  proxy.inject = (req) => (req.method === "PUT" && proxy.injected === 0 ? LOSE_ANSWER : undefined);
  const second = await startAgent(t, { namespace, election: "db", id: "pod-b", kubeconfig: proxy.kubeconfig });
  await eventually("pod-b to follow", async () => ((await second.status())?.leader === "pod-a" ? true : undefined));
  const released = Date.now();
  first.kill("SIGTERM");
  await waitForOneLeader([second], 10_000);
  const elapsed = Date.now() - released;
  assert.equal(proxy.injected, 1);
  assert.equal(second.logged("a claim whose answer was lost had taken the lock").length, 1);
  assert.equal((await second.status())?.fencing_token, 1);
  // Waiting out its own record would take the 4 s lease.
  assert.ok(elapsed < 2000, `took ${elapsed} ms`);
});

test("403 names the missing RBAC rule, and the agent leads once it is granted", async (t) => {
  const namespace = await testNamespace(t);
  const dir = await scratchDir(t);
  const { kc } = await testCluster();
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: "member" } } });
  const kubeconfig = await serviceAccountKubeconfig(namespace, "member", dir);
  const agent = await startAgent(t, { namespace, election: "db", id: "member", kubeconfig });
  const denied = await eventually("a 403 in the log", () => {
    const line = agent.logged("lock request failed; retrying").find((l) => String(l.err).includes("403"));
    return Promise.resolve(line ? String(line.err) : undefined);
  });
  assert.match(denied, /403 Forbidden: .*cannot get resource "leases".*\(RBAC: grant get, create, update, watch on leases.coordination.k8s.io in namespace /);

  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  await rbac.createNamespacedRole({
    namespace,
    body: {
      metadata: { name: "elector-agent" },
      rules: [{ apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get", "create", "update", "watch"] }],
    },
  });
  await rbac.createNamespacedRoleBinding({
    namespace,
    body: {
      metadata: { name: "elector-agent" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "elector-agent" },
      subjects: [{ kind: "ServiceAccount", name: "member", namespace }],
    },
  });
  await waitForOneLeader([agent], 20_000);
});

test("a malformed record in an existing lock is logged and treated as expired", async (t) => {
  const namespace = await testNamespace(t);
  const created = await kubectl(
    ["create", "-n", namespace, "-f", "-"],
    JSON.stringify({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "db", annotations: { "control-plane.alpha.kubernetes.io/leader": "{not json" } },
    }),
  );
  assert.equal(created.code, 0, created.stderr);
  const agent = await startAgent(t, {
    namespace,
    election: "db",
    id: "pod-a",
    args: ["-lock-type=configmaps", "--lease-duration=4s", "--renew-deadline=3s", "--retry-period=1s"],
  });
  await waitForOneLeader([agent], 10_000);
  const warning = agent.logged("malformed record in the lock; treating it as expired");
  assert.equal(warning.length, 1);
  assert.match(String(warning[0]?.problem), /not JSON/);
});

test("the lock's watch never reports a read older than the lock's own write: a slow first read cannot end a new term", async (t) => {
  const namespace = await testNamespace(t);
  const proxy = await testFaultProxy(t);
  // The watch's read of the Lease is answered 404 two seconds late, after the lock has created the
  // Lease: an answer older than the lock's own write, which would read as "the term is lost".
  let reads = 0;
  proxy.inject = (req) => (req.method === "GET" && req.url?.endsWith("/leases/db") && reads++ === 0 ? { delayAnswerMs: 2000 } : undefined);
  const lock = createLock(new KubeClient(loadConnection(proxy.kubeconfig)), "leases", {
    identity: "pod-a",
    namespace,
    name: "db",
    requestTimeoutMs: 5000,
    log: silent,
  });
  const states: (string | undefined)[] = [];
  const stop = lock.watch(
    (state) => states.push(state?.record.holderIdentity),
    () => undefined,
  );
  t.after(stop);
  await eventually("the watch's read to reach the API server", () => Promise.resolve(reads > 0 ? true : undefined));
  const now = new Date();
  await lock.create({ holderIdentity: "pod-a", leaseDurationSeconds: 15, acquireTime: now, renewTime: now, leaderTransitions: 0 });
  await sleep(3000);
  assert.equal(proxy.injected, 1);
  assert.ok(!states.includes(undefined), `the watch reported the Lease absent after its creation: ${JSON.stringify(states)}`);
  assert.equal(states.at(-1), "pod-a");
});

test("an API server answering seconds late, with 429, 500 and 503 mixed in and watches cut: one leader at a time, rising tokens, a leader after", async (t) => {
  const namespace = await testNamespace(t);
  const proxy = await testFaultProxy(t);
  const seed = runSeed(20261205);
  const random = new Random(seed);
  /** The share of requests that meet a fault: half at first, then nearly all (renewals fail past the deadline), then none. */
  let share = 0.5;
  proxy.inject = (req) => {
    if (!req.url?.includes("/leases") || !random.chance(share)) return undefined;
    const roll = random.next();
    if (roll < 0.6) return { delayAnswerMs: 500 + random.below(4000) };
    if (roll < 0.8) return { code: 503, reason: "ServiceUnavailable" };
    if (roll < 0.9) return { code: 429, reason: "TooManyRequests" };
    return { code: 500, reason: "InternalError" };
  };
  // The observer watches the Lease directly, not through the proxy.
  const { plane } = await testCluster();
  const seen = recordLease(t, new KubeClient(loadConnection(plane.kubeconfig)), namespace, "db");
  // Request timeouts are renewDeadline / 2 = 3 s: some late answers arrive in time, some do not.
  const timing = ["--lease-duration=8s", "--renew-deadline=6s", "--retry-period=1s"];
  const agents = await Promise.all(
    ["pod-a", "pod-b", "pod-c"].map((id) => startAgent(t, { namespace, election: "db", id, kubeconfig: proxy.kubeconfig, args: timing })),
  );
  for (let round = 0; round < 8; round++) {
    if (round === 3) share = 0.95;
    await assertNeverTwoLeaders(agents, 2500);
    proxy.cutAll();
  }
  share = 0;
  const leader = await waitForOneLeader(agents, 20_000);
  for (const a of agents) assert.ok(a.running, `${a.id} exited: ${a.stderr}`);
  assertTokensRise(seen, `seed ${String(seed)}: `);
  t.diagnostic(
    `seed ${String(seed)}: ${String(proxy.injected)} faults injected; holders ${[...new Set(seen.map((s) => s.holder))].join(", ")}; ${leader.id} leads after`,
  );
  assert.ok(proxy.injected > 20, `only ${String(proxy.injected)} faults injected`);
});
