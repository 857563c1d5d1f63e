/**
 * `npm run bench:node`: elector and client-go side by side on the real node, in one run. Each is
 * the election container (the agent from elector:dev, or the client-go peer of test/peer) of a
 * Deployment of 3 pods beside the same application, at the same timing, routed the same way: the
 * operator the chart installs labels the Lease's holder leader=true, and a Service selects it.
 *
 * Trials: `kubectl delete pod` on the leader (the kubelet's SIGTERM), and a SIGKILL of the leader's
 * election container (a crash). Each is timed on the bench's clock from the fault to
 * - "leads": the bench's watch on the Lease shows a live leader again: after a deletion another
 *   pod holding it; after a crash any holder renewing it after the kill (client-go's restarted
 *   container takes its own record back at once; elector's waits for the lease like anyone);
 * - "serves": a request sent to the Service's ClusterIP, from inside the cluster on a new
 *   connection, is answered by that holder's pod.
 * Also the election containers' working set (the kubelet's summary API, read from their cgroups)
 * and the cluster's start. Writes its section of docs/benchmarks.md.
 *
 * Options: --trials N (default 20), --out FILE.
 */
import { cpus, totalmem } from "node:os";
import { performance } from "node:perf_hooks";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { KubeClient } from "../src/kube/client.ts";
import { loadConnection } from "../src/kube/kubeconfig.ts";
import { adminGet, down, up, withScratchPlane, type ControlPlane } from "../test/cluster/controlplane.ts";
import { buildElectorImage } from "../test/cluster/images.ts";
import { KUBERNETES_VERSION } from "../test/cluster/versions.ts";
import { FAST } from "../test/support/agents.ts";
import { createNamespace, eventually, kubectl, testCluster } from "../test/support/cluster.ts";
import { nextLeaseEvent } from "../test/support/lease.ts";
import {
  answeringPod,
  APP_IMAGE,
  applyObjects,
  example,
  killContainer,
  lease,
  PEER_IMAGE,
  pods,
  rolledOut,
  serviceIp,
  stageReady,
} from "../test/support/node.ts";
import { ms, row, summarize, writeSection } from "./report.ts";

const { values } = parseArgs({ options: { trials: { type: "string", default: "20" }, out: { type: "string", default: "docs/benchmarks.md" } } });
const TRIALS = Number(values.trials);
const ELECTION = "bench";

interface Implementation {
  name: string;
  image: string;
  args: string[];
}

const IMPLEMENTATIONS: Implementation[] = [
  { name: "elector", image: "elector:dev", args: ["agent", `-election=${ELECTION}`, "-http=:4040", ...FAST] },
  {
    name: "client-go",
    image: PEER_IMAGE,
    args: [`-election=${ELECTION}`, "-id=$(POD_NAME)", "-namespace=$(POD_NAMESPACE)", "-http=:4040", ...FAST],
  },
];

/** Deployment `bench`: the application and the election container, as examples/sidecar.yaml has them. */
function deployment(impl: Implementation): object {
  const restricted = { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } };
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "bench" },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: "bench" } },
      template: {
        metadata: { labels: { app: "bench" } },
        spec: {
          serviceAccountName: "elector-agent",
          securityContext: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: "RuntimeDefault" } },
          containers: [
            { name: "app", image: APP_IMAGE, ports: [{ name: "http", containerPort: 8080 }], securityContext: restricted },
            {
              name: "election",
              image: impl.image,
              args: impl.args,
              env: [
                { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
                { name: "POD_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
              ],
              readinessProbe: { httpGet: { path: "/", port: 4040 }, periodSeconds: 2 },
              securityContext: restricted,
            },
          ],
        },
      },
    },
  };
}

interface Trial {
  leads: number;
  serves: number;
  /** After a crash: the crashed pod led again (its restarted container took the Lease back). */
  samePod: boolean;
}

async function trials(plane: ControlPlane, client: KubeClient, namespace: string, url: string, crash: boolean, impl: string): Promise<Trial[]> {
  const results: Trial[] = [];
  for (let trial = 0; trial < TRIALS; trial++) {
    // Settled: three Ready pods, the Service answering from the holder, and every follower having seen a renewal.
    const leader = await eventually(
      "a settled, routed leader",
      async () => {
        const members = await pods(namespace, "app=bench");
        const holder = (await lease(namespace, ELECTION))?.holderIdentity;
        const live = members.filter((p) => p.ready && !p.deleting);
        if (live.length !== 3 || !live.some((p) => p.name === holder)) return undefined;
        return (await answeringPod(plane, url)) === holder ? live.find((p) => p.name === holder) : undefined;
      },
      120_000,
    );
    await sleep(2000);
    // After a crash, only a renewal stamped after the kill shows a live leader: the old leader's
    // last ones, sent before it, do not. Until the kill, no event counts.
    let killedAt = Number.POSITIVE_INFINITY;
    const next = nextLeaseEvent(client, namespace, ELECTION, (e) => e.holder !== "" && (crash ? e.renewTime > killedAt : e.holder !== leader.name));
    // The watch is open before the fault: its first event (the Lease as it is) is not a new leader.
    await sleep(200);
    killedAt = Date.now();
    const sent = performance.now();
    if (crash) await killContainer(plane, leader, "election");
    else {
      const r = await kubectl(["delete", "pod", leader.name, "-n", namespace, "--wait=false"]);
      if (r.code !== 0) throw new Error(r.stderr);
    }
    const led = await next;
    await eventually(`the Service to answer from ${led.holder}`, async () => ((await answeringPod(plane, url)) === led.holder ? true : undefined), 60_000);
    const served = performance.now();
    const result = { leads: led.at - sent, serves: served - sent, samePod: led.holder === leader.name };
    results.push(result);
    const which = `${impl} ${crash ? "crash" : "delete"} ${String(trial + 1)}/${String(TRIALS)}`;
    process.stderr.write(`  ${which}: leads ${ms(result.leads)}, serves ${ms(result.serves)}${result.samePod ? " (the same pod)" : ""}\n`);
    // A pod whose container was killed again and again would wait in CrashLoopBackOff: replace it.
    if (crash) await kubectl(["delete", "pod", leader.name, "-n", namespace, "--wait=false"]);
  }
  return results;
}

/** The election containers' working set, in MiB, from the kubelet's summary API (cAdvisor, cgroups). */
async function workingSets(plane: ControlPlane, namespace: string): Promise<number[]> {
  const { body } = await adminGet(plane, `/api/v1/nodes/${plane.node?.name ?? ""}/proxy/stats/summary`);
  const summary = JSON.parse(body) as { pods: { podRef: { namespace: string }; containers?: { name: string; memory?: { workingSetBytes?: number } }[] }[] };
  return summary.pods
    .filter((p) => p.podRef.namespace === namespace)
    .flatMap((p) => p.containers ?? [])
    .filter((c) => c.name === "election")
    .map((c) => (c.memory?.workingSetBytes ?? Number.NaN) / 2 ** 20);
}

/** A cluster with a node started in a new folder (certificates, etcd, image store, images loaded) and stopped, `runs` times. */
async function clusterStarts(runs: number): Promise<{ up: number[]; down: number[] }> {
  const times = { up: [] as number[], down: [] as number[] };
  for (let i = 0; i < runs; i++) {
    const dir = await mkdtemp(join(tmpdir(), "elector-bench-start-"));
    const started = performance.now();
    await up(dir, { node: true, log: () => undefined });
    times.up.push(performance.now() - started);
    const stopping = performance.now();
    await down(dir);
    times.down.push(performance.now() - stopping);
  }
  return times;
}

async function main(plane: ControlPlane): Promise<void> {
  process.env.ELECTOR_TEST_CLUSTER_DIR = plane.dir;
  const client = new KubeClient(loadConnection(plane.kubeconfig));
  await stageReady(plane);
  const results = new Map<string, { delete: Trial[]; crash: Trial[]; memory: number[] }>();
  const { kc } = await testCluster();
  for (const impl of IMPLEMENTATIONS) {
    const namespace = await createNamespace(kc, `bench-node-${impl.name}`);
    await applyObjects(namespace, [
      ...(await example("rbac.yaml")),
      deployment(impl),
      {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "bench-leader" },
        spec: { selector: { app: "bench", leader: "true" }, ports: [{ port: 80, targetPort: "http" }] },
      },
      {
        apiVersion: "elector.dev/v1alpha1",
        kind: "Election",
        metadata: { name: ELECTION },
        spec: { candidates: { selector: { matchLabels: { app: "bench" } } }, leaderLabel: {} },
      },
    ]);
    await rolledOut(namespace, "deployment/bench");
    const url = `http://${await serviceIp(namespace, "bench-leader")}/`;
    process.stderr.write(`${impl.name}: ${String(TRIALS)} pod deletions, then ${String(TRIALS)} crashes\n`);
    const deletions = await trials(plane, client, namespace, url, false, impl.name);
    const crashes = await trials(plane, client, namespace, url, true, impl.name);
    await sleep(20_000);
    results.set(impl.name, { delete: deletions, crash: crashes, memory: await workingSets(plane, namespace) });
    await kubectl(["delete", "namespace", namespace, "--wait=false"]);
  }
  process.stderr.write("cluster starts\n");
  const starts = await clusterStarts(3);

  const header = ["| | trials | p50 | p90 | p99 | max | mean |", "| --- | --- | --- | --- | --- | --- | --- |"];
  const lines = [
    "## On the real node, side by side with client-go",
    "",
    `\`npm run bench:node\` (run ${new Date().toISOString().replace(/\.\d+Z$/, "Z")}, ${String(TRIALS)} trials per cell).`,
    `Kubernetes v${KUBERNETES_VERSION} on the local cluster's node (containerd, runc),`,
    `${String(cpus().length)} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB.`,
    "Each implementation is the election container of a Deployment of 3 pods beside the same application, at 4s/3s/1s (lease/renew/retry),",
    "routed by the chart's operator: the Lease's holder is labelled leader=true and a Service selects it.",
    "Times are from the fault to the bench's watch showing a live leader again (**leads**: after a deletion another pod holding the Lease,",
    "after a crash any holder renewing it after the kill) and to a request sent to the Service's ClusterIP on a new connection being",
    "answered by that pod (**serves**).",
    "",
  ];
  for (const [kind, label] of [
    ["delete", "`kubectl delete pod` on the leader"],
    ["crash", "the leader's election container SIGKILLed (a crash)"],
  ] as const) {
    lines.push(`### ${label}`, "", ...header);
    for (const [name, r] of results) {
      lines.push(row(`${name}: leads`, summarize(r[kind].map((t) => t.leads))), row(`${name}: serves`, summarize(r[kind].map((t) => t.serves))));
    }
    if (kind === "crash") {
      lines.push(
        "",
        ...[...results].map(
          ([name, r]) => `- ${name}: the crashed pod led again in ${String(r.crash.filter((t) => t.samePod).length)} of ${String(r.crash.length)} crashes.`,
        ),
        "",
        "A restarted client-go container finds its own identity in the Lease and renews it as its own (client-go's tryAcquireOrRenew),",
        "so the dead process's term goes on, with no new fencing token: fast, and why client-go cannot fence. A restarted elector agent",
        "waits out the lease like any candidate and whoever wins starts a new term, with the next token (docs/election.md).",
      );
    }
    lines.push("");
  }
  lines.push(
    "### Election container memory",
    "",
    "Working set (the kubelet's summary API, from the containers' cgroups: what the kubelet and the OOM killer count; not the processes' RSS,",
    "which the process benchmark above reports), 20 s after the last trial, per pod:",
    "",
    "| | pods | min | max |",
    "| --- | --- | --- | --- |",
  );
  for (const [name, r] of results)
    lines.push(`| ${name} | ${String(r.memory.length)} | ${Math.min(...r.memory).toFixed(1)} MiB | ${Math.max(...r.memory).toFixed(1)} MiB |`);
  const startRow = (what: string, samples: number[]): string => row(what, summarize(samples));
  lines.push(
    "",
    "### Cluster start",
    "",
    "A new cluster with its node in a new folder (binaries and images cached: certificates, etcd, containerd's store and the image import are new),",
    "until the node is Ready and kube-proxy healthy, and its `down`:",
    "",
    ...header,
    startRow("up", starts.up),
    startRow("down", starts.down),
    "",
  );
  await writeSection(values.out, "bench/node.ts", lines);
  console.log(lines.join("\n"));
}

await buildElectorImage(console.error);
await withScratchPlane("elector-bench-node-", main, { node: true });
