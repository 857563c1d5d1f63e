/**
 * What went wrong talking to the API server, in one line a person can act on: the status code,
 * the server's own message, and for 403 the RBAC rule that is missing.
 */
import { ApiException } from "@kubernetes/client-node";

export interface ApiFailure {
  /** HTTP status, 0 when no response arrived (refused, reset, timed out). */
  code: number;
  reason: string;
  message: string;
}

export function apiFailure(err: unknown): ApiFailure {
  if (err instanceof ApiException) {
    const code = err.code;
    let status: { reason?: unknown; message?: unknown } = {};
    try {
      status = (typeof err.body === "string" ? JSON.parse(err.body) : err.body) as typeof status;
    } catch {
      // A non-JSON body (a proxy's HTML page, say) has no Status to read.
    }
    const reason = typeof status.reason === "string" ? status.reason : `HTTP ${code}`;
    const message = typeof status.message === "string" ? status.message : `HTTP ${code}`;
    return { code, reason, message };
  }
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : "";
    return { code: 0, reason: err.name, message: `${err.message}${cause}` };
  }
  return { code: 0, reason: "Unknown", message: String(err) };
}

/** Worth retrying: no response, a timeout, throttling or a server-side failure. */
export function isTransient(f: ApiFailure): boolean {
  return f.code === 0 || f.code === 408 || f.code === 429 || f.code >= 500;
}

/** A failed request described for a log line; `rule` names the RBAC permission a 403 lacks. */
export class KubeError extends Error {
  override name = "KubeError";
  readonly failure: ApiFailure;

  constructor(action: string, failure: ApiFailure, rule?: string) {
    const hint = failure.code === 403 && rule ? ` (RBAC: grant ${rule})` : "";
    super(`${action}: ${failure.code ? `${failure.code} ${failure.reason}: ` : ""}${failure.message}${hint}`);
    this.failure = failure;
  }
}
