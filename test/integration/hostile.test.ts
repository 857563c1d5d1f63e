/**
 * Leases written by a hostile client, against the real API server, with agents and the operator as
 * processes: a record no candidate should honour (a 10 kB holder with a lease of 68 years, the most
 * the API server's validation lets through) is read as expired with one log line, the operator
 * says InvalidLease, and leadership is won at once; then a write that names an intruder and sets
 * leaseTransitions back ends that term, and the next one begins above every token seen before.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatMicroTime } from "../../src/election/record.ts";
import { KubeClient } from "../../src/kube/client.ts";
import { loadConnection } from "../../src/kube/kubeconfig.ts";
import { FAST, startAgent, waitForOneLeader } from "../support/agents.ts";
import { testCluster, testNamespace } from "../support/cluster.ts";
import { apply, startOperator, waitForElection } from "../support/operator.ts";

interface Lease {
  metadata: { name: string; resourceVersion?: string };
  spec: { holderIdentity?: string; leaseDurationSeconds?: number; leaseTransitions?: number; renewTime?: string; acquireTime?: string };
}

test("a hostile Lease reads as expired with one log line and InvalidLease; a write setting the count back ends the term, and tokens still rise", async (t) => {
  const namespace = await testNamespace(t);
  const client = new KubeClient(loadConnection((await testCluster()).plane.kubeconfig));
  const leases = `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`;
  const now = formatMicroTime(new Date());
  await client.request("POST", leases, {
    body: {
      metadata: { name: "db" },
      spec: { holderIdentity: "g".repeat(10_240), leaseDurationSeconds: 2 ** 31 - 1, leaseTransitions: 5, acquireTime: now, renewTime: now },
    },
    timeoutMs: 5000,
  });
  await startOperator(t, namespace);
  await apply(namespace, { apiVersion: "elector.dev/v1alpha1", kind: "Election", metadata: { name: "db" }, spec: {} });
  const shown = await waitForElection(namespace, "db", "InvalidLease", (e) =>
    (e.status?.conditions ?? []).some((c) => c.type === "LeaderElected" && c.reason === "InvalidLease"),
  );
  const invalid = shown.status?.conditions?.find((c) => c.type === "LeaderElected");
  assert.match(invalid?.message ?? "", /a holder identity of 10240 characters/);

  const agents = [
    await startAgent(t, { namespace, election: "db", id: "pod-a", args: FAST }),
    await startAgent(t, { namespace, election: "db", id: "pod-b", args: FAST }),
  ];
  const first = await waitForOneLeader(agents, 10_000);
  assert.equal((await first.status())?.fencing_token, 6);
  for (const a of agents) assert.equal(a.logged("malformed record in the lock; treating it as expired").length, 1, `${a.id} did not say it once`);
  await waitForElection(namespace, "db", `${first.id} elected`, (e) => e.status?.leader === first.id && e.status.transitions === 6);

  // The intruder: a valid record, a count set back to 1. The leader sees another holder and stops.
  const lease = await client.request<Lease>("GET", `${leases}/db`, { timeoutMs: 5000 });
  await client.request("PUT", `${leases}/db`, {
    body: { ...lease, spec: { ...lease.spec, holderIdentity: "intruder", leaseTransitions: 1, leaseDurationSeconds: 4 } },
    timeoutMs: 5000,
  });
  const next = await waitForOneLeader(agents, 15_000);
  const token = (await next.status())?.fencing_token ?? 0;
  assert.ok(token > 6, `the term after the intruder has token ${String(token)}, not above 6`);
  await waitForElection(namespace, "db", `${next.id} elected again`, (e) => e.status?.leader === next.id && e.status.transitions === token);
  t.diagnostic(`${first.id} led with token 6 over the hostile record; after the intruder, ${next.id} with ${String(token)}`);
});
