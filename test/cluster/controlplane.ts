/**
 * A real, local Kubernetes cluster: etcd, kube-apiserver and kube-controller-manager, and, where
 * the machine allows it (root on Linux), a node: kube-scheduler, containerd, kubelet and
 * kube-proxy running real pods. One supervisor process owns the components (supervisor.ts); with
 * a node it runs inside namespaces of the cluster's own (node.ts) and the host reaches the API
 * server through a loopback port it bridges. Everything about a running cluster is in
 * `<dir>/state.json`, so `up`, `down` and `status` can be called from different processes, and
 * two folders are two independent clusters.
 */
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, openSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { request } from "node:https";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { ensureBinaries, ensureNodeBinaries, isAlive } from "./build.ts";
import { ELECTOR_ARCHIVE, ensurePauseImage } from "./images.ts";
import { API_PORT, ensureNodePackages, NODE_IP, NODE_NAME, nodeControlPlaneArgs, nodeSteps, nodeUnsupported, removeCgroups, thawCgroups } from "./node.ts";
import { generatePki, SERVICE_RANGE, type ClientCert, type Pki } from "./pki.ts";
import { SUPERVISOR_CONFIG, SUPERVISOR_SOCKET, type Step, type SupervisorConfig, type SupervisorStatus } from "./supervisor.ts";

export interface ControlPlane {
  dir: string;
  /** The API server as the host reaches it. */
  server: string;
  kubeconfig: string;
  kubectl: string;
  /** etcd's client URL, as the supervisor reaches it. */
  etcd: string;
  pki: Pki;
  /** The process `down` signals: the supervisor, or with a node PID 1 of the cluster's namespaces. */
  rootPid: number;
  /** The host process that started it (unshare, with a node), waited for after the root. */
  launcherPid: number;
  node?: {
    name: string;
    cgroupRoot: string;
    cgroupsCreated: string[];
    containerdSocket: string;
  };
}

export interface UpOptions {
  /** Run a node (default: whenever the machine can; `ELECTOR_NODE=0` says never). */
  node?: boolean;
  log?: (line: string) => void;
}

/** Where `npm run cluster` keeps its cluster: inside the checkout, ignored by git. */
export const DEFAULT_CLUSTER_DIR = fileURLToPath(new URL("../../.cluster", import.meta.url));
const SUPERVISOR = fileURLToPath(new URL("supervisor.ts", import.meta.url));

const stateFile = (dir: string): string => join(dir, "state.json");

/** Without a node, what tests of API objects need: nothing that would run or schedule pods. */
const CONTROLLERS_WITHOUT_A_NODE = [
  "serviceaccount-controller",
  "garbage-collector-controller",
  "namespace-controller",
  "endpointslice-controller",
  "endpointslice-mirroring-controller",
];

/** Whether `up` runs a node by default here, and if not, why (one line). */
export function nodeDefault(): { node: boolean; why?: string } {
  if (process.env.ELECTOR_NODE === "0") return { node: false, why: "ELECTOR_NODE=0 asks for no node" };
  const why = nodeUnsupported();
  return why ? { node: false, why } : { node: true };
}

/** Starts a cluster in `dir`, or returns the one already running there. */
export async function up(dir: string, options: UpOptions = {}): Promise<ControlPlane> {
  const log = options.log ?? console.error;
  const withNode = options.node ?? nodeDefault().node;
  const running = await load(dir);
  if (running && Boolean(running.node) === withNode && (await isHealthy(running))) return running;
  if (running) await down(dir);
  const bins = await ensureBinaries(log);
  await mkdir(join(dir, "logs"), { recursive: true });
  const id = randomBytes(4).toString("hex");
  const kubeconfig = join(dir, "kubeconfig");
  let hostSocket: Server | undefined;
  try {
    const nodeBins = withNode ? await ensureNodeBinaries(log) : undefined;
    if (withNode) await ensureNodePackages(log);
    const pauseImage = nodeBins ? await ensurePauseImage(nodeBins.pause, log) : undefined;
    const pki = await generatePki(join(dir, "pki"), withNode ? [NODE_IP] : []);

    // Inside the cluster's own network namespace its ports are its own; without one, free ones.
    const [etcdClient, etcdPeer, apiPort] = withNode ? [2379, 2380, API_PORT] : await freePorts(3);
    if (withNode) hostSocket = await listenOnLoopback();
    const hostPort = hostSocket ? (hostSocket.address() as { port: number }).port : apiPort;
    const server = `https://127.0.0.1:${String(hostPort)}`;
    await writeFile(kubeconfig, await kubeconfigFile(server, pki.caCert, { cert: pki.adminCert, key: pki.adminKey }));
    const internal = `https://127.0.0.1:${String(apiPort)}`;
    const internalKubeconfig = async (name: string, cert: ClientCert): Promise<string> => {
      const file = join(dir, `${name}.kubeconfig`);
      await writeFile(file, await kubeconfigFile(internal, pki.caCert, cert));
      return file;
    };
    // The controller manager acts for every controller with one identity here, so it is an admin.
    const controllerManagerKubeconfig = await internalKubeconfig("kube-controller-manager", { cert: pki.adminCert, key: pki.adminKey });
    const etcdUrl = `http://127.0.0.1:${String(etcdClient)}`;
    const peerUrl = `http://127.0.0.1:${String(etcdPeer)}`;
    const nodeArgs = withNode ? nodeControlPlaneArgs(dir) : undefined;
    const node =
      nodeBins && pauseImage
        ? await nodeSteps(dir, id, pki, nodeBins, internalKubeconfig, [pauseImage, ...(existsSync(ELECTOR_ARCHIVE) ? [ELECTOR_ARCHIVE] : [])])
        : undefined;

    const controlPlane: Step[] = [
      {
        name: "etcd",
        command: bins.etcd,
        args: [
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
        ],
      },
      {
        name: "kube-apiserver",
        command: bins.kubeApiserver,
        args: [
          `--etcd-servers=${etcdUrl}`,
          // Watches of podtemplates (which nothing here uses) read etcd itself, not the watch cache,
          // so that compacting etcd gives them the 410 Gone a real cluster gives a long-disconnected watch.
          "--watch-cache-sizes=podtemplates#0",
          `--cert-dir=${join(dir, "pki")}`,
          `--tls-cert-file=${pki.servingCert}`,
          `--tls-private-key-file=${pki.servingKey}`,
          `--client-ca-file=${pki.caCert}`,
          `--kubelet-client-certificate=${pki.adminCert}`,
          `--kubelet-client-key=${pki.adminKey}`,
          `--service-account-key-file=${pki.serviceAccountPub}`,
          `--service-account-signing-key-file=${pki.serviceAccountKey}`,
          "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
          // Privileged pods are allowed by the server, so that refusals come from Pod Security admission.
          "--allow-privileged=true",
          ...(nodeArgs?.apiserver ?? [
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            `--secure-port=${String(apiPort)}`,
            "--authorization-mode=RBAC",
            // No node and no kube-proxy: nothing should rewrite the `kubernetes` Service's endpoints.
            "--endpoint-reconciler-type=none",
            `--service-cluster-ip-range=${SERVICE_RANGE}`,
          ]),
        ],
      },
      {
        name: "kube-controller-manager",
        command: bins.kubeControllerManager,
        args: [
          `--kubeconfig=${controllerManagerKubeconfig}`,
          "--leader-elect=false",
          "--secure-port=0",
          "--use-service-account-credentials=false",
          `--root-ca-file=${pki.caCert}`,
          `--service-account-private-key-file=${pki.serviceAccountKey}`,
          ...(nodeArgs?.controllerManager ?? [`--controllers=${CONTROLLERS_WITHOUT_A_NODE.join(",")}`]),
        ],
      },
    ];
    const steps = node ? [node.setup, ...controlPlane, ...node.steps] : controlPlane;
    const config: SupervisorConfig = { steps, ...(hostSocket ? { bridgePort: apiPort } : {}) };
    await writeFile(join(dir, SUPERVISOR_CONFIG), JSON.stringify(config, null, 2));

    const { rootPid, launcherPid } = await launch(dir, hostSocket && nodeBins ? { hostSocket, pause: nodeBins.pause } : undefined);
    const plane: ControlPlane = {
      dir,
      server,
      kubeconfig,
      kubectl: bins.kubectl,
      etcd: etcdUrl,
      pki,
      rootPid,
      launcherPid,
      ...(node ? { node: { name: NODE_NAME, ...node.layout } } : {}),
    };
    await save(plane);
    await waitUntilServing(plane, log);
    return plane;
  } catch (err) {
    await down(dir);
    throw err;
  } finally {
    hostSocket?.close();
  }
}

/**
 * Starts the supervisor: with a node, inside new namespaces under `pause`, bridging the host's
 * listening socket; without one, as a plain process.
 */
async function launch(dir: string, node: { hostSocket: Server; pause: string } | undefined): Promise<{ rootPid: number; launcherPid: number }> {
  const fd = openSync(join(dir, "logs", "supervisor.log"), "a");
  try {
    if (!node) {
      const child = spawn(process.execPath, [SUPERVISOR, dir], { detached: true, stdio: ["ignore", fd, fd] });
      child.unref();
      return { rootPid: child.pid ?? 0, launcherPid: child.pid ?? 0 };
    }
    // The listening socket's descriptor, inherited as fd 3: it stays in the host's network namespace.
    const socketFd = (node.hostSocket as unknown as { _handle: { fd: number } })._handle.fd;
    const child = spawn(
      "unshare",
      ["--net", "--mount", "--uts", "--pid", "--fork", "--mount-proc", "--propagation", "private", node.pause, process.execPath, SUPERVISOR, dir],
      { detached: true, stdio: ["ignore", fd, fd, socketFd] },
    );
    child.unref();
    const launcherPid = child.pid ?? 0;
    // unshare forks: PID 1 of the new namespaces is its child.
    for (let i = 0; i < 100; i++) {
      const children = await readFile(`/proc/${String(launcherPid)}/task/${String(launcherPid)}/children`, "utf8").catch(() => "");
      const rootPid = Number(children.trim().split(/\s+/)[0]);
      if (rootPid > 0) return { rootPid, launcherPid };
      if (!isAlive(launcherPid)) break;
      await sleep(20);
    }
    throw new Error(`unshare did not start the cluster's namespaces; see ${join(dir, "logs", "supervisor.log")}`);
  } finally {
    closeSync(fd);
  }
}

async function listenOnLoopback(): Promise<Server> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  return server;
}

/** Waits for the supervisor's steps, the API server, the controllers and, with a node, the node. */
async function waitUntilServing(plane: ControlPlane, log: (line: string) => void): Promise<void> {
  const started = Date.now();
  /** Waits for `ok`; on a timeout the error carries the last lines of `component`'s log (the folder goes with `down`). */
  const check = async (what: string, ok: () => Promise<boolean>, timeoutMs: number, component = "supervisor"): Promise<void> => {
    for (;;) {
      if (!isAlive(plane.rootPid))
        throw new Error(
          `the cluster's supervisor exited while waiting for ${what}; last lines of its log:\n${await tail(join(plane.dir, "logs", "supervisor.log"))}`,
        );
      const s = await supervisorStatus(plane).catch(() => undefined);
      if (s?.failed) throw new Error(`${s.failed}:\n${await tail(join(plane.dir, "logs", `${s.failed.split(" ")[0] ?? ""}.log`))}`);
      if (await ok().catch(() => false)) return;
      if (Date.now() - started > timeoutMs)
        throw new Error(
          `${what} not ready after ${String(timeoutMs / 1000)} s; last lines of ${component}.log:\n${await tail(join(plane.dir, "logs", `${component}.log`))}`,
        );
      await sleep(200);
    }
  };
  const got = async (path: string): Promise<boolean> => (await adminGet(plane, path)).status === 200;
  await check("kube-apiserver", () => got("/readyz"), 120_000, "kube-apiserver");
  await check("the default namespace", () => got("/api/v1/namespaces/default"), 120_000, "kube-apiserver");
  await check(
    "kube-controller-manager (the default ServiceAccount)",
    () => got("/api/v1/namespaces/default/serviceaccounts/default"),
    120_000,
    "kube-controller-manager",
  );
  if (!plane.node) return;
  const name = plane.node.name;
  await check(
    "the node",
    async () => {
      const { status, body } = await adminGet(plane, `/api/v1/nodes/${name}`);
      if (status !== 200) return false;
      const node = JSON.parse(body) as { status?: { conditions?: { type: string; status: string }[] } };
      return node.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
    },
    120_000,
    "kubelet",
  );
  await check("kube-proxy", async () => (await clusterFetch(plane, "http://127.0.0.1:10256/healthz")).status === 200, 120_000, "kube-proxy");
  await check("the supervisor's last step", async () => (await supervisorStatus(plane)).started, 120_000);
  log(`node ${name} ready`);
}

/** Stops every process of the cluster in `dir`, removes its cgroups and then its folder. */
export async function down(dir: string): Promise<void> {
  const plane = await load(dir);
  if (plane) {
    if (plane.node) await thawCgroups(plane.node.cgroupRoot);
    if (isAlive(plane.rootPid)) {
      // The supervisor stops each component; when PID 1 of a PID namespace ends, the kernel ends the rest.
      process.kill(plane.rootPid, "SIGTERM");
      for (let i = 0; i < 300 && isAlive(plane.rootPid); i++) await sleep(100);
      if (isAlive(plane.rootPid)) process.kill(plane.rootPid, "SIGKILL");
    }
    for (let i = 0; i < 100 && (isAlive(plane.rootPid) || isAlive(plane.launcherPid)); i++) await sleep(100);
    if (plane.node) {
      const left = await removeCgroups(plane.node.cgroupsCreated, plane.node.cgroupRoot);
      if (left.length > 0) throw new Error(`could not remove the cluster's cgroups: ${left.join(", ")}`);
    }
  }
  await rm(dir, { recursive: true, force: true });
}

/**
 * Runs `work` on a cluster of its own in a new temporary folder, stopped and removed when the
 * work ends, fails or is interrupted (npm test, the benches).
 */
export async function withScratchPlane<T>(prefix: string, work: (plane: ControlPlane) => Promise<T>, options: UpOptions = {}): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  downOnInterrupt(dir);
  const plane = await up(dir, options);
  try {
    return await work(plane);
  } finally {
    await down(dir);
  }
}

/**
 * Stops the cluster in `dir` if this process is interrupted (Ctrl-C, SIGTERM): its components
 * run detached and would outlive it.
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

export async function status(dir: string): Promise<{ plane: ControlPlane | undefined; supervisor?: SupervisorStatus; healthy: boolean }> {
  const plane = await load(dir);
  if (!plane) return { plane, healthy: false };
  const supervisor = await supervisorStatus(plane).catch(() => undefined);
  return { plane, ...(supervisor ? { supervisor } : {}), healthy: await isHealthy(plane) };
}

/** Stops one component (etcd, kube-apiserver, kubelet, …); it stays stopped until started. */
export async function stopComponent(plane: ControlPlane, name: string): Promise<void> {
  await supervisorRequest(plane, "POST", `/stop/${name}`);
}

export async function startComponent(plane: ControlPlane, name: string): Promise<void> {
  await supervisorRequest(plane, "POST", `/start/${name}`);
}

/**
 * Stops the API server, and starts it again with the same flags once `whileDown` has returned:
 * what a rolling upgrade or a crash looks like to clients. Waits until it serves again.
 */
export async function restartApiServer(plane: ControlPlane, whileDown: () => Promise<void> = async () => {}): Promise<void> {
  await stopComponent(plane, "kube-apiserver");
  await whileDown();
  await startComponent(plane, "kube-apiserver");
  await apiServerReady(plane, "its restart");
}

/** Waits until the API server answers /readyz again, after `what` (a restart of it or of etcd). */
export async function apiServerReady(plane: ControlPlane, what: string): Promise<void> {
  const deadline = Date.now() + 90_000;
  while (!(await isHealthy(plane))) {
    if (Date.now() > deadline) throw new Error(`kube-apiserver not ready 90 s after ${what}; see ${plane.dir}/logs`);
    await sleep(250);
  }
}

/**
 * GET `url` from inside the cluster's network namespace (a pod IP, a ClusterIP), by its supervisor;
 * with `post`, POST that JSON instead.
 */
export async function clusterFetch(plane: ControlPlane, url: string, timeoutMs = 2000, post?: string): Promise<{ status: number; body: string }> {
  const query = `timeout=${String(timeoutMs)}&url=${encodeURIComponent(url)}${post === undefined ? "" : `&post=${encodeURIComponent(post)}`}`;
  const answer = JSON.parse(await supervisorRequest(plane, "GET", `/fetch?${query}`)) as {
    status: number;
    body: string;
  };
  return answer;
}

/**
 * Compacts etcd's history up to its current revision, as the API server does every five minutes:
 * a watch resuming from an older resourceVersion then gets 410 Gone. Resolves with that revision.
 */
export async function compactEtcd(plane: ControlPlane): Promise<number> {
  const call = async (path: string, body: object): Promise<{ header?: { revision?: string } }> => {
    const answer = await clusterFetch(plane, `${plane.etcd}${path}`, 10_000, JSON.stringify(body));
    if (answer.status !== 200) throw new Error(`etcd ${path}: ${String(answer.status)} ${answer.body}`);
    return JSON.parse(answer.body) as { header?: { revision?: string } };
  };
  const revision = Number((await call("/v3/kv/range", { key: Buffer.from("/").toString("base64") })).header?.revision ?? 0);
  await call("/v3/kv/compaction", { revision: String(revision), physical: true });
  return revision;
}

/** Runs a command inside the cluster's namespaces (network, mount, UTS, PID); resolves with its exit code. */
export function clusterExec(
  plane: ControlPlane,
  command: string[],
  stdio: "inherit" | "pipe" = "inherit",
): Promise<{ code: number; stdout: string; stderr: string }> {
  if (!plane.node) return Promise.reject(new Error("this cluster has no node, and so no namespaces of its own"));
  const args = ["--target", String(plane.rootPid), "--net", "--mount", "--uts", "--pid", `--wd=${process.cwd()}`, "--", ...command];
  return new Promise((resolve) => {
    if (stdio === "inherit") {
      const child = spawn("nsenter", args, { stdio: "inherit" });
      child.on("close", (code) => {
        resolve({ code: code ?? 1, stdout: "", stderr: "" });
      });
      return;
    }
    execFile("nsenter", args, { maxBuffer: 64 * 2 ** 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

export async function load(dir: string): Promise<ControlPlane | undefined> {
  if (!existsSync(stateFile(dir))) return undefined;
  return JSON.parse(await readFile(stateFile(dir), "utf8")) as ControlPlane;
}

async function save(plane: ControlPlane): Promise<void> {
  await writeFile(stateFile(plane.dir), JSON.stringify(plane, null, 2));
}

export async function supervisorStatus(plane: ControlPlane): Promise<SupervisorStatus> {
  return JSON.parse(await supervisorRequest(plane, "GET", "/status")) as SupervisorStatus;
}

function supervisorRequest(plane: ControlPlane, method: string, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ socketPath: join(plane.dir, SUPERVISOR_SOCKET), method, path, timeout: 30_000 }, (res) => {
      let body = "";
      res.on("data", (chunk: Buffer) => (body += chunk.toString()));
      res.on("end", () => {
        if ((res.statusCode ?? 0) >= 400) reject(new Error(`supervisor: ${method} ${path}: ${body}`));
        else resolve(body);
      });
    });
    req.on("timeout", () => req.destroy(new Error(`supervisor: ${method} ${path}: timeout`)));
    req.on("error", reject);
    req.end();
  });
}

async function isHealthy(plane: ControlPlane): Promise<boolean> {
  if (!isAlive(plane.rootPid)) return false;
  return (await adminGet(plane, "/readyz").catch(() => ({ status: 0 }))).status === 200;
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

async function kubeconfigFile(server: string, caCert: string, user: ClientCert): Promise<string> {
  const b64 = async (file: string): Promise<string> => (await readFile(file)).toString("base64");
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "- name: elector-local",
    "  cluster:",
    `    server: ${server}`,
    `    certificate-authority-data: ${await b64(caCert)}`,
    "users:",
    "- name: elector-user",
    "  user:",
    `    client-certificate-data: ${await b64(user.cert)}`,
    `    client-key-data: ${await b64(user.key)}`,
    "contexts:",
    "- name: elector-local",
    "  context: {cluster: elector-local, user: elector-user, namespace: default}",
    "current-context: elector-local",
    "",
  ].join("\n");
}

/** Ports the kernel reports free right now; the small race until they are bound is accepted. */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: count }, listenOnLoopback));
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}
