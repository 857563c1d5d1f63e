/** The access layer's one backoff policy: doubling to a cap, stretched by jitter, started over by a success. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Backoff, WATCH_BACKOFF } from "../../src/kube/backoff.ts";

test("each failure doubles the wait up to the cap; jitter stretches it by up to its own length; reset starts over", () => {
  const calm = new Backoff(WATCH_BACKOFF, () => 0);
  assert.deepEqual(
    Array.from({ length: 8 }, () => calm.next()),
    [800, 1600, 3200, 6400, 12_800, 25_600, 30_000, 30_000],
  );
  calm.reset();
  assert.equal(calm.next(), 800);

  const stretched = new Backoff({ initialMs: 100, maxMs: 1000 }, () => 0.5);
  assert.deepEqual(
    Array.from({ length: 5 }, () => stretched.next()),
    [150, 300, 600, 1000, 1000],
  );
});
