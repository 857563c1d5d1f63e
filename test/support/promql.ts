/**
 * Checks PromQL expressions (a dashboard's, an alerting rule's) against what a process really
 * exports: each parses with Prometheus' own parser (test/promql), each selector matches at least
 * one scraped series, every label it groups or matches on exists, and rate(), irate() and
 * increase() are applied to counters only.
 */
import { spawn } from "node:child_process";
import { ensurePromql } from "../promql/build.ts";

/** Labels Prometheus adds to every series of a Kubernetes target (the Prometheus Operator's ServiceMonitor and PodMonitor). */
const TARGET_LABELS = new Set(["job", "instance", "namespace", "pod", "container", "service", "endpoint"]);

interface Series {
  name: string;
  labels: Record<string, string>;
}

interface Parsed {
  expr: string;
  error?: string;
  selectors: { metric: string; matchers: { name: string; type: string; value: string }[] }[];
  labels: string[];
  rated: string[];
}

/** The series and the counter-like names (counters, and histograms' _bucket/_sum/_count) of exposition texts. */
export function scraped(texts: string[]): { series: Series[]; counters: Set<string> } {
  const series: Series[] = [];
  const counters = new Set<string>();
  for (const text of texts)
    for (const line of text.split("\n")) {
      const type = /^# TYPE (\S+) (\S+)$/.exec(line);
      if (type?.[1] && type[2] === "counter") counters.add(type[1]);
      if (type?.[1] && type[2] === "histogram") for (const suffix of ["_bucket", "_sum", "_count"]) counters.add(type[1] + suffix);
      const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? \S+$/.exec(line);
      if (!sample?.[1]) continue;
      const labels: Record<string, string> = {};
      for (const m of (sample[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[m[1] ?? ""] = (m[2] ?? "").replace(/\\(.)/g, "$1");
      series.push({ name: sample[1], labels });
    }
  return { series, counters };
}

/** Every problem found in `exprs`, one line each; empty when all of them read only what is exported. */
export async function queryProblems(exprs: string[], exported: { series: Series[]; counters: Set<string> }): Promise<string[]> {
  const problems: string[] = [];
  for (const r of await parse(exprs)) {
    const where = `in ${JSON.stringify(r.expr)}:`;
    if (r.error) {
      problems.push(`${where} ${r.error}`);
      continue;
    }
    for (const s of r.selectors) {
      const own = s.matchers.filter((m) => !TARGET_LABELS.has(m.name));
      const candidates = exported.series.filter((x) => x.name === s.metric);
      if (candidates.length === 0) problems.push(`${where} nothing exports ${s.metric}`);
      else if (!candidates.some((x) => own.every((m) => matches(m, x.labels[m.name] ?? ""))))
        problems.push(`${where} no ${s.metric} series matches ${own.map((m) => `${m.name}${m.type}"${m.value}"`).join(",")}`);
    }
    const names = new Set(r.selectors.map((s) => s.metric));
    const known = new Set(exported.series.filter((x) => names.has(x.name)).flatMap((x) => Object.keys(x.labels)));
    for (const label of r.labels)
      if (label !== "le" && !TARGET_LABELS.has(label) && !known.has(label)) problems.push(`${where} no series it reads has a label ${label}`);
    for (const metric of r.rated)
      if (!exported.counters.has(metric)) problems.push(`${where} ${metric} is not a counter, so rate() or increase() of it means nothing`);
  }
  return problems;
}

function matches(m: { type: string; value: string }, actual: string): boolean {
  const re = new RegExp(`^(?:${m.value})$`);
  if (m.type === "=") return actual === m.value;
  if (m.type === "!=") return actual !== m.value;
  if (m.type === "=~") return re.test(actual);
  return !re.test(actual);
}

async function parse(exprs: string[]): Promise<Parsed[]> {
  const bin = await ensurePromql();
  const child = spawn(bin, [], { stdio: ["pipe", "pipe", "inherit"] });
  let out = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
  child.stdin.end(JSON.stringify(exprs));
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  if (code !== 0) throw new Error(`the PromQL checker exited with ${String(code)}`);
  return JSON.parse(out) as Parsed[];
}
