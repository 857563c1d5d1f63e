/**
 * What end-to-end tests stand on: the test run's cluster with its node, elector:dev (built from
 * the Dockerfile by `npm test`), the example applications' and the client-go peer's images on it, the chart installed
 * with helm, and the ways a test looks from outside: the Lease, the pods, the EndpointSlices, and
 * requests sent to a ClusterIP from inside the cluster's network namespace.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import { load as loadYaml, dump as dumpYaml } from "js-yaml";
import { clusterFetch, type ControlPlane } from "../cluster/controlplane.ts";
import { binaryImage, buildImage, DEBIAN_IMAGE, importImage, saveImage } from "../cluster/images.ts";
import { ensurePeer } from "../peer/build.ts";
import { eventually, helm, kubectl, runCommand, testCluster, testNamespace } from "./cluster.ts";
import { installCrd } from "./operator.ts";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const IMAGES = fileURLToPath(new URL("../e2e/images/", import.meta.url));
/** The application of the examples (test/e2e/images/app): says which pod answered. */
export const APP_IMAGE = "localhost/elector-e2e/app:dev";
/** The wrapped command of examples/wrapper.yaml, in an image FROM elector:dev. */
export const WORKER_IMAGE = "localhost/elector-e2e/worker:dev";
export const OPERATOR_NAMESPACE = "elector-system";

/** The cluster with its node; without one the test is skipped, saying why. */
export async function nodeCluster(t: TestContext): Promise<ControlPlane | undefined> {
  const { plane } = await testCluster();
  if (!plane.node) {
    t.skip(`no node in this cluster (${process.env.ELECTOR_NO_NODE_REASON ?? "started without one"})`);
    return undefined;
  }
  return plane;
}

/** The client-go peer (test/peer) in an image of one file, for elections shared with Go programs. */
export const PEER_IMAGE = "localhost/elector-e2e/client-go-peer:dev";

let images: Promise<void> | undefined;

/** Builds the example applications' and the peer's images and loads them on the node, once per run. */
export function exampleImages(plane: ControlPlane): Promise<void> {
  images ??= (async () => {
    const socket = plane.node?.containerdSocket ?? "";
    for (const [name, dir] of [
      [APP_IMAGE, "app"],
      [WORKER_IMAGE, "worker"],
    ] as const) {
      const archive = await buildImage(name, join(IMAGES, dir), "Containerfile", join(plane.dir, "images", `${dir}.tar`));
      await importImage(socket, archive);
    }
    // An app image without Node, for the single executable (examples/wrapper-any-image.yaml).
    await importImage(socket, await saveImage(DEBIAN_IMAGE, join(plane.dir, "images", "debian.tar")));
    // The peer is a static Go binary: the image holds it alone, running as nonroot.
    await importImage(socket, await binaryImage(PEER_IMAGE, await ensurePeer(), join(plane.dir, "images", "peer.tar"), "65532:65532"));
  })();
  return images;
}

let chart: Promise<void> | undefined;

/**
 * The chart, installed once per run as a user would (`helm install --wait`) in a namespace that
 * enforces Pod Security `restricted`, running elector:dev: the operator's two replicas.
 */
export function installChart(): Promise<void> {
  chart ??= (async () => {
    const labels = { "pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest" };
    const ns = await kubectl(["apply", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "Namespace", metadata: { name: OPERATOR_NAMESPACE, labels } }));
    assert.equal(ns.code, 0, ns.stderr);
    const installed = await helm([
      "upgrade",
      "--install",
      "elector",
      join(REPO, "charts/elector"),
      "-n",
      OPERATOR_NAMESPACE,
      "--set",
      "image.tag=dev",
      "--wait",
      "--timeout",
      "120s",
    ]);
    assert.equal(installed.code, 0, installed.stderr);
  })();
  return chart;
}

/** What every workload on the node stands on: the CRD, the example images on the node, the chart's operator. */
export async function stageReady(plane: ControlPlane): Promise<void> {
  await installCrd();
  await Promise.all([exampleImages(plane), installChart()]);
}

/**
 * Where most end-to-end tests start: the node ready (stageReady) and a namespace of the test's own;
 * undefined, and the test skipped, where there is no node.
 */
export async function onTheNode(t: TestContext): Promise<{ plane: ControlPlane; namespace: string } | undefined> {
  const plane = await nodeCluster(t);
  if (!plane) return undefined;
  await stageReady(plane);
  return { plane, namespace: await testNamespace(t) };
}

/** examples/sidecar.yaml's Deployment, images made real. */
export async function sidecarDeployment(): Promise<Record<string, unknown>> {
  const [deployment] = await example("sidecar.yaml");
  assert.ok(deployment, "examples/sidecar.yaml has no Deployment");
  return deployment;
}

/**
 * The documents of examples/`file` as objects, with the images a user would replace made real:
 * elector's release image becomes elector:dev, `registry.example/…` the example applications.
 */
export async function example(file: string): Promise<Record<string, unknown>[]> {
  const text = (await readFile(join(REPO, "examples", file), "utf8"))
    .replaceAll(/image: elector:\S+/g, "image: elector:dev")
    .replaceAll(/image: registry\.example\/singleton-worker:\S+/g, `image: ${WORKER_IMAGE}`)
    .replaceAll(/image: registry\.example\/\S+/g, `image: ${APP_IMAGE}`);
  return text
    .split(/^---$/m)
    .map((doc) => loadYaml(doc) as Record<string, unknown>)
    .filter(Boolean);
}

/**
 * The database variant of examples/sidecar.yaml's Deployment that examples/service-routing.yaml and
 * examples/handover.yaml expect: pods app=db with a port named pg, in election db; as a
 * StatefulSet when the pods must have the names db-0, db-1, … (handover.yaml names db-1).
 */
export function asDatabase(deployment: Record<string, unknown>, kind: "Deployment" | "StatefulSet" = "Deployment"): Record<string, unknown> {
  interface Workload {
    kind: string;
    spec: { serviceName?: string; template: { spec: { containers: { name: string; ports?: unknown[] }[] } } };
  }
  const db = JSON.parse(JSON.stringify(deployment).replaceAll("scheduler", "db")) as Workload;
  db.kind = kind;
  if (kind === "StatefulSet") db.spec.serviceName = "db-primary";
  const app = db.spec.template.spec.containers.find((c) => c.name === "app");
  if (app) app.ports = [{ name: "pg", containerPort: 5432 }];
  return JSON.parse(JSON.stringify(db)) as Record<string, unknown>;
}

export async function applyObjects(namespace: string, objects: unknown[]): Promise<void> {
  const applied = await kubectl(["apply", "-n", namespace, "-f", "-"], objects.map((o) => dumpYaml(o)).join("---\n"));
  assert.equal(applied.code, 0, applied.stderr);
}

export async function rolledOut(namespace: string, workload: string, timeout = "120s"): Promise<void> {
  const r = await kubectl(["rollout", "status", "-n", namespace, workload, `--timeout=${timeout}`]);
  assert.equal(r.code, 0, `${workload}: ${r.stderr}`);
}

export interface LeaseSpec {
  holderIdentity?: string;
  leaseTransitions?: number;
}

export async function lease(namespace: string, name: string): Promise<LeaseSpec | undefined> {
  const r = await kubectl(["get", "lease", name, "-n", namespace, "-o", "json"]);
  return r.code === 0 ? (JSON.parse(r.stdout) as { spec: LeaseSpec }).spec : undefined;
}

export interface PodView {
  name: string;
  uid: string;
  ip: string;
  labels: Record<string, string>;
  ready: boolean;
  deleting: boolean;
  containers: { name: string; id: string; restarts: number }[];
}

/** A pod as the API serves it, the fields PodView reads. */
export interface PodObject {
  metadata: { name: string; uid?: string; labels?: Record<string, string>; deletionTimestamp?: string };
  status?: {
    podIP?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: { name: string; containerID?: string; restartCount: number }[];
  };
}

export function podView(p: PodObject): PodView {
  return {
    name: p.metadata.name,
    uid: p.metadata.uid ?? "",
    ip: p.status?.podIP ?? "",
    labels: p.metadata.labels ?? {},
    ready: p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false,
    deleting: Boolean(p.metadata.deletionTimestamp),
    containers: (p.status?.containerStatuses ?? []).map((c) => ({
      name: c.name,
      id: (c.containerID ?? "").replace(/^containerd:\/\//, ""),
      restarts: c.restartCount,
    })),
  };
}

export async function pods(namespace: string, selector: string): Promise<PodView[]> {
  const r = await kubectl(["get", "pods", "-n", namespace, "-l", selector, "-o", "json"]);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { items: PodObject[] }).items.map(podView);
}

/** A crash: SIGKILL to one container's process, through the node's containerd. */
export async function killContainer(plane: ControlPlane, pod: PodView, container: string): Promise<void> {
  const id = pod.containers.find((c) => c.name === container)?.id;
  assert.ok(id, `${pod.name} has no running container ${container}`);
  const r = await runCommand("ctr", ["--address", plane.node?.containerdSocket ?? "", "--namespace", "k8s.io", "tasks", "kill", "--signal", "SIGKILL", id]);
  assert.equal(r.code, 0, r.stderr);
}

export async function serviceIp(namespace: string, name: string): Promise<string> {
  return eventually(`Service ${name}'s ClusterIP`, async () => {
    const r = await kubectl(["get", "service", name, "-n", namespace, "-o", "jsonpath={.spec.clusterIP}"]);
    return r.code === 0 && r.stdout ? r.stdout : undefined;
  });
}

/** Which pod answered a request to `url` from inside the cluster (undefined: nobody did). */
export async function answeringPod(plane: ControlPlane, url: string): Promise<string | undefined> {
  const { status, body } = await clusterFetch(plane, url, 1000);
  if (status !== 200) return undefined;
  return (JSON.parse(body) as { pod?: string }).pod;
}
