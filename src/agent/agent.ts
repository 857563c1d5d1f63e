/**
 * `elector agent`: one candidate of an election, as a sidecar (status over HTTP) or as a wrapper
 * that runs a command only while this process leads.
 *
 * Wrapper contract: the command starts once elected, with ELECTOR_FENCING_TOKEN and
 * ELECTOR_IDENTITY in its environment. SIGTERM and SIGINT are forwarded to it; when it exits, the
 * lease is released and the agent exits with its code. When leadership is lost, the command gets
 * SIGTERM and, after (leaseDuration − renewDeadline)/2, SIGKILL, so it is gone before any other
 * candidate may acquire; then the agent exits with code 1.
 */
import type { Server } from "node:http";
import type { Logger } from "pino";
import { Elector, type StopReason } from "../election/elector.ts";
import { createLock } from "../election/locks/index.ts";
import { KubeClient } from "../kube/client.ts";
import { loadConnection } from "../kube/kubeconfig.ts";
import { Child, type Exit } from "./child.ts";
import type { AgentConfig } from "./config.ts";
import { closeServer, listen } from "../http/server.ts";
import { startRuntimeMetrics } from "../metrics/exposition.ts";
import { requestTimeoutMs } from "../election/timing.ts";
import { EXIT_LOST_LEADERSHIP, onTerminationSignals } from "../process/signals.ts";
import { createStatusServer } from "./http.ts";
import { agentMetrics } from "./metrics.ts";

export async function runAgent(config: AgentConfig, log: Logger): Promise<number> {
  for (const notice of config.notices) log.warn({}, notice);
  const client = new KubeClient(loadConnection(config.kubeconfig));
  const { timing } = config;
  const lock = createLock(client, config.lockType, {
    identity: config.identity,
    namespace: config.namespace,
    name: config.election,
    requestTimeoutMs: requestTimeoutMs(timing),
    log,
  });
  const wrapper = config.command.length > 0;
  const killGraceMs = Math.max(100, (timing.leaseDurationMs - timing.renewDeadlineMs) / 2);
  const shutdown = new AbortController();
  let child: Child | undefined;
  let exitCode = 0;
  // Read at scrape time only, when the elector below exists.
  const metrics = agentMetrics(config.name, timing.leaseDurationMs, client, () => elector.status());

  const startChild = (token: number): void => {
    const started = new Child(config.command, {
      ...process.env,
      ELECTOR_FENCING_TOKEN: String(token),
      ELECTOR_IDENTITY: config.identity,
      ELECTOR_ELECTION: config.election,
    });
    child = started;
    log.info({ command: config.command[0], pid: started.pid, token }, "started the command");
    void started.exited.then((exit) => {
      if (child !== started) return;
      log.info({ command: config.command[0], exit: exit.description }, "the command ended; releasing the lease");
      exitCode = exit.code;
      shutdown.abort();
    });
  };

  const stopChild = async (reason: StopReason): Promise<void> => {
    const running = child;
    if (!running?.running) return;
    child = undefined;
    const exit: Exit = await running.stop(killGraceMs);
    log.info({ command: config.command[0], exit: exit.description, reason }, "stopped the command");
  };

  const elector = new Elector({
    lock,
    ...timing,
    log,
    callbacks: {
      onStartedLeading: ({ token }) => {
        if (wrapper && !shutdown.signal.aborted) startChild(token);
      },
      onStoppedLeading: async (reason) => {
        if (!wrapper) return;
        await stopChild(reason);
        if (reason !== "shutdown") {
          log.error({ reason }, "lost leadership; exiting");
          exitCode = EXIT_LOST_LEADERSHIP;
          shutdown.abort();
        }
      },
      onNewLeader: () => {
        metrics.leaderChanged();
      },
    },
  });

  let server: Server | undefined;
  if (config.http) {
    startRuntimeMetrics();
    server = createStatusServer({
      elector,
      election: config.election,
      leaseDurationMs: timing.leaseDurationMs,
      metrics: metrics.scrape,
      monotonic: () => performance.now(),
    });
    await listen(server, config.http);
    log.info({ address: `${config.http.host}:${config.http.port}` }, "serving status");
  }

  const stopListening = onTerminationSignals((signal) => {
    if (child?.running) {
      // The command decides when it is done; the lease is held (and renewed) until it exits.
      log.info({ signal }, "forwarding signal to the command");
      child.signal(signal);
    } else {
      log.info({ signal }, "shutting down");
      shutdown.abort();
    }
  });
  try {
    await elector.run(shutdown.signal);
  } finally {
    stopListening();
    closeServer(server);
  }
  return exitCode;
}

/** k8s-await-election without its environment: run the command, nothing else. */
export async function runPassthrough(command: string[]): Promise<number> {
  const child = new Child(command, process.env);
  const stopListening = onTerminationSignals((signal) => {
    child.signal(signal);
  });
  const exit = await child.exited;
  stopListening();
  return exit.code;
}
