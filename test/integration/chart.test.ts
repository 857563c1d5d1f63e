/**
 * charts/elector against the real control plane, with helm built from its Go module: it lints, its
 * values schema refuses bad values, what it renders is accepted by the API server and passes Pod
 * Security `restricted`, it installs, and the RBAC it grants is what elector uses: the operator and
 * the agents run with the chart's ServiceAccounts and work, and are denied what they do not need.
 */
import assert from "node:assert/strict";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { load as loadYaml, loadAll } from "js-yaml";
import { KubeClient } from "../../src/kube/client.ts";
import { loadConnection } from "../../src/kube/kubeconfig.ts";
import { FAST, startAgent, waitForOneLeader } from "../support/agents.ts";
import { eventually, helm, kubectl, runCommand, scratchDir, serviceAccountKubeconfig, testNamespace } from "../support/cluster.ts";
import { syncDocBlocks } from "../support/docs.ts";
import { apply, createPod, CRD, getSecure, installCrd, labelled, sliceAddresses, startOperator, waitForElection } from "../support/operator.ts";

const CHART = fileURLToPath(new URL("../../charts/elector", import.meta.url));

interface Manifest {
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: { template?: { metadata: { labels?: Record<string, string> }; spec: { containers: { command?: string[] }[]; imagePullSecrets?: unknown[] } } };
}

/**
 * kubectl's table with `rename` applied to every cell, padded again as kubectl pads it (columns
 * three spaces apart), so that a name made shorter leaves the columns after it in line.
 */
function renameInTable(table: string, rename: (cell: string) => string): string {
  const lines = table.split("\n").filter((l) => l.trim() !== "");
  // A column's title is words one space apart; kubectl puts at least three between columns.
  const starts = [...(lines[0] ?? "").matchAll(/\S+(?: \S+)*/g)].map((m) => m.index);
  const rows = lines.map((l) => starts.map((start, i) => rename(l.slice(start, starts[i + 1]).trim())));
  const widths = starts.map((_, i) => Math.max(...rows.map((r) => r[i]?.length ?? 0)));
  return rows
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd((widths[i] ?? 0) + 3))
        .join("")
        .trimEnd(),
    )
    .join("\n");
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
    ["watchNamespaces[0]=Not_A_Namespace", /watchNamespaces/],
    ["agentClusterRole.bindings[0].namespace=shop", /serviceAccount/],
    ["workers=100", /workers/],
    ["unknownKey=1", /unknownKey/],
  ];
  for (const [set, message] of bad) {
    const r = await helm(["template", "rel", CHART, "--set", set]);
    assert.notEqual(r.code, 0, `${set} was accepted`);
    assert.match(r.stderr, message, set);
  }
});

test("cert-manager's conventions: names within 63 characters, app.kubernetes.io labels everywhere, global accepted, a PDB only with replicas > 1", async () => {
  const { manifests } = await render("default", ["dashboard.enabled=true"]);
  const names = manifests.map((m) => m.metadata.name);
  assert.ok(names.includes("rel-elector-operator"), names.join(", "));
  for (const m of manifests) {
    for (const labels of [m.metadata.labels, m.spec?.template?.metadata.labels]) {
      if (labels === undefined && m.spec?.template === undefined) continue;
      for (const key of ["name", "instance", "version", "managed-by", "part-of"])
        assert.ok(labels?.[`app.kubernetes.io/${key}`], `${m.kind} ${m.metadata.name} lacks app.kubernetes.io/${key}`);
    }
  }
  // Helm allows release names of up to 53 characters; "-elector-operator-metrics" makes 78.
  const long = "a-release-whose-name-is-as-long-as-helm-allows-abcdef";
  const rendered = await helm(["template", long, CHART]);
  assert.equal(rendered.code, 0, rendered.stderr);
  for (const m of loadAll(rendered.stdout).filter((x): x is Manifest => x !== null))
    assert.ok(m.metadata.name.length <= 63 && !m.metadata.name.endsWith("-"), `${m.kind} ${m.metadata.name} (${String(m.metadata.name.length)} characters)`);
  const overridden = await render("default", ["fullnameOverride=leaders"]);
  assert.ok(
    overridden.manifests.some((m) => m.metadata.name === "leaders-operator"),
    overridden.manifests.map((m) => m.metadata.name).join(", "),
  );

  // As a subchart: a parent's global values pass the schema, and its pull secrets apply.
  const sub = await render("default", ["global.imagePullSecrets[0].name=registry", "global.someParentSetting=true"]);
  const deployment = sub.manifests.find((m) => m.kind === "Deployment");
  assert.deepEqual(deployment?.spec?.template?.spec.imagePullSecrets, [{ name: "registry" }]);
  const check = manifests.find((m) => m.kind === "Pod");
  assert.equal(check?.metadata.annotations?.["helm.sh/hook"], "test", "the operator check is a `helm test` hook");

  assert.ok(manifests.some((m) => m.kind === "PodDisruptionBudget"));
  const single = await render("default", ["replicas=1"]);
  assert.ok(!single.manifests.some((m) => m.kind === "PodDisruptionBudget"), "a PDB at one replica blocks every drain");
});

test("every pod value of the chart (podLabels to topologySpreadConstraints) reaches the operator's pod; podLabels cannot replace the selector's", async () => {
  const selector = { "app.kubernetes.io/name": "elector", "app.kubernetes.io/instance": "rel", "app.kubernetes.io/component": "operator" };
  const values = {
    // Two of them try to replace selector labels: the chart's win, or the Deployment would lose its pods.
    podLabels: { team: "platform", "app.kubernetes.io/instance": "other", "app.kubernetes.io/component": "mine" },
    podAnnotations: { "example.com/owner": "platform" },
    priorityClassName: "system-cluster-critical",
    extraArgs: ["--id=custom"],
    resources: { requests: { cpu: "100m", memory: "200Mi" }, limits: { memory: "400Mi" } },
    nodeSelector: { "kubernetes.io/os": "linux" },
    tolerations: [{ key: "dedicated", operator: "Equal", value: "platform", effect: "NoSchedule" }],
    affinity: {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: "pool", operator: "In", values: ["ops"] }] }] },
      },
    },
    topologySpreadConstraints: [
      { maxSkew: 1, topologyKey: "topology.kubernetes.io/zone", whenUnsatisfiable: "ScheduleAnyway", labelSelector: { matchLabels: selector } },
    ],
  };
  const r = await helm(["template", "rel", CHART, ...Object.entries(values).flatMap(([key, value]) => ["--set-json", `${key}=${JSON.stringify(value)}`])]);
  assert.equal(r.code, 0, r.stderr);
  const deployment = loadAll(r.stdout).find((m) => (m as Manifest | null)?.kind === "Deployment") as {
    spec: {
      selector: { matchLabels: Record<string, string> };
      template: {
        metadata: { labels: Record<string, string>; annotations?: Record<string, string> };
        spec: Record<string, unknown> & { containers: { args: string[]; resources: unknown }[] };
      };
    };
  };
  const { metadata, spec } = deployment.spec.template;
  assert.deepEqual(deployment.spec.selector.matchLabels, selector);
  assert.deepEqual({ ...metadata.labels, ...selector }, metadata.labels, "podLabels replaced a selector label");
  assert.equal(metadata.labels.team, "platform");
  assert.deepEqual(metadata.annotations, values.podAnnotations);
  const [operator] = spec.containers;
  assert.ok(operator);
  assert.equal(operator.args.at(-1), "--id=custom", "extraArgs come after the chart's flags");
  assert.deepEqual(operator.resources, values.resources);
  for (const key of ["priorityClassName", "nodeSelector", "tolerations", "affinity", "topologySpreadConstraints"] as const)
    assert.deepEqual(spec[key], values[key], key);
});

test("the webhook's certificate: the operator's own by default; with webhook.certManager.enabled, cert-manager's, and no right to Secrets", async () => {
  const own = await render("default");
  assert.match(own.text, /resources: \[secrets\]/);
  assert.match(own.text, /resources: \[mutatingwebhookconfigurations\]/);
  assert.ok(!own.manifests.some((m) => m.kind === "Certificate"));
  const managed = await render("default", ["webhook.certManager.enabled=true"]);
  const kinds = managed.manifests.map((m) => m.kind);
  assert.ok(kinds.includes("Certificate") && kinds.includes("Issuer"), kinds.join(", "));
  const webhook = managed.manifests.find((m) => m.kind === "MutatingWebhookConfiguration");
  assert.equal(webhook?.metadata.annotations?.["cert-manager.io/inject-ca-from"], "default/rel-elector-webhook");
  assert.match(managed.text, /- --webhook-cert-path=\/webhook-certs/);
  assert.doesNotMatch(managed.text, /resources: \[secrets\]|resources: \[mutatingwebhookconfigurations\]/);
  const issued = await render("default", [
    "webhook.certManager.enabled=true",
    "webhook.certManager.issuerRef.name=corp",
    "webhook.certManager.issuerRef.kind=ClusterIssuer",
  ]);
  assert.ok(!issued.manifests.some((m) => m.kind === "Issuer"), "a chart Issuer beside the one given");
  assert.match(issued.text, /issuerRef:\n\s+kind: ClusterIssuer\n\s+name: corp/);
});

test("helm package carries the CRD as a real file, the same as the repository's crds/", async (t) => {
  const dir = await scratchDir(t);
  const packaged = await helm(["package", CHART, "-d", dir]);
  assert.equal(packaged.code, 0, packaged.stderr);
  const archive = join(dir, (await readdir(dir)).find((f) => f.endsWith(".tgz")) ?? "");
  const listing = await runCommand("tar", ["-tvzf", archive]);
  assert.match(listing.stdout, /^-\S+\s.*elector\/crds\/elections\.elector\.dev\.yaml$/m, `not a regular file in the package:\n${listing.stdout}`);
  const shown = await helm(["show", "crds", archive]);
  assert.equal(shown.stdout.replace(/^---\n/, "").trim(), (await readFile(CRD, "utf8")).trim());
});

/** docs/operations.md's command for applying a changed CRD before `helm upgrade` (NOTES.txt pipes `helm show crds` into it). */
const CRD_APPLY = "kubectl apply --server-side --force-conflicts -f";

test("the documented CRD upgrade applies a changed CRD over the one Helm installed; without --force-conflicts it is refused", async (t) => {
  await syncDocBlocks("operations.md", "sh", {
    "## Upgrading the CRD": `${CRD_APPLY} charts/elector/crds/elections.elector.dev.yaml\nhelm upgrade elector charts/elector -n elector-system`,
  });
  assert.ok((await readFile(join(CHART, "templates/NOTES.txt"), "utf8")).includes(`helm show crds NEW-CHART | ${CRD_APPLY} -\n`), "NOTES.txt says otherwise");

  // A copy of the CRD under its own group and names, installed by Helm from a chart's crds/: the Election CRD other tests use stays as it is.
  const namespace = await testNamespace(t);
  const group = `crd-upgrade-${namespace.slice(-6)}.example.com`;
  const crd = loadYaml(await readFile(CRD, "utf8")) as {
    metadata: { name: string };
    spec: { group: string; names: Record<string, string>; versions: { schema: { openAPIV3Schema: { description: string } } }[] };
  };
  crd.metadata.name = `upgrades.${group}`;
  crd.spec.group = group;
  crd.spec.names = { kind: "Upgrade", listKind: "UpgradeList", plural: "upgrades", singular: "upgrade" };
  const dir = await scratchDir(t);
  await mkdir(join(dir, "chart", "crds"), { recursive: true });
  await writeFile(join(dir, "chart", "Chart.yaml"), "apiVersion: v2\nname: upgrade\nversion: 0.1.0\n");
  await writeFile(join(dir, "chart", "crds", "crd.yaml"), JSON.stringify(crd));
  const installed = await helm(["install", "upgrade", join(dir, "chart"), "-n", namespace]);
  assert.equal(installed.code, 0, installed.stderr);
  t.after(async () => {
    await helm(["uninstall", "upgrade", "-n", namespace]);
    await kubectl(["delete", "crd", crd.metadata.name, "--ignore-not-found", "--wait=false"]);
  });

  // The next version changes a field Helm set.
  const schema = crd.spec.versions[0]?.schema.openAPIV3Schema;
  assert.ok(schema);
  schema.description = `${schema.description} Changed.`;
  const changed = join(dir, "changed.yaml");
  await writeFile(changed, JSON.stringify(crd));
  const [, ...args] = CRD_APPLY.split(" ");
  const unforced = await kubectl([...args.filter((a) => a !== "--force-conflicts"), changed]);
  assert.notEqual(unforced.code, 0, "a server-side apply without --force-conflicts took Helm's fields");
  assert.match(unforced.stderr, /conflict/i);
  const applied = await kubectl([...args, changed]);
  assert.equal(applied.code, 0, applied.stderr);
  const description = await kubectl(["get", "crd", crd.metadata.name, "-o", "jsonpath={.spec.versions[0].schema.openAPIV3Schema.description}"]);
  assert.equal(description.stdout, schema.description);
});

test("the rendered chart is accepted by the API server, and the operator's pod passes Pod Security restricted", async (t) => {
  await installCrd();
  const namespace = await testNamespace(t);
  const { text, manifests } = await render(namespace, ["dashboard.enabled=true"]);
  // A dry run creates nothing, and the helm test pod's admission looks its ServiceAccount up.
  await kubectl(["create", "serviceaccount", "rel-elector-test-operator-answers", "-n", namespace, "--save-config"]);
  const applied = await kubectl(["apply", "--dry-run=server", "-n", namespace, "-f", "-"], text);
  assert.equal(applied.code, 0, applied.stderr);
  assert.doesNotMatch(applied.stderr, /Warning/i, applied.stderr);
  const kinds = manifests.map((m) => m.kind).sort();
  for (const kind of [
    "ClusterRole",
    "ClusterRoleBinding",
    "ConfigMap",
    "Deployment",
    "PodDisruptionBudget",
    "Role",
    "Service",
    "ServiceAccount",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
  ])
    assert.ok(kinds.includes(kind), `${kind} in ${kinds.join(", ")}`);

  const deployment = manifests.find((m) => m.kind === "Deployment");
  const podSpec = deployment?.spec?.template?.spec;
  assert.ok(podSpec);
  // The image's ENTRYPOINT, whose Node flags the benchmark measured, runs the operator as it runs the agent.
  assert.equal(podSpec.containers[0]?.command, undefined, "the Deployment overrides the image's ENTRYPOINT");
  // The chart was only dry-run applied; the pod's admission looks its ServiceAccount up.
  await kubectl(["create", "serviceaccount", "rel-elector-operator", "-n", namespace]);
  const pod = { apiVersion: "v1", kind: "Pod", metadata: { name: "operator-pod", namespace }, spec: podSpec };
  const admitted = await kubectl(["create", "--dry-run=server", "-f", "-"], JSON.stringify(pod));
  assert.equal(admitted.code, 0, `the operator's pod in a restricted namespace: ${admitted.stderr}`);

  // The monitoring.coreos.com CRDs are not installed here: what matters is what the ServiceMonitor says.
  const monitored = await render(namespace, ["metrics.serviceMonitor.enabled=true", "prometheusRule.enabled=true"]);
  const monitor = monitored.manifests.find((m) => m.kind === "ServiceMonitor") as unknown as { spec: { endpoints: Record<string, unknown>[] } } | undefined;
  assert.deepEqual(monitor?.spec.endpoints[0], {
    port: "metrics",
    interval: "30s",
    honorLabels: true,
    scheme: "https",
    bearerTokenFile: "/var/run/secrets/kubernetes.io/serviceaccount/token",
    tlsConfig: { insecureSkipVerify: true },
  });
  assert.ok(monitored.manifests.some((m) => m.kind === "PrometheusRule"));
  // The dashboard's and the rule's queries are checked against real scrapes in metrics.test.ts.
});

test("installed with helm, the operator and the agents work with the chart's ServiceAccounts, and are denied the rest", async (t) => {
  await installCrd();
  const namespace = await testNamespace(t);
  const release = `el-${namespace.slice(-6)}`;
  const installed = await helm(["install", release, CHART, "-n", namespace]);
  assert.equal(installed.code, 0, installed.stderr);
  // NOTES.txt: what to do next, with this release's names.
  assert.match(installed.stdout, new RegExp(`kubectl create rolebinding elector-agent -n NAMESPACE --clusterrole=${release}-elector-agent `));
  assert.match(installed.stdout, new RegExp(`helm test ${release} -n ${namespace}`));
  t.after(async () => {
    await helm(["uninstall", release, "-n", namespace]);
  });
  const crd = loadYaml((await kubectl(["get", "crd", "elections.elector.dev", "-o", "yaml"])).stdout) as { spec: { names: { kind: string } } };
  assert.equal(crd.spec.names.kind, "Election");

  // The agents' ServiceAccount binds the chart's ClusterRole in its own namespace, as a user would.
  await kubectl(["create", "serviceaccount", "member", "-n", namespace]);
  await kubectl(["create", "rolebinding", "member-agent", "-n", namespace, `--clusterrole=${release}-elector-agent`, `--serviceaccount=${namespace}:member`]);
  const dir = await scratchDir(t);
  const [operatorConfig, agentConfig] = await Promise.all([
    serviceAccountKubeconfig(namespace, `${release}-elector-operator`, dir),
    serviceAccountKubeconfig(namespace, "member", dir),
  ]);

  await apply(namespace, { apiVersion: "v1", kind: "Service", metadata: { name: "db" }, spec: { ports: [{ name: "sql", port: 5432, targetPort: "pg" }] } });
  const ips = new Map([
    ["db-0", "10.1.0.10"],
    ["db-1", "10.1.0.11"],
  ]);
  for (const [name, ip] of ips) await createPod(namespace, name, { app: "db" }, ip);
  const agents = await Promise.all([...ips.keys()].map((id) => startAgent(t, { namespace, election: "db", id, args: FAST, kubeconfig: agentConfig })));
  const operator = await startOperator(t, namespace, ["--leader-elect", `--leader-elect-namespace=${namespace}`, "--metrics-secure", ...FAST], operatorConfig);
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

  // The label moved twice under the admission policy. Anything else the operator's identity tries on a pod is refused.
  const asOperator = new KubeClient(loadConnection(operatorConfig));
  /** A strategic merge patch sent as the operator's ServiceAccount; "" when accepted, else the API server's message. */
  const patchPod = (patch: object): Promise<string> =>
    asOperator
      .request("PATCH", `/api/v1/namespaces/${namespace}/pods/${first.id}`, {
        body: patch,
        contentType: "application/strategic-merge-patch+json",
        timeoutMs: 10_000,
      })
      .then(
        () => "",
        (err: unknown) => (err instanceof Error ? err.message : String(err)),
      );
  assert.match(
    await patchPod({ spec: { containers: [{ name: "app", image: "registry.example/other:1" }] } }),
    /ValidatingAdmissionPolicy '\S+-operator-pod-writes' .* denied request: the elector operator may change only a pod's leader label, not its spec/,
  );
  assert.match(await patchPod({ metadata: { labels: { team: "other" } } }), /the elector operator may change only the leader label keys leader of a pod/);
  assert.match(await patchPod({ metadata: { annotations: { "example.com/x": "y" } } }), /not its annotations, finalizers or owners/);
  assert.equal(await patchPod({ metadata: { labels: { leader: "true" } } }), "", "the leader label itself passes");
  assert.equal(await patchPod({ metadata: { labels: { leader: null } } }), "");
  assert.equal((await kubectl(["label", "pod", first.id, "-n", namespace, "team=other"])).code, 0, "the policy concerns the operator only");

  // --metrics-secure with the chart's ClusterRoles: the operator may review tokens, and a scraper bound to metrics-reader may read.
  await kubectl(["create", "serviceaccount", "prometheus", "-n", namespace]);
  const reader = `${release}-elector-metrics-reader`;
  await kubectl(["create", "clusterrolebinding", `${namespace}-prometheus`, `--clusterrole=${reader}`, `--serviceaccount=${namespace}:prometheus`]);
  t.after(() => kubectl(["delete", "clusterrolebinding", `${namespace}-prometheus`, "--ignore-not-found"]));
  const scraper = (await kubectl(["create", "token", "prometheus", "-n", namespace])).stdout.trim();
  const scraped = await eventually("the scraper let in", async () => {
    const r = await getSecure(operator.metricsPort, "/metrics", scraper);
    return r.code === 200 ? r.body : undefined;
  });
  assert.match(scraped, /^leader_election_master_status\{name="elector-operator"\} 1$/m);
  const member = (await kubectl(["create", "token", "member", "-n", namespace])).stdout.trim();
  assert.equal((await getSecure(operator.metricsPort, "/metrics", member)).code, 403, "an agent's ServiceAccount may not read the operator's metrics");
  const refused = [...operator.process.logs, ...agents.flatMap((a) => a.logs)].filter((l) => /\b403\b|forbidden/i.test(JSON.stringify(l)));
  assert.deepEqual(refused, [], "nothing elector did was refused");

  const can = async (who: string, verb: string, resource: string, where: string): Promise<boolean> =>
    (await kubectl(["auth", "can-i", verb, resource, "-n", where, `--as=system:serviceaccount:${namespace}:${who}`])).stdout.trim() === "yes";
  const checks: [who: string, verb: string, resource: string, where: string, allowed: boolean][] = [
    [`${release}-elector-operator`, "get", "secrets", "default", false],
    [`${release}-elector-operator`, "create", "pods", "default", false],
    [`${release}-elector-operator`, "delete", "pods", "default", false],
    [`${release}-elector-operator`, "patch", "pods", "default", true],
    [`${release}-elector-operator`, "update", "elections.elector.dev", "default", false],
    [`${release}-elector-operator`, "delete", "elections.elector.dev", "default", false],
    [`${release}-elector-operator`, "patch", "services", "default", false],
    [`${release}-elector-operator`, "update", "leases", "default", false],
    [`${release}-elector-operator`, "delete", "leases", "default", false],
    [`${release}-elector-operator`, "create", "tokenreviews.authentication.k8s.io", "default", true],
    [`${release}-elector-operator`, "create", "subjectaccessreviews.authorization.k8s.io", "default", true],
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

  // docs/operations.md shows what the cluster answers for each ServiceAccount, as if installed as release "elector" in elector-system.
  const canList = async (who: string): Promise<string> => {
    const r = await kubectl(["auth", "can-i", "--list", "-n", namespace, `--as=system:serviceaccount:${namespace}:${who}`]);
    assert.equal(r.code, 0, r.stderr);
    return renameInTable(r.stdout, (cell) => cell.replaceAll(`${release}-elector-`, "elector-").replaceAll(namespace, "elector-system"));
  };
  await syncDocBlocks("operations.md", "text", {
    "#### the operator (`elector-operator`)": await canList(`${release}-elector-operator`),
    "#### a member pod's ServiceAccount bound to `elector-agent`": await canList("member"),
    "#### a scraper bound to `elector-metrics-reader`": await canList("prometheus"),
  });
});

test("limited to a list of namespaces: Roles only there, the operator watches only those, and the chart binds the agents' ServiceAccount", async (t) => {
  await installCrd();
  const [home, watched, other] = [await testNamespace(t), await testNamespace(t), await testNamespace(t)];
  const release = `ns-${home.slice(-6)}`;
  await kubectl(["create", "serviceaccount", "member", "-n", watched]);
  const installed = await helm([
    "install",
    release,
    CHART,
    "-n",
    home,
    "--set",
    `watchNamespaces={${watched}}`,
    "--set",
    `agentClusterRole.bindings[0].namespace=${watched}`,
    "--set",
    "agentClusterRole.bindings[0].serviceAccount=member",
  ]);
  assert.equal(installed.code, 0, installed.stderr);
  t.after(() => helm(["uninstall", release, "-n", home]));
  assert.match(installed.stdout, new RegExp(`watches Elections in ${watched}\\.`));

  const operatorAccount = `system:serviceaccount:${home}:${release}-elector-operator`;
  const can = async (verb: string, resource: string, where: string[]): Promise<string> =>
    (await kubectl(["auth", "can-i", verb, resource, ...where, `--as=${operatorAccount}`])).stdout.trim();
  assert.equal(await can("patch", "pods", ["-n", watched]), "yes");
  assert.equal(await can("patch", "pods", ["-n", other]), "no");
  assert.equal(await can("list", "elections.elector.dev", ["--all-namespaces"]), "no", "no ClusterRole for the controller");

  // The operator as the Deployment runs it: its --namespace is the list.
  const manifest = await helm(["get", "manifest", release, "-n", home]);
  const deployment = loadAll(manifest.stdout).find((m) => (m as Manifest | null)?.kind === "Deployment") as {
    spec: { template: { spec: { containers: { args: string[] }[] } } };
  };
  const namespaceArg = deployment.spec.template.spec.containers[0]?.args.find((a) => a.startsWith("--namespace="));
  assert.equal(namespaceArg, `--namespace=${watched}`);
  const dir = await scratchDir(t);
  const [operatorConfig, agentConfig] = await Promise.all([
    serviceAccountKubeconfig(home, `${release}-elector-operator`, dir),
    serviceAccountKubeconfig(watched, "member", dir),
  ]);
  const operator = await startOperator(t, watched, [namespaceArg], operatorConfig);
  for (const ns of [watched, other]) {
    await createPod(ns, "db-0", { app: "db" }, "10.1.0.10");
    await apply(ns, {
      apiVersion: "elector.dev/v1alpha1",
      kind: "Election",
      metadata: { name: "db" },
      spec: { candidates: { selector: { matchLabels: { app: "db" } } }, leaderLabel: {} },
    });
  }
  // The chart's RoleBinding is all the agent has.
  const agent = await startAgent(t, { namespace: watched, election: "db", id: "db-0", args: FAST, kubeconfig: agentConfig });
  await waitForOneLeader([agent]);
  await waitForElection(watched, "db", "Ready", (e) => e.status?.conditions?.find((c) => c.type === "Ready")?.status === "True");
  await eventually("the leader labelled", async () => ((await labelled(watched, "leader", "true")).join() === "db-0" ? true : undefined));
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const unwatched = await kubectl(["get", "election", "db", "-n", other, "-o", "jsonpath={.status}"]);
  assert.equal(unwatched.stdout, "", "an Election outside the list is not the operator's");
  const refused = operator.process.logs.filter((l) => /\b403\b|forbidden/i.test(JSON.stringify(l)));
  assert.deepEqual(refused, [], "the operator asked for nothing outside its namespaces");
});
