/**
 * The Prometheus text exposition format, written by hand: the agent exposes a handful of gauges
 * and counters, and prom-client would add ~12 MB to every member pod for them. Process metrics
 * carry prom-client's names, so the usual Node dashboards work unchanged.
 */

// The CommonJS object, not an ESM import: see src/kube/client.ts.
const { readdirSync } = process.getBuiltinModule("node:fs");

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

  samples(): Sample[] {
    return [
      ...this.bounds.map((bound, i) => ({ suffix: "_bucket", labels: { le: String(bound) }, value: this.counts[i] ?? 0 })),
      { suffix: "_bucket", labels: { le: "+Inf" }, value: this.count },
      { suffix: "_sum", value: this.sum },
      { suffix: "_count", value: this.count },
    ];
  }
}

const startTimeSeconds = Math.round((Date.now() - performance.now()) / 1000);

/** CPU, memory, file descriptors and the Node version, under prom-client's default metric names. */
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
  return families;
}

function openFds(): number | undefined {
  try {
    return readdirSync("/proc/self/fd").length;
  } catch {
    return undefined; // not Linux
  }
}
