/**
 * The local cluster's node: containerd, runc and the CNI plugins from Debian, and kubelet,
 * kube-scheduler and kube-proxy from the Kubernetes module, all inside namespaces made for the
 * cluster, so that the machine is left as it was found (the facts behind each choice are in
 * docs/cluster.md):
 * - mount: /run is a tmpfs, /var/log a folder of the cluster's, /var/lib an overlay whose upper
 *   layer is the cluster's, and the host sysctls kubelet would rewrite are files of the cluster's
 *   bound over /proc/sys; all private, gone with the namespace;
 * - network: loopback and one bridge (`cni0`, the node IP, the pods' gateway), nothing else;
 * - PID: a reaping PID 1, so no orphan outlives the cluster;
 * - cgroups: kubelet's root is the cluster's own folder in each hierarchy, nested below this
 *   process's memory cgroup, and removed bottom-up by `down` with any parent folder a cluster made.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rm, rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { cacheRoot, type NodeBinaries } from "./build.ts";
import { clientCert, SERVICE_RANGE, type Pki } from "./pki.ts";
import type { Step } from "./supervisor.ts";

const exec = promisify(execFile);

export const NODE_NAME = "elector-node";
/** The node's address: on the pods' bridge, inside the cluster's network namespace only. */
export const NODE_IP = "10.244.0.1";
export const POD_SUBNET = "10.244.0.0/24";
/** The API server's port inside the cluster's network namespace (each cluster has its own). */
export const API_PORT = 6443;
/** The pod sandbox image: `pause`, built locally, never pulled. */
export const PAUSE_IMAGE = "localhost/elector/pause:dev";

/** The Debian packages the node needs, and a command of each that shows it is installed. */
const PACKAGES: Record<string, string> = {
  containerd: "/usr/bin/containerd",
  runc: "/usr/sbin/runc",
  "containernetworking-plugins": "/usr/lib/cni/bridge",
  iptables: "/usr/sbin/iptables",
  conntrack: "/usr/sbin/conntrack",
  iproute2: "/usr/sbin/ip",
  buildah: "/usr/bin/buildah",
  debootstrap: "/usr/sbin/debootstrap",
  "util-linux": "/usr/bin/unshare",
};

/** Why this machine cannot run the node, or undefined when it can. */
export function nodeUnsupported(): string | undefined {
  if (process.platform !== "linux") return `a node needs Linux namespaces; this is ${process.platform}`;
  if (process.getuid?.() !== 0) return "a node needs root (its containers, mounts and network namespace); this is not root";
  if (!existsSync("/sys/fs/cgroup/memory") && !existsSync("/sys/fs/cgroup/cgroup.controllers")) return "a node needs cgroups; /sys/fs/cgroup has none";
  return undefined;
}

/** Installs the node's Debian packages that are missing (once per machine). */
export async function ensureNodePackages(log: (line: string) => void): Promise<void> {
  const missing = Object.entries(PACKAGES)
    .filter(([, file]) => !existsSync(file))
    .map(([name]) => name);
  if (missing.length === 0) return;
  log(`installing Debian packages for the node: ${missing.join(" ")}`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  await exec("apt-get", ["update", "-q"], { env });
  await exec("apt-get", ["install", "-y", "-q", "--no-install-recommends", ...missing], { env, maxBuffer: 64 * 2 ** 20 });
}

export interface NodeLayout {
  /** kubelet's cgroupRoot; the same path in every hierarchy. */
  cgroupRoot: string;
  /** cgroup folders `up` made (the root and any parents that were missing), deepest last. */
  cgroupsCreated: string[];
  containerdSocket: string;
}

/** Every cgroup hierarchy mounted here (v1 controllers, the named systemd one, and v2's unified). */
async function cgroupHierarchies(): Promise<string[]> {
  const mounts = await readFile("/proc/self/mounts", "utf8");
  return mounts
    .split("\n")
    .map((l) => l.split(" "))
    .filter((f) => f[2] === "cgroup" || f[2] === "cgroup2")
    .map((f) => f[1] ?? "");
}

/**
 * The parent cgroup folders that some cluster on this machine made for its root, one file each in
 * the cache: the cluster that made one may stop while another's root is still inside it, so every
 * `down` removes those that are empty by then, whoever made them.
 */
const parentsMade = (): string => join(cacheRoot(), "cgroup-parents");
const parentRecord = (path: string): string => join(parentsMade(), createHash("sha256").update(path).digest("hex").slice(0, 16));

/**
 * kubelet's cgroup root for the cluster `id`: below this process's memory cgroup (so the pods'
 * memory counts where the cluster's starter's does), one path in every hierarchy.
 */
async function createCgroupRoot(id: string): Promise<{ root: string; created: string[] }> {
  const own =
    (await readFile("/proc/self/cgroup", "utf8"))
      .split("\n")
      .find((l) => /^\d+:memory:/.test(l))
      ?.split(":")[2] ?? "/";
  const root = join(own, `elector-${id}`);
  const created: string[] = [];
  for (const hierarchy of await cgroupHierarchies()) {
    let path = hierarchy;
    for (const part of root.split("/").filter(Boolean)) {
      path = join(path, part);
      if (existsSync(path)) continue;
      if (!path.endsWith(`elector-${id}`)) {
        await mkdir(parentsMade(), { recursive: true });
        await writeFile(parentRecord(path), path);
      }
      await mkdir(path);
      created.push(path);
      // A new cpuset cgroup admits no task until it has CPUs and memory nodes of its own.
      if (existsSync(join(path, "cpuset.cpus"))) {
        for (const file of ["cpuset.cpus", "cpuset.mems"]) await writeFile(join(path, file), await readFile(join(path, "..", file)));
      }
    }
  }
  return { root, created };
}

/**
 * Thaws every frozen cgroup below the cluster's root (the chaos harness freezes pods): a frozen
 * process cannot die, so a cluster stopped with one would leave it behind.
 */
export async function thawCgroups(root: string): Promise<void> {
  const thaw = async (path: string): Promise<void> => {
    const state = join(path, "freezer.state");
    if ((await readFile(state, "utf8").catch(() => "")).trim() !== "THAWED") await writeFile(state, "THAWED").catch(() => undefined);
    const entries = await readdir(path, { withFileTypes: true }).catch(() => []);
    for (const e of entries) if (e.isDirectory()) await thaw(join(path, e.name));
  };
  if (existsSync(join("/sys/fs/cgroup/freezer", root))) await thaw(join("/sys/fs/cgroup/freezer", root));
}

/**
 * Removes the cluster's cgroup root in every hierarchy, with every cgroup kubelet and runc made
 * below it, then every recorded parent folder that is empty by now (parentsMade); returns what of
 * the cluster's own could not be removed.
 */
export async function removeCgroups(created: string[], root: string): Promise<string[]> {
  const left: string[] = [];
  const removeTree = async (path: string): Promise<void> => {
    const entries = await readdir(path, { withFileTypes: true }).catch(() => []);
    for (const e of entries) if (e.isDirectory()) await removeTree(join(path, e.name));
    await rmdir(path).catch((err: unknown) => {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "ENOENT") left.push(`${path} (${code ?? String(err)})`);
    });
  };
  for (const path of created.filter((c) => c.endsWith(root))) await removeTree(path);
  const records = await readdir(parentsMade()).catch(() => []);
  const parents = await Promise.all(records.map(async (r) => ({ record: join(parentsMade(), r), path: await readFile(join(parentsMade(), r), "utf8") })));
  // Deepest first: a parent empties once the folders below it are gone.
  for (const { record, path } of parents.sort((a, b) => b.path.length - a.path.length)) {
    const removed = await rmdir(path).then(
      () => true,
      (err: unknown) => (err as NodeJS.ErrnoException).code === "ENOENT",
    );
    if (removed) await rm(record, { force: true });
  }
  return left;
}

const KERNEL_DEFAULTS: Record<string, string> = {
  // What kubelet writes on start when they differ (pkg/kubelet/cm: setupKernelTunables).
  "vm/overcommit_memory": "1",
  "vm/panic_on_oom": "0",
  "kernel/panic": "10",
  "kernel/panic_on_oops": "1",
  "kernel/keys/root_maxkeys": "1000000",
  "kernel/keys/root_maxbytes": "25000000",
};

/**
 * Writes the node's configuration into `<dir>/node` and returns the supervisor's steps that set up
 * the namespaces (to run first) and those that start kube-scheduler and containerd, import the
 * images and start kubelet and kube-proxy (to run after the control plane).
 */
export async function nodeSteps(
  dir: string,
  id: string,
  pki: Pki,
  bins: NodeBinaries,
  kubeconfigFor: (name: string, cert: { cert: string; key: string }) => Promise<string>,
  imageArchives: string[],
): Promise<{ setup: Step; steps: Step[]; layout: NodeLayout }> {
  const node = join(dir, "node");
  const p = (...parts: string[]): string => join(node, ...parts);
  for (const d of ["var-log", "var-lib/upper", "var-lib/work", "sysctl", "cni/net.d", "cni/ipam", "containerd", "kubelet", "volume-plugins"]) {
    await mkdir(p(d), { recursive: true });
  }
  const { root: cgroupRoot, created } = await createCgroupRoot(id);
  const kubeletCert = await clientCert(pki, "kubelet", `/O=system:nodes/CN=system:node:${NODE_NAME}`);
  const proxyCert = await clientCert(pki, "kube-proxy", "/CN=system:kube-proxy");
  const schedulerCert = await clientCert(pki, "kube-scheduler", "/CN=system:kube-scheduler");
  const kubeletKubeconfig = await kubeconfigFor("kubelet", kubeletCert);
  const proxyKubeconfig = await kubeconfigFor("kube-proxy", proxyCert);
  const schedulerKubeconfig = await kubeconfigFor("kube-scheduler", schedulerCert);

  const sysctlBinds = Object.entries(KERNEL_DEFAULTS).map(([name, value]) => {
    const file = p("sysctl", name.replaceAll("/", "."));
    return `printf '%s\\n' ${value} > ${file}\nmount -n --bind ${file} /proc/sys/${name}`;
  });
  const setup = p("setup.sh");
  await writeFile(
    setup,
    [
      "#!/bin/bash",
      "# Runs as the first step inside the cluster's new namespaces. `mount -n`: util-linux must not",
      "# write /run/mount on the host's /run before the tmpfs covers it.",
      "set -euo pipefail",
      "mount -n -t tmpfs -o mode=0755 tmpfs /run",
      `mount -n --bind ${p("var-log")} /var/log`,
      `mount -n -t overlay overlay -o lowerdir=/var/lib,upperdir=${p("var-lib/upper")},workdir=${p("var-lib/work")} /var/lib`,
      ...sysctlBinds,
      `hostname ${NODE_NAME}`,
      "ip link set lo up",
      "ip link add cni0 type bridge",
      `ip addr add ${NODE_IP}/24 dev cni0`,
      "ip link set cni0 up",
      // No default route, so nothing leaves: the Service range needs a route of its own, or a
      // packet to a ClusterIP sent from the node fails before kube-proxy's rules can rewrite it.
      `ip route add ${SERVICE_RANGE} dev cni0 src ${NODE_IP}`,
      // Both are per network namespace on these kernels: the host's values stay as they are.
      "echo 1 > /proc/sys/net/ipv4/ip_forward",
      "if [ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]; then echo 1 > /proc/sys/net/bridge/bridge-nf-call-iptables; fi",
      "",
    ].join("\n"),
  );

  await writeFile(
    p("cni/net.d/10-elector.conflist"),
    JSON.stringify({
      cniVersion: "1.0.0",
      name: "elector",
      plugins: [
        {
          type: "bridge",
          bridge: "cni0",
          isGateway: true,
          ipMasq: false,
          hairpinMode: true,
          ipam: { type: "host-local", ranges: [[{ subnet: POD_SUBNET, gateway: NODE_IP }]], routes: [{ dst: "0.0.0.0/0" }], dataDir: p("cni/ipam") },
        },
        { type: "portmap", capabilities: { portMappings: true } },
      ],
    }),
  );

  const containerdSocket = p("containerd", "containerd.sock");
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  await writeFile(
    p("containerd.toml"),
    [
      "version = 2",
      `root = "${p("containerd", "root")}"`,
      `state = "/run/containerd"`,
      `disabled_plugins = ${JSON.stringify(["aufs", "btrfs", "zfs", "devmapper"].map((s) => `io.containerd.snapshotter.v1.${s}`))}`,
      "[grpc]",
      `  address = "${containerdSocket}"`,
      `[plugins."io.containerd.internal.v1.opt"]`,
      `  path = "${p("containerd", "opt")}"`,
      `[${cri}]`,
      `  sandbox_image = "${PAUSE_IMAGE}"`,
      // The machine's root lacks CAP_SYS_RESOURCE: runc cannot lower oom_score_adj below its own.
      "  restrict_oom_score_adj = true",
      "  disable_apparmor = true",
      `[${cri}.containerd]`,
      '  snapshotter = "overlayfs"',
      '  default_runtime_name = "runc"',
      `[${cri}.containerd.runtimes.runc]`,
      '  runtime_type = "io.containerd.runc.v2"',
      `[${cri}.containerd.runtimes.runc.options]`,
      "  SystemdCgroup = false",
      `[${cri}.cni]`,
      '  bin_dir = "/usr/lib/cni"',
      `  conf_dir = "${p("cni/net.d")}"`,
      "",
    ].join("\n"),
  );

  await writeFile(p("resolv.conf"), "# no cluster DNS here\n");
  await writeFile(
    p("kubelet.json"),
    JSON.stringify({
      apiVersion: "kubelet.config.k8s.io/v1beta1",
      kind: "KubeletConfiguration",
      authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: pki.caCert } },
      authorization: { mode: "Webhook" },
      // cgroup v1 here: kubelet 1.35+ refuses it unless told otherwise.
      failCgroupV1: false,
      cgroupDriver: "cgroupfs",
      cgroupRoot,
      containerRuntimeEndpoint: `unix://${containerdSocket}`,
      resolvConf: p("resolv.conf"),
      volumePluginDir: p("volume-plugins"),
      failSwapOn: false,
      // These images were built here and cannot be pulled again: image GC must never remove them.
      imageGCHighThresholdPercent: 100,
      imageGCLowThresholdPercent: 99,
      evictionHard: { "memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%", "nodefs.inodesFree": "1%" },
      serializeImagePulls: false,
      clusterDomain: "cluster.local",
    }),
  );
  await writeFile(
    p("kube-proxy.json"),
    JSON.stringify({
      apiVersion: "kubeproxy.config.k8s.io/v1alpha1",
      kind: "KubeProxyConfiguration",
      clientConnection: { kubeconfig: proxyKubeconfig },
      mode: "iptables",
      clusterCIDR: POD_SUBNET,
      hostnameOverride: NODE_NAME,
      healthzBindAddress: "127.0.0.1:10256",
      metricsBindAddress: "127.0.0.1:10249",
      // Zero leaves the host-wide conntrack sysctls alone.
      conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: "0s", tcpCloseWaitTimeout: "0s" },
    }),
  );

  const imports = imageArchives.map((archive, i) => ({
    name: `image-import-${String(i)}`,
    command: "ctr",
    args: ["--address", containerdSocket, "--namespace", "k8s.io", "images", "import", archive],
    oneshot: true,
  }));
  const steps: Step[] = [
    { name: "kube-scheduler", command: bins.kubeScheduler, args: [`--kubeconfig=${schedulerKubeconfig}`, "--leader-elect=false", "--secure-port=0"] },
    { name: "containerd", command: "containerd", args: ["--config", p("containerd.toml")], readyFile: containerdSocket },
    ...imports,
    {
      name: "kubelet",
      command: bins.kubelet,
      args: [
        `--config=${p("kubelet.json")}`,
        `--kubeconfig=${kubeletKubeconfig}`,
        `--root-dir=${p("kubelet")}`,
        `--hostname-override=${NODE_NAME}`,
        `--node-ip=${NODE_IP}`,
      ],
    },
    { name: "kube-proxy", command: bins.kubeProxy, args: [`--config=${p("kube-proxy.json")}`] },
  ];
  return { setup: { name: "setup", command: "bash", args: [setup], oneshot: true }, steps, layout: { cgroupRoot, cgroupsCreated: created, containerdSocket } };
}

/** The API server's and controller manager's flags that differ when the cluster has a node. */
export function nodeControlPlaneArgs(dir: string): { apiserver: string[]; controllerManager: string[] } {
  return {
    apiserver: [
      "--bind-address=0.0.0.0",
      `--advertise-address=${NODE_IP}`,
      `--secure-port=${String(API_PORT)}`,
      "--authorization-mode=Node,RBAC",
      // The node's name resolves nowhere here (no DNS can be reached): use its address.
      "--kubelet-preferred-address-types=InternalIP",
      `--service-cluster-ip-range=${SERVICE_RANGE}`,
    ],
    controllerManager: ["--controllers=*", `--flex-volume-plugin-dir=${join(dir, "node", "volume-plugins")}`],
  };
}
