/**
 * The API server restarts under a running election: no two leaders during the outage, one leader
 * after it, and every agent's watch back on the lock.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { restartApiServer } from "../cluster/controlplane.ts";
import { eventually, testCluster, testNamespace } from "../support/cluster.ts";
import { startAgent, waitForOneLeader, type Agent } from "../support/agents.ts";

async function leaders(agents: Agent[]): Promise<string[]> {
  const statuses = await Promise.all(agents.map((a) => a.status()));
  return statuses.filter((s) => s?.is_leader).map((s) => s?.node ?? "");
}

test("an API server restart in the middle of an election", async (t) => {
  const namespace = await testNamespace(t);
  const { plane } = await testCluster();
  // client-go's default timing: a leader rides out an outage shorter than its 10 s renew deadline.
  const agents = await Promise.all(["pod-a", "pod-b", "pod-c"].map((id) => startAgent(t, { namespace, election: "db", id, args: [] })));
  const before = await waitForOneLeader(agents);
  const tokenBefore = (await before.status())?.fencing_token ?? -1;

  const seen: string[][] = [];
  await restartApiServer(plane, async () => {
    for (let i = 0; i < 20; i++) {
      seen.push(await leaders(agents));
      await sleep(50);
    }
  });
  for (let i = 0; i < 20; i++) {
    seen.push(await leaders(agents));
    await sleep(100);
  }
  assert.ok(
    seen.every((l) => l.length <= 1),
    `two leaders at once: ${JSON.stringify(seen.find((l) => l.length > 1))}`,
  );

  const after = await waitForOneLeader(agents, 30_000);
  assert.ok(((await after.status())?.fencing_token ?? -1) >= tokenBefore);
  for (const a of agents) {
    await eventually(`${a.id}'s watch to reconnect`, async () => {
      const metrics = await a.get("/metrics");
      return /elector_lock_watch_connected\{name="db"\} 1/.test(String(metrics?.body)) ? true : undefined;
    });
  }
  t.diagnostic(`leader before: ${before.id}, after: ${after.id}`);
});
