/**
 * `elector operator`: the Election controller, optionally behind its own leader election (the
 * shared core, on a Lease), with /metrics, /healthz and /readyz.
 *
 * With --leader-elect only the replica holding the Lease runs the controller; the others wait,
 * watching the Lease, and take over within its duration. A replica that loses leadership other
 * than by shutting down exits with code 1 so that it restarts clean, as controller-runtime does.
 */
import type { Server } from "node:http";
import type { Logger } from "pino";
import { systemClock } from "../election/clock.ts";
import { Elector } from "../election/elector.ts";
import { isWedged } from "../election/healthz.ts";
import { requestTimeoutMs } from "../election/timing.ts";
import { createLock } from "../election/locks/index.ts";
import { closeServer, createRouteServer, healthz, listen } from "../http/server.ts";
import { KubeClient } from "../kube/client.ts";
import { loadConnection } from "../kube/kubeconfig.ts";
import { CONTENT_TYPE, Histogram, processFamilies, render, type Family } from "../metrics/exposition.ts";
import { masterStatus } from "../metrics/leaderelection.ts";
import { EXIT_LOST_LEADERSHIP, onTerminationSignals } from "../process/signals.ts";
import type { OperatorConfig } from "./config.ts";
import type { Election } from "./election.ts";
import { ElectionController } from "./controller.ts";
import { WorkQueue } from "./queue.ts";
import { runWorkers } from "./runner.ts";
import { Watches } from "./watches.ts";
import { ApiWriter } from "./writes.ts";

export async function runOperator(config: OperatorConfig, log: Logger): Promise<number> {
  const client = new KubeClient(loadConnection(config.kubeconfig));
  const reconciles = { success: 0, error: 0 };
  const durations = new Histogram([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);
  /** A controller request that hangs longer fails, and its reconcile is retried with backoff. */
  const controllerTimeoutMs = 10_000;
  const queue = new WorkQueue(systemClock);
  const watches = new Watches({
    client,
    ...(config.namespace ? { namespace: config.namespace } : {}),
    requestTimeoutMs: controllerTimeoutMs,
    clock: systemClock,
    log,
    onConcern: (key) => {
      queue.add(key);
    },
  });
  const identity = config.leaderElection?.identity ?? "elector-operator";
  const writer = new ApiWriter(client, { identity, clock: systemClock, log, requestTimeoutMs: controllerTimeoutMs });
  const controller = new ElectionController(watches, writer, systemClock, log);
  /** The controller, from its caches' first lists until `signal` aborts. */
  const runController = async (signal: AbortSignal): Promise<void> => {
    const stop = (): void => {
      queue.shutDown();
    };
    signal.addEventListener("abort", stop);
    try {
      await watches.start();
      log.info({ elections: watches.all().length }, "caches synced; reconciling");
      await runWorkers({
        queue,
        reconcile: (key) => controller.reconcile(key),
        workers: config.workers,
        log,
        onReconcile: (outcome, seconds) => {
          reconciles[outcome] += 1;
          durations.observe(seconds);
        },
      });
    } finally {
      signal.removeEventListener("abort", stop);
      await Promise.all([watches.stop(), writer.stop()]);
    }
  };
  const shutdown = new AbortController();
  let exitCode = 0;
  let elector: Elector | undefined;
  let running: Promise<void> | undefined;

  if (config.leaderElection) {
    const { namespace, lease, identity, timing } = config.leaderElection;
    elector = new Elector({
      lock: createLock(client, "leases", { identity, namespace, name: lease, requestTimeoutMs: requestTimeoutMs(timing), log }),
      ...timing,
      log,
      callbacks: {
        onStartedLeading: ({ signal }) => {
          running = runController(signal).catch((err: unknown) => {
            log.error({ err: err instanceof Error ? err.message : String(err) }, "the controller failed; exiting");
            exitCode = 1;
            shutdown.abort();
          });
        },
        onStoppedLeading: async (reason) => {
          await running;
          if (reason !== "shutdown") {
            log.error({ reason }, "lost leadership; exiting so that this replica restarts clean");
            exitCode = EXIT_LOST_LEADERSHIP;
            shutdown.abort();
          }
        },
      },
    });
  }

  const leads = (): boolean => elector?.status().isLeader ?? true;
  const metrics = (): string => {
    const families: Family[] = [
      {
        name: "elector_operator_reconciles_total",
        help: "Reconciles of Elections, by result.",
        type: "counter",
        samples: [
          { labels: { result: "success" }, value: reconciles.success },
          { labels: { result: "error" }, value: reconciles.error },
        ],
      },
      { name: "elector_operator_reconcile_duration_seconds", help: "How long reconciles of Elections take.", type: "histogram", samples: durations.samples() },
      { name: "elector_operator_queue_depth", help: "Elections waiting to be reconciled.", type: "gauge", samples: [{ value: queue.length }] },
    ];
    if (elector) families.push(masterStatus(config.leaderElection?.lease ?? "", leads()));
    if (leads()) families.push(...electionFamilies(watches.all()));
    return render([...families, ...processFamilies()]);
  };

  const servers: Server[] = [];
  if (config.metrics) {
    const server = createRouteServer({ "/metrics": () => ({ code: 200, body: metrics(), type: CONTENT_TYPE }) });
    await listen(server, config.metrics);
    servers.push(server);
  }
  if (config.health) {
    const server = createRouteServer({
      "/healthz": healthz(() => elector !== undefined && isWedged(elector.status(), config.leaderElection?.timing.leaseDurationMs ?? 0, performance.now())),
      "/readyz": () => {
        // A standby is ready once it knows who leads; the leader once its caches are synced.
        const ready = elector ? elector.status().synced && (!leads() || watches.synced) : watches.synced;
        return { code: ready ? 200 : 503, body: { status: ready ? "ok" : "caches not synced yet" } };
      },
    });
    await listen(server, config.health);
    servers.push(server);
  }
  log.info(
    { namespace: config.namespace ?? "(all)", leaderElect: config.leaderElection !== undefined, metrics: config.metrics, health: config.health },
    "operator starting",
  );

  const stopListening = onTerminationSignals((signal) => {
    log.info({ signal }, "shutting down");
    shutdown.abort();
  });
  try {
    if (elector) await elector.run(shutdown.signal);
    else await runController(shutdown.signal);
  } finally {
    stopListening();
    for (const server of servers) closeServer(server);
  }
  return exitCode;
}

/** Per-Election series, from the controller's cache: who leads, how often it changed, and readiness. */
function electionFamilies(elections: Election[]): Family[] {
  const labels = (e: Election): Record<string, string> => ({ namespace: e.metadata.namespace, election: e.metadata.name });
  return [
    {
      name: "elector_election_leader_info",
      help: "1 for every Election, labelled with its current leader (empty when none).",
      type: "gauge",
      samples: elections.map((e) => ({ labels: { ...labels(e), leader: e.status?.leader ?? "" }, value: 1 })),
    },
    {
      name: "elector_election_transitions",
      help: "The Election's Lease leaseTransitions: the current leader's fencing token.",
      type: "gauge",
      samples: elections.map((e) => ({ labels: labels(e), value: e.status?.transitions ?? 0 })),
    },
    {
      name: "elector_election_ready",
      help: "1 while the Election's Ready condition is True.",
      type: "gauge",
      samples: elections.map((e) => ({ labels: labels(e), value: e.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ? 1 : 0 })),
    },
  ];
}
