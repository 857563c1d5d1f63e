/**
 * Builds the real control plane from Go modules, the way the machines here can: no Docker engine,
 * no release downloads, but the Go module proxy. kube-apiserver, kube-controller-manager and kubectl
 * come from k8s.io/kubernetes through a wrapper module whose replace lines point every staging
 * module at its published v0.x release; etcd comes from go.etcd.io/etcd/server/v3 through a
 * one-line main. Results are cached outside the repository, one folder per version, so every
 * clone on the machine (and CI) reuses them.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ETCD_VERSION, HELM_VERSION, KUBERNETES_VERSION } from "./versions.ts";

export interface Binaries {
  etcd: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  kubectl: string;
}

/** The node's Kubernetes components, built from the same wrapper module as the control plane. */
export interface NodeBinaries {
  kubelet: string;
  kubeScheduler: string;
  kubeProxy: string;
  /** The pod sandbox's process, and the PID 1 that reaps inside the cluster's PID namespace. */
  pause: string;
}

export function cacheRoot(): string {
  return process.env.ELECTOR_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "elector");
}

const kubernetesDir = (): string => join(cacheRoot(), `kubernetes-v${KUBERNETES_VERSION}`);
const kubernetesNodeDir = (): string => join(cacheRoot(), `kubernetes-node-v${KUBERNETES_VERSION}`);
const etcdDir = (): string => join(cacheRoot(), `etcd-v${ETCD_VERSION}`);

/** Paths of the cached binaries; they exist once `ensureBinaries` has returned. */
export function binaries(): Binaries {
  return {
    etcd: join(etcdDir(), "bin", "etcd"),
    kubeApiserver: join(kubernetesDir(), "bin", "kube-apiserver"),
    kubeControllerManager: join(kubernetesDir(), "bin", "kube-controller-manager"),
    kubectl: join(kubernetesDir(), "bin", "kubectl"),
  };
}

/** Builds the node's binaries if missing (Go's build cache is warm from the control plane's). */
export async function ensureNodeBinaries(log: (line: string) => void = console.error): Promise<NodeBinaries> {
  await buildOnce(kubernetesNodeDir(), `kubernetes node v${KUBERNETES_VERSION} from Go modules`, log, (work, out, progress) =>
    buildKubernetesCommands(work, out, ["kube-scheduler", "kubelet", "kube-proxy"], progress),
  );
  const bin = (name: string): string => join(kubernetesNodeDir(), "bin", name);
  return { kubelet: bin("kubelet"), kubeScheduler: bin("kube-scheduler"), kubeProxy: bin("kube-proxy"), pause: await ensurePause(log) };
}

/** pause/ beside this file, built once per version of its sources. */
async function ensurePause(log: (line: string) => void): Promise<string> {
  const source = fileURLToPath(new URL("pause/", import.meta.url));
  const hash = createHash("sha256");
  for (const file of ["main.go", "go.mod"]) hash.update(await readFile(join(source, file)));
  const dir = join(cacheRoot(), `pause-${hash.digest("hex").slice(0, 12)}`);
  await buildOnce(dir, "pause", log, (_work, out, progress) => goBuild(source, ["-trimpath", "-ldflags", "-s -w", "-o", join(out, "pause"), "."], progress));
  return join(dir, "bin", "pause");
}

/** Builds whatever is missing from the cache and returns the binaries' paths. */
export async function ensureBinaries(log: (line: string) => void = console.error): Promise<Binaries> {
  await buildOnce(kubernetesDir(), `kubernetes v${KUBERNETES_VERSION} from Go modules`, log, buildKubernetes);
  await buildOnce(etcdDir(), `etcd v${ETCD_VERSION} from Go modules`, log, buildEtcd);
  return binaries();
}

/** The path of helm, built from its Go module into the cache the first time. */
export async function ensureHelm(log: (line: string) => void = console.error): Promise<string> {
  const dir = join(cacheRoot(), `helm-v${HELM_VERSION}`);
  await buildOnce(dir, `helm v${HELM_VERSION} from Go modules`, log, async (work, out, progress) => {
    await mkdir(work, { recursive: true });
    await writeFile(join(work, "go.mod"), `module elector.dev/tools/helm\n\ngo 1.26.0\n\nrequire helm.sh/helm/v4 v${HELM_VERSION}\n`);
    const ldflags = `-s -w -X helm.sh/helm/v4/internal/version.version=v${HELM_VERSION}`;
    await goBuild(work, ["-trimpath", "-ldflags", ldflags, "-o", join(out, "helm"), "helm.sh/helm/v4/cmd/helm"], progress);
  });
  return join(dir, "bin", "helm");
}

/**
 * Runs `build` into a scratch folder and renames its bin/ into place, so a half-finished build is
 * never mistaken for a finished one; a lock folder keeps two concurrent runs from building twice.
 */
export async function buildOnce(
  dir: string,
  what: string,
  log: (line: string) => void,
  build: (work: string, out: string, log: (line: string) => void) => Promise<void>,
): Promise<void> {
  const done = join(dir, "bin");
  if (existsSync(done)) return;
  await mkdir(dir, { recursive: true });
  const lock = join(dir, "building.lock");
  await acquireLock(lock, what, log);
  try {
    if (existsSync(done)) return;
    const out = join(dir, `bin.partial-${process.pid}`);
    await rm(out, { recursive: true, force: true });
    const started = Date.now();
    log(`building ${what} into ${dir} (cached afterwards)`);
    await build(join(dir, "module"), out, log);
    await rename(out, done);
    log(`built ${what} in ${Math.round((Date.now() - started) / 1000)} s`);
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

async function acquireLock(lock: string, what: string, log: (line: string) => void): Promise<void> {
  let reported = false;
  for (;;) {
    try {
      await mkdir(lock);
      await writeFile(join(lock, "pid"), String(process.pid));
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const owner = Number(await readFile(join(lock, "pid"), "utf8").catch(() => "0"));
    if (owner > 0 && !isAlive(owner)) {
      await rm(lock, { recursive: true, force: true });
      continue;
    }
    if (!reported) log(`waiting for process ${owner} that is building ${what}`);
    reported = true;
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

/** Whether a process with this pid exists (0 never does). */
export function isAlive(pid: number): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function buildKubernetes(work: string, out: string, log: (line: string) => void): Promise<void> {
  return buildKubernetesCommands(work, out, ["kube-apiserver", "kube-controller-manager", "kubectl"], log);
}

async function buildKubernetesCommands(work: string, out: string, commands: string[], log: (line: string) => void): Promise<void> {
  const v = KUBERNETES_VERSION;
  await mkdir(work, { recursive: true });
  const upstream = await downloadGoMod(`k8s.io/kubernetes@v${v}`, work);
  await writeFile(join(work, "go.mod"), wrapperGoMod(upstream, v));
  const pkg = "k8s.io/component-base/version";
  const [major, minor] = v.split(".");
  const ldflags = [
    "-s -w",
    `-X ${pkg}.gitVersion=v${v}`,
    `-X ${pkg}.gitMajor=${major}`,
    `-X ${pkg}.gitMinor=${minor}`,
    `-X ${pkg}.gitTreeState=clean`,
    `-X ${pkg}.buildDate=${new Date().toISOString().replace(/\.\d+Z$/, "Z")}`,
  ].join(" ");
  const packages = commands.map((c) => `k8s.io/kubernetes/cmd/${c}`);
  await goBuild(work, ["-trimpath", "-ldflags", ldflags, "-o", `${out}/`, ...packages], log);
}

/**
 * k8s.io/kubernetes replaces its staging modules with ./staging/src/...; outside its own tree
 * those paths do not exist, so the wrapper points each at the published release of the same
 * minor version (v1.36.3 ↔ v0.36.3) and copies the godebug line the binaries expect.
 */
export function wrapperGoMod(upstream: string, version: string): string {
  const stagingVersion = `v0.${version.split(".").slice(1).join(".")}`;
  const block = /^replace \(\n([\s\S]*?)^\)/m.exec(upstream)?.[1] ?? "";
  const replaces = [...block.matchAll(/^\s*(\S+)\s+=>\s+\.\/staging\/\S+\s*$/gm)].map((m) => `\t${m[1]} => ${m[1]} ${stagingVersion}`);
  if (replaces.length === 0) throw new Error("no staging replace lines found in the go.mod of k8s.io/kubernetes");
  const goLine = /^go \S+$/m.exec(upstream)?.[0] ?? "go 1.26.0";
  const godebug = /^godebug .*$/m.exec(upstream)?.[0];
  return [
    "module elector.dev/controlplane/kubernetes",
    "",
    goLine,
    ...(godebug ? ["", godebug] : []),
    "",
    `require k8s.io/kubernetes v${version}`,
    "",
    "replace (",
    ...replaces,
    ")",
    "",
  ].join("\n");
}

async function buildEtcd(work: string, out: string, log: (line: string) => void): Promise<void> {
  await mkdir(work, { recursive: true });
  await writeFile(join(work, "go.mod"), `module elector.dev/controlplane/etcd\n\ngo 1.26.0\n\nrequire go.etcd.io/etcd/server/v3 v${ETCD_VERSION}\n`);
  // etcd's own main package lives in the repository's root module; this is the same two lines.
  await writeFile(
    join(work, "main.go"),
    'package main\n\nimport (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\nfunc main() { etcdmain.Main(os.Args) }\n',
  );
  await goBuild(work, ["-trimpath", "-ldflags", "-s -w", "-o", join(out, "etcd"), "."], log);
}

async function downloadGoMod(moduleAtVersion: string, cwd: string): Promise<string> {
  const json = await run("go", ["mod", "download", "-json", moduleAtVersion], cwd, () => undefined);
  const info = JSON.parse(json) as { GoMod?: string; Error?: string };
  if (!info.GoMod) throw new Error(`go mod download ${moduleAtVersion}: ${info.Error ?? "no go.mod"}`);
  return readFile(info.GoMod, "utf8");
}

/** `go build -v`, reporting how many packages it has compiled so a long cold build shows progress. */
export async function goBuild(cwd: string, args: string[], log: (line: string) => void): Promise<void> {
  let compiled = 0;
  let lastReport = Date.now();
  await run("go", ["build", "-v", ...args], cwd, (line) => {
    if (line.startsWith("go: downloading")) {
      if (Date.now() - lastReport > 10_000) {
        log(`  ${line}`);
        lastReport = Date.now();
      }
      return;
    }
    compiled += 1;
    if (Date.now() - lastReport > 15_000) {
      log(`  compiled ${compiled} packages (${line})`);
      lastReport = Date.now();
    }
  });
}

function run(cmd: string, args: string[], cwd: string, onStderrLine: (line: string) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd,
      env: { ...process.env, CGO_ENABLED: "0", GOFLAGS: "-mod=mod", GOTOOLCHAIN: "local", GOWORK: "off" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    const errors: string[] = [];
    let partial = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) {
        if (!line.startsWith("go: downloading") && line.includes(":")) errors.push(line);
        onStderrLine(line);
      }
    });
    child.on("error", (err) => {
      reject(new Error(`${cmd}: ${err.message} (is Go installed and on PATH?)`));
    });
    child.on("close", (code) => {
      if (code === 0) resolve(stdout);
      else reject(new Error(`${cmd} ${args.slice(0, 2).join(" ")} failed (exit ${code}):\n${errors.slice(-30).join("\n")}`));
    });
  });
}
