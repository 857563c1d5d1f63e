/**
 * The operator's metrics as Prometheus meets them: `--metrics-secure` against the real API
 * server's TokenReview and SubjectAccessReview, and the chart's dashboard and PrometheusRule
 * checked, expression by expression, against what a real operator and agent export.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { loadAll } from "js-yaml";
import { FAST, startAgent, waitForOneLeader } from "../support/agents.ts";
import { eventually, helm, kubectl, testNamespace } from "../support/cluster.ts";
import { apply, createPod, getSecure as getTls, startOperator, waitForElection } from "../support/operator.ts";
import { queryProblems, scraped } from "../support/promql.ts";

const CHART = fileURLToPath(new URL("../../charts/elector", import.meta.url));

async function token(namespace: string, serviceAccount: string): Promise<string> {
  assert.equal((await kubectl(["create", "serviceaccount", serviceAccount, "-n", namespace])).code, 0);
  const r = await kubectl(["create", "token", serviceAccount, "-n", namespace]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

test("--metrics-secure: HTTPS; 401 without a valid token, 403 for a ServiceAccount that may not get /metrics, 200 for one that may", async (t) => {
  const namespace = await testNamespace(t);
  const operator = await startOperator(t, namespace, ["--metrics-secure"]);
  const [scraper, stranger] = [await token(namespace, "prometheus"), await token(namespace, "stranger")];
  const reader = `elector-test-metrics-reader-${namespace}`;
  await apply(namespace, {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRole",
    metadata: { name: reader },
    rules: [{ nonResourceURLs: ["/metrics"], verbs: ["get"] }],
  });
  t.after(() => kubectl(["delete", "clusterrole,clusterrolebinding", reader, "--ignore-not-found"]));
  const bound = await kubectl(["create", "clusterrolebinding", reader, `--clusterrole=${reader}`, `--serviceaccount=${namespace}:prometheus`]);
  assert.equal(bound.code, 0, bound.stderr);

  const anonymous = await eventually("the secure metrics to answer", () => getTls(operator.metricsPort, "/metrics").catch(() => undefined));
  assert.equal(anonymous.code, 401, anonymous.body);
  assert.equal(anonymous.cert.subject.CN, "elector-operator");
  assert.match(anonymous.cert.subjectaltname ?? "", /DNS:localhost/);
  assert.equal((await getTls(operator.metricsPort, "/metrics", "not-a-token")).code, 401);
  const denied = await getTls(operator.metricsPort, "/metrics", stranger);
  assert.equal(denied.code, 403, denied.body);
  assert.match(denied.body, new RegExp(`system:serviceaccount:${namespace}:stranger may not get /metrics`));
  const allowed = await eventually("the bound ServiceAccount to be let in", async () => {
    const r = await getTls(operator.metricsPort, "/metrics", scraper);
    return r.code === 200 ? r : undefined;
  });
  assert.match(allowed.body, /^controller_runtime_reconcile_total\{controller="election",result="success"\} \d+$/m);
  // Plain HTTP on the same port gets nothing.
  await assert.rejects(fetch(`http://127.0.0.1:${String(operator.metricsPort)}/metrics`));
});

test("the chart's dashboard and PrometheusRule query only series a real operator and agent export, and rate only counters", async (t) => {
  const namespace = await testNamespace(t);
  await createPod(namespace, "db-0", { app: "db" }, "10.1.0.10");
  const agent = await startAgent(t, { namespace, election: "db", id: "db-0", args: FAST });
  await waitForOneLeader([agent]);
  const operator = await startOperator(t, namespace, ["--leader-elect", `--leader-elect-namespace=${namespace}`]);
  await apply(namespace, {
    apiVersion: "elector.dev/v1alpha1",
    kind: "Election",
    metadata: { name: "db", namespace },
    spec: { candidates: { selector: { matchLabels: { app: "db" } } }, leaderLabel: {} },
  });
  await waitForElection(namespace, "db", "ready", (e) => e.status?.conditions?.find((c) => c.type === "Ready")?.status === "True");
  const operatorText = await eventually("per-Election series", async () => {
    const text = await operator.metrics();
    return text.includes("elector_election_info{") ? text : undefined;
  });
  const agentAnswer = await agent.get("/metrics");
  const agentText = typeof agentAnswer?.body === "string" ? agentAnswer.body : "";

  const rendered = await helm(["template", "rel", CHART, "-n", namespace, "--set", "prometheusRule.enabled=true", "--set", "dashboard.enabled=true"]);
  assert.equal(rendered.code, 0, rendered.stderr);
  const manifests = loadAll(rendered.stdout) as ({ kind?: string; spec?: { groups: { rules: { expr: string }[] }[] }; data?: Record<string, string> } | null)[];
  const rules = manifests.find((m) => m?.kind === "PrometheusRule")?.spec?.groups.flatMap((g) => g.rules.map((r) => r.expr)) ?? [];
  const dashboard = JSON.parse(manifests.find((m) => m?.kind === "ConfigMap")?.data?.["elector.json"] ?? "{}") as {
    panels?: { targets?: { expr: string }[] }[];
  };
  const panels = (dashboard.panels ?? []).flatMap((p) => (p.targets ?? []).map((q) => q.expr));
  assert.ok(rules.length >= 4 && panels.length >= 10, `${String(rules.length)} rules, ${String(panels.length)} panel queries`);

  const exported = scraped([operatorText, agentText]);
  assert.deepEqual(await queryProblems([...rules, ...panels], exported), []);
  // The check itself catches what it is for: a gauge under increase(), a name nothing exports, a label no series has.
  assert.deepEqual(
    (
      await queryProblems(
        ["increase(elector_election_lease_duration_seconds[5m])", "elector_operator_queue_depth", "sum by (shard) (workqueue_depth)"],
        exported,
      )
    ).length,
    3,
  );
  t.diagnostic(`${String(rules.length)} alert expressions and ${String(panels.length)} panel queries checked against ${String(exported.series.length)} series`);
});
