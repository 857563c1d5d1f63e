/**
 * `elector operator`: the Election controller, optionally behind its own leader election (the
 * shared core, on a Lease), with /metrics, /healthz and /readyz.
 *
 * With --leader-elect only the replica holding the Lease runs the controller; the others wait,
 * watching the Lease, and take over within its duration. A replica that loses leadership other
 * than by shutting down exits with code 1 so that it restarts clean, as controller-runtime does.
 */
import type { Server } from "node:http";
import type { Server as HttpsServer } from "node:https";
import type { Logger } from "pino";
import { systemClock } from "../election/clock.ts";
import { Elector } from "../election/elector.ts";
import { isWedged } from "../election/healthz.ts";
import { requestTimeoutMs } from "../election/timing.ts";
import { createLock } from "../election/locks/index.ts";
import { createAuthorizedServer } from "../http/authorized.ts";
import { selfSignedCertificate, type KeyPair } from "../http/certificates.ts";
import { closeServer, createRouteServer, healthz, listen } from "../http/server.ts";
import { sleep } from "../kube/backoff.ts";
import { KubeClient } from "../kube/client.ts";
import { loadConnection } from "../kube/kubeconfig.ts";
import { CONTENT_TYPE, startRuntimeMetrics } from "../metrics/exposition.ts";
import { EXIT_LOST_LEADERSHIP, onTerminationSignals } from "../process/signals.ts";
import type { OperatorConfig } from "./config.ts";
import { ElectionController } from "./controller.ts";
import { OperatorMetrics } from "./metrics.ts";
import { WorkQueue } from "./queue.ts";
import { runWorkers } from "./runner.ts";
import { Watches } from "./watches.ts";
import { createWebhookServer } from "./webhook.ts";
import { WebhookCertificates } from "./webhookcerts.ts";
import { ApiWriter } from "./writes.ts";

// The CommonJS objects, not ESM imports: see src/kube/client.ts.
const { readFile } = process.getBuiltinModule("node:fs/promises");
const { hostname } = process.getBuiltinModule("node:os");

export async function runOperator(config: OperatorConfig, log: Logger): Promise<number> {
  const client = new KubeClient(loadConnection(config.kubeconfig));
  /** A controller request that hangs longer fails, and its reconcile is retried with backoff. */
  const controllerTimeoutMs = 10_000;
  const queue = new WorkQueue(systemClock);
  const watches = new Watches({
    client,
    ...(config.namespaces ? { namespaces: config.namespaces } : {}),
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
  const { leaderElection } = config;
  const metrics = new OperatorMetrics({
    client,
    queue,
    workers: config.workers,
    elections: () => watches.all(),
    // The elector is made below, before anything can scrape; until then, as leads() says, this replica counts as leading.
    ...(leaderElection ? { leadership: () => ({ lease: leaderElection.lease, state: elector?.status() ?? { isLeader: true, slowpathTotal: 0 } }) } : {}),
  });
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
        metrics,
      });
    } finally {
      signal.removeEventListener("abort", stop);
      await Promise.all([watches.stop(), writer.stop()]);
    }
  };
  const shutdown = new AbortController();
  // The webhook's own certificate, when it manages one: every replica serves it, the leader keeps it valid.
  const certificates = config.webhook && config.webhook.certDir === undefined ? new WebhookCertificates(client, { ...config.webhook, log }) : undefined;
  /** What the leader runs: the controller, and the webhook certificate's upkeep. */
  const lead = async (signal: AbortSignal): Promise<void> => {
    await Promise.all([runController(signal), certificates?.maintain(signal)]);
  };
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
          running = lead(signal).catch((err: unknown) => {
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
  const servers: (Server | HttpsServer)[] = [];
  if (config.metrics) {
    startRuntimeMetrics();
    const routes = { "/metrics": () => ({ code: 200, body: metrics.scrape(), type: CONTENT_TYPE }) };
    const server = config.metricsSecure ? createAuthorizedServer(routes, await metricsTls(config.metricsCertDir), client, log) : createRouteServer(routes);
    await listen(server, config.metrics);
    servers.push(server);
  }
  if (config.webhook) {
    const { webhook } = config;
    // Until the Secret has a certificate, a placeholder: the API server trusts it no more than no answer.
    const first = webhook.certDir ? await keyPairIn(webhook.certDir, "--webhook-cert-path") : selfSignedCertificate("elector-webhook", []);
    const server = createWebhookServer(first, { image: webhook.agentImage }, webhook.agentClusterRole, client, log);
    await listen(server, webhook.address);
    servers.push(server);
    const serve = (pair: KeyPair): void => {
      try {
        server.setSecureContext(pair);
        log.info({}, "serving the webhook with a new certificate");
      } catch (err) {
        // A pair TLS cannot use (a key that is not the certificate's, say) leaves the one served before.
        log.error({ err: err instanceof Error ? err.message : String(err) }, "cannot serve the webhook's new certificate; keeping the old one");
      }
    };
    if (certificates) void certificates.follow(shutdown.signal, serve);
    else if (webhook.certDir) void followCertDir(webhook.certDir, first, shutdown.signal, serve, log);
  }
  if (config.health) {
    const server = createRouteServer({
      "/healthz": healthz(() => elector !== undefined && isWedged(elector.status(), config.leaderElection?.timing.leaseDurationMs ?? 0, performance.now())),
      "/readyz": () => {
        // A standby is ready once it knows who leads; the leader once its caches are synced; both,
        // when they manage the webhook's certificate, once they serve it.
        const ready = elector ? elector.status().synced && (!leads() || watches.synced) : watches.synced;
        const serving = certificates === undefined || certificates.serving() !== undefined;
        const status = !ready ? "caches not synced yet" : !serving ? "no webhook certificate yet" : "ok";
        return { code: ready && serving ? 200 : 503, body: { status } };
      },
    });
    await listen(server, config.health);
    servers.push(server);
  }
  log.info(
    { namespaces: config.namespaces?.join(",") ?? "(all)", leaderElect: config.leaderElection !== undefined, metrics: config.metrics, health: config.health },
    "operator starting",
  );

  const stopListening = onTerminationSignals((signal) => {
    log.info({ signal }, "shutting down");
    shutdown.abort();
  });
  try {
    if (elector) await elector.run(shutdown.signal);
    else await lead(shutdown.signal);
  } finally {
    stopListening();
    for (const server of servers) closeServer(server);
  }
  return exitCode;
}

/** The secure metrics' certificate: tls.crt and tls.key from `dir`, else self-signed for this host (as controller-runtime does without a CertDir). */
async function metricsTls(dir: string | undefined): Promise<KeyPair> {
  return dir === undefined ? selfSignedCertificate("elector-operator", [hostname(), "localhost"]) : keyPairIn(dir, "--metrics-cert-path");
}

/** tls.crt and tls.key from `dir`, the layout of a kubernetes.io/tls Secret mounted as a volume. */
async function keyPairIn(dir: string, flag: string): Promise<KeyPair> {
  const read = (name: string): Promise<string> =>
    readFile(`${dir}/${name}`, "utf8").catch((err: unknown) => {
      throw new Error(`${flag}: cannot read ${dir}/${name}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    });
  const [cert, key] = await Promise.all([read("tls.crt"), read("tls.key")]);
  return { cert, key };
}

/** Re-reads a mounted certificate every minute: the kubelet updates the files when cert-manager renews the Secret. */
async function followCertDir(dir: string, first: KeyPair, signal: AbortSignal, onChange: (pair: KeyPair) => void, log: Logger): Promise<void> {
  let served = first;
  for (;;) {
    await sleep(60_000, signal);
    if (signal.aborted) return;
    const pair = await keyPairIn(dir, "--webhook-cert-path").catch((err: unknown) => {
      log.warn({ err: err instanceof Error ? err.message : String(err) }, "could not read the webhook's certificate");
      return served;
    });
    if (pair.cert === served.cert) continue;
    served = pair;
    onChange(pair);
  }
}
