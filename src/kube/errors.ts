/**
 * What went wrong talking to the API server, in one line a person can act on: the status code,
 * the server's own message, and for 403 the RBAC rule that is missing.
 */
import { ApiError } from "./client.ts";

export interface ApiFailure {
  /** HTTP status, 0 when no response arrived (refused, reset, timed out). */
  code: number;
  reason: string;
  message: string;
}

export function apiFailure(err: unknown): ApiFailure {
  if (err instanceof ApiError) return { code: err.code, reason: err.reason, message: err.message };
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : "";
    return { code: 0, reason: err.name, message: `${err.message}${cause}` };
  }
  return { code: 0, reason: "Unknown", message: String(err) };
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
