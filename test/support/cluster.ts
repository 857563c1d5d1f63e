/**
 * What every integration test stands on: the one control plane of this test run (started by
 * scripts/test.ts and named by ELECTOR_TEST_CLUSTER_DIR; without it, the developer's `.cluster`,
 * started if needed) and a fresh namespace per test that enforces Pod Security `restricted` and is
 * deleted when the test ends.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { ensureHelm } from "../cluster/build.ts";
import { DEFAULT_CLUSTER_DIR, load, up, type ControlPlane } from "../cluster/controlplane.ts";

export interface TestCluster {
  plane: ControlPlane;
  kc: KubeConfig;
}

let cluster: Promise<TestCluster> | undefined;

export function testCluster(): Promise<TestCluster> {
  cluster ??= (async () => {
    const dir = process.env.ELECTOR_TEST_CLUSTER_DIR;
    const plane = dir ? await load(dir) : await up(DEFAULT_CLUSTER_DIR);
    if (!plane) throw new Error(`no control plane in ELECTOR_TEST_CLUSTER_DIR=${dir ?? ""}`);
    const kc = new KubeConfig();
    kc.loadFromFile(plane.kubeconfig);
    return { plane, kc };
  })();
  return cluster;
}

/** Creates a namespace for this test, labelled to enforce Pod Security `restricted`; deleted after it. */
export async function testNamespace(t: TestContext): Promise<string> {
  const { kc } = await testCluster();
  const name = await createNamespace(kc, t.name);
  // The controller-manager adds the default ServiceAccount a moment later; a pod created before it is refused.
  // Right after a test restarted the API server, that took over 30 s once in CI (its watches come back with backoff).
  await eventually(
    "the namespace's default ServiceAccount",
    async () => ((await kubectl(["get", "serviceaccount", "default", "-n", name])).code === 0 ? true : undefined),
    90_000,
  );
  t.after(async () => {
    await kc
      .makeApiClient(CoreV1Api)
      .deleteNamespace({ name })
      .catch(() => undefined);
  });
  return name;
}

/** A new namespace named after `purpose`, enforcing Pod Security `restricted`. */
export async function createNamespace(kc: KubeConfig, purpose: string): Promise<string> {
  const core = kc.makeApiClient(CoreV1Api);
  const slug = purpose
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 40);
  const name = `${slug || "test"}-${randomBytes(3).toString("hex")}`.replace(/^-/, "");
  await core.createNamespace({
    body: {
      metadata: {
        name,
        labels: {
          "pod-security.kubernetes.io/enforce": "restricted",
          "pod-security.kubernetes.io/enforce-version": "latest",
          "elector.dev/test": "true",
        },
      },
    },
  });
  return name;
}

/** A temporary folder for this test's files, removed when it ends. */
export async function scratchDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "elector-test-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * A kubeconfig file in `dir` that acts as ServiceAccount `name` of `namespace` (which must exist),
 * with a fresh token: to run elector's processes with exactly the permissions RBAC gives them.
 */
export async function serviceAccountKubeconfig(namespace: string, name: string, dir: string): Promise<string> {
  const { plane, kc } = await testCluster();
  const token = await kc.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({ name, namespace, body: { spec: { audiences: [] } } });
  const ca = (await readFile(plane.pki.caCert)).toString("base64");
  const file = join(dir, `${namespace}-${name}.kubeconfig`);
  await writeFile(
    file,
    [
      "apiVersion: v1",
      "kind: Config",
      `clusters: [{name: c, cluster: {server: "${plane.server}", certificate-authority-data: ${ca}}}]`,
      `users: [{name: u, user: {token: "${token.status?.token ?? ""}"}}]`,
      "contexts: [{name: x, context: {cluster: c, user: u}}]",
      "current-context: x",
      "",
    ].join("\n"),
  );
  return file;
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program to its end and says how it went; never throws on a non-zero exit. */
export function runCommand(
  file: string,
  args: string[],
  options: { input?: string; cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      file,
      args,
      { cwd: options.cwd, env: options.env ?? process.env, timeout: options.timeoutMs ?? 0, maxBuffer: 64 * 2 ** 20 },
      (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr });
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/** Runs the cluster's kubectl against the test control plane; never throws on a non-zero exit. */
export async function kubectl(args: string[], input?: string): Promise<Run> {
  const { plane } = await testCluster();
  return runCommand(plane.kubectl, ["--kubeconfig", plane.kubeconfig, ...args], input === undefined ? {} : { input });
}

/** Runs helm (built from its Go module on first use) against the test cluster; never throws on a non-zero exit. */
export async function helm(args: string[]): Promise<Run> {
  const [bin, { plane }] = await Promise.all([ensureHelm(), testCluster()]);
  return runCommand(bin, [...args, "--kubeconfig", plane.kubeconfig]);
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last instanceof Error ? `: ${last.message}` : ""}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
