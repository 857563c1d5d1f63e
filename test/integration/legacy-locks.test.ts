/**
 * The old sidecars' locks, for a drop-in migration: the record as JSON in the
 * `control-plane.alpha.kubernetes.io/leader` annotation of an Endpoints or ConfigMap object.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { kubectl, testNamespace } from "../support/cluster.ts";
import { FAST, startAgent, waitForOneLeader } from "../support/agents.ts";

for (const [lockType, resource] of [
  ["endpoints", "endpoints"],
  ["configmaps", "configmap"],
] as const) {
  test(`the ${lockType} lock elects, hands over, and keeps client-go's annotation record`, async (t) => {
    const namespace = await testNamespace(t);
    const agents = await Promise.all(
      ["pod-a", "pod-b"].map((id) => startAgent(t, { namespace, election: "legacy", id, args: [`-lock-type=${lockType}`, ...FAST] })),
    );
    const first = await waitForOneLeader(agents);
    const read = async (): Promise<Record<string, unknown>> => {
      const r = await kubectl([
        "get",
        resource,
        "legacy",
        "-n",
        namespace,
        "-o",
        "jsonpath={.metadata.annotations.control-plane\\.alpha\\.kubernetes\\.io/leader}",
      ]);
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as Record<string, unknown>;
    };
    const record = await read();
    assert.deepEqual(Object.keys(record), ["holderIdentity", "leaseDurationSeconds", "acquireTime", "renewTime", "leaderTransitions"]);
    assert.equal(record.holderIdentity, first.id);
    assert.equal(record.leaseDurationSeconds, 4);
    assert.equal(record.leaderTransitions, 0);
    assert.match(String(record.renewTime), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, "second precision, as client-go writes metav1.Time");

    first.kill("SIGTERM");
    assert.equal(await first.exited, 0);
    // This test is about the record; handover speed is the benchmark's, so allow up to twice the lease.
    const second = await waitForOneLeader(
      agents.filter((a) => a !== first),
      8000,
    );
    const after = await read();
    assert.equal(after.holderIdentity, second.id);
    assert.equal(after.leaderTransitions, 1);
    assert.equal((await second.status())?.fencing_token, 1);
  });
}
