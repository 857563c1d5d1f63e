/**
 * charts/elector against the real control plane, with helm built from its Go module: it lints, its
 * values schema refuses bad values, what it renders is accepted by the API server and passes Pod
 * Security `restricted`, it installs, and the RBAC it grants is what elector uses: the operator and
 * the agents run with the chart's ServiceAccounts and work, and are denied what they do not need.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { load as loadYaml, loadAll } from "js-yaml";
import { FAST, startAgent, waitForOneLeader } from "../support/agents.ts";
import { eventually, helm, kubectl, scratchDir, serviceAccountKubeconfig, testNamespace } from "../support/cluster.ts";
import { apply, createPod, installCrd, labelled, sliceAddresses, startOperator, waitForElection } from "../support/operator.ts";

const CHART = fileURLToPath(new URL("../../charts/elector", import.meta.url));

interface Manifest {
  kind: string;
  metadata: { name: string };
  spec?: { template?: { spec: { containers: { command?: string[] }[] } } };
}

async function render(namespace: string, set: string[] = []): Promise<{ text: string; manifests: Manifest[] }> {
  const r = await helm(["template", "rel", CHART, "-n", namespace, ...set.flatMap((s) => ["--set", s])]);
  assert.equal(r.code, 0, r.stderr);
  return { text: r.stdout, manifests: loadAll(r.stdout).filter((m): m is Manifest => m !== null) };
}

test("helm lint passes, and values.schema.json refuses bad values, naming them", async () => {
  const lint = await helm(["lint", "--strict", CHART]);
  assert.equal(lint.code, 0, lint.stdout + lint.stderr);
  const bad: [string, RegExp][] = [
    ["replicas=0", /replicas/],
    ["logLevel=loud", /logLevel/],
    ["leaderElection.leaseDuration=fifteen", /leaseDuration/],
    ["watchNamespace=Not_A_Namespace", /watchNamespace/],
    ["workers=100", /workers/],
    ["unknownKey=1", /unknownKey/],
  ];
  for (const [set, message] of bad) {
    const r = await helm(["template", "rel", CHART, "--set", set]);
    assert.notEqual(r.code, 0, `${set} was accepted`);
    assert.match(r.stderr, message, set);
  }
});

test("the rendered chart is accepted by the API server, and the operator's pod passes Pod Security restricted", async (t) => {
  await installCrd();
  const namespace = await testNamespace(t);
  const { text, manifests } = await render(namespace, ["dashboard.enabled=true"]);
  const applied = await kubectl(["apply", "--dry-run=server", "-n", namespace, "-f", "-"], text);
  assert.equal(applied.code, 0, applied.stderr);
  assert.doesNotMatch(applied.stderr, /Warning/i, applied.stderr);
  const kinds = manifests.map((m) => m.kind).sort();
  for (const kind of ["ClusterRole", "ConfigMap", "Deployment", "PodDisruptionBudget", "Role", "Service", "ServiceAccount"])
    assert.ok(kinds.includes(kind), `${kind} in ${kinds.join(", ")}`);

  const deployment = manifests.find((m) => m.kind === "Deployment");
  const podSpec = deployment?.spec?.template?.spec;
  assert.ok(podSpec);
  // The image's ENTRYPOINT, whose Node flags the benchmark measured, runs the operator as it runs the agent.
  assert.equal(podSpec.containers[0]?.command, undefined, "the Deployment overrides the image's ENTRYPOINT");
  // The chart was only dry-run applied; the pod's admission looks its ServiceAccount up.
  await kubectl(["create", "serviceaccount", "rel-operator", "-n", namespace]);
  const pod = { apiVersion: "v1", kind: "Pod", metadata: { name: "operator-pod", namespace }, spec: podSpec };
  const admitted = await kubectl(["create", "--dry-run=server", "-f", "-"], JSON.stringify(pod));
  assert.equal(admitted.code, 0, `the operator's pod in a restricted namespace: ${admitted.stderr}`);

  const monitored = await render(namespace, ["metrics.serviceMonitor.enabled=true"]);
  assert.ok(
    monitored.manifests.some((m) => m.kind === "ServiceMonitor"),
    "a ServiceMonitor when asked for",
  );
  const dashboard = manifests.find((m) => m.kind === "ConfigMap") as unknown as { data: Record<string, string> };
  const panels = (JSON.parse(dashboard.data["elector.json"] ?? "{}") as { panels?: { targets: { expr: string }[] }[] }).panels ?? [];
  assert.ok(
    panels.length > 0 && panels.every((p) => p.targets.every((q) => /elector_|leader_election_|process_/.test(q.expr))),
    "dashboard panels query elector's metrics",
  );
});

test("installed with helm, the operator and the agents work with the chart's ServiceAccounts, and are denied the rest", async (t) => {
  await installCrd();
  const namespace = await testNamespace(t);
  const release = `el-${namespace.slice(-6)}`;
  const installed = await helm(["install", release, CHART, "-n", namespace]);
  assert.equal(installed.code, 0, installed.stderr);
  t.after(async () => {
    await helm(["uninstall", release, "-n", namespace]);
  });
  const crd = loadYaml((await kubectl(["get", "crd", "elections.elector.dev", "-o", "yaml"])).stdout) as { spec: { names: { kind: string } } };
  assert.equal(crd.spec.names.kind, "Election");

  // The agents' ServiceAccount binds the chart's ClusterRole in its own namespace, as a user would.
  await kubectl(["create", "serviceaccount", "member", "-n", namespace]);
  await kubectl(["create", "rolebinding", "member-agent", "-n", namespace, `--clusterrole=${release}-agent`, `--serviceaccount=${namespace}:member`]);
  const dir = await scratchDir(t);
  const [operatorConfig, agentConfig] = await Promise.all([
    serviceAccountKubeconfig(namespace, `${release}-operator`, dir),
    serviceAccountKubeconfig(namespace, "member", dir),
  ]);

  await apply(namespace, { apiVersion: "v1", kind: "Service", metadata: { name: "db" }, spec: { ports: [{ name: "sql", port: 5432, targetPort: "pg" }] } });
  const ips = new Map([
    ["db-0", "10.1.0.10"],
    ["db-1", "10.1.0.11"],
  ]);
  for (const [name, ip] of ips) await createPod(namespace, name, { app: "db" }, ip);
  const agents = await Promise.all([...ips.keys()].map((id) => startAgent(t, { namespace, election: "db", id, args: FAST, kubeconfig: agentConfig })));
  const operator = await startOperator(t, namespace, ["--leader-elect", `--leader-elect-namespace=${namespace}`, ...FAST], operatorConfig);
  await apply(namespace, {
    apiVersion: "elector.dev/v1alpha1",
    kind: "Election",
    metadata: { name: "db" },
    spec: { candidates: { selector: { matchLabels: { app: "db" } } }, leaderLabel: {}, service: { name: "db" } },
  });

  const first = await waitForOneLeader(agents);
  await waitForElection(
    namespace,
    "db",
    `Ready with ${first.id}`,
    (e) => e.status?.leader === first.id && e.status.conditions?.find((c) => c.type === "Ready")?.status === "True",
  );
  first.kill("SIGTERM");
  const second = await waitForOneLeader(agents.filter((a) => a !== first));
  await waitForElection(namespace, "db", `${second.id} after the handover`, (e) => e.status?.leader === second.id);
  await eventually("the label and the slice on the new leader", async () =>
    (await labelled(namespace, "leader", "true")).join() === second.id && (await sliceAddresses(namespace, "db")).join() === ips.get(second.id)
      ? true
      : undefined,
  );
  const events = await kubectl(["get", "events.events.k8s.io", "-n", namespace, "-o", "jsonpath={.items[*].reason}"]);
  assert.match(events.stdout, /LeaderChanged/, "Events are allowed");
  const refused = [...operator.process.logs, ...agents.flatMap((a) => a.logs)].filter((l) => /\b403\b|forbidden/i.test(JSON.stringify(l)));
  assert.deepEqual(refused, [], "nothing elector did was refused");

  const can = async (who: string, verb: string, resource: string, where: string): Promise<boolean> =>
    (await kubectl(["auth", "can-i", verb, resource, "-n", where, `--as=system:serviceaccount:${namespace}:${who}`])).stdout.trim() === "yes";
  const checks: [who: string, verb: string, resource: string, where: string, allowed: boolean][] = [
    [`${release}-operator`, "get", "secrets", "default", false],
    [`${release}-operator`, "create", "pods", "default", false],
    [`${release}-operator`, "delete", "pods", "default", false],
    [`${release}-operator`, "patch", "pods", "default", true],
    [`${release}-operator`, "update", "elections.elector.dev", "default", false],
    [`${release}-operator`, "delete", "elections.elector.dev", "default", false],
    [`${release}-operator`, "patch", "services", "default", false],
    [`${release}-operator`, "update", "leases", "default", false],
    [`${release}-operator`, "delete", "leases", "default", false],
    ["member", "get", "leases", namespace, true],
    ["member", "watch", "leases", namespace, true],
    ["member", "create", "leases", namespace, true],
    ["member", "update", "leases", namespace, true],
    ["member", "list", "leases", namespace, false],
    ["member", "delete", "leases", namespace, false],
    ["member", "get", "leases", "default", false],
    ["member", "get", "secrets", namespace, false],
    ["member", "patch", "pods", namespace, false],
  ];
  for (const [who, verb, resource, where, allowed] of checks) {
    assert.equal(await can(who, verb, resource, where), allowed, `${who} ${allowed ? "may" : "must not"} ${verb} ${resource} in ${where}`);
  }
});
