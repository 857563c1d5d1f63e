/**
 * The leader election record: what client-go's `resourcelock.LeaderElectionRecord` holds, and how
 * it is written into a Lease spec or into the legacy `control-plane.alpha.kubernetes.io/leader`
 * annotation of an Endpoints or ConfigMap object.
 */

export interface LeaderElectionRecord {
  /** Who holds the lock; "" when nobody does (after a release). */
  holderIdentity: string;
  leaseDurationSeconds: number;
  acquireTime: Date | undefined;
  renewTime: Date | undefined;
  /** Incremented on every acquisition by a new process: the fencing token. */
  leaderTransitions: number;
}

/** Annotation on the lock object naming the candidate a planned handover should go to. */
export const PREFERRED_HOLDER_ANNOTATION = "elector.dev/preferred-holder";

/** Annotation holding the JSON record in the legacy endpoints and configmaps locks. */
export const LEGACY_RECORD_ANNOTATION = "control-plane.alpha.kubernetes.io/leader";

/** A Kubernetes MicroTime: RFC 3339 in UTC with exactly six fractional digits, as Go writes it. */
export function formatMicroTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

/** A Kubernetes Time: RFC 3339 in UTC with whole seconds, as the legacy annotation records use. */
export function formatTime(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Parses an RFC 3339 time as written by any Kubernetes client; undefined when absent or invalid. */
export function parseTime(value: unknown): Date | undefined {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value;
  if (typeof value !== "string" || value === "") return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** The fields of a coordination.k8s.io/v1 LeaseSpec that carry a record. */
export interface LeaseSpecRecord {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

export function recordToLeaseSpec(r: LeaderElectionRecord): LeaseSpecRecord {
  return {
    holderIdentity: r.holderIdentity,
    leaseDurationSeconds: r.leaseDurationSeconds,
    ...(r.acquireTime ? { acquireTime: formatMicroTime(r.acquireTime) } : {}),
    ...(r.renewTime ? { renewTime: formatMicroTime(r.renewTime) } : {}),
    leaseTransitions: r.leaderTransitions,
  };
}

/** Absent fields read as client-go reads them: zero values. */
export function leaseSpecToRecord(spec: { [K in keyof LeaseSpecRecord]?: unknown } | undefined): LeaderElectionRecord {
  return {
    holderIdentity: typeof spec?.holderIdentity === "string" ? spec.holderIdentity : "",
    leaseDurationSeconds: integer(spec?.leaseDurationSeconds),
    acquireTime: parseTime(spec?.acquireTime),
    renewTime: parseTime(spec?.renewTime),
    leaderTransitions: integer(spec?.leaseTransitions),
  };
}

/** The legacy annotation's JSON, field for field as client-go marshals it (second precision). */
export function recordToAnnotation(r: LeaderElectionRecord): string {
  const zero = "0001-01-01T00:00:00Z";
  return JSON.stringify({
    holderIdentity: r.holderIdentity,
    leaseDurationSeconds: r.leaseDurationSeconds,
    acquireTime: r.acquireTime ? formatTime(r.acquireTime) : zero,
    renewTime: r.renewTime ? formatTime(r.renewTime) : zero,
    leaderTransitions: r.leaderTransitions,
  });
}

/**
 * The longest lease a record may claim, a day (validateTiming holds elector's own to it). Honouring
 * more would let one bad write, a typo or a hostile client, hold an election for up to 68 years
 * (leaseDurationSeconds is an int32).
 */
export const MAX_LEASE_SECONDS = 86_400;
/**
 * The highest token a record may carry: a Lease's leaseTransitions is an int32. A legacy annotation
 * could hold any number, and past 2^53 adding one no longer changes it: the token would stop rising.
 */
export const MAX_TRANSITIONS = 2 ** 31 - 1;
/** The longest holder identity honoured: client-go's are a hostname with a UUID, pods' at most 253 characters. */
export const MAX_IDENTITY_LENGTH = 1024;

/**
 * Why a held record cannot be honoured (then it reads as expired, as a malformed one does), or
 * undefined. A released record (no holder) is always fine.
 */
export function recordProblem(r: LeaderElectionRecord): string | undefined {
  if (r.holderIdentity === "") return undefined;
  if (r.holderIdentity.length > MAX_IDENTITY_LENGTH)
    return `a holder identity of ${String(r.holderIdentity.length)} characters, over ${String(MAX_IDENTITY_LENGTH)}`;
  if (r.leaseDurationSeconds <= 0) return `leaseDurationSeconds ${String(r.leaseDurationSeconds)}: no lease at all`;
  if (r.leaseDurationSeconds > MAX_LEASE_SECONDS) return `leaseDurationSeconds ${String(r.leaseDurationSeconds)}: over a day (${String(MAX_LEASE_SECONDS)})`;
  if (r.leaderTransitions < 0) return `leaseTransitions ${String(r.leaderTransitions)}: below zero`;
  if (r.leaderTransitions > MAX_TRANSITIONS) return `leaseTransitions ${String(r.leaderTransitions)}: over ${String(MAX_TRANSITIONS)}, what a Lease can hold`;
  return undefined;
}

export class MalformedRecordError extends Error {
  override name = "MalformedRecordError";
}

/** Parses the legacy annotation; throws MalformedRecordError when it is not a JSON object. */
export function annotationToRecord(json: string): LeaderElectionRecord {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw new MalformedRecordError(`the ${LEGACY_RECORD_ANNOTATION} annotation is not JSON: ${truncate(json)}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new MalformedRecordError(`the ${LEGACY_RECORD_ANNOTATION} annotation is not a JSON object: ${truncate(json)}`);
  }
  const o = parsed as Record<string, unknown>;
  const record = leaseSpecToRecord({ ...o, leaseTransitions: o.leaderTransitions });
  // Go writes the zero time for "never"; it means the same as absent.
  const beforeYearOne = (d: Date | undefined): Date | undefined => (d && d.getUTCFullYear() > 1 ? d : undefined);
  return { ...record, acquireTime: beforeYearOne(record.acquireTime), renewTime: beforeYearOne(record.renewTime) };
}

function integer(value: unknown): number {
  return typeof value === "number" && Number.isInteger(value) ? value : 0;
}

/** The first 80 characters of what a record held, on one line. */
function truncate(s: string): string {
  return oneLine(s.length > 80 ? `${s.slice(0, 77)}...` : s);
}

/** `text` with its control characters (a newline, say) written escaped, as JSON writes them: a message of one line. */
export function oneLine(text: string): string {
  return [...text].map((c) => (c < " " || c === "\u007f" ? JSON.stringify(c).slice(1, -1) : c)).join("");
}
