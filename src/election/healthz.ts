/**
 * When a leader counts as wedged, the rule behind both commands' /healthz (client-go's
 * HealthzAdaptor): it holds a term it has not renewed for its lease duration plus a tolerance, so
 * the kubelet's liveness probe restarts it instead of leaving a leader that can no longer renew.
 */
import type { ElectorStatus } from "./elector.ts";

/** How long past its lease an open, unrenewed term may go before the process counts as wedged. */
export const HEALTHZ_TOLERANCE_MS = 10_000;

export function isWedged(status: ElectorStatus, leaseDurationMs: number, nowMonotonic: number): boolean {
  return status.renewedAt !== undefined && nowMonotonic - status.renewedAt > leaseDurationMs + HEALTHZ_TOLERANCE_MS;
}
