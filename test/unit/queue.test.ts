/** The operator's work queue: de-duplication, one worker per key, delays and per-key backoff. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { WorkQueue } from "../../src/operator/queue.ts";
import { FakeClock } from "../support/fakeclock.ts";

test("a key waits once however often it is added, and never goes to two workers at once", async () => {
  const q = new WorkQueue(new FakeClock());
  q.add("a");
  q.add("b");
  q.add("a");
  assert.equal(q.length, 2);
  assert.equal(await q.get(), "a");
  // Added again while in work: held back until done, then queued once.
  q.add("a");
  q.add("a");
  assert.equal(await q.get(), "b");
  const next = q.get();
  let got: string | undefined;
  void next.then((k) => (got = k));
  await Promise.resolve();
  assert.equal(got, undefined, "nothing else is ready while a is in work");
  q.done("a");
  assert.equal(await next, "a");
  q.done("a");
  q.done("b");
  assert.equal(q.length, 0);
});

test("delayed adds: the earliest pending one wins, and an immediate add does not wait for it", async () => {
  const clock = new FakeClock();
  const q = new WorkQueue(clock);
  q.addAfter("a", 1000);
  q.addAfter("a", 300);
  q.addAfter("a", 5000);
  await clock.advance(299);
  assert.equal(q.length, 0);
  await clock.advance(1);
  assert.equal(q.length, 1);
  assert.equal(await q.get(), "a");
  q.done("a");
  await clock.advance(10_000);
  assert.equal(q.length, 0, "the later delays were dropped");
});

test("failing keys back off exponentially up to the cap; forget starts over", async () => {
  const clock = new FakeClock();
  const q = new WorkQueue(clock, { baseMs: 10, maxMs: 50 });
  const delays: number[] = [];
  for (let i = 0; i < 5; i++) {
    const start = clock.monotonic();
    q.addRateLimited("a");
    while (q.length === 0) await clock.advance(1);
    delays.push(clock.monotonic() - start);
    assert.equal(await q.get(), "a");
    q.done("a");
  }
  assert.deepEqual(delays, [10, 20, 40, 50, 50]);
  q.forget("a");
  const start = clock.monotonic();
  q.addRateLimited("a");
  while (q.length === 0) await clock.advance(1);
  assert.equal(clock.monotonic() - start, 10);
});

test("shutting down releases waiting workers and drops delayed keys", async () => {
  const clock = new FakeClock();
  const q = new WorkQueue(clock);
  const waiting = q.get();
  q.addAfter("a", 100);
  q.shutDown();
  assert.equal(await waiting, undefined);
  await clock.advance(200);
  assert.equal(q.length, 0);
  assert.equal(await q.get(), undefined);
});
