/**
 * The `elector` package: the election core in a Node program, on a Lease it can share with elector
 * agents and client-go programs (docs/library.md). It loads the core, its Lease lock and the
 * Kubernetes client, nothing of the agent or the operator.
 *
 * The types below are the package's public API, declared here rather than re-exported, so that
 * the core can change inside without changing them (test/unit/library.test.ts checks them).
 */
import { hostname } from "node:os";
import { Elector } from "../election/elector.ts";
import { createLock } from "../election/locks/index.ts";
import type { Log } from "../election/log.ts";
import { DEFAULT_TIMING, requestTimeoutMs } from "../election/timing.ts";
import { KubeClient } from "../kube/client.ts";
import { loadConnection, podNamespace } from "../kube/kubeconfig.ts";

/** One term of leadership of this process. */
export interface Leadership {
  /** The fencing token: the Lease's leaseTransitions as this acquisition wrote it; each term's is higher than the last. */
  token: number;
  /** When this term began, as written in the Lease. */
  acquireTime: Date;
  /** Aborted the moment this process stops leading, before onStoppedLeading is called. */
  signal: AbortSignal;
}

/**
 * Why a term ended: its renewals failed for renewDeadline, another holder or term appeared in the
 * Lease, the `elector.dev/preferred-holder` annotation asked for another candidate, or `signal` aborted.
 */
export type StopReason = "renew-deadline" | "lost" | "handover" | "shutdown";

/** A logger with pino's call shape (pino itself, or anything alike); silent when not given. */
export interface Logger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface ElectionOptions {
  /** The Lease's name. */
  name: string;
  /** The Lease's namespace; default: the pod's namespace, else "default". */
  namespace?: string;
  /** This candidate's identity in the Lease; default: the hostname (in a pod, its name). */
  identity?: string;
  /** A kubeconfig file; default: in-cluster, then $KUBECONFIG, then ~/.kube/config. */
  kubeconfig?: string;
  /** client-go's three durations, with its defaults (15 s, 10 s, 2 s) and its rules: lease > renew deadline > 1.2 × retry period. */
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** Aborting it ends the election: the term, if any, stops (onStoppedLeading is awaited) and the Lease is released. */
  signal: AbortSignal;
  /** This process leads; not awaited. Work it starts must stop when `leadership.signal` aborts. */
  onStartedLeading?(leadership: Leadership): void;
  /** This process stopped leading; awaited before the Lease is released, so guarded work must have stopped when it returns. */
  onStoppedLeading?(reason: StopReason): void | Promise<void>;
  /** The holder this process sees changed; "" when the Lease was released or does not exist. */
  onNewLeader?(identity: string): void;
  log?: Logger;
}

/**
 * Campaigns for the Lease until `options.signal` aborts, leading whenever it holds it; resolves
 * once the last term has stopped and the Lease is released. Rejects at once on bad options (the
 * durations, the kubeconfig); API errors are retried as client-go retries them, never thrown.
 */
export async function runElection(options: ElectionOptions): Promise<void> {
  const timing = {
    leaseDurationMs: options.leaseDurationMs ?? DEFAULT_TIMING.leaseDurationMs,
    renewDeadlineMs: options.renewDeadlineMs ?? DEFAULT_TIMING.renewDeadlineMs,
    retryPeriodMs: options.retryPeriodMs ?? DEFAULT_TIMING.retryPeriodMs,
  };
  const log: Log = options.log ?? { debug() {}, info() {}, warn() {}, error() {} };
  const lock = createLock(new KubeClient(loadConnection(options.kubeconfig)), "leases", {
    identity: options.identity ?? hostname(),
    namespace: options.namespace ?? podNamespace() ?? "default",
    name: options.name,
    requestTimeoutMs: requestTimeoutMs(timing),
    log,
  });
  // Called on `options`, so callbacks written as methods keep their `this`.
  const elector = new Elector({
    lock,
    ...timing,
    log,
    callbacks: {
      onStartedLeading: (leadership: Leadership) => options.onStartedLeading?.(leadership),
      onStoppedLeading: (reason: StopReason) => options.onStoppedLeading?.(reason),
      onNewLeader: (identity: string) => options.onNewLeader?.(identity),
    },
  });
  await elector.run(options.signal);
}
