/**
 * `elector operator` on the real control plane: candidate pods are API objects whose status the
 * test sets, agents are real processes with --id=<pod name>, the operator is a real process.
 */
import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import { restartApiServer } from "../cluster/controlplane.ts";
import { FAST, startAgent, startPeer, waitForOneLeader, type Agent } from "../support/agents.ts";
import { eventually, kubectl, testCluster, testNamespace } from "../support/cluster.ts";
import {
  apply,
  createPod,
  getElection,
  labelled,
  sliceAddresses,
  startOperator,
  waitForElection,
  watchLeaderLabel,
  type RunningOperator,
} from "../support/operator.ts";

const PODS = [
  ["db-0", "10.1.0.10"],
  ["db-1", "10.1.0.11"],
  ["db-2", "10.1.0.12"],
] as const;

async function candidates(t: TestContext, namespace: string): Promise<Agent[]> {
  for (const [name, ip] of PODS) await createPod(namespace, name, { app: "db" }, ip);
  return Promise.all(PODS.map(([id]) => startAgent(t, { namespace, election: "db", id, args: FAST })));
}

const ELECTION = (namespace: string): object => ({
  apiVersion: "elector.dev/v1alpha1",
  kind: "Election",
  metadata: { name: "db", namespace },
  spec: { candidates: { selector: { matchLabels: { app: "db" } } }, leaderLabel: {}, service: { name: "db" } },
});

const SERVICE = (namespace: string, selector?: Record<string, string>): object => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name: "db", namespace },
  spec: { ports: [{ name: "sql", port: 5432, targetPort: "pg" }], ...(selector ? { selector } : {}) },
});

/** Service `db` (with `serviceSelector`, if given), three candidates with agents, an operator, then Election `db`; returns once one agent leads. */
async function electionUnderOperator(
  t: TestContext,
  serviceSelector?: Record<string, string>,
): Promise<{ namespace: string; agents: Agent[]; operator: RunningOperator; leader: Agent }> {
  const namespace = await testNamespace(t);
  await apply(namespace, SERVICE(namespace, serviceSelector));
  const agents = await candidates(t, namespace);
  const operator = await startOperator(t, namespace);
  await apply(namespace, ELECTION(namespace));
  return { namespace, agents, operator, leader: await waitForOneLeader(agents) };
}

test("an Election shows who leads, labels the leader pod, keeps the Service's EndpointSlice on it, and follows a handover", async (t) => {
  const { namespace, agents, operator, leader: first } = await electionUnderOperator(t);
  const ip = new Map<string, string>(PODS);

  const elected = await waitForElection(
    namespace,
    "db",
    `status naming ${first.id}, ready`,
    (e) => e.status?.leader === first.id && e.status.conditions?.find((c) => c.type === "Ready")?.status === "True",
  );
  assert.deepEqual(elected.status?.leaderPod, { name: first.id, ip: ip.get(first.id) });
  assert.deepEqual(elected.status.candidates, { total: 3, ready: 3 });
  assert.equal(elected.status.transitions, 0);
  assert.equal(elected.status.leaseDurationSeconds, 4);
  assert.equal(elected.status.observedGeneration, elected.metadata.generation);
  for (const c of elected.status.conditions ?? []) assert.equal(c.observedGeneration, elected.metadata.generation, c.type);
  assert.ok(elected.metadata.finalizers?.includes("elector.dev/cleanup"));
  await eventually("the label on the leader only", async () => ((await labelled(namespace, "leader", "true")).join() === first.id ? true : undefined));
  await eventually("the slice on the leader", async () => ((await sliceAddresses(namespace, "db")).join() === ip.get(first.id) ? true : undefined));
  const slice = JSON.parse(
    (await kubectl(["get", "endpointslices", "-n", namespace, "-l", "endpointslice.kubernetes.io/managed-by=elector.dev", "-o", "json"])).stdout,
  ) as {
    items: { ports: unknown[]; metadata: { ownerReferences: { kind: string; name: string }[] } }[];
  };
  assert.deepEqual(slice.items[0]?.ports, [{ name: "sql", port: 5432, protocol: "TCP" }], "the named targetPort resolved from the pod's container port");
  assert.deepEqual(
    slice.items[0].metadata.ownerReferences.map((r) => `${r.kind}/${r.name}`),
    ["Election/db"],
  );

  const labels = await watchLeaderLabel(namespace, "leader", "true");
  first.kill("SIGTERM");
  const second = await waitForOneLeader(agents.filter((a) => a !== first));
  const moved = await waitForElection(namespace, "db", `status naming ${second.id}`, (e) => e.status?.leader === second.id);
  await eventually("the label on the new leader", async () => ((await labelled(namespace, "leader", "true")).join() === second.id ? true : undefined));
  await eventually("the slice on the new leader", async () => ((await sliceAddresses(namespace, "db")).join() === ip.get(second.id) ? true : undefined));
  assert.deepEqual(await labels.stop(), [first.id, second.id], "the label moved once, and never sat on two pods");
  assert.equal(moved.status?.transitions, 1);
  assert.deepEqual(
    moved.status.history?.map((h) => [h.leader, h.reason, h.transitions]),
    [[first.id, "Released", 0]],
  );
  // The first leader's Event opens a LeaderChanged series, which the second leader's joins.
  // Events follow the status (they are written after it): waited for.
  const events = await eventually("the Events of both terms", async () => {
    const listed = await kubectl([
      "get",
      "events.events.k8s.io",
      "-n",
      namespace,
      "-o",
      'jsonpath={range .items[*]}{.reason} {.series.count} {.note}{"\\n"}{end}',
    ]);
    return /LeaderChanged 2 /.test(listed.stdout) ? listed.stdout : undefined;
  });
  assert.match(events, new RegExp(`LeaderReleased  ${first.id} no longer leads`));
  assert.match(events, new RegExp(`LeaderChanged 2 ${first.id} leads now`));

  const metrics = await operator.metrics();
  const of = `namespace="${namespace}",election="db"`;
  assert.match(metrics, new RegExp(`elector_election_info\\{${of},lease="db",leader="${second.id}"\\} 1`));
  assert.match(metrics, new RegExp(`elector_election_status_condition\\{${of},condition="Ready",status="true"\\} 1`));
  assert.match(metrics, new RegExp(`elector_election_transitions_total\\{${of}\\} 1`));
  assert.match(metrics, /controller_runtime_reconcile_total\{controller="election",result="requeue_after"\} [1-9]/);
  assert.match(metrics, /workqueue_adds_total\{name="election",controller="election"\} [1-9]/);
  assert.match(metrics, /rest_client_requests_total\{code="200",method="PUT",host="[^"]+"\} [1-9]/);
  assert.equal((await operator.process.get("/readyz"))?.code, 200);
});

test("kubectl get elections shows LEADER, TRANSITIONS, READY and AGE; -o wide adds SERVICE, RENEWED and the Ready reason, AGE still last", async (t) => {
  const { namespace, leader } = await electionUnderOperator(t);
  await waitForElection(namespace, "db", "ready", (e) => e.status?.conditions?.find((c) => c.type === "Ready")?.status === "True");
  const table = await kubectl(["get", "el", "-n", namespace]);
  assert.match(table.stdout, /^NAME\s+LEADER\s+TRANSITIONS\s+READY\s+AGE\n/);
  assert.match(table.stdout, new RegExp(`\\ndb\\s+${leader.id}\\s+0\\s+True\\s+\\d+s\\n`));
  const wide = await kubectl(["get", "elections", "-n", namespace, "-o", "wide"]);
  assert.match(wide.stdout, /^NAME\s+LEADER\s+TRANSITIONS\s+READY\s+SERVICE\s+RENEWED\s+REASON\s+AGE\n/);
  assert.match(wide.stdout, new RegExp(`\\ndb\\s+${leader.id}\\s+0\\s+True\\s+db\\s+\\d+s\\s+Ready\\s+\\d+s\\n`));
  const category = await kubectl(["get", "elector", "-n", namespace, "-o", "name"]);
  assert.equal(category.stdout, "election.elector.dev/db\n", "the category elector lists Elections");
});

test("a Service with a selector is refused with a condition; deleting the Election undoes its routing", async (t) => {
  const { namespace, leader } = await electionUnderOperator(t, { app: "db" });
  const refused = await waitForElection(
    namespace,
    "db",
    "Routed=False",
    (e) => e.status?.conditions?.find((c) => c.type === "Routed")?.reason === "ServiceHasSelector",
  );
  assert.equal(refused.status?.conditions?.find((c) => c.type === "Ready")?.status, "False");
  assert.deepEqual(await sliceAddresses(namespace, "db"), [], "no slice fights the endpointslice controller");
  await eventually("the label on the leader", async () => ((await labelled(namespace, "leader", "true")).join() === leader.id ? true : undefined));

  const deleted = await kubectl(["delete", "election", "db", "-n", namespace, "--wait=true", "--timeout=20s"]);
  assert.equal(deleted.code, 0, deleted.stderr);
  assert.equal(await getElection(namespace, "db"), undefined);
  assert.deepEqual(await labelled(namespace, "leader", "true"), [], "the finalizer took the label off first");
  const lease = await kubectl(["get", "lease", "db", "-n", namespace, "-o", "jsonpath={.spec.holderIdentity}"]);
  assert.equal(lease.stdout, leader.id, "the Lease is left to its holders");
});

test("a labelled leader pod that leaves the selector loses the label, also when the Election is deleted meanwhile", async (t) => {
  const { namespace, agents, operator, leader: first } = await electionUnderOperator(t);
  await eventually("the label on the leader", async () => ((await labelled(namespace, "leader", "true")).join() === first.id ? true : undefined));
  const labels = await watchLeaderLabel(namespace, "leader", "true");

  // Still the Lease's holder, but no candidate any more: the operator takes back the label it gave.
  await kubectl(["label", "pod", first.id, "-n", namespace, "app=retired", "--overwrite"]);
  await waitForElection(
    namespace,
    "db",
    "LeaderNotACandidate",
    (e) => e.status?.conditions?.find((c) => c.type === "Routed")?.reason === "LeaderNotACandidate",
  );
  await eventually("no labelled pod", async () => ((await labelled(namespace, "leader", "true")).length === 0 ? true : undefined));
  first.kill("SIGTERM");
  const second = await waitForOneLeader(agents.filter((a) => a !== first));
  await eventually("the label on the new leader", async () => ((await labelled(namespace, "leader", "true")).join() === second.id ? true : undefined));
  assert.deepEqual(await labels.stop(), [first.id, second.id], "never on two pods");
  await waitForElection(namespace, "db", `status naming ${second.id}'s pod`, (e) => e.status?.leaderPod?.name === second.id);

  // The same while no operator runs, and the Election is deleted before one is back: its finalizer cleans up.
  operator.process.kill("SIGTERM");
  await operator.process.exited;
  await kubectl(["label", "pod", second.id, "-n", namespace, "app=retired", "--overwrite"]);
  assert.equal((await kubectl(["delete", "election", "db", "-n", namespace, "--wait=false"])).code, 0);
  await startOperator(t, namespace);
  await eventually("the Election gone", async () => ((await getElection(namespace, "db")) === undefined ? true : undefined));
  assert.deepEqual(await labelled(namespace, "leader", "true"), [], "the finalizer took the label off the pod outside the selector");
});

test("preferredHolder: leadership moves to that pod and the field stays; an impossible one fails with a reason and waits before it tries again", async (t) => {
  const { namespace, agents, leader: first } = await electionUnderOperator(t);
  await waitForElection(namespace, "db", "ready", (e) => e.status?.conditions?.find((c) => c.type === "Ready")?.status === "True");
  const target = agents.find((a) => a !== first) ?? first;

  const patched = await kubectl(["patch", "election", "db", "-n", namespace, "--type=merge", "-p", JSON.stringify({ spec: { preferredHolder: target.id } })]);
  assert.equal(patched.code, 0, patched.stderr);
  const done = await waitForElection(namespace, "db", `${target.id} leading`, (e) => e.status?.leader === target.id && e.status.handover === undefined);
  assert.equal(done.status?.history?.[0]?.reason, "HandedOver");
  assert.equal(done.spec.preferredHolder, target.id, "the operator never writes spec");
  assert.equal((await target.status())?.is_leader, true);
  const annotation = await kubectl(["get", "lease", "db", "-n", namespace, "-o", "jsonpath={.metadata.annotations}"]);
  assert.doesNotMatch(annotation.stdout, /preferred-holder/, "the request is withdrawn from the Lease once that pod leads");

  await kubectl([
    "patch",
    "election",
    "db",
    "-n",
    namespace,
    "--type=merge",
    "-p",
    JSON.stringify({ spec: { preferredHolder: "db-9", handoverTimeoutSeconds: 2 } }),
  ]);
  const failed = await waitForElection(
    namespace,
    "db",
    "HandoverFailed",
    (e) => e.status?.conditions?.find((c) => c.type === "HandoverFailed")?.status === "True",
  );
  assert.match(
    failed.status?.conditions?.find((c) => c.type === "HandoverFailed")?.message ?? "",
    /^handover to db-9 gave up after 2s: db-9 is not a pod selected by candidates.selector; the next try in 2s$/,
  );
  const retrying = await waitForElection(namespace, "db", "a second failure", (e) => (e.status?.handover?.failures ?? 0) >= 2);
  assert.equal(retrying.spec.preferredHolder, "db-9");
  assert.equal((await target.status())?.is_leader, true, "leadership stayed where it was");

  await kubectl(["patch", "election", "db", "-n", namespace, "--type=json", "-p", JSON.stringify([{ op: "remove", path: "/spec/preferredHolder" }])]);
  await waitForElection(namespace, "db", "the handover ended with the field", (e) => e.status?.handover === undefined);
});

test("an Election over a client-go program's Lease shows its leader", async (t) => {
  const namespace = await testNamespace(t);
  const peer = await startPeer(t, { namespace, election: "controller", id: "go-controller-0", args: FAST });
  await waitForOneLeader([peer]);
  await startOperator(t, namespace);
  await apply(namespace, { apiVersion: "elector.dev/v1alpha1", kind: "Election", metadata: { name: "controller", namespace }, spec: {} });
  const shown = await waitForElection(namespace, "controller", "the peer as leader", (e) => e.status?.leader === "go-controller-0");
  assert.equal(shown.status?.conditions?.find((c) => c.type === "LeaderElected")?.status, "True");
  assert.equal(
    shown.status.conditions.find((c) => c.type === "Routed"),
    undefined,
    "no routing was asked for",
  );
  peer.kill("SIGTERM");
  await waitForElection(namespace, "controller", "the peer's release", (e) => e.status?.leader === "" && e.status.history?.[0]?.reason === "Released");
});

test("with --leader-elect only one operator reconciles, and a standby takes over within the lease", async (t) => {
  const namespace = await testNamespace(t);
  await apply(namespace, SERVICE(namespace));
  const agents = await candidates(t, namespace);
  const ha = (id: string): string[] => ["--leader-elect", `--leader-elect-namespace=${namespace}`, `--id=${id}`, ...FAST];
  const operators = [await startOperator(t, namespace, ha("op-a")), await startOperator(t, namespace, ha("op-b"))];
  await apply(namespace, ELECTION(namespace));
  const leaderAgent = await waitForOneLeader(agents);
  await waitForElection(
    namespace,
    "db",
    "ready",
    (e) => e.status?.leader === leaderAgent.id && e.status.conditions?.find((c) => c.type === "Ready")?.status === "True",
  );
  const active = async (): Promise<boolean[]> =>
    Promise.all(operators.map(async (o) => /leader_election_master_status\{name="elector-operator"\} 1/.test(await o.metrics().catch(() => ""))));
  const roles = await eventually("one active operator", async () => {
    const r = await active();
    return r.filter(Boolean).length === 1 ? r : undefined;
  });
  const [leaderOp, standby] = roles[0] ? [operators[0], operators[1]] : [operators[1], operators[0]];
  assert.ok(leaderOp && standby);
  assert.doesNotMatch(await standby.metrics(), /controller_runtime_reconcile_total\{[^}]*\} [1-9]/, "the standby reconciles nothing");
  // client-go's leader-election families come from both replicas' own election, as from an agent's.
  for (const o of operators) assert.match(await o.metrics(), /^leader_election_slowpath_total\{name="elector-operator"\} \d+$/m);

  const killedAt = Date.now();
  leaderOp.process.kill("SIGKILL");
  await eventually(
    "the standby to take over",
    async () => (/leader_election_master_status\{name="elector-operator"\} 1/.test(await standby.metrics()) ? true : undefined),
    10_000,
  );
  const tookOver = Date.now() - killedAt;
  assert.ok(tookOver < 4000 + 2000, `standby took over after ${tookOver} ms (lease 4 s)`);
  leaderAgent.kill("SIGTERM");
  const next = await waitForOneLeader(agents.filter((a) => a !== leaderAgent));
  await waitForElection(namespace, "db", `the new operator following ${next.id}`, (e) => e.status?.leader === next.id);
  await eventually("the label on the new leader", async () => ((await labelled(namespace, "leader", "true")).join() === next.id ? true : undefined));
});

test("after an operator restart and an API-server restart the status converges to the truth", async (t) => {
  const { namespace, agents, operator: first, leader } = await electionUnderOperator(t);
  await waitForElection(namespace, "db", "ready", (e) => e.status?.leader === leader.id);

  // Leadership moves while no operator runs.
  first.process.kill("SIGTERM");
  await first.process.exited;
  leader.kill("SIGTERM");
  const second = await waitForOneLeader(agents.filter((a) => a !== leader));
  await startOperator(t, namespace);
  await waitForElection(namespace, "db", `${second.id} after the operator's restart`, (e) => e.status?.leader === second.id);
  await eventually("the label on it", async () => ((await labelled(namespace, "leader", "true")).join() === second.id ? true : undefined));

  // And while the API server is down.
  const { plane } = await testCluster();
  await restartApiServer(plane, async () => {
    second.kill("SIGTERM");
    await second.exited;
  });
  const third = await waitForOneLeader(
    agents.filter((a) => a !== leader && a !== second),
    30_000,
  );
  await waitForElection(namespace, "db", `${third.id} after the API server's restart`, (e) => e.status?.leader === third.id, 60_000);
  await eventually(
    "the slice on it",
    async () => ((await sliceAddresses(namespace, "db")).join() === new Map<string, string>(PODS).get(third.id) ? true : undefined),
    30_000,
  );
});

test("a new Election's first leader is an Event, and a leader that flaps a hundred times is one more Event with a series, not a hundred", async (t) => {
  const namespace = await testNamespace(t);
  for (const [name, ip] of PODS.slice(0, 2)) await createPod(namespace, name, { app: "db" }, ip);
  await startOperator(t, namespace);
  // The test plays the candidates: each flap is the write an acquiring agent makes.
  const spec = (holder: string, transitions: number): object => {
    const now = new Date().toISOString().replace(/Z$/, "000Z");
    return { holderIdentity: holder, leaseDurationSeconds: 3600, acquireTime: now, renewTime: now, leaseTransitions: transitions };
  };
  // Retried: the test before this one restarts the API server, which may still be settling.
  await eventually("the Lease to be created", async () => {
    const lease = { apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name: "db", namespace }, spec: spec("db-0", 0) };
    const created = await kubectl(["create", "-f", "-"], JSON.stringify(lease));
    return created.code === 0 || /AlreadyExists/.test(created.stderr) ? true : undefined;
  });
  await apply(namespace, { ...(ELECTION(namespace) as Record<string, unknown>), spec: { candidates: { selector: { matchLabels: { app: "db" } } } } });
  await waitForElection(namespace, "db", "the first leader", (e) => e.status?.leader === "db-0");
  for (let term = 1; term <= 100; term++) {
    const holder = PODS[term % 2]?.[0] ?? "";
    const patched = await kubectl(["patch", "lease", "db", "-n", namespace, "--type=merge", "-p", JSON.stringify({ spec: spec(holder, term) })]);
    assert.equal(patched.code, 0, patched.stderr);
    // Each flap seen on its own, so that each is an Event's worth of news.
    await waitForElection(namespace, "db", `term ${String(term)}`, (e) => e.status?.transitions === term);
  }
  const listed = await kubectl(["get", "events.events.k8s.io", "-n", namespace, "-o", "json", `--field-selector=regarding.name=db`]);
  assert.equal(listed.code, 0, listed.stderr);
  const events = (JSON.parse(listed.stdout) as { items: { reason: string; note: string; series?: { count: number } }[] }).items.filter(
    (e) => e.reason === "LeaderChanged",
  );
  t.diagnostic(`LeaderChanged Events: ${JSON.stringify(events.map((e) => ({ note: e.note, count: e.series?.count })))}`);
  assert.equal(events.length, 1, `${String(events.length)} Event objects for 101 leadership changes`);
  const [event] = events;
  assert.ok(event);
  assert.equal(event.note, "db-0 leads now", "the first leader's Event opens the series");
  assert.ok((event.series?.count ?? 0) >= 2, "the repeats are counted in its series");
});
