/**
 * A real, local Kubernetes control plane: etcd, kube-apiserver and kube-controller-manager as
 * processes on free loopback ports, with their own certificates, data and logs in one folder.
 * Everything about a running cluster is in `<dir>/state.json`, so `up`, `down` and `status` can be
 * called from different processes, and two folders are two independent clusters.
 */
import { spawn } from "node:child_process";
import { existsSync, openSync, closeSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { request } from "node:https";
import { createServer } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { ensureBinaries, isAlive } from "./build.ts";
import { generatePki, type Pki } from "./pki.ts";

export const COMPONENTS = ["etcd", "kube-apiserver", "kube-controller-manager"] as const;
export type Component = (typeof COMPONENTS)[number];

interface ProcessSpec {
  command: string;
  args: string[];
  log: string;
  pid: number;
}

export interface ControlPlane {
  dir: string;
  server: string;
  kubeconfig: string;
  kubectl: string;
  pki: Pki;
  processes: Record<Component, ProcessSpec>;
}

/** Where `npm run cluster` keeps its cluster: inside the checkout, ignored by git. */
export const DEFAULT_CLUSTER_DIR = fileURLToPath(new URL("../../.cluster", import.meta.url));

const stateFile = (dir: string): string => join(dir, "state.json");

/** Starts a control plane in `dir`, or returns the one already running there. */
export async function up(dir: string, log: (line: string) => void = console.error): Promise<ControlPlane> {
  const running = await load(dir);
  if (running && (await isHealthy(running))) return running;
  if (running) await down(dir);
  const bins = await ensureBinaries(log);
  await mkdir(dir, { recursive: true });
  const pki = await generatePki(join(dir, "pki"));
  const [etcdClient, etcdPeer, apiserverPort] = await freePorts(3);
  const server = `https://127.0.0.1:${apiserverPort}`;
  const kubeconfig = join(dir, "kubeconfig");
  await writeFile(kubeconfig, await adminKubeconfig(server, pki));
  const logs = join(dir, "logs");
  await mkdir(logs, { recursive: true });
  const etcdUrl = `http://127.0.0.1:${etcdClient}`;
  const peerUrl = `http://127.0.0.1:${etcdPeer}`;
  const spec = (command: string, name: Component, args: string[]): ProcessSpec => ({
    command,
    args,
    log: join(logs, `${name}.log`),
    pid: 0,
  });
  const plane: ControlPlane = {
    dir,
    server,
    kubeconfig,
    kubectl: bins.kubectl,
    pki,
    processes: {
      etcd: spec(bins.etcd, "etcd", [
        "--name=default",
        `--data-dir=${join(dir, "etcd-data")}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=default=${peerUrl}`,
        // A throwaway test store: durability across power loss buys nothing here and costs seconds.
        "--unsafe-no-fsync",
        "--log-level=warn",
      ]),
      "kube-apiserver": spec(bins.kubeApiserver, "kube-apiserver", [
        `--etcd-servers=${etcdUrl}`,
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        `--secure-port=${apiserverPort}`,
        `--cert-dir=${join(dir, "pki")}`,
        `--tls-cert-file=${pki.servingCert}`,
        `--tls-private-key-file=${pki.servingKey}`,
        `--client-ca-file=${pki.caCert}`,
        `--service-account-key-file=${pki.serviceAccountPub}`,
        `--service-account-signing-key-file=${pki.serviceAccountKey}`,
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        "--authorization-mode=RBAC",
        // No kubelets and no kube-proxy here: nothing should rewrite the `kubernetes` Service's endpoints.
        "--endpoint-reconciler-type=none",
        "--service-cluster-ip-range=10.0.0.0/16",
        // Privileged pods are allowed by the server, so that refusals come from Pod Security admission.
        "--allow-privileged=true",
      ]),
      "kube-controller-manager": spec(bins.kubeControllerManager, "kube-controller-manager", [
        `--kubeconfig=${kubeconfig}`,
        "--controllers=serviceaccount-controller,garbage-collector-controller,namespace-controller,endpointslice-controller,endpointslice-mirroring-controller",
        "--leader-elect=false",
        "--secure-port=0",
        "--use-service-account-credentials=false",
        `--root-ca-file=${pki.caCert}`,
      ]),
    },
  };
  try {
    startProcess(plane.processes.etcd);
    startProcess(plane.processes["kube-apiserver"]);
    await save(plane);
    await waitForApiServer(plane, 90_000);
    startProcess(plane.processes["kube-controller-manager"]);
    await save(plane);
    await waitFor(plane, "/api/v1/namespaces/default/serviceaccounts/default", 60_000, "kube-controller-manager");
  } catch (err) {
    await down(dir);
    throw err;
  }
  return plane;
}

/** Stops every process of the control plane in `dir` and removes its data. */
export async function down(dir: string): Promise<void> {
  const plane = await load(dir);
  if (plane) {
    for (const name of [...COMPONENTS].reverse()) await stopProcess(plane.processes[name]);
  }
  await rm(dir, { recursive: true, force: true });
}

/**
 * Runs `work` on a control plane of its own in a new temporary folder, stopped and removed when
 * the work ends, fails or is interrupted (npm test, the benches).
 */
export async function withScratchPlane<T>(prefix: string, work: (plane: ControlPlane) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const plane = await up(dir);
  downOnInterrupt(dir);
  try {
    return await work(plane);
  } finally {
    await down(dir);
  }
}

/**
 * Stops the control plane in `dir` if this process is interrupted (Ctrl-C, SIGTERM): its
 * components run detached and would outlive it.
 */
function downOnInterrupt(dir: string): void {
  const stop = (): void => {
    // The work under way now fails as its cluster goes away: expected, and it must not end this
    // process before the teardown has.
    process.on("uncaughtException", () => undefined);
    process.on("unhandledRejection", () => undefined);
    void down(dir).finally(() => process.exit(130));
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

export async function status(dir: string): Promise<{ plane: ControlPlane | undefined; alive: Record<Component, boolean>; healthy: boolean }> {
  const plane = await load(dir);
  const alive = Object.fromEntries(COMPONENTS.map((c) => [c, plane ? isAlive(plane.processes[c].pid) : false])) as Record<Component, boolean>;
  return { plane, alive, healthy: plane ? await isHealthy(plane) : false };
}

/**
 * Stops the API server, and starts it again with the same flags once `whileDown` has returned:
 * what a rolling upgrade or a crash looks like to clients. Waits until it serves again.
 */
export async function restartApiServer(plane: ControlPlane, whileDown: () => Promise<void> = async () => {}): Promise<void> {
  const apiserver = plane.processes["kube-apiserver"];
  await stopProcess(apiserver);
  await whileDown();
  startProcess(apiserver);
  await save(plane);
  await waitForApiServer(plane, 90_000);
}

export async function load(dir: string): Promise<ControlPlane | undefined> {
  if (!existsSync(stateFile(dir))) return undefined;
  return JSON.parse(await readFile(stateFile(dir), "utf8")) as ControlPlane;
}

async function save(plane: ControlPlane): Promise<void> {
  await writeFile(stateFile(plane.dir), JSON.stringify(plane, null, 2));
}

function startProcess(p: ProcessSpec): void {
  const fd = openSync(p.log, "a");
  try {
    // Detached so the control plane outlives `npm run cluster -- up`; `down` stops it by pid.
    const child = spawn(p.command, p.args, { detached: true, stdio: ["ignore", fd, fd] });
    if (child.pid === undefined) throw new Error(`could not start ${p.command}`);
    p.pid = child.pid;
    child.unref();
  } finally {
    closeSync(fd);
  }
}

async function stopProcess(p: ProcessSpec): Promise<void> {
  if (!p.pid || !isAlive(p.pid)) return;
  process.kill(p.pid, "SIGTERM");
  for (let i = 0; i < 100 && isAlive(p.pid); i++) await sleep(100);
  if (isAlive(p.pid)) process.kill(p.pid, "SIGKILL");
  for (let i = 0; i < 50 && isAlive(p.pid); i++) await sleep(100);
}

async function isHealthy(plane: ControlPlane): Promise<boolean> {
  if (!COMPONENTS.every((c) => isAlive(plane.processes[c].pid))) return false;
  return (await get(plane, "/readyz").catch(() => 0)) === 200;
}

async function waitForApiServer(plane: ControlPlane, timeoutMs: number): Promise<void> {
  await waitFor(plane, "/readyz", timeoutMs, "kube-apiserver");
  await waitFor(plane, "/api/v1/namespaces/default", timeoutMs, "kube-apiserver (default namespace)");
}

async function waitFor(plane: ControlPlane, path: string, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const c of COMPONENTS) {
      const p = plane.processes[c];
      if (p.pid && !isAlive(p.pid)) throw new Error(`${c} exited; last lines of ${p.log}:\n${await tail(p.log)}`);
    }
    if ((await get(plane, path).catch(() => 0)) === 200) return;
    if (Date.now() > deadline) throw new Error(`${what} not ready after ${timeoutMs / 1000} s (GET ${path}); see ${plane.dir}/logs`);
    await sleep(250);
  }
}

async function tail(file: string): Promise<string> {
  const text = await readFile(file, "utf8").catch(() => "");
  return text.trimEnd().split("\n").slice(-15).join("\n");
}

/** GET with the admin certificate: the HTTP status and the body. */
export async function adminGet(plane: ControlPlane, path: string): Promise<{ status: number; body: string }> {
  const [ca, cert, key] = await Promise.all([readFile(plane.pki.caCert), readFile(plane.pki.adminCert), readFile(plane.pki.adminKey)]);
  return new Promise((resolve, reject) => {
    const req = request(`${plane.server}${path}`, { ca, cert, key, timeout: 5000 }, (res) => {
      let body = "";
      res.on("data", (chunk: Buffer) => (body += chunk.toString()));
      res.on("end", () => {
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

async function get(plane: ControlPlane, path: string): Promise<number> {
  return (await adminGet(plane, path)).status;
}

async function adminKubeconfig(server: string, pki: Pki): Promise<string> {
  const b64 = async (file: string): Promise<string> => (await readFile(file)).toString("base64");
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "- name: elector-local",
    "  cluster:",
    `    server: ${server}`,
    `    certificate-authority-data: ${await b64(pki.caCert)}`,
    "users:",
    "- name: elector-admin",
    "  user:",
    `    client-certificate-data: ${await b64(pki.adminCert)}`,
    `    client-key-data: ${await b64(pki.adminKey)}`,
    "contexts:",
    "- name: elector-local",
    "  context: {cluster: elector-local, user: elector-admin, namespace: default}",
    "current-context: elector-local",
    "",
  ].join("\n");
}

/** Ports the kernel reports free right now; the small race until they are bound is accepted. */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
      const s = createServer();
      s.once("error", reject);
      s.listen(0, "127.0.0.1", () => {
        resolve(s);
      });
    })),
  );
  const ports = servers.map((s) => {
    const addr = s.address();
    if (addr === null || typeof addr === "string") throw new Error("no port");
    return addr.port;
  });
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}
