/**
 * The chaos harness's judgement: pure, from what the observer recorded (every version of each
 * Lease its watch delivered, every write the fenced store received, every answer of the routed
 * Services, every moment two pods carried one leader label) and the faults' times. Nothing here
 * reads what elector said about itself. All times are milliseconds on the machine's one clock
 * (Date.now()); the store and the harness share the kernel's.
 */
import { tokensNotRising } from "../support/lease.ts";

export interface LeaseVersion {
  /** When the observer's watch delivered it. */
  at: number;
  holder: string;
  transitions: number;
  renewTime: number;
}

export interface StoreWrite {
  at: number;
  resource: string;
  writer: string;
  token: number;
  accepted: boolean;
}

export interface Answer {
  at: number;
  service: string;
  /** The pod that answered; undefined when no pod did. */
  pod?: string;
}

/** Whether a connection from inside the cluster to the `kubernetes` Service reached the API server: what every pod's client needs. */
export interface ApiRoute {
  at: number;
  reached: boolean;
}

export interface LabelBreach {
  at: number;
  election: string;
  pods: string[];
}

export interface FaultRecord {
  kind: string;
  workload?: string;
  /** The pod hit, for pod faults and operator crashes. */
  victim?: string;
  /** Whether the victim held its election's Lease when hit. */
  wasHolder: boolean;
  start: number;
  /** When it was healed (a freeze thawed, a component started); equal to start for instant faults. */
  end: number;
  /** From its end until everything agreed again, when the harness waited for that. */
  convergedMs?: number;
}

export interface Observations {
  leases: Record<string, LeaseVersion[]>;
  writes: StoreWrite[];
  answers: Answer[];
  labelBreaches: LabelBreach[];
  apiRoute: ApiRoute[];
}

/** Two writers' commands running at once, from the store's record of their writes. */
export interface Overlap {
  resource: string;
  writers: [string, string];
  from: number;
  to: number;
  /** Inside a freeze or a partition of one of the two pods (the non-guarantee client-go and elector document). */
  excused: boolean;
  /** Writes of the older term the store accepted inside the overlap. */
  acceptedOlder: number;
}

export interface Verdict {
  violations: string[];
  overlaps: Overlap[];
  /** Per fault (same order): how long its election(s) went without a working leader; undefined when it did not hit a leader. */
  leaderlessMs: (number | undefined)[];
  /** Per routed Service: from each new term to the first answer from its holder. */
  routingLagMs: Record<string, number[]>;
  /** Answers from an earlier term's holder: routing's lag behind the Lease. */
  staleAnswers: number;
}

/** An answer or a refused write is judged against the Lease within this much of its time: the watch delivers a change a moment after it is made. */
const SLACK_MS = 1000;
/** Writes of one command come every 100 ms; a gap longer than this ends its run. */
const RUN_GAP_MS = 500;
/** Elections whose token the store's writers use, by store resource. */
const FENCED_RESOURCES = ["fenced", "wrapped"];

/** The version in force at `t`: the last one delivered at or before it. */
function versionAt(versions: LeaseVersion[], t: number): LeaseVersion | undefined {
  let found: LeaseVersion | undefined;
  for (const v of versions) {
    if (v.at > t) break;
    found = v;
  }
  return found;
}

/** Every holder the Lease named at some moment of [from, to]. */
function holdersWithin(versions: LeaseVersion[], from: number, to: number): Set<string> {
  const holders = new Set<string>();
  const first = versionAt(versions, from);
  if (first) holders.add(first.holder);
  for (const v of versions) if (v.at > from && v.at <= to) holders.add(v.holder);
  return holders;
}

/** Tokens only rise (tokensNotRising), and no token is given to two holders. */
function leaseViolations(election: string, versions: LeaseVersion[]): string[] {
  const found = tokensNotRising(versions).map((v) => `${election}: ${v}`);
  const owner = new Map<number, string>();
  for (const v of versions.filter((x) => x.holder !== "")) {
    const first = owner.get(v.transitions);
    if (first === undefined) owner.set(v.transitions, v.holder);
    else if (first !== v.holder) found.push(`${election}: token ${String(v.transitions)} was held by ${first} and by ${v.holder}`);
  }
  return found;
}

/** The writes' runs: consecutive writes of one writer with one token, no gap over RUN_GAP_MS. */
function runs(writes: StoreWrite[]): { writer: string; token: number; from: number; to: number }[] {
  const open = new Map<string, { writer: string; token: number; from: number; to: number }>();
  const done: { writer: string; token: number; from: number; to: number }[] = [];
  for (const w of writes) {
    const key = `${w.writer}/${String(w.token)}`;
    const run = open.get(key);
    if (run && w.at - run.to <= RUN_GAP_MS) run.to = w.at;
    else {
      if (run) done.push(run);
      open.set(key, { writer: w.writer, token: w.token, from: w.at, to: w.at });
    }
  }
  return [...done, ...open.values()].sort((a, b) => a.from - b.from);
}

function storeViolations(resource: string, writes: StoreWrite[], versions: LeaseVersion[]): string[] {
  const found: string[] = [];
  const grantee = new Map<number, string>();
  for (const v of versions) if (v.holder !== "" && !grantee.has(v.transitions)) grantee.set(v.transitions, v.holder);
  const acceptedBy = new Map<number, string>();
  let highest = -1;
  for (const w of writes) {
    if (w.accepted) {
      if (w.token < highest) found.push(`${resource}: the store accepted ${w.writer}'s write with token ${String(w.token)} after one with ${String(highest)}`);
      const given = grantee.get(w.token);
      if (given !== undefined && given !== w.writer) {
        found.push(`${resource}: the store accepted ${w.writer}'s write with token ${String(w.token)}, a token the Lease gave ${given}`);
      }
      const other = acceptedBy.get(w.token);
      if (other !== undefined && other !== w.writer) found.push(`${resource}: token ${String(w.token)} wrote for ${other} and for ${w.writer}`);
      acceptedBy.set(w.token, w.writer);
      highest = Math.max(highest, w.token);
    } else {
      // A refused write of the Lease's holder, with its own token, all through the slack around it: a legitimate write lost.
      const before = versionAt(versions, w.at - SLACK_MS);
      const holders = holdersWithin(versions, w.at - SLACK_MS, w.at + SLACK_MS);
      if (before?.holder === w.writer && before.transitions === w.token && holders.size === 1) {
        found.push(`${resource}: the store refused ${w.writer}'s write with token ${String(w.token)} while it held the Lease`);
      }
    }
  }
  return found;
}

function overlaps(resource: string, writes: StoreWrite[], faults: FaultRecord[], leaseMs: number): Overlap[] {
  const found: Overlap[] = [];
  const all = runs(writes);
  for (const [i, a] of all.entries()) {
    for (const b of all.slice(i + 1)) {
      if (b.from > a.to) break;
      if (a.writer === b.writer) continue;
      const from = Math.max(a.from, b.from);
      const to = Math.min(a.to, b.to);
      const [older, newer] = a.token <= b.token ? [a, b] : [b, a];
      const excused = faults.some(
        (f) =>
          (f.kind === "freeze" || f.kind === "partition") &&
          (f.victim === a.writer || f.victim === b.writer) &&
          f.start <= from &&
          to <= f.end + leaseMs + SLACK_MS,
      );
      const acceptedOlder = writes.filter((w) => w.writer === older.writer && w.token === older.token && w.accepted && w.at >= newer.from && w.at <= to).length;
      found.push({ resource, writers: [older.writer, newer.writer], from, to, excused, acceptedOlder });
    }
  }
  return found;
}

/**
 * Who answered each routed Service, judged against the Lease of the routed election. Routing trails
 * the Lease (the operator moves the label and the slice, kube-proxy its rules), by more than one
 * term when terms come fast or the operator is away: an answer from an earlier holder is lag, and
 * is counted. What is never allowed: an answer from a pod that never held the Lease, and going
 * back, an answer from an earlier term's holder once a later term's holder has answered (two pods
 * serving at once, as far as one prober can see).
 */
function routing(answers: Answer[], versions: LeaseVersion[]): { violations: string[]; lagMs: Record<string, number[]>; staleAnswers: number } {
  const violations: string[] = [];
  const lagMs: Record<string, number[]> = {};
  let staleAnswers = 0;
  // Terms: each version that names a new holder (or a new token) begins one.
  const terms: { holder: string; transitions: number; from: number }[] = [];
  for (const v of versions) {
    const last = terms.at(-1);
    if (v.holder === "" || (last && last.holder === v.holder && last.transitions === v.transitions)) continue;
    terms.push({ holder: v.holder, transitions: v.transitions, from: v.at });
  }
  for (const service of new Set(answers.map((a) => a.service))) {
    const served = new Set<number>();
    let latest = -1;
    lagMs[service] = [];
    for (const a of answers.filter((x) => x.service === service && x.pod !== undefined)) {
      const current = terms.findLastIndex((term) => term.from <= a.at);
      // The latest term of the answering pod that had begun (the watch may show it a moment late).
      const own = terms.findLastIndex((term) => term.holder === a.pod && term.from <= a.at + SLACK_MS);
      if (own < 0) {
        violations.push(`${service} was answered by ${a.pod ?? ""}, which never held the Lease`);
        continue;
      }
      if (own < latest) {
        const [earlier, later] = [terms[own], terms[latest]];
        const token = (term: typeof earlier): string => `token ${String(term?.transitions)}`;
        violations.push(`${service} was answered by ${a.pod ?? ""} (${token(earlier)}) after ${later?.holder ?? ""} (${token(later)}) had answered`);
        continue;
      }
      latest = own;
      if (own < current) staleAnswers++;
      if (own >= current && !served.has(own)) {
        served.add(own);
        lagMs[service].push(Math.max(0, a.at - (terms[own]?.from ?? a.at)));
      }
    }
  }
  return { violations, lagMs, staleAnswers };
}

/** How long after the fault its election(s) had no working leader: until a holder other than the stricken one, or anyone after it healed, renewed. */
function leaderless(f: FaultRecord, leases: Record<string, LeaseVersion[]>): number | undefined {
  const podFault = f.workload !== undefined;
  if (podFault && !f.wasHolder) return undefined;
  if (f.kind === "operator-crash") return undefined;
  const elections = podFault ? [f.workload ?? ""] : Object.keys(leases);
  const times = elections.map((e) => {
    const versions = leases[e] ?? [];
    const before = versionAt(versions, f.start)?.transitions ?? -1;
    const back = versions.find(
      (v) => v.at > f.start && v.holder !== "" && v.renewTime > f.start && (!podFault || v.holder !== f.victim || v.transitions > before || v.at >= f.end),
    );
    return back ? back.at - f.start : Number.POSITIVE_INFINITY;
  });
  return Math.max(...times);
}

export function judge(observed: Observations, faults: FaultRecord[], leaseMs: number): Verdict {
  const violations: string[] = [];
  for (const [election, versions] of Object.entries(observed.leases)) violations.push(...leaseViolations(election, versions));
  const found: Overlap[] = [];
  for (const resource of FENCED_RESOURCES) {
    const writes = observed.writes.filter((w) => w.resource === resource);
    const versions = observed.leases[resource] ?? [];
    violations.push(...storeViolations(resource, writes, versions));
    found.push(...overlaps(resource, writes, faults, leaseMs));
  }
  // The wrapper's promise: its command runs in one pod at a time, but inside a freeze or a
  // partition; and there, every write of the older term is refused once the newer one runs.
  for (const o of found.filter((x) => x.resource === "wrapped")) {
    const span = `${new Date(o.from).toISOString()} for ${String(o.to - o.from)} ms`;
    if (!o.excused) violations.push(`wrapped: the command ran in ${o.writers[0]} and ${o.writers[1]} at once, ${span}, outside any freeze or partition`);
    if (o.acceptedOlder > 0)
      violations.push(`wrapped: ${String(o.acceptedOlder)} writes of ${o.writers[0]}'s older term were accepted while ${o.writers[1]} ran, ${span}`);
  }
  for (const b of observed.labelBreaches)
    violations.push(`${b.election}: ${b.pods.join(" and ")} carried the leader label at once (${new Date(b.at).toISOString()})`);
  const routed = routing(observed.answers, observed.leases.fenced ?? []);
  violations.push(...routed.violations);
  return {
    violations,
    overlaps: found,
    leaderlessMs: faults.map((f) => leaderless(f, observed.leases)),
    routingLagMs: routed.lagMs,
    staleAnswers: routed.staleAnswers,
  };
}
