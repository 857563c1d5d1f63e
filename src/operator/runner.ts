/**
 * Runs a reconciler over a work queue, as controller-runtime's controller and kube-rs's
 * `Controller` run theirs: a few workers take keys, each key in work by one worker at a time; a
 * reconcile that asks to look again after N ms is queued after N ms; one that fails is queued
 * again after its key's next backoff (queue.ts), and one that succeeds starts that backoff over.
 */
import type { Log } from "../election/log.ts";
import type { ReconcileResult } from "../metrics/controllerruntime.ts";
import { apiFailure } from "../kube/errors.ts";
import type { Reconciled } from "./controller.ts";
import type { WorkQueue } from "./queue.ts";

export interface RunnerOptions {
  queue: WorkQueue;
  reconcile: (key: string) => Promise<Reconciled>;
  workers: number;
  log: Log;
  /** Told when a reconcile starts and how it ended, for metrics. */
  metrics?: { started(): void; reconciled(result: ReconcileResult, seconds: number): void };
}

/** Works until the queue shuts down. */
export async function runWorkers(options: RunnerOptions): Promise<void> {
  await Promise.all(Array.from({ length: options.workers }, () => work(options)));
}

async function work({ queue, reconcile, log, metrics }: RunnerOptions): Promise<void> {
  for (;;) {
    const key = await queue.get();
    if (key === undefined) return;
    const started = performance.now();
    metrics?.started();
    try {
      const next = await reconcile(key);
      queue.forget(key);
      if (next.requeueAfterMs !== undefined) queue.addAfter(key, next.requeueAfterMs);
      metrics?.reconciled(next.requeueAfterMs === undefined ? "success" : "requeue_after", (performance.now() - started) / 1000);
    } catch (err) {
      const f = apiFailure(err);
      // A conflict means our cache was behind: normal, and fixed by running again on fresher data.
      if (f.code === 409) log.debug({ election: key, err: f.message }, "conflict; reconciling again");
      else log.warn({ election: key, err: f.message }, "reconcile failed; retrying with backoff");
      queue.addRateLimited(key);
      metrics?.reconciled("error", (performance.now() - started) / 1000);
    } finally {
      queue.done(key);
    }
  }
}
