/**
 * The sidecar's read-only HTTP API: k8s-elector's `/` (which also answers consumers of the
 * contrib leader-elector through `name`), probes, and metrics. No secrets are served.
 */
import type { Server } from "node:http";
import type { Elector } from "../election/elector.ts";
import { isWedged } from "../election/healthz.ts";
import { formatTime } from "../election/record.ts";
import { CONTENT_TYPE } from "../metrics/exposition.ts";
import { createRouteServer, healthz } from "../http/server.ts";

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
  return createRouteServer({
    "/": () => ({ code: 200, body: statusBody(o.elector, o.election, new Date()) }),
    "/healthz": healthz(() => isWedged(o.elector.status(), o.leaseDurationMs, o.monotonic())),
    "/readyz": () => {
      const synced = o.elector.status().synced;
      return { code: synced ? 200 : 503, body: { status: synced ? "ok" : "not synced with the lock yet" } };
    },
    "/leader": () => ({ code: o.elector.status().isLeader ? 200 : 503, body: statusBody(o.elector, o.election, new Date()) }),
    "/metrics": () => ({ code: 200, body: o.metrics(), type: CONTENT_TYPE }),
  });
}
