/** The machine as a test sees it from outside, to show that a cluster or an image build left it as it was. */
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { runCommand } from "./cluster.ts";

/**
 * Host state that a node or an image build left alone would change (the real-node notes, and what
 * buildah did here): each entry a name and a value, to compare before and after.
 */
export async function hostState(): Promise<Map<string, string>> {
  const state = new Map<string, string>();
  const read = (file: string): Promise<string> => readFile(file, "utf8").catch(() => "(absent)");
  for (const sysctl of [
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
    "net/ipv4/ip_forward",
    "net/bridge/bridge-nf-call-iptables",
    "net/netfilter/nf_conntrack_max",
    "net/ipv4/conf/all/route_localnet",
  ])
    state.set(`sysctl ${sysctl}`, (await read(`/proc/sys/${sysctl}`)).trim());
  state.set(
    "mounts",
    (await read("/proc/self/mountinfo"))
      .split("\n")
      .map((l) => l.split(" ").slice(3, 5).join(" "))
      .sort()
      .join("\n"),
  );
  state.set("routes", (await runCommand("ip", ["route"])).stdout);
  for (const table of ["filter", "nat"]) state.set(`iptables ${table}`, (await runCommand("iptables", ["-t", table, "-S"])).stdout);
  state.set(
    "links",
    (await runCommand("ip", ["-o", "link"])).stdout
      .split("\n")
      .map((l) => l.split(":")[1]?.trim() ?? "")
      .sort()
      .join(" "),
  );
  // The top two levels of each hierarchy but memory's (where this machine's sessions live): a
  // cluster's cgroup root and the parents made for it sit there.
  for (const hierarchy of (await readdir("/sys/fs/cgroup")).filter((h) => h !== "memory")) {
    const top = join("/sys/fs/cgroup", hierarchy);
    const level = async (dir: string): Promise<string[]> =>
      (await readdir(dir, { withFileTypes: true }).catch(() => [])).filter((e) => e.isDirectory()).map((e) => join(dir, e.name));
    const first = await level(top);
    state.set(`cgroups in ${hierarchy}`, [...first, ...(await Promise.all(first.map(level))).flat()].sort().join(" "));
  }
  for (const dir of ["/run", "/var/lib", "/var/log", "/usr/libexec", "/etc"])
    state.set(`files in ${dir}`, (await readdir(dir).catch(() => [])).sort().join(" "));
  for (const path of [
    "/var/lib/kubelet",
    "/var/lib/cni",
    "/var/lib/containerd",
    "/var/lib/containers",
    "/usr/libexec/kubernetes",
    "/var/log/pods",
    "/var/log/containers",
    "/run/mount",
    "/etc/cni",
  ]) {
    state.set(path, existsSync(path) ? "exists" : "absent");
  }
  return state;
}
