/**
 * Events as client-go's recorder writes them, against the real API server (on a fake clock for
 * the recorder's own timers): a repeated Event becomes one object with a growing series, and a
 * series that has been quiet for six minutes is finished.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { KubeClient } from "../../src/kube/client.ts";
import { loadConnection } from "../../src/kube/kubeconfig.ts";
import type { Election } from "../../src/operator/election.ts";
import { EventRecorder, SERIES_FINISH_MS, SERIES_WRITE_MS } from "../../src/operator/events.ts";
import { eventually, testCluster, testNamespace } from "../support/cluster.ts";
import { FakeClock } from "../support/fakeclock.ts";

interface EventObject {
  metadata: { name: string };
  reason: string;
  note: string;
  series?: { count: number; lastObservedTime: string };
}

const silent = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

test("a repeated Event is one object whose series counts the repeats; six quiet minutes end the series", async (t) => {
  const namespace = await testNamespace(t);
  const client = new KubeClient(loadConnection((await testCluster()).plane.kubeconfig));
  const clock = new FakeClock();
  const recorder = new EventRecorder(client, { identity: "test", clock, log: silent, requestTimeoutMs: 5000 });
  const election: Election = { metadata: { name: "db", namespace, uid: "uid-db" }, spec: {} };
  const events = async (): Promise<EventObject[]> =>
    (await client.request<{ items: EventObject[] }>("GET", `/apis/events.k8s.io/v1/namespaces/${namespace}/events`, { timeoutMs: 5000 })).items;

  for (let i = 0; i < 100; i++) await recorder.record(election, { type: "Normal", reason: "LeaderChanged", note: `pod-${String(i % 2)} leads now` });
  await recorder.record(election, { type: "Warning", reason: "HandoverFailed", note: "another kind of event" });
  let stored = await events();
  assert.deepEqual(stored.map((e) => e.reason).sort(), ["HandoverFailed", "LeaderChanged"], "a hundred repeats made one Event");
  const changed = (): EventObject | undefined => stored.find((e) => e.reason === "LeaderChanged");
  assert.equal(changed()?.note, "pod-0 leads now", "the series keeps its first note");
  assert.equal(changed()?.series?.count, 2, "the first repeat is written at once");

  await clock.advance(SERIES_WRITE_MS);
  stored = await eventually("the gathered count to be written", async () => {
    const now = await events();
    return now.find((e) => e.reason === "LeaderChanged")?.series?.count === 100 ? now : undefined;
  });

  await clock.advance(SERIES_FINISH_MS);
  await recorder.record(election, { type: "Normal", reason: "LeaderChanged", note: "pod-1 leads now" });
  stored = await events();
  assert.equal(stored.filter((e) => e.reason === "LeaderChanged").length, 2, "after six quiet minutes a repeat starts a new Event");
  await recorder.stop();
});
