/**
 * The Prometheus text exposition format, written by hand: the agent exposes a handful of gauges
 * and counters, and prom-client would add ~12 MB to every member pod for them. Process metrics
 * carry prom-client's names, so the usual Node dashboards work unchanged.
 */

// The CommonJS objects, not ESM imports: see src/kube/client.ts.
const { readdirSync } = process.getBuiltinModule("node:fs");
const { monitorEventLoopDelay, PerformanceObserver, constants } = process.getBuiltinModule("node:perf_hooks");

export const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export interface Sample {
  labels?: Record<string, string>;
  value: number;
  /** For histograms: "_bucket", "_sum" or "_count" after the family's name. */
  suffix?: string;
}

export interface Family {
  name: string;
  help: string;
  type: "counter" | "gauge" | "histogram";
  samples: Sample[];
}

export function render(families: Family[]): string {
  const lines: string[] = [];
  for (const f of families) {
    lines.push(`# HELP ${f.name} ${f.help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) lines.push(`${f.name}${s.suffix ?? ""}${labelText(s.labels)} ${formatValue(s.value)}`);
  }
  return `${lines.join("\n")}\n`;
}

function labelText(labels: Record<string, string> | undefined): string {
  const entries = Object.entries(labels ?? {});
  if (entries.length === 0) return "";
  const escape = (v: string): string => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
  return `{${entries.map(([k, v]) => `${k}="${escape(v)}"`).join(",")}}`;
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "+Inf" : "-Inf";
  return String(v);
}

/** A histogram of observations in fixed buckets, as Prometheus' client libraries keep one. */
export class Histogram {
  private readonly bounds: number[];
  private readonly counts: number[];
  private sum = 0;
  private count = 0;

  constructor(bounds: number[]) {
    this.bounds = bounds;
    this.counts = bounds.map(() => 0);
  }

  observe(value: number): void {
    this.sum += value;
    this.count += 1;
    this.bounds.forEach((bound, i) => {
      if (value <= bound) this.counts[i] = (this.counts[i] ?? 0) + 1;
    });
  }

  /** The _bucket, _sum and _count samples, each with `labels` (and `le` on the buckets). */
  samples(labels: Record<string, string> = {}): Sample[] {
    return [
      ...this.bounds.map((bound, i) => ({ suffix: "_bucket", labels: { ...labels, le: String(bound) }, value: this.counts[i] ?? 0 })),
      { suffix: "_bucket", labels: { ...labels, le: "+Inf" }, value: this.count },
      { suffix: "_sum", labels, value: this.sum },
      { suffix: "_count", labels, value: this.count },
    ];
  }
}

const startTimeSeconds = Math.round((Date.now() - performance.now()) / 1000);

/** prom-client's nodejs_gc_duration_seconds buckets. */
const GC_BUCKETS = [0.001, 0.01, 0.1, 1, 2, 5];
const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MAJOR]: "major",
  [constants.NODE_PERFORMANCE_GC_MINOR]: "minor",
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: "incremental",
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: "weakcb",
};

/** Event-loop delay and GC pauses, measured from when a command starts serving metrics. */
let runtime: { lag: ReturnType<typeof monitorEventLoopDelay>; gc: Map<string, Histogram> } | undefined;

/** Starts measuring the event loop and GC for processFamilies (prom-client's default metrics do the same). */
export function startRuntimeMetrics(): void {
  if (runtime) return;
  // prom-client's resolution: the delay is sampled every 10 ms.
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  const gc = new Map(Object.values(GC_KINDS).map((kind) => [kind, new Histogram(GC_BUCKETS)]));
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      // A gc entry's detail is {kind, flags}; the type of PerformanceEntry does not say so.
      const kind = GC_KINDS[(entry as { detail?: { kind?: number } }).detail?.kind ?? -1];
      if (kind) gc.get(kind)?.observe(entry.duration / 1000);
    }
  }).observe({ entryTypes: ["gc"] });
  runtime = { lag, gc };
}

/** nodejs_eventloop_lag_* (since the last scrape, as prom-client resets its histogram) and nodejs_gc_duration_seconds. */
function runtimeFamilies(): Family[] {
  if (!runtime) return [];
  const { lag, gc } = runtime;
  // Before its first sample the histogram's min is 2^63 and its mean NaN: report 0 then.
  const seconds = (ns: number): number => (lag.count > 0 && Number.isFinite(ns) ? ns / 1e9 : 0);
  const gauge = (name: string, help: string, value: number): Family => ({ name, help, type: "gauge", samples: [{ value }] });
  const families = [
    gauge("nodejs_eventloop_lag_min_seconds", "The minimum recorded event loop delay.", seconds(lag.min)),
    gauge("nodejs_eventloop_lag_max_seconds", "The maximum recorded event loop delay.", seconds(lag.max)),
    gauge("nodejs_eventloop_lag_mean_seconds", "The mean of the recorded event loop delays.", seconds(lag.mean)),
    gauge("nodejs_eventloop_lag_stddev_seconds", "The standard deviation of the recorded event loop delays.", seconds(lag.stddev)),
    gauge("nodejs_eventloop_lag_p50_seconds", "The 50th percentile of the recorded event loop delays.", seconds(lag.percentile(50))),
    gauge("nodejs_eventloop_lag_p90_seconds", "The 90th percentile of the recorded event loop delays.", seconds(lag.percentile(90))),
    gauge("nodejs_eventloop_lag_p99_seconds", "The 99th percentile of the recorded event loop delays.", seconds(lag.percentile(99))),
    {
      name: "nodejs_gc_duration_seconds",
      help: "Garbage collection duration by kind, one of major, minor, incremental or weakcb.",
      type: "histogram" as const,
      samples: [...gc].flatMap(([kind, h]) => h.samples({ kind })),
    },
  ];
  lag.reset();
  return families;
}

/** CPU, memory, file descriptors, the Node version, event-loop lag and GC, under prom-client's default metric names. */
export function processFamilies(): Family[] {
  const cpu = process.cpuUsage();
  const memory = process.memoryUsage();
  const [major = "", minor = "", patch = ""] = process.versions.node.split(".");
  const one = (value: number): Sample[] => [{ value }];
  const families: Family[] = [
    { name: "process_cpu_user_seconds_total", help: "Total user CPU time spent in seconds.", type: "counter", samples: one(cpu.user / 1e6) },
    { name: "process_cpu_system_seconds_total", help: "Total system CPU time spent in seconds.", type: "counter", samples: one(cpu.system / 1e6) },
    {
      name: "process_cpu_seconds_total",
      help: "Total user and system CPU time spent in seconds.",
      type: "counter",
      samples: one((cpu.user + cpu.system) / 1e6),
    },
    { name: "process_start_time_seconds", help: "Start time of the process since unix epoch in seconds.", type: "gauge", samples: one(startTimeSeconds) },
    { name: "process_resident_memory_bytes", help: "Resident memory size in bytes.", type: "gauge", samples: one(memory.rss) },
    { name: "nodejs_heap_size_total_bytes", help: "Process heap size from Node.js in bytes.", type: "gauge", samples: one(memory.heapTotal) },
    { name: "nodejs_heap_size_used_bytes", help: "Process heap size used from Node.js in bytes.", type: "gauge", samples: one(memory.heapUsed) },
    { name: "nodejs_external_memory_bytes", help: "Node.js external memory size in bytes.", type: "gauge", samples: one(memory.external) },
    {
      name: "nodejs_version_info",
      help: "Node.js version info.",
      type: "gauge",
      samples: [{ labels: { version: process.version, major, minor, patch }, value: 1 }],
    },
  ];
  const fds = openFds();
  if (fds !== undefined) families.push({ name: "process_open_fds", help: "Number of open file descriptors.", type: "gauge", samples: one(fds) });
  return [...families, ...runtimeFamilies()];
}

function openFds(): number | undefined {
  try {
    return readdirSync("/proc/self/fd").length;
  } catch {
    return undefined; // not Linux
  }
}
