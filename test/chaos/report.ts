/** A chaos run's figures as the markdown of docs/reliability.md's results section. */
import { ms, summarize } from "../../bench/report.ts";
import type { ChaosRun } from "./run.ts";
import type { ApiRoute, FaultRecord } from "./verdict.ts";
import { FAULT_KINDS } from "./schedule.ts";
import { LEASE_MS } from "./workloads.ts";

const p = (samples: number[], which: "p50" | "p99"): string => (samples.length ? ms(summarize(samples)[which]) : "–");

/** Per restart of the API server or etcd: from its end (the API server ready) to the first connection through the `kubernetes` Service that reached it. */
export function apiRouteBackMs(faults: FaultRecord[], apiRoute: ApiRoute[]): number[] {
  return faults
    .filter((f) => f.kind === "apiserver-restart" || f.kind === "etcd-restart")
    .map((f) => (apiRoute.find((p) => p.at >= f.end && p.reached)?.at ?? Infinity) - f.end);
}

export function report(run: ChaosRun, command: string): string[] {
  const { faults, verdict, observed } = run;
  // Each refused write is put down to the last fault that began before it (within that fault's end plus a lease).
  const refusedBy = faults.map(() => 0);
  for (const w of observed.writes.filter((x) => !x.accepted)) {
    const i = faults.findLastIndex((f) => f.start <= w.at && w.at <= f.end + LEASE_MS + 2000);
    if (i >= 0) refusedBy[i] = (refusedBy[i] ?? 0) + 1;
  }
  const rows = FAULT_KINDS.map((kind) => {
    const of = faults.map((f, i) => ({ f, i })).filter(({ f }) => f.kind === kind);
    const leaderless = of.map(({ i }) => verdict.leaderlessMs[i]).filter((v): v is number => v !== undefined);
    const settled = of.map(({ f }) => f.convergedMs).filter((v): v is number => v !== undefined);
    const never = leaderless.filter((v) => !Number.isFinite(v)).length;
    const refused = of.reduce((sum, { i }) => sum + (refusedBy[i] ?? 0), 0);
    const lasted = of.map(({ f }) => f.end - f.start);
    const finite = leaderless.filter(Number.isFinite);
    return tableRow([
      kind,
      String(of.length),
      String(of.filter(({ f }) => f.wasHolder).length),
      p(lasted, "p50"),
      p(finite, "p50"),
      `${p(finite, "p99")}${never ? ` (${String(never)} never)` : ""}`,
      p(settled, "p50"),
      p(settled, "p99"),
      String(refused),
    ]);
  });
  const writes = (resource: string): string => {
    const of = observed.writes.filter((w) => w.resource === resource);
    const accepted = of.filter((w) => w.accepted).length;
    return `${String(accepted)} accepted, ${String(of.length - accepted)} refused`;
  };
  const overlaps = (resource: string): string => {
    const of = verdict.overlaps.filter((o) => o.resource === resource);
    const excused = of.filter((o) => o.excused).length;
    return `${String(of.length)} (${String(excused)} inside a freeze or partition), longest ${ms(Math.max(0, ...of.map((o) => o.to - o.from)))}`;
  };
  const lag = Object.entries(verdict.routingLagMs).map(
    ([service, samples]) => `${service} p50 ${p(samples, "p50")} / p99 ${p(samples, "p99")} (${String(samples.length)} terms)`,
  );
  const awaited = faults.filter((f) => f.convergedMs !== undefined).length;
  const apiRouteBack = apiRouteBackMs(faults, observed.apiRoute);
  const apiBack = apiRouteBack.filter(Number.isFinite);
  const apiNever = apiRouteBack.length - apiBack.length;
  const answered = observed.answers.filter((a) => a.pod).length;
  const violations = verdict.violations.length ? ` ${verdict.violations.slice(0, 20).join("; ")}` : "";
  const started = new Date(run.faults[0]?.start ?? Date.now()).toISOString().slice(0, 16);
  const final = run.finalConvergenceMs === undefined ? "**not settled**" : `settled in ${ms(run.finalConvergenceMs)}`;
  return [
    `Run of ${started}Z: \`${command}\`, ${String(faults.length)} faults in ${(run.durationMs / 60_000).toFixed(1)} min.`,
    "",
    tableRow(["fault", "count", "on the leader", "lasted p50", "leaderless p50", "leaderless p99", "settled p50", "settled p99", "stale writes refused"]),
    tableRow(Array.from({ length: 9 }, () => "---")),
    ...rows,
    "",
    `- **Violations: ${String(verdict.violations.length)}.**${violations}`,
    `- Writes to the fenced store: \`fenced\` ${writes("fenced")}; \`wrapped\` ${writes("wrapped")}.`,
    `- Two writers at once (runs of writes that overlap in time): \`wrapped\` ${overlaps("wrapped")}; \`fenced\` ${overlaps("fenced")}.`,
    `- Routing lag, from the Lease naming a new holder to the first answer from its pod: ${lag.join("; ")}; ` +
      `${String(verdict.staleAnswers)} of ${String(answered)} answers came from an earlier holder.`,
    `- Moments with two pods labelled leader: ${String(observed.labelBreaches.length)}.`,
    "- Pods' way to the API server (the `kubernetes` Service, tried from the node every 250 ms), from the end of an API-server or etcd restart: " +
      `back after p50 ${p(apiBack, "p50")} / p99 ${p(apiBack, "p99")} ` +
      `(${String(apiRouteBack.length)} restarts${apiNever ? `, ${String(apiNever)} never` : ""}).`,
    `- Operator container restarts: ${String(run.operatorRestarts)}; ` +
      `operator-crash faults: ${String(faults.filter((f) => f.kind === "operator-crash").length)}. ` +
      "A replica that loses its own Lease exits and restarts too, as controller-runtime's do.",
    `- Settled after ${String(awaited)} of the ${String(faults.length)} faults before the next one ` +
      "(the others were followed at once, or did not settle within the lease plus 20 s).",
    `- After the last fault: ${final} (the bound: the lease plus 10 s).`,
  ];
}

const tableRow = (cells: string[]): string => `| ${cells.join(" | ")} |`;
