/**
 * The sidecar's read-only HTTP API: k8s-elector's `/` (which also answers consumers of the
 * contrib leader-elector through `name`), probes, and metrics. No secrets are served.
 */
import type { Server } from "node:http";
import type { Elector } from "../election/elector.ts";
import { formatTime } from "../election/record.ts";
import { CONTENT_TYPE } from "../metrics/exposition.ts";
import type { ListenAddress } from "../cli/flags.ts";

/** How long past its lease a leader that has not renewed may stay healthy (client-go's adaptor). */
export const HEALTHZ_TOLERANCE_MS = 10_000;

export interface StatusApiOptions {
  elector: Elector;
  election: string;
  leaseDurationMs: number;
  /** The Prometheus exposition text. */
  metrics: () => string;
  /** Monotonic clock in ms, for the health check. */
  monotonic: () => number;
}

export function statusBody(elector: Elector, election: string, now: Date): Record<string, unknown> {
  const s = elector.status();
  return {
    is_leader: s.isLeader,
    leader: s.leader,
    node: s.identity,
    timestamp: formatTime(now),
    name: s.leader,
    fencing_token: s.token ?? null,
    lease_transitions: s.leaseTransitions,
    election,
  };
}

export function createStatusServer(o: StatusApiOptions): Server {
  // The CommonJS object, not an ESM import: see src/kube/client.ts.
  return process.getBuiltinModule("node:http").createServer((req, res) => {
    const send = (code: number, body: unknown, type = "application/json"): void => {
      const text = type === "application/json" ? `${JSON.stringify(body)}\n` : String(body);
      res.writeHead(code, { "content-type": type, "cache-control": "no-store" });
      res.end(text);
    };
    if (req.method !== "GET" && req.method !== "HEAD") {
      send(405, { error: "method not allowed" });
      return;
    }
    const path = new URL(req.url ?? "/", "http://agent").pathname;
    const status = o.elector.status();
    switch (path) {
      case "/":
        send(200, statusBody(o.elector, o.election, new Date()));
        return;
      case "/healthz": {
        // A term that is still open but unrenewed past its lease means the agent is wedged.
        const stuck = status.renewedAt !== undefined && o.monotonic() - status.renewedAt > o.leaseDurationMs + HEALTHZ_TOLERANCE_MS;
        send(stuck ? 500 : 200, { status: stuck ? "expired" : "ok" });
        return;
      }
      case "/readyz":
        send(status.synced ? 200 : 503, { status: status.synced ? "ok" : "not synced with the lock yet" });
        return;
      case "/leader":
        send(status.isLeader ? 200 : 503, statusBody(o.elector, o.election, new Date()));
        return;
      case "/metrics":
        send(200, o.metrics(), CONTENT_TYPE);
        return;
      default:
        send(404, { error: `no such endpoint: ${path}` });
    }
  });
}

/** Listens, turning a bad address into one clear error rather than an unhandled 'error' event. */
export function listen(server: Server, address: ListenAddress): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) => {
      reject(new Error(`cannot listen on ${address.host}:${address.port}: ${err.code ?? err.message}`));
    });
    server.listen(address.port, address.host, () => {
      resolve();
    });
  });
}
