/**
 * `npm run bench:operator`: how closely `elector operator` follows leadership, what it costs, and
 * how long a restarted operator takes to catch up, with 1, 1,000 and 10,000 Elections (100 to a
 * namespace, so 10,000 span 100 namespaces) while leadership changes 10 times a second across them.
 * Writes its section of docs/benchmarks.md.
 *
 * Every Election has three candidate pods (API objects given an IP and Ready, as a kubelet would),
 * a selector-less Service, the leader label and its own Lease. The bench plays the candidates: a
 * leadership change is the write an acquiring agent makes (another holder, leaseTransitions + 1,
 * fresh times). 30,000 agent processes do not fit on this machine, and the operator reads only the
 * Lease, so the Lease write is the whole cause. From just before that write, the bench's own
 * watches time
 * - status lag: until the Election's status.transitions reaches the new term;
 * - routing lag: until the new leader's pod is the only candidate with the label and the
 *   Service's EndpointSlice lists only its IP.
 * Holders rotate over three pods, so a routing that lagged three terms behind could be taken for
 * the newest; that would take a lag of 300 ms at one Election, far above what is measured.
 *
 * For each size, each variant (an operator build and its Node flags; by default the one shipped)
 * is started fresh after a tenth of the Elections changed leader while no operator ran: the time
 * until all of those are shown and routed is its catch-up. Then come the changes. The operator
 * watches all namespaces, on a control plane without a node (the pods are API objects only).
 * Options: --seconds S of changes per cell (default 30), --sizes 1,1000,10000,
 * --variants "name=path/to/main.js|node flags;…", --out FILE.
 */
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { cpus, totalmem } from "node:os";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { KubeConfig } from "@kubernetes/client-node";
import { formatMicroTime } from "../src/election/record.ts";
import { KubeClient, type KubeObject } from "../src/kube/client.ts";
import { loadConnection } from "../src/kube/kubeconfig.ts";
import { withScratchPlane, type ControlPlane } from "../test/cluster/controlplane.ts";
import { KUBERNETES_VERSION } from "../test/cluster/versions.ts";
import { freePort, SHIPPED } from "../test/support/agents.ts";
import { createNamespace } from "../test/support/cluster.ts";
import { candidatePod, installCrd, podStatus } from "../test/support/operator.ts";
import { ms, row, rssMb, summarize, targetRow, writeSection, type Summary } from "./report.ts";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "30" },
    sizes: { type: "string", default: "1,1000,10000" },
    variants: { type: "string", default: `shipped=${SHIPPED.entry}|${SHIPPED.nodeFlags.join(" ")}` },
    out: { type: "string", default: "docs/benchmarks.md" },
  },
});
const SECONDS = Number(values.seconds);
const SIZES = values.sizes.split(",").map(Number);
const PER_NAMESPACE = 100;

/** An operator build to measure, and the Node flags it runs with. */
interface Variant {
  name: string;
  main: string;
  flags: string[];
}

const VARIANTS: Variant[] = values.variants.split(";").map((spec) => {
  const name = spec.slice(0, spec.indexOf("="));
  const [main = SHIPPED.entry, flags = ""] = spec.slice(spec.indexOf("=") + 1).split("|");
  return { name, main, flags: flags.split(" ").filter((f) => f !== "") };
});
const CHANGES_PER_SECOND = 10;
const PODS_PER_ELECTION = 3;
/** Long enough that no Lease expires during the bench: every change is a write the bench made. */
const LEASE_SECONDS = 3600;

interface Lease extends KubeObject {
  spec: { holderIdentity: string; leaseDurationSeconds: number; acquireTime: string; renewTime: string; leaseTransitions: number };
}

/** What the bench watches: Elections (their term), pods (their labels) and elector's EndpointSlices. */
type Watched = KubeObject & { status?: { transitions?: number }; endpoints?: { addresses: string[] }[] };

/** The bench's side of one Election: its Lease as last written, and changes not yet seen applied. */
interface Tracked {
  lease: Lease;
  pending: { term: number; holder: string; sent: number; status?: number; routed?: number }[];
}

const electionName = (i: number): string => `e${i}`;
const podName = (i: number, p: number): string => `e${i}-${p}`;
const podIp = (i: number, p: number): string => `10.${128 + Math.floor(i / 250)}.${i % 250}.${p + 1}`;

/** Runs `task` over `items`, `width` at a time. */
async function inParallel<T>(items: T[], width: number, task: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) {
        const item = items[next++] as T;
        await task(item);
      }
    }),
  );
}

class Bench {
  readonly tracked = new Map<string, Tracked>();
  private readonly client: KubeClient;
  private readonly kc: KubeConfig;
  /** The namespace of every PER_NAMESPACE Elections, created as they are needed. */
  private readonly namespaces: string[] = [];
  /** What the bench's watches show: each pod's labels, each Service's slice addresses, each Election's term. */
  private readonly podLabels = new Map<string, Record<string, string>>();
  private readonly sliceAddresses = new Map<string, string[]>();
  private readonly shownTerm = new Map<string, number>();
  private readonly stops: (() => void)[] = [];

  constructor(client: KubeClient, kc: KubeConfig) {
    this.client = client;
    this.kc = kc;
  }

  private namespaceOf(i: number): string {
    return this.namespaces[Math.floor(i / PER_NAMESPACE)] ?? "";
  }

  /** Watches Elections, pods and elector's slices in every namespace; every event may complete a pending change. */
  watch(): void {
    const on = (path: string, query: Record<string, string>, apply: (type: string, object: Watched) => string | undefined): void => {
      const restart = (): void => {
        this.stops.push(
          this.client.watch<Watched>(path, query, {
            onConnected: () => undefined,
            onEvent: (type, object) => {
              const election = apply(type, object);
              if (election) this.settle(election, performance.now());
            },
            onClosed: () => {
              restart();
            },
          }),
        );
      };
      restart();
    };
    on("/apis/elector.dev/v1alpha1/elections", {}, (_type, e) => {
      const name = e.metadata?.name ?? "";
      this.shownTerm.set(name, e.status?.transitions ?? -1);
      return name;
    });
    on("/api/v1/pods", { labelSelector: "app=bench" }, (type, pod) => {
      const name = pod.metadata?.name ?? "";
      if (type === "DELETED") this.podLabels.delete(name);
      else this.podLabels.set(name, pod.metadata?.labels ?? {});
      return pod.metadata?.labels?.election;
    });
    on("/apis/discovery.k8s.io/v1/endpointslices", { labelSelector: "endpointslice.kubernetes.io/managed-by=elector.dev" }, (type, slice) => {
      const service = slice.metadata?.labels?.["kubernetes.io/service-name"] ?? "";
      this.sliceAddresses.set(service, type === "DELETED" ? [] : (slice.endpoints ?? []).flatMap((e) => e.addresses));
      return service;
    });
  }

  stop(): void {
    for (const stop of this.stops) stop();
  }

  /** Whether the label and the slice point at `holder` alone among the Election's candidates. */
  private routedTo(i: number, holder: string): boolean {
    const p = Number(holder.slice(holder.lastIndexOf("-") + 1));
    for (let q = 0; q < PODS_PER_ELECTION; q++) {
      const labelled = this.podLabels.get(podName(i, q))?.leader === "true";
      if (labelled !== (q === p)) return false;
    }
    return this.sliceAddresses.get(electionName(i))?.join() === podIp(i, p);
  }

  private settle(election: string, at: number): void {
    const t = this.tracked.get(election);
    if (!t) return;
    const i = Number(election.slice(1));
    const shown = this.shownTerm.get(election) ?? -1;
    for (const change of t.pending) if (change.status === undefined && change.term <= shown) change.status = at - change.sent;
    // The newest pending change routed to: it, and every change before it, are routed.
    const newest = t.pending.findLastIndex((c) => c.routed === undefined && this.routedTo(i, c.holder));
    for (const change of t.pending.slice(0, newest + 1)) change.routed ??= at - change.sent;
  }

  /** Creates Elections `from` … `to - 1` with their pods, Services and Leases. */
  async create(from: number, to: number): Promise<void> {
    while (this.namespaces.length * PER_NAMESPACE < to) this.namespaces.push(await createNamespace(this.kc, "bench-operator"));
    const indices = Array.from({ length: to - from }, (_, k) => from + k);
    const post = (path: string, body: unknown): Promise<unknown> => this.client.request("POST", path, { body, timeoutMs: 30_000 });
    await inParallel(indices, 16, async (i) => {
      const name = electionName(i);
      const ns = this.namespaceOf(i);
      for (let p = 0; p < PODS_PER_ELECTION; p++) {
        await post(`/api/v1/namespaces/${ns}/pods`, candidatePod(ns, podName(i, p), { app: "bench", election: name }));
        await this.client.request("PATCH", `/api/v1/namespaces/${ns}/pods/${podName(i, p)}/status`, {
          body: podStatus(podIp(i, p), true),
          contentType: "application/merge-patch+json",
          timeoutMs: 30_000,
        });
      }
      await post(`/api/v1/namespaces/${ns}/services`, {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name, namespace: ns },
        spec: { ports: [{ name: "sql", port: 5432, targetPort: "pg" }] },
      });
      const now = formatMicroTime(new Date());
      const lease = (await post(`/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`, {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name, namespace: ns },
        spec: { holderIdentity: podName(i, 0), leaseDurationSeconds: LEASE_SECONDS, acquireTime: now, renewTime: now, leaseTransitions: 0 },
      })) as Lease;
      // Setup is done once the operator shows and routes this first term too.
      this.tracked.set(name, { lease, pending: [{ term: 0, holder: podName(i, 0), sent: performance.now() }] });
      await post(`/apis/elector.dev/v1alpha1/namespaces/${ns}/elections`, {
        apiVersion: "elector.dev/v1alpha1",
        kind: "Election",
        metadata: { name, namespace: ns },
        spec: { candidates: { selector: { matchLabels: { election: name } } }, leaderLabel: {}, service: { name } },
      });
    });
  }

  /** Moves the Lease of Election `i` to its next pod, as an acquiring agent would write it. */
  async change(i: number): Promise<void> {
    const t = this.tracked.get(electionName(i));
    if (!t) throw new Error(`no election ${String(i)}`);
    const { spec } = t.lease;
    const holder = podName(i, (Number(spec.holderIdentity.slice(spec.holderIdentity.lastIndexOf("-") + 1)) + 1) % PODS_PER_ELECTION);
    const now = formatMicroTime(new Date());
    const term = spec.leaseTransitions + 1;
    const change = { term, holder, sent: performance.now() };
    t.pending.push(change);
    t.lease = await this.client.request<Lease>("PUT", `/apis/coordination.k8s.io/v1/namespaces/${this.namespaceOf(i)}/leases/${electionName(i)}`, {
      body: { ...t.lease, spec: { ...spec, holderIdentity: holder, acquireTime: now, renewTime: now, leaseTransitions: term } },
      timeoutMs: 30_000,
    });
  }

  /** The changes that are both shown and routed, taken out of the pending lists. */
  drain(): { status: number[]; routed: number[]; missing: number } {
    const out = { status: [] as number[], routed: [] as number[], missing: 0 };
    for (const t of this.tracked.values()) {
      for (const c of t.pending) {
        if (c.status === undefined || c.routed === undefined) out.missing++;
        else {
          out.status.push(c.status);
          out.routed.push(c.routed);
        }
      }
      t.pending = [];
    }
    return out;
  }

  /** Whether every change so far is both shown and routed. */
  get caughtUp(): boolean {
    return [...this.tracked.values()].every((t) => t.pending.every((c) => c.status !== undefined && c.routed !== undefined));
  }
}

interface Cell {
  variant: string;
  elections: number;
  /** Changes made while no operator ran, and how long the fresh one took to show and route them all. */
  missed: number;
  catchUpSeconds: number;
  changes: number;
  status: Summary;
  routed: Summary;
  missing: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  /** CPU time the operator used during the changes. */
  cpuSeconds: number;
}

/** The V8 heap of the operator, used and reserved, in MB, from its own /metrics. */
async function heapMb(port: number): Promise<{ heapUsed: number; heapTotal: number }> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const gauge = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? Number.NaN) / 2 ** 20;
  return { heapUsed: gauge("nodejs_heap_size_used_bytes"), heapTotal: gauge("nodejs_heap_size_total_bytes") };
}

/** User and system CPU time of a process so far, in seconds (Linux clock ticks are 1/100 s). */
async function cpuSeconds(pid: number | undefined): Promise<number> {
  const fields = (await readFile(`/proc/${String(pid ?? 0)}/stat`, "utf8")).split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

interface Operator {
  pid: number | undefined;
  metricsPort: number;
  /** Throws once the process has exited: a bench waiting on a dead operator would wait for nothing. */
  check: () => void;
  stop: () => Promise<void>;
}

async function startOperator(plane: ControlPlane, variant: Variant): Promise<Operator> {
  const metricsPort = await freePort();
  const child = spawn(
    process.execPath,
    [...variant.flags, variant.main, "operator", `--kubeconfig=${plane.kubeconfig}`, `--metrics-addr=127.0.0.1:${metricsPort}`, "--health-addr=0"],
    { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, LOG_LEVEL: "info" } },
  );
  const exited = new Promise((resolve) => child.once("exit", resolve));
  return {
    pid: child.pid,
    metricsPort,
    check: () => {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`operator ${variant.name} exited (${String(child.exitCode ?? child.signalCode)})`);
    },
    stop: async () => {
      child.kill("SIGTERM");
      await exited;
    },
  };
}

async function main(plane: ControlPlane): Promise<void> {
  const kc = new KubeConfig();
  kc.loadFromFile(plane.kubeconfig);
  const client = new KubeClient(loadConnection(plane.kubeconfig));
  const started = new Date();
  // The test support's helpers (the CRD's install among them) work on the cluster this names.
  process.env.ELECTOR_TEST_CLUSTER_DIR = plane.dir;
  await installCrd();
  const bench = new Bench(client, kc);
  bench.watch();
  const cells: Cell[] = [];
  const caughtUp = async (what: string, operator: Operator, timeoutMs: number): Promise<void> => {
    const deadline = performance.now() + timeoutMs;
    while (!bench.caughtUp) {
      operator.check();
      if (performance.now() > deadline) throw new Error(`timed out after ${String(timeoutMs)} ms waiting for ${what}`);
      await sleep(100);
    }
  };
  try {
    let created = 0;
    for (const size of SIZES) {
      process.stderr.write(`creating Elections ${String(created)}…${String(size - 1)}\n`);
      await bench.create(created, size);
      created = size;
      // The first operator gives the new Elections their finalizer, label, slice and status.
      const setup = await startOperator(plane, VARIANTS[0] as Variant);
      await caughtUp("the operator to show and route every new Election", setup, 1_200_000);
      await setup.stop();
      bench.drain();

      for (const variant of VARIANTS) {
        const missed = Math.max(1, Math.floor(size / 10));
        await inParallel(
          [...Array(missed).keys()].map((k) => k * Math.floor(size / missed)),
          16,
          (i) => bench.change(i),
        );
        const launched = performance.now();
        const operator = await startOperator(plane, variant);
        await caughtUp("the restarted operator to catch up", operator, 1_200_000);
        const catchUpSeconds = (performance.now() - launched) / 1000;
        bench.drain();
        await sleep(5000);

        process.stderr.write(
          `${variant.name}, ${String(size)} Elections: caught up in ${catchUpSeconds.toFixed(1)} s; ` +
            `${String(CHANGES_PER_SECOND)} changes/s for ${String(SECONDS)} s\n`,
        );
        const order = [...Array(size).keys()].sort(() => Math.random() - 0.5);
        const total = SECONDS * CHANGES_PER_SECOND;
        const cpuBefore = await cpuSeconds(operator.pid);
        const t0 = performance.now();
        const writes: Promise<void>[] = [];
        for (let k = 0; k < total; k++) {
          const due = t0 + (k * 1000) / CHANGES_PER_SECOND;
          const wait = due - performance.now();
          if (wait > 0) await sleep(wait);
          writes.push(bench.change(order[k % size] ?? 0));
          // One Election at 10 changes a second: its next write needs the resourceVersion of this one.
          if (size === 1) await writes.at(-1);
        }
        await Promise.all(writes);
        await caughtUp("the last changes to be shown and routed", operator, 30_000).catch(() => undefined);
        const cpu = (await cpuSeconds(operator.pid)) - cpuBefore;
        const { status, routed, missing } = bench.drain();
        const rss = await rssMb(operator.pid);
        const heap = await heapMb(operator.metricsPort);
        await operator.stop();
        const cell = { variant: variant.name, elections: size, missed, catchUpSeconds, changes: total, status: summarize(status), routed: summarize(routed) };
        cells.push({ ...cell, missing, rss, ...heap, cpuSeconds: cpu });
        const lag = `status p99 ${ms(cell.status.p99)}, routing p99 ${ms(cell.routed.p99)}, missing ${String(missing)}`;
        process.stderr.write(`  ${lag}, RSS ${rss.toFixed(0)} MB, heap ${heap.heapUsed.toFixed(0)}/${heap.heapTotal.toFixed(0)} MB, CPU ${cpu.toFixed(1)} s\n`);
      }
    }
  } finally {
    bench.stop();
  }
  await writeSection(values.out, "bench/operator.ts", report(cells, started));
  process.stderr.write(`wrote ${values.out}\n`);
}

function report(cells: Cell[], started: Date): string[] {
  const shipped = VARIANTS[0]?.name ?? "";
  const at = (n: number): Cell | undefined => cells.find((c) => c.elections === n && c.variant === shipped);
  const targets: string[] = [];
  const judge = (target: string, measured: string, met: boolean): void => {
    targets.push(targetRow(target, measured, met));
  };
  const lagWithin = (n: number, label: string, limitMs: number): void => {
    const c = at(n);
    if (c)
      judge(
        `status and routing lag at ${label}: p99 ≤ ${ms(limitMs)}`,
        `status ${ms(c.status.p99)}, routing ${ms(c.routed.p99)}`,
        c.status.p99 <= limitMs && c.routed.p99 <= limitMs,
      );
  };
  const rssWithin = (n: number, label: string, limit: number): void => {
    const c = at(n);
    if (c) judge(`operator RSS at ${label} ≤ ${String(limit)} MB`, `${c.rss.toFixed(1)} MB`, c.rss <= limit);
  };
  lagWithin(1, "1 Election", 100);
  lagWithin(1000, "1,000 Elections", 100);
  lagWithin(10_000, "10,000 Elections", 1000);
  rssWithin(1000, "1,000 Elections", 100);
  rssWithin(10_000, "10,000 Elections", 400);
  const label = (c: Cell): string => `${c.variant}, ${String(c.elections)}`;
  const variants = VARIANTS.map((v) => `\`${v.name}\`: \`node ${[...v.flags, v.main.replace(/.*\/(dist\/)/, "$1")].join(" ")} operator\``);
  return [
    "## The operator under load",
    "",
    "Measured by `npm run bench:operator` (bench/operator.ts): `elector operator`, watching all namespaces, with 1, 1,000,",
    `then 10,000 Elections, ${String(PER_NAMESPACE)} to a namespace (10,000 span 100 namespaces), each with ${String(PODS_PER_ELECTION)} candidate pods, a`,
    "selector-less Service, the leader label and its own Lease. Variants measured in this run, the first as shipped:",
    ...variants.map((v) => `- ${v}`),
    "",
    `For each size and variant, a tenth of the Elections change leader while no operator runs; a fresh operator is`,
    "started and its **catch-up** is the time until every one of those is shown and routed. Then the bench moves",
    `leadership ${String(CHANGES_PER_SECOND)} times a second for ${String(SECONDS)} s, spread over the Elections, by writing each Lease as an acquiring`,
    "agent would (no agent processes: the operator reads only the Lease). Lags run from just before the Lease write to",
    "what the bench's own watches see: **status** until the Election's `status.transitions` reaches the new term,",
    "**routing** until the new leader's pod is the only candidate with `leader=true` and the EndpointSlice lists only its IP.",
    "",
    `Run: ${started.toISOString()}; kube-apiserver v${KUBERNETES_VERSION} and the operator on the same`,
    `${String(cpus().length)} cores (${cpus()[0]?.model ?? "?"}), ${String(Math.round(totalmem() / 2 ** 30))} GiB; Node ${process.version}.`,
    "",
    "Reproduce: `npm run bench:operator` (`-- --sizes 1,1000 --seconds 10` for a quick look;",
    '`-- --variants "a=dist/cli/main.js|--lite-mode;b=/other/build/dist/cli/main.js|"` compares builds or flags).',
    "",
    "### Targets",
    "",
    "| target | measured | |",
    "| --- | --- | --- |",
    ...targets,
    "",
    "### Lag by number of Elections",
    "",
    "Status lag (Lease write → Election status shows the term):",
    "",
    "| variant, Elections | changes | p50 | p90 | p99 | max | mean |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...cells.map((c) => row(label(c), c.status)),
    "",
    "Routing lag (Lease write → label and EndpointSlice on the new leader only):",
    "",
    "| variant, Elections | changes | p50 | p90 | p99 | max | mean |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...cells.map((c) => row(label(c), c.routed)),
    "",
    "### Footprint and catch-up",
    "",
    "| variant, Elections | RSS after the changes | V8 heap used / reserved | CPU during the changes | " +
      "not shown or routed within 30 s | catch-up after a restart |",
    "| --- | --- | --- | --- | --- | --- |",
    ...cells.map(
      (c) =>
        `| ${label(c)} | ${c.rss.toFixed(1)} MB | ${c.heapUsed.toFixed(1)} / ${c.heapTotal.toFixed(1)} MB | ${c.cpuSeconds.toFixed(1)} s | ` +
        `${String(c.missing)} | ${c.catchUpSeconds.toFixed(1)} s (${String(c.missed)} changes missed) |`,
    ),
    "",
  ];
}

await withScratchPlane("elector-bench-operator-", main, { node: false });
