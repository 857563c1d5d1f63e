/**
 * On the real node, the examples not covered by sidecar.test.ts, each doing what its comments say:
 * examples/wrapper.yaml starts its command on the leading pod only, with the fencing token and
 * identity in its environment, and on another pod once the leader is deleted;
 * examples/wrapper-any-image.yaml does the same in an image without Node, by the single executable,
 * never on two pods at once across deletions and crashes, as the node's own log files show; examples/handover.yaml
 * moves leadership to the pod it names, the routed Service follows, and a GitOps tool re-applying
 * the manifest all the while never has anything to put back; and every example's workload survives
 * `kubectl rollout restart` with a leader at the end (examples/native-sidecar.yaml included).
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { clusterFetch, type ControlPlane } from "../cluster/controlplane.ts";
import { DEBIAN_IMAGE, withImage } from "../cluster/images.ts";
import { eventually, kubectl, testNamespace } from "../support/cluster.ts";
import { getElection } from "../support/operator.ts";
import {
  answeringPod,
  applyObjects,
  asDatabase,
  example,
  exampleImages,
  killContainer,
  lease,
  nodeCluster,
  onTheNode,
  pods,
  rolledOut,
  serviceIp,
  sidecarDeployment,
} from "../support/node.ts";

test("examples/wrapper.yaml: the command runs on the leading pod only, with its fencing token, and moves when that pod is deleted", async (t) => {
  const plane = await nodeCluster(t);
  if (!plane) return;
  await exampleImages(plane);
  const namespace = await testNamespace(t);
  await applyObjects(namespace, [...(await example("rbac.yaml")), ...(await example("wrapper.yaml"))]);
  await rolledOut(namespace, "statefulset/singleton");

  /** Which pods' commands answer, and what they say. */
  const running = async (): Promise<{ pod: string; token: number; identity: string }[]> => {
    const answers = [];
    for (const p of await pods(namespace, "app=singleton")) {
      const a = await answeringPodWorker(p.ip);
      if (a) answers.push(a);
    }
    return answers;
  };
  const answeringPodWorker = async (ip: string): Promise<{ pod: string; token: number; identity: string } | undefined> => {
    if (!ip) return undefined;
    const r = await clusterFetch(plane, `http://${ip}:8080/`, 500);
    return r.status === 200 ? (JSON.parse(r.body) as { pod: string; token: number; identity: string }) : undefined;
  };

  let last = -1;
  for (let round = 0; round < 2; round++) {
    const [worker, ...others] = await eventually(
      "one pod's command to answer",
      async () => {
        const r = await running();
        return r.length === 1 ? r : undefined;
      },
      60_000,
    );
    assert.ok(worker);
    assert.deepEqual(others, []);
    const held = await lease(namespace, "singleton");
    assert.equal(worker.pod, held?.holderIdentity, "the command runs on a pod that does not hold the Lease");
    assert.equal(worker.identity, worker.pod);
    assert.equal(worker.token, held?.leaseTransitions, "ELECTOR_FENCING_TOKEN is not the Lease's transitions");
    assert.ok(worker.token > last, `the fencing token went from ${String(last)} to ${String(worker.token)}`);
    last = worker.token;
    t.diagnostic(`round ${String(round)}: ${worker.pod} runs the command with token ${String(worker.token)}`);
    const del = await kubectl(["delete", "pod", worker.pod, "-n", namespace, "--wait=false"]);
    assert.equal(del.code, 0, del.stderr);
    await eventually(
      `${worker.pod}'s command to stop`,
      async () => ((await running()).some((w) => w.pod === worker.pod && w.token === worker.token) ? undefined : true),
      60_000,
    );
  }
});

/** A run of a wrapped command: one pod, one fencing token, its first and last line in the node's log files. */
interface CommandRun {
  pod: string;
  token: number;
  start: number;
  end: number;
}

/**
 * What the node itself recorded of container `container` in `namespace`: the kubelet's log files,
 * one per container run with a timestamp on every line, read every 200 ms and kept here, as a
 * deleted pod's files go with it. An observer that does not take elector's word for anything.
 */
function nodeLogs(t: TestContext, plane: ControlPlane, namespace: string, container: string): { lines: () => { at: number; text: string }[] } {
  const root = join(plane.dir, "node", "var-log", "pods");
  const files = new Map<string, string>();
  const done = new AbortController();
  void (async () => {
    while (!done.signal.aborted) {
      for (const pod of (await readdir(root).catch(() => [])).filter((d) => d.startsWith(`${namespace}_`))) {
        const dir = join(root, pod, container);
        for (const f of await readdir(dir).catch(() => [])) {
          const text = await readFile(join(dir, f), "utf8").catch(() => undefined);
          if (text !== undefined) files.set(join(dir, f), text);
        }
      }
      await sleep(200);
    }
  })();
  t.after(() => {
    done.abort();
  });
  const lines = (): { at: number; text: string }[] =>
    [...files.values()].flatMap((text) =>
      text
        .split("\n")
        .filter(Boolean)
        .map((line) => {
          const [time = "", , , ...rest] = line.split(" ");
          return { at: Date.parse(time), text: rest.join(" ") };
        }),
    );
  return { lines };
}

/** The command's runs in the log lines of examples/wrapper-any-image.yaml's job, in order of their start. */
function commandRuns(lines: { at: number; text: string }[]): CommandRun[] {
  const runs = new Map<string, CommandRun>();
  for (const { at, text } of lines.sort((a, b) => a.at - b.at)) {
    const working = /^working as (\S+) with fencing token (\d+)$/.exec(text);
    if (working) {
      const [, pod = "", token = ""] = working;
      const run = runs.get(`${pod}#${token}`) ?? { pod, token: Number(token), start: at, end: at };
      run.end = at;
      runs.set(`${pod}#${token}`, run);
    }
  }
  return [...runs.values()].sort((a, b) => a.start - b.start);
}

test("examples/wrapper-any-image.yaml: in an image without Node the single executable gates the command, never on two pods at once", async (t) => {
  const plane = await nodeCluster(t);
  if (!plane) return;
  await exampleImages(plane);
  await withImage(DEBIAN_IMAGE, (root) => {
    for (const node of ["usr/bin/node", "usr/local/bin/node", "nodejs"]) assert.ok(!existsSync(join(root, node)), `the app image has ${node}`);
    return Promise.resolve();
  });
  const namespace = await testNamespace(t);
  const logs = nodeLogs(t, plane, namespace, "job");
  await applyObjects(namespace, [...(await example("rbac.yaml")), ...(await example("wrapper-any-image.yaml"))]);
  await rolledOut(namespace, "statefulset/cleanup");

  /** The pod whose command is working now (a line in the last 2.5 s), once the Lease names it. */
  const worker = (): Promise<CommandRun> =>
    eventually(
      "one pod's command working, on the Lease's holder",
      async () => {
        const recent = commandRuns(logs.lines()).filter((r) => r.end > Date.now() - 2500);
        const [run, ...more] = recent;
        if (!run || more.length > 0) return undefined;
        return (await lease(namespace, "cleanup"))?.holderIdentity === run.pod ? run : undefined;
      },
      60_000,
    );
  for (const fault of ["delete", "crash", "delete", "crash"] as const) {
    const run = await worker();
    t.diagnostic(`${run.pod} works with fencing token ${String(run.token)}; ${fault}`);
    if (fault === "delete") {
      const del = await kubectl(["delete", "pod", run.pod, "-n", namespace, "--wait=false"]);
      assert.equal(del.code, 0, del.stderr);
      // The kubelet's SIGTERM reaches the agent, which forwards it: the command says so in its own words.
      await eventually(
        `${run.pod}'s command to get SIGTERM`,
        () => Promise.resolve(logs.lines().some((l) => l.at > run.end - 1500 && l.text === "stopping, as asked") ? true : undefined),
        30_000,
      );
    } else {
      const [pod] = (await pods(namespace, "app=cleanup")).filter((p) => p.name === run.pod);
      assert.ok(pod, `${run.pod} is gone`);
      await killContainer(plane, pod, "job");
    }
    await eventually("the next term", () => Promise.resolve(commandRuns(logs.lines()).some((r) => r.token > run.token) ? true : undefined), 60_000);
  }
  const last = await worker();
  assert.equal(last.token, (await lease(namespace, "cleanup"))?.leaseTransitions, "ELECTOR_FENCING_TOKEN is not the Lease's leaseTransitions");

  const runs = commandRuns(logs.lines());
  t.diagnostic(`runs: ${runs.map((r) => `${r.pod}#${String(r.token)} ${new Date(r.start).toISOString()}–${new Date(r.end).toISOString()}`).join(", ")}`);
  assert.ok(runs.length >= 5, `a run per term expected, got ${String(runs.length)}`);
  for (const [i, next] of runs.entries()) {
    const prev = runs[i - 1];
    if (!prev) continue;
    assert.ok(next.start > prev.end, `${next.pod}#${String(next.token)} started before ${prev.pod}#${String(prev.token)} stopped`);
    assert.ok(next.token > prev.token, `the fencing token went from ${String(prev.token)} to ${String(next.token)}`);
  }
});

test("examples/handover.yaml: leadership moves to the pod it names, the Service follows, a GitOps loop beside it fights over nothing", async (t) => {
  const stage = await onTheNode(t);
  if (!stage) return;
  const { plane, namespace } = stage;
  const deployment = await sidecarDeployment();
  const [service, routing] = await example("service-routing.yaml");
  await applyObjects(namespace, [...(await example("rbac.yaml")), asDatabase(deployment, "StatefulSet"), service, routing]);
  await rolledOut(namespace, "statefulset/db");
  const url = `http://${await serviceIp(namespace, "db-primary")}:5432/`;
  const first = await eventually(
    "a leader the Service routes to",
    async () => {
      const holder = (await lease(namespace, "db"))?.holderIdentity;
      return holder && (await answeringPod(plane, url)) === holder ? holder : undefined;
    },
    60_000,
  );

  // The example names db-1; if db-1 already leads, hand over to db-0 instead, so leadership moves.
  const [handover] = await example("handover.yaml");
  const to = first === "db-1" ? "db-0" : "db-1";
  const spec = (handover as { spec: { preferredHolder: string } }).spec;
  spec.preferredHolder = to;
  const gitops = selfHealing(namespace, handover);
  let seen = "";
  await eventually(
    `${to} to lead and the Service to reach it`,
    async () => {
      const holder = (await lease(namespace, "db"))?.holderIdentity;
      const answered = await answeringPod(plane, url);
      const conditions = (await getElection(namespace, "db"))?.status?.conditions?.map((c) => c.message);
      seen = `the Lease names ${holder ?? "nobody"}, ${answered ?? "nobody"} answers, the Election says ${JSON.stringify(conditions)}`;
      return holder === to && answered === to ? true : undefined;
    },
    60_000,
  ).catch((err: unknown) => {
    throw new Error(`${String(err)}; ${seen}`);
  });
  // A few more rounds of the loop after the handover: the operator has written status meanwhile.
  await new Promise((resolve) => setTimeout(resolve, 5000));
  const applies = await gitops.stop();
  assert.ok(applies.length >= 5, `${String(applies.length)} applies`);
  const [firstApply] = applies;
  for (const [i, a] of applies.entries()) {
    assert.equal(a.generation, firstApply?.generation, `apply ${String(i)} found spec changed: someone else wrote it`);
    assert.deepEqual(a.mine, firstApply?.mine, `apply ${String(i)}: the GitOps manager's fields or their time changed, so it wrote again`);
    assert.deepEqual(a.specOwners, ["gitops"], `apply ${String(i)}: spec.preferredHolder is owned by ${a.specOwners.join(", ")}`);
  }
  t.diagnostic(`${String(applies.length)} server-side applies, every one a no-op after the first (generation ${String(firstApply?.generation)})`);
  const e = await getElection(namespace, "db");
  assert.equal(e?.status?.leader, to);
  assert.equal((await pods(namespace, "app=db")).length, 3);
  t.diagnostic(`handed over from ${first} to ${to}`);
});

interface Applied {
  generation: number;
  /** The GitOps manager's managedFields entry: the fields it owns and when it last changed them. */
  mine: unknown;
  /** The managers that own spec.preferredHolder. */
  specOwners: string[];
}

/**
 * Argo CD or Flux with self-heal, reduced to what matters here: server-side apply of the user's
 * manifest every second under one field manager, never forcing a conflict.
 */
function selfHealing(namespace: string, manifest: unknown): { stop(): Promise<Applied[]> } {
  const applies: Applied[] = [];
  const state = { running: true };
  const loop = (async () => {
    while (state.running) {
      const r = await kubectl(
        ["apply", "--server-side", "--field-manager=gitops", "--show-managed-fields", "-n", namespace, "-o", "json", "-f", "-"],
        JSON.stringify(manifest),
      );
      assert.equal(r.code, 0, `the GitOps apply failed: ${r.stderr}`);
      const object = JSON.parse(r.stdout) as {
        metadata: {
          generation: number;
          managedFields: { manager: string; operation: string; time: string; fieldsV1?: { "f:spec"?: Record<string, unknown> } }[];
        };
      };
      const fields = object.metadata.managedFields;
      applies.push({
        generation: object.metadata.generation,
        mine: fields.find((f) => f.manager === "gitops"),
        specOwners: fields.filter((f) => f.fieldsV1?.["f:spec"]?.["f:preferredHolder"] !== undefined).map((f) => f.manager),
      });
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  })();
  return {
    async stop() {
      state.running = false;
      await loop;
      return applies;
    },
  };
}

test("every example's workload survives kubectl rollout restart: the rollout finishes and a leader exists at the end", async (t) => {
  const stage = await onTheNode(t);
  if (!stage) return;
  const { namespace } = stage;
  const deployment = await sidecarDeployment();
  const [service, serviceRouting] = await example("service-routing.yaml");
  await applyObjects(namespace, [
    ...(await example("rbac.yaml")),
    deployment,
    ...(await example("label-routing.yaml")),
    ...(await example("native-sidecar.yaml")),
    ...(await example("wrapper.yaml")),
    ...(await example("wrapper-any-image.yaml")),
    asDatabase(deployment, "StatefulSet"),
    service,
    serviceRouting,
  ]);
  const workloads: { workload: string; selector: string; lease: string; election?: string }[] = [
    { workload: "deployment/scheduler", selector: "app=scheduler", lease: "scheduler", election: "scheduler" },
    { workload: "deployment/reports", selector: "app=reports", lease: "reports" },
    { workload: "statefulset/singleton", selector: "app=singleton", lease: "singleton" },
    { workload: "statefulset/db", selector: "app=db", lease: "db", election: "db" },
    { workload: "statefulset/cleanup", selector: "app=cleanup", lease: "cleanup" },
  ];
  for (const w of workloads) await rolledOut(namespace, w.workload, "180s");
  for (const w of workloads) {
    const before = (await lease(namespace, w.lease))?.leaseTransitions ?? 0;
    const restarted = await kubectl(["rollout", "restart", "-n", namespace, w.workload]);
    assert.equal(restarted.code, 0, restarted.stderr);
    await rolledOut(namespace, w.workload, "180s");
    const holder = await eventually(
      `a leader of ${w.lease} among the restarted pods`,
      async () => {
        const current = await pods(namespace, w.selector);
        const held = await lease(namespace, w.lease);
        const pod = current.find((p) => p.name === held?.holderIdentity);
        return pod?.ready && !pod.deleting && (held?.leaseTransitions ?? 0) > before ? pod.name : undefined;
      },
      60_000,
    );
    if (w.election) {
      const election = w.election;
      await eventually(`Election ${election} Ready with ${holder}`, async () => {
        const e = await getElection(namespace, election);
        return e?.status?.leader === holder && e.status.conditions?.find((c) => c.type === "Ready")?.status === "True" ? true : undefined;
      });
    }
    t.diagnostic(`${w.workload}: rolled out again, ${holder} leads (${w.lease} transitions ${String(before)} → more)`);
  }
});
