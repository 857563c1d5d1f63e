/**
 * What operator tests stand on: the CRD installed once per run, candidate pods as API objects
 * whose status the test sets (there is no kubelet), and `elector operator` as a real process.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { request as httpsRequest } from "node:https";
import type { TestContext } from "node:test";
import type { PeerCertificate, TLSSocket } from "node:tls";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { KubeClient, type KubeObject } from "../../src/kube/client.ts";
import { loadConnection } from "../../src/kube/kubeconfig.ts";
import type { Election } from "../../src/operator/election.ts";
import { Agent, freePort, SHIPPED } from "./agents.ts";
import { eventually, kubectl, testCluster } from "./cluster.ts";

const MAIN = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));
export const CRD = fileURLToPath(new URL("../../crds/elections.elector.dev.yaml", import.meta.url));

/** How long an operator may take to exit after SIGTERM before the test calls it hung. */
const SHUTDOWN_GRACE_MS = 15_000;

let installed: Promise<void> | undefined;

/** Applies crds/ and waits until the API serves Elections. */
export function installCrd(): Promise<void> {
  installed ??= (async () => {
    const applied = await kubectl(["apply", "--server-side", "-f", CRD]);
    assert.equal(applied.code, 0, applied.stderr);
    const ready = await kubectl(["wait", "--for=condition=Established", "--timeout=30s", "crd/elections.elector.dev"]);
    assert.equal(ready.code, 0, ready.stderr);
    await eventually("Elections to be served", async () => ((await kubectl(["get", "elections", "-A"])).code === 0 ? true : undefined));
  })();
  return installed;
}

export interface RunningOperator {
  process: Agent;
  /** /metrics over plain HTTP (not with --metrics-secure). */
  metrics: () => Promise<string>;
  metricsPort: number;
}

/**
 * `elector operator` for one namespace, as a process of its own: from the TypeScript source (the
 * demo's), or as shipped (`SHIPPED`: the compiled entry with the image's Node flags, which
 * docs/benchmarks.md measured).
 */
export async function launchOperator(
  kubeconfig: string,
  namespace: string,
  args: string[] = [],
  logLevel = "debug",
  build: { entry: string; nodeFlags: string[] } = { entry: MAIN, nodeFlags: [] },
): Promise<RunningOperator> {
  const [health, metricsPort] = [await freePort(), await freePort()];
  const child = spawn(
    process.execPath,
    [
      ...build.nodeFlags,
      build.entry,
      "operator",
      `--kubeconfig=${kubeconfig}`,
      `--namespace=${namespace}`,
      `--health-addr=127.0.0.1:${health}`,
      `--metrics-addr=127.0.0.1:${metricsPort}`,
      ...args,
    ],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, LOG_LEVEL: logLevel } },
  );
  return {
    process: new Agent("operator", health, child, false),
    metrics: async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text(),
    metricsPort,
  };
}

/**
 * `elector operator` as shipped, for one namespace, stopped when the test ends; as cluster admin
 * unless given a kubeconfig.
 */
export async function startOperator(t: TestContext, namespace: string, args: string[] = [], kubeconfig?: string): Promise<RunningOperator> {
  await installCrd();
  const { plane } = await testCluster();
  const running = await launchOperator(kubeconfig ?? plane.kubeconfig, namespace, args, "debug", SHIPPED);
  const operator = running.process;
  t.after(async () => {
    // A test may have killed it already. One that does not exit on SIGTERM is a bug worth failing
    // for, and is killed rather than left to keep the test run alive.
    operator.kill("SIGTERM");
    const exited = await Promise.race([operator.exited.then(() => true), sleep(SHUTDOWN_GRACE_MS).then(() => false)]);
    operator.dispose();
    assert.ok(
      exited,
      `the operator did not exit within ${SHUTDOWN_GRACE_MS} ms of SIGTERM: ${operator.logs
        .slice(-5)
        .map((l) => JSON.stringify(l))
        .join(" ")}`,
    );
  });
  return running;
}

/**
 * A candidate pod that passes Pod Security `restricted`, with a named container port ("pg"). It
 * poses as a started pod whose status the test writes: no scheduler serves its schedulerName, so
 * it is never bound to the node and no kubelet reports another status.
 */
export function candidatePod(namespace: string, name: string, labels: Record<string, string>): object {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace, labels },
    spec: {
      schedulerName: "elector.dev/none",
      securityContext: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: "RuntimeDefault" } },
      containers: [
        {
          name: "app",
          image: "registry.invalid/app:1",
          ports: [{ name: "pg", containerPort: 5432 }],
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
        },
      ],
    },
  };
}

/** The status a kubelet would report for a started pod (a merge patch of the status subresource). */
export function podStatus(ip: string, ready: boolean): object {
  return { status: { phase: "Running", podIP: ip, podIPs: [{ ip }], conditions: [{ type: "Ready", status: ready ? "True" : "False" }] } };
}

/** A pod that a kubelet would have started: created, then given an IP and Ready by the test. */
export async function createPod(namespace: string, name: string, labels: Record<string, string>, ip: string, ready = true): Promise<void> {
  const created = await kubectl(["create", "-f", "-"], JSON.stringify(candidatePod(namespace, name, labels)));
  assert.equal(created.code, 0, created.stderr);
  await setPodStatus(namespace, name, ip, ready);
}

export async function setPodStatus(namespace: string, name: string, ip: string, ready: boolean): Promise<void> {
  const patched = await kubectl(["patch", "pod", name, "-n", namespace, "--subresource=status", "--type=merge", "-p", JSON.stringify(podStatus(ip, ready))]);
  assert.equal(patched.code, 0, patched.stderr);
}

export async function apply(namespace: string, object: object): Promise<void> {
  const applied = await kubectl(["apply", "-n", namespace, "-f", "-"], JSON.stringify(object));
  assert.equal(applied.code, 0, applied.stderr);
}

export async function getElection(namespace: string, name: string): Promise<Election | undefined> {
  const r = await kubectl(["get", "election", name, "-n", namespace, "-o", "json"]);
  return r.code === 0 ? (JSON.parse(r.stdout) as Election) : undefined;
}

/** Waits until the Election's status satisfies `check`, returning it. */
export function waitForElection(namespace: string, name: string, what: string, check: (e: Election) => boolean, timeoutMs = 20_000): Promise<Election> {
  return eventually(
    what,
    async () => {
      const e = await getElection(namespace, name);
      return e && check(e) ? e : undefined;
    },
    timeoutMs,
  );
}

/** The names of the pods in `namespace` that carry label `key=value`. */
export async function labelled(namespace: string, key: string, value: string): Promise<string[]> {
  const r = await kubectl(["get", "pods", "-n", namespace, "-l", `${key}=${value}`, "-o", "jsonpath={.items[*].metadata.name}"]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split(" ").filter((n) => n !== "");
}

/**
 * Replays every change to the pods of `namespace`, as the API server orders them, and fails if at
 * any point two pods carry `key=value`. Unlike sampling, no transient state can slip between two
 * looks. stop() waits until the watch has caught up with the pods as they are, ends it, and returns
 * the distinct labelled pods in the order they were seen.
 */
export async function watchLeaderLabel(namespace: string, key: string, value: string): Promise<{ stop: () => Promise<string[]> }> {
  const { plane } = await testCluster();
  const client = new KubeClient(loadConnection(plane.kubeconfig));
  const path = `/api/v1/namespaces/${namespace}/pods`;
  const list = await client.request<{ metadata: { resourceVersion: string }; items: KubeObject[] }>("GET", path, { timeoutMs: 5000 });
  const labels = new Map(list.items.map((p) => [p.metadata?.name ?? "", p.metadata?.labels ?? {}]));
  const carriers: string[] = [];
  let violation: string | undefined;
  let failure: Error | undefined;
  const labelledNow = (): string[] => [...labels].filter(([, l]) => l[key] === value).map(([name]) => name);
  const check = (): void => {
    const labelled = labelledNow();
    if (labelled.length > 1) violation ??= `two pods carried ${key}=${value} at once: ${labelled.join(", ")}`;
    for (const name of labelled) if (carriers.at(-1) !== name) carriers.push(name);
  };
  check();
  const stopWatch = client.watch<KubeObject>(
    path,
    { resourceVersion: list.metadata.resourceVersion },
    {
      onConnected: () => undefined,
      onEvent: (type, pod) => {
        const name = pod.metadata?.name ?? "";
        if (type === "DELETED") labels.delete(name);
        else if (type !== "BOOKMARK") labels.set(name, pod.metadata?.labels ?? {});
        check();
      },
      onClosed: (err) => {
        failure = err ?? new Error("the pod watch closed");
      },
    },
  );
  return {
    stop: async () => {
      const live = (await labelled(namespace, key, value)).join();
      await eventually("the pod watch to catch up", () => Promise.resolve(failure || labelledNow().join() === live ? true : undefined), 5000).finally(
        stopWatch,
      );
      assert.equal(violation, undefined, violation);
      assert.equal(failure, undefined, `the label could not be watched throughout: ${failure?.message ?? ""}`);
      return carriers;
    },
  };
}

/** The addresses in elector's EndpointSlices of `service`. */
export async function sliceAddresses(namespace: string, service: string): Promise<string[]> {
  const r = await kubectl([
    "get",
    "endpointslices",
    "-n",
    namespace,
    "-l",
    `kubernetes.io/service-name=${service},endpointslice.kubernetes.io/managed-by=elector.dev`,
    "-o",
    "json",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const list = JSON.parse(r.stdout) as { items: { endpoints?: { addresses: string[] }[] }[] };
  return list.items.flatMap((s) => (s.endpoints ?? []).flatMap((e) => e.addresses));
}

/** GET over HTTPS with a bearer token, not verifying the (self-signed) certificate, which is returned for a look. */
export function getSecure(port: number, path: string, token?: string): Promise<{ code: number; body: string; cert: PeerCertificate }> {
  return new Promise((resolve, reject) => {
    const headers = token ? { authorization: `Bearer ${token}` } : {};
    const req = httpsRequest({ host: "127.0.0.1", port, path, rejectUnauthorized: false, headers, timeout: 10_000 }, (res) => {
      const cert = (res.socket as TLSSocket).getPeerCertificate();
      let body = "";
      res.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
      res.on("end", () => {
        resolve({ code: res.statusCode ?? 0, body, cert });
      });
    });
    req.on("error", reject).end();
  });
}
