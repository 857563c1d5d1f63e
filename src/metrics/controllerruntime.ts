/**
 * controller-runtime's controller and workqueue metrics under its names and labels
 * (controller_runtime_reconcile_*, workqueue_*), so its dashboards and alerts show elector's
 * operator as they show any kubebuilder operator.
 */
import type { Family, Histogram } from "./exposition.ts";

/** controller-runtime's reconcile_time_seconds buckets. */
export const RECONCILE_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.25, 1.5, 1.75, 2, 2.5, 3, 3.5, 4, 4.5, 5, 6, 7, 8, 9, 10,
  15, 20, 25, 30, 40, 50, 60,
];

/** controller-runtime's `result` label: a reconcile that asked to look again after a while is requeue_after. */
export type ReconcileResult = "success" | "error" | "requeue_after";

export interface ReconcileStats {
  results: Record<ReconcileResult, number>;
  time: Histogram;
  workers: number;
  activeWorkers: number;
}

/** What a client-go workqueue reports. */
export interface QueueStats {
  depth: number;
  adds: number;
  retries: number;
  /** From add to get, in seconds. */
  queueDuration: Histogram;
  /** From get to done, in seconds. */
  workDuration: Histogram;
  /** Seconds of work begun and not yet done, summed over workers: rising means stuck workers. */
  unfinishedWorkSeconds: number;
  longestRunningProcessorSeconds: number;
}

export function reconcileFamilies(controller: string, s: ReconcileStats): Family[] {
  const labels = { controller };
  const one = (value: number): { labels: Record<string, string>; value: number }[] => [{ labels, value }];
  return [
    {
      name: "controller_runtime_reconcile_total",
      help: "Total number of reconciliations per controller",
      type: "counter",
      samples: Object.entries(s.results).map(([result, value]) => ({ labels: { controller, result }, value })),
    },
    {
      name: "controller_runtime_reconcile_errors_total",
      help: "Total number of reconciliation errors per controller",
      type: "counter",
      samples: one(s.results.error),
    },
    {
      name: "controller_runtime_reconcile_time_seconds",
      help: "Length of time per reconciliation per controller",
      type: "histogram",
      samples: s.time.samples(labels),
    },
    {
      name: "controller_runtime_max_concurrent_reconciles",
      help: "Maximum number of concurrent reconciles per controller",
      type: "gauge",
      samples: one(s.workers),
    },
    { name: "controller_runtime_active_workers", help: "Number of currently used workers per controller", type: "gauge", samples: one(s.activeWorkers) },
  ];
}

export function workqueueFamilies(name: string, s: QueueStats): Family[] {
  const labels = { name, controller: name };
  const one = (value: number): { labels: Record<string, string>; value: number }[] => [{ labels, value }];
  return [
    { name: "workqueue_depth", help: "Current depth of workqueue", type: "gauge", samples: one(s.depth) },
    { name: "workqueue_adds_total", help: "Total number of adds handled by workqueue", type: "counter", samples: one(s.adds) },
    {
      name: "workqueue_queue_duration_seconds",
      help: "How long in seconds an item stays in workqueue before being requested",
      type: "histogram",
      samples: s.queueDuration.samples(labels),
    },
    {
      name: "workqueue_work_duration_seconds",
      help: "How long in seconds processing an item from workqueue takes.",
      type: "histogram",
      samples: s.workDuration.samples(labels),
    },
    {
      name: "workqueue_unfinished_work_seconds",
      help:
        "How many seconds of work has been done that is in progress and hasn't been observed by work_duration." +
        " Large values indicate stuck threads. One can deduce the number of stuck threads by observing the rate at which this increases.",
      type: "gauge",
      samples: one(s.unfinishedWorkSeconds),
    },
    {
      name: "workqueue_longest_running_processor_seconds",
      help: "How many seconds has the longest running processor for workqueue been running.",
      type: "gauge",
      samples: one(s.longestRunningProcessorSeconds),
    },
    { name: "workqueue_retries_total", help: "Total number of retries handled by workqueue", type: "counter", samples: one(s.retries) },
  ];
}
