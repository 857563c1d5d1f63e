/**
 * elector agents and client-go programs (test/peer, tools/leaderelection with a LeaseLock) on one
 * Lease: one leader at any time, takeovers in both directions, each side reading the other's
 * records, client-go's release record understood.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { kubectl, testNamespace } from "../support/cluster.ts";
import { assertNeverTwoLeaders, startAgent, startPeer, waitForOneLeader } from "../support/agents.ts";

async function leaseSpec(namespace: string): Promise<Record<string, unknown>> {
  const r = await kubectl(["get", "lease", "mixed", "-n", namespace, "-o", "jsonpath={.spec}"]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

test("a mixed group of elector agents and client-go peers has one leader at any time", async (t) => {
  const namespace = await testNamespace(t);
  const election = "mixed";
  const group = [
    await startAgent(t, { namespace, election, id: "elector-1" }),
    await startPeer(t, { namespace, election, id: "client-go-1" }),
    await startAgent(t, { namespace, election, id: "elector-2" }),
    await startPeer(t, { namespace, election, id: "client-go-2" }),
  ];
  let leader = await waitForOneLeader(group, 30_000);
  // Kill leaders one after another, gracefully and not, and watch the lease move between the kinds.
  for (const signal of ["SIGTERM", "SIGKILL", "SIGTERM"] as const) {
    await assertNeverTwoLeaders(group, 1000);
    leader.kill(signal);
    await leader.exited;
    const rest = group.filter((c) => c.running);
    await assertNeverTwoLeaders(rest, 500);
    leader = await waitForOneLeader(rest, 15_000);
  }
  const spec = await leaseSpec(namespace);
  assert.equal(spec.holderIdentity, leader.id);
  assert.equal(spec.leaseTransitions, 3);
});

test("client-go takes over from elector, and elector from client-go after its release record", async (t) => {
  const namespace = await testNamespace(t);
  const election = "mixed";
  const agent = await startAgent(t, { namespace, election, id: "elector-1" });
  await waitForOneLeader([agent]);
  const peer = await startPeer(t, { namespace, election, id: "client-go-1" });
  await sleep(1500);
  agent.kill("SIGTERM");
  assert.equal(await agent.exited, 0);
  // client-go polls every 1–2.2 s; it takes the released lease at its next poll.
  await waitForOneLeader([peer], 5000);
  assert.deepEqual(
    { holder: (await leaseSpec(namespace)).holderIdentity, transitions: (await leaseSpec(namespace)).leaseTransitions },
    { holder: "client-go-1", transitions: 1 },
  );

  const successor = await startAgent(t, { namespace, election, id: "elector-2" });
  await sleep(1500);
  assert.equal((await successor.status())?.leader, "client-go-1", "elector reads client-go's record");
  const released = Date.now();
  peer.kill("SIGTERM");
  await waitForOneLeader([successor], 5000);
  const elapsed = Date.now() - released;
  // client-go released (holder "", leaseDurationSeconds 1): elector must not wait out the 4 s lease.
  assert.ok(elapsed < 2000, `takeover after client-go's release took ${elapsed} ms`);
  assert.ok(
    successor.logs.some((l) => l.msg === "no leader"),
    "elector saw the release record",
  );
  assert.equal((await successor.status())?.fencing_token, 2);
});
