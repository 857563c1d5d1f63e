/**
 * What an Election's status, leader label, EndpointSlice and Lease annotation should be: a pure
 * function of the Election, its Lease, its candidate pods and its Service, so that every rule here
 * is tested without a cluster. controller.ts reads the world from caches and applies the result.
 *
 * The leader is live while its Lease has not expired by this operator's own observation (the
 * record unchanged for leaseDurationSeconds), as the election core judges it; routing follows only
 * a live leader, so traffic does not go to a pod whose term has run out.
 */
import { liveForMs } from "../election/expiry.ts";
import { formatTime, recordProblem, type LeaderElectionRecord } from "../election/record.ts";
import { HISTORY_LIMIT, type Condition, type ConditionType, type Election, type ElectionStatus, type PastTerm, type TermEnd } from "./election.ts";

export interface LeaseView {
  record: LeaderElectionRecord;
  /** The `elector.dev/preferred-holder` annotation, "" when absent. */
  preferredHolder: string;
  /** How long ago this operator saw the record last change. */
  unchangedForMs: number;
}

export interface PodView {
  name: string;
  uid?: string;
  ip?: string;
  node?: string;
  ready: boolean;
  terminating: boolean;
  labels: Record<string, string>;
  /** Named container ports, to resolve a Service's named targetPort. */
  ports: { name?: string; containerPort: number; protocol?: string }[];
}

export interface ServicePort {
  name?: string;
  port: number;
  targetPort?: number | string;
  protocol?: string;
  appProtocol?: string;
}

export type ServiceView = { exists: false } | { exists: true; hasSelector: boolean; ports: ServicePort[]; ipFamily?: "IPv4" | "IPv6" };

export interface World {
  election: Election;
  lease: LeaseView | undefined;
  /** The pods candidates.selector selects (none without candidates). */
  pods: PodView[];
  /** Only when spec.service is set. */
  service?: ServiceView;
  now: Date;
}

export interface SliceEndpoint {
  addresses: string[];
  conditions: { ready: boolean; serving: boolean; terminating: boolean };
  nodeName?: string;
  targetRef: { kind: "Pod"; name: string; namespace: string; uid?: string };
}

export interface DesiredSlice {
  service: string;
  addressType: "IPv4" | "IPv6";
  endpoints: SliceEndpoint[];
  ports: { name?: string; port: number; protocol: string; appProtocol?: string }[];
}

export interface ElectionEvent {
  type: "Normal" | "Warning";
  reason: string;
  note: string;
}

export interface Decision {
  status: ElectionStatus;
  /** When leaderLabel is set: the pod that should carry it, and the candidates that must not. */
  label?: { key: string; value: string; carrier?: string; remove: string[] };
  /** When spec.service is set: the slice to keep, or null for none of ours. */
  slice?: DesiredSlice | null;
  /** The preferred-holder annotation the Lease should carry: a name, "" for none, undefined to leave it. */
  leaseAnnotation?: string;
  events: ElectionEvent[];
  /** Look again after this long even if nothing changes: a lease may expire, a handover time out. */
  recheckAfterMs?: number;
}

export function project(world: World): Decision {
  const { election, lease, pods, now } = world;
  const prev = election.status ?? {};
  const generation = election.metadata.generation ?? 0;
  const record = lease?.record;
  const holder = record?.holderIdentity ?? "";
  // A record the candidates cannot honour (recordProblem) holds nothing for them, nor here.
  const invalid = record ? recordProblem(record) : undefined;
  const remainingMs = lease && !invalid ? liveForMs(lease.record, lease.unchangedForMs) : 0;
  const live = remainingMs > 0;
  const expired = holder !== "" && !live;
  const leaderPod = live ? pods.find((p) => p.name === holder) : undefined;
  const events: ElectionEvent[] = [];
  let recheckAfterMs = live ? remainingMs + 1 : undefined;

  const history = nextHistory(prev, record, world);
  if (history.changed) events.push(leadershipEvent(prev.leader ?? "", holder, history.ended));
  // A new Election's first leader is news too, though no term ended.
  else if (prev.observedGeneration === undefined && live) events.push(leadershipEvent("", holder, undefined));

  const conditions: Condition[] = [];
  const set = (type: ConditionType, ok: boolean, reason: string, message: string): void => {
    conditions.push(condition(prev.conditions, { type, status: ok ? "True" : "False", observedGeneration: generation, reason, message }, now));
  };
  if (!lease) set("LeaderElected", false, "LeaseNotFound", `Lease ${leaseName(election)} does not exist yet: no candidate has campaigned`);
  else if (holder === "") set("LeaderElected", false, "NoLeader", "the Lease is released; no candidate holds it");
  else if (invalid) set("LeaderElected", false, "InvalidLease", `the Lease's record cannot be honoured (${invalid}): candidates treat it as expired`);
  else if (expired) set("LeaderElected", false, "LeaseExpired", `${holder} has not renewed the Lease for ${record?.leaseDurationSeconds ?? 0}s`);
  else set("LeaderElected", true, "Elected", `${holder} holds the Lease`);

  const decision: Decision = { status: {}, events };
  const { leaderLabel, service } = election.spec;
  if (leaderLabel) {
    const carrier = leaderPod?.name;
    const remove = pods.filter((p) => p.name !== carrier && p.labels[leaderLabel.key] === leaderLabel.value).map((p) => p.name);
    // The pod labelled last may have left the selector still carrying the label: it is no candidate
    // now, but the label is this Election's to take back.
    const labelledLast = prev.leaderPod?.name;
    if (labelledLast && labelledLast !== carrier && !pods.some((p) => p.name === labelledLast)) remove.push(labelledLast);
    decision.label = { key: leaderLabel.key, value: leaderLabel.value, ...(carrier ? { carrier } : {}), remove };
  }
  const view = world.service;
  if (service) decision.slice = view?.exists && !view.hasSelector ? desiredSlice(election, service.name, view, leaderPod) : null;
  if (leaderLabel || service) {
    const [reason, message] =
      service && !view?.exists
        ? ["ServiceNotFound", `Service ${service.name} does not exist`]
        : service && view?.exists && view.hasSelector
          ? ["ServiceHasSelector", `Service ${service.name} has a selector, so Kubernetes keeps its endpoints; elector routes only for a Service without one`]
          : !live
            ? ["NoLeader", "there is no live leader to route to"]
            : !leaderPod
              ? ["LeaderNotACandidate", `the leader ${holder} is not a pod selected by candidates.selector`]
              : service && !leaderPod.ip
                ? ["LeaderPodHasNoIP", `the leader pod ${holder} has no IP yet`]
                : ["Routed", `traffic goes to ${holder}`];
    set("Routed", reason === "Routed", reason, message);
  }

  const handover = planHandover(world, live ? holder : "", history.terms, decision, events);
  if (handover.recheckAfterMs !== undefined) recheckAfterMs = Math.min(recheckAfterMs ?? Infinity, handover.recheckAfterMs);
  if (handover.failed !== undefined) set("HandoverFailed", handover.failed.reason !== "", handover.failed.reason || "NoFailure", handover.failed.message);
  else {
    const earlier = prev.conditions?.find((c) => c.type === "HandoverFailed");
    if (earlier) conditions.push({ ...earlier, observedGeneration: generation });
  }

  const notReady = conditions.filter((c) => (c.type === "LeaderElected" || c.type === "Routed") && c.status !== "True");
  set(
    "Ready",
    notReady.length === 0,
    notReady.length === 0 ? "Ready" : (notReady[0]?.reason ?? "NotReady"),
    notReady.length === 0 ? "elected and routed as asked" : notReady.map((c) => c.message).join("; "),
  );

  decision.status = {
    observedGeneration: generation,
    leader: holder,
    ...(leaderPod
      ? { leaderPod: { name: leaderPod.name, ...(leaderPod.ip ? { ip: leaderPod.ip } : {}), ...(leaderPod.node ? { node: leaderPod.node } : {}) } }
      : {}),
    ...(record?.acquireTime ? { acquireTime: formatTime(record.acquireTime) } : {}),
    ...(record?.renewTime ? { renewTime: shownRenewTime(prev, record) } : {}),
    ...(record ? { leaseDurationSeconds: record.leaseDurationSeconds, transitions: record.leaderTransitions } : {}),
    ...(history.terms.length ? { history: history.terms } : {}),
    candidates: { total: pods.length, ready: pods.filter((p) => p.ready && !p.terminating).length },
    ...(handover.status ? { handover: handover.status } : {}),
    conditions,
  };
  if (recheckAfterMs !== undefined) decision.recheckAfterMs = Math.max(0, recheckAfterMs);
  return decision;
}

/**
 * A leader renews every retryPeriod; writing each renewal into the status would double the API
 * writes of every election. The status shows a renewal at most once per lease duration instead.
 */
function shownRenewTime(prev: ElectionStatus, record: LeaderElectionRecord): string {
  const latest = formatTime(record.renewTime ?? new Date(0));
  const sameTerm = prev.leader === record.holderIdentity && prev.transitions === record.leaderTransitions;
  if (!sameTerm || prev.renewTime === undefined) return latest;
  return Date.parse(latest) - Date.parse(prev.renewTime) < record.leaseDurationSeconds * 1000 ? prev.renewTime : latest;
}

function leaseName(election: Election): string {
  return election.spec.leaseName ?? election.metadata.name;
}

/**
 * The history, extended by the term that ended since the status was last written. The status is
 * the operator's memory: comparing it with the Lease tells whether a term ended and how.
 */
function nextHistory(prev: ElectionStatus, record: LeaderElectionRecord | undefined, world: World): { terms: PastTerm[]; changed: boolean; ended?: PastTerm } {
  const terms = prev.history ?? [];
  const prevLeader = prev.leader ?? "";
  const prevTransitions = prev.transitions ?? 0;
  // A fresh status has nothing to compare with: the first sight of a Lease is not a change.
  if (prev.observedGeneration === undefined) return { terms, changed: false };
  const holder = record?.holderIdentity ?? "";
  const transitions = record?.leaderTransitions ?? 0;
  if (holder === prevLeader && transitions === prevTransitions) return { terms, changed: false };
  if (prevLeader === "") return { terms, changed: true };
  const handingTo = prev.handover?.to;
  let reason: TermEnd;
  let endTime: Date | undefined;
  if (record && holder === "" && transitions === prevTransitions) {
    reason = handingTo !== undefined && handingTo !== prevLeader ? "HandedOver" : "Released";
    endTime = record.renewTime;
  } else if (record && holder !== "" && transitions === prevTransitions + 1) {
    reason = handingTo === holder ? "HandedOver" : "Expired";
    endTime = record.acquireTime;
  } else {
    reason = "Unknown";
  }
  const ended: PastTerm = {
    leader: prevLeader,
    transitions: prevTransitions,
    ...(prev.acquireTime ? { acquireTime: prev.acquireTime } : {}),
    endTime: formatTime(endTime ?? world.now),
    reason,
  };
  return { terms: [ended, ...terms].slice(0, HISTORY_LIMIT), changed: true, ended };
}

function leadershipEvent(before: string, after: string, ended: PastTerm | undefined): ElectionEvent {
  const how = ended ? ` (${before}'s term ended: ${ended.reason})` : "";
  if (after === "") return { type: "Normal", reason: "LeaderReleased", note: `${before || "nobody"} no longer leads; the Lease is free${how}` };
  return { type: "Normal", reason: "LeaderChanged", note: `${after} leads now${before ? `, after ${before}` : ""}${how}` };
}

/** Keeps lastTransitionTime while the status stays the same, as metav1.Condition asks. */
function condition(prev: Condition[] | undefined, next: Omit<Condition, "lastTransitionTime">, now: Date): Condition {
  const old = prev?.find((c) => c.type === next.type);
  const lastTransitionTime = old && old.status === next.status ? old.lastTransitionTime : formatTime(now);
  return { ...next, lastTransitionTime };
}

function desiredSlice(election: Election, service: string, view: Extract<ServiceView, { exists: true }>, leader: PodView | undefined): DesiredSlice {
  const ip = leader?.ip;
  const addressType = ip ? (ip.includes(":") ? "IPv6" : "IPv4") : (view.ipFamily ?? "IPv4");
  const endpoints: SliceEndpoint[] =
    leader && ip
      ? [
          {
            addresses: [ip],
            conditions: { ready: leader.ready && !leader.terminating, serving: leader.ready, terminating: leader.terminating },
            ...(leader.node ? { nodeName: leader.node } : {}),
            targetRef: { kind: "Pod", name: leader.name, namespace: election.metadata.namespace, ...(leader.uid ? { uid: leader.uid } : {}) },
          },
        ]
      : [];
  const ports = view.ports.map((p) => ({
    ...(p.name ? { name: p.name } : {}),
    port: targetPort(p, leader),
    protocol: p.protocol ?? "TCP",
    ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}),
  }));
  return { service, addressType, endpoints, ports };
}

/** A numeric targetPort as is; a named one from the leader's container ports; else the port itself. */
function targetPort(p: ServicePort, leader: PodView | undefined): number {
  if (typeof p.targetPort === "number") return p.targetPort;
  if (typeof p.targetPort === "string" && p.targetPort !== "") {
    const asNumber = Number(p.targetPort);
    if (Number.isInteger(asNumber) && asNumber > 0) return asNumber;
    const named = leader?.ports.find((c) => c.name === p.targetPort && (c.protocol ?? "TCP") === (p.protocol ?? "TCP"));
    if (named) return named.containerPort;
  }
  return p.port;
}

/** A handover that failed waits this long times 2^(failures-1) before the next try, at most HANDOVER_BACKOFF_CAP_MS. */
export const HANDOVER_BACKOFF_CAP_MS = 10 * 60_000;
/** A term of the preferred pod shorter than this (it took the Lease and lost it) counts as a failed handover. */
export const STABLE_TERM_MS = HANDOVER_BACKOFF_CAP_MS;

type HandoverStatus = NonNullable<ElectionStatus["handover"]>;
/** What the HandoverFailed condition says: reason "" for no failure. */
interface HandoverOutcome {
  reason: "" | "Timeout" | "LeaseLost";
  message: string;
}

/**
 * spec.preferredHolder is a standing preference: whenever that pod does not lead, a handover to it
 * is under way (status.handover), the Lease annotation asking for it while the pod is a ready
 * candidate. An attempt that does not complete within handoverTimeoutSeconds, or a term of that pod
 * that ended within STABLE_TERM_MS, is a failure; each failure doubles the wait before the next
 * attempt (capped), so a crash-looping preferred pod cannot make leadership bounce. The spec is
 * never written: the operator's memory is status.handover and status.history.
 */
function planHandover(
  world: World,
  liveHolder: string,
  history: PastTerm[],
  decision: Decision,
  events: ElectionEvent[],
): { status?: HandoverStatus; failed?: HandoverOutcome; recheckAfterMs?: number } {
  const { election, lease, pods, now } = world;
  const wanted = election.spec.preferredHolder;
  const annotation = lease?.preferredHolder ?? "";
  const ask = (holder: string): void => {
    if (annotation !== holder) decision.leaseAnnotation = holder;
  };
  if (!wanted) {
    // No preference (or the user removed it): a stale annotation of ours would only confuse the agents.
    ask("");
    return {};
  }
  const prev = election.status?.handover?.to === wanted ? election.status.handover : undefined;
  if (liveHolder === wanted) {
    ask("");
    if (prev) events.push({ type: "Normal", reason: "HandoverSucceeded", note: `${wanted} leads, as spec.preferredHolder asks` });
    return { failed: { reason: "", message: `${wanted} leads, as spec.preferredHolder asks` } };
  }
  const timeoutMs = (election.spec.handoverTimeoutSeconds ?? 60) * 1000;
  const backoffMs = (failures: number): number => Math.min(timeoutMs * 2 ** (failures - 1), HANDOVER_BACKOFF_CAP_MS);
  let state: HandoverStatus;
  let failed: HandoverOutcome | undefined;
  if (prev) state = prev;
  else {
    const lost = shortTerms(history, wanted);
    state = {
      to: wanted,
      since: formatTime(now),
      ...(lost.count ? { failures: lost.count, retryAfter: formatTime(new Date(lost.lastEnd + backoffMs(lost.count))) } : {}),
    };
    const latest = history[0];
    if (lost.count && latest?.leader === wanted) {
      const heldS = Math.round((lost.lastEnd - Date.parse(latest.acquireTime ?? "")) / 1000);
      failed = {
        reason: "LeaseLost",
        message: `${wanted} lost the Lease ${heldS}s after taking it; the next handover to it waits ${backoffMs(lost.count) / 1000}s`,
      };
      events.push({ type: "Warning", reason: "HandoverFailed", note: failed.message });
    }
  }
  if (state.retryAfter !== undefined) {
    const waitMs = Date.parse(state.retryAfter) - now.getTime();
    if (waitMs > 0) {
      ask("");
      return { status: state, recheckAfterMs: waitMs, ...(failed !== undefined ? { failed } : {}) };
    }
    state = { to: wanted, since: formatTime(now), ...(state.failures ? { failures: state.failures } : {}) };
  }
  const elapsed = now.getTime() - Date.parse(state.since);
  const candidate = pods.find((p) => p.name === wanted);
  if (elapsed >= timeoutMs) {
    const why = !candidate
      ? `${wanted} is not a pod selected by candidates.selector`
      : !candidate.ready || candidate.terminating
        ? `${wanted} is not a ready candidate`
        : !lease
          ? "the Lease does not exist"
          : `${wanted} did not take over from ${liveHolder || "nobody"}: is its agent running with --id=${wanted}?`;
    const failures = (state.failures ?? 0) + 1;
    const message = `handover to ${wanted} gave up after ${timeoutMs / 1000}s: ${why}; the next try in ${backoffMs(failures) / 1000}s`;
    ask("");
    events.push({ type: "Warning", reason: "HandoverFailed", note: message });
    const retryAfter = formatTime(new Date(now.getTime() + backoffMs(failures)));
    return { status: { ...state, failures, retryAfter }, failed: { reason: "Timeout", message }, recheckAfterMs: backoffMs(failures) };
  }
  if (lease && candidate?.ready && !candidate.terminating) ask(wanted);
  else ask("");
  return { status: state, recheckAfterMs: timeoutMs - elapsed, ...(failed !== undefined ? { failed } : {}) };
}

/**
 * The terms a handover gave the preferred pod that ended within STABLE_TERM_MS, newest first, back
 * to its last long term: each is a handover that did not last.
 */
function shortTerms(history: PastTerm[], holder: string): { count: number; lastEnd: number } {
  let count = 0;
  let lastEnd = 0;
  for (const [i, term] of history.entries()) {
    if (term.leader !== holder) continue;
    const end = Date.parse(term.endTime ?? "");
    if (!(end - Date.parse(term.acquireTime ?? "") < STABLE_TERM_MS)) break;
    if (history[i + 1]?.reason !== "HandedOver") continue;
    if (count === 0) lastEnd = end;
    count++;
  }
  return { count, lastEnd };
}
