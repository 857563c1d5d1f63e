/**
 * The configuration reference in docs/ against the code it describes, so that neither can change
 * without the other: the agent's and the operator's flags and metrics, and the Election
 * fields of the CRD.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { load as loadYaml } from "js-yaml";
import { AGENT_FLAGS } from "../../src/agent/config.ts";
import { agentMetrics } from "../../src/agent/metrics.ts";
import { systemClock } from "../../src/election/clock.ts";
import { startRuntimeMetrics } from "../../src/metrics/exposition.ts";
import { OPERATOR_FLAGS } from "../../src/operator/config.ts";
import { INJECTION_ANNOTATIONS } from "../../src/operator/injection.ts";
import { OperatorMetrics } from "../../src/operator/metrics.ts";
import { WorkQueue } from "../../src/operator/queue.ts";

const METRIC = /^[a-z][a-z0-9_]*\*?(\{[a-z,]*\})?$/;
const NO_REQUESTS = { host: "127.0.0.1:6443", requests: new Map<string, number>() };
const families = (text: string): string[] => [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1] ?? "").sort();

const doc = (name: string): string => readFileSync(new URL(`../../docs/${name}`, import.meta.url), "utf8");

/** The backticked names in the first column of the first table after `heading`, with a given prefix. */
function documented(markdown: string, heading: string, pattern: RegExp): string[] {
  const from = markdown.indexOf(`\n${heading}\n`);
  assert.ok(from >= 0, `no heading "${heading}"`);
  const lines = markdown.slice(from).split("\n");
  const start = lines.findIndex((l) => l.startsWith("|"));
  const rows = lines.slice(start + 2);
  const table = rows.slice(
    0,
    rows.findIndex((l) => !l.startsWith("|")),
  );
  return table.flatMap((row) => [...(row.split("|")[1] ?? "").matchAll(/`([^`]+)`/g)].map((m) => m[1] ?? "")).filter((n) => pattern.test(n));
}

const flagNames = (specs: { name: string }[]): string[] =>
  specs
    .map((f) => f.name)
    .filter((n) => n !== "help" && n !== "h")
    .sort();
const stripDashes = (names: string[]): string[] => names.map((n) => n.replace(/^-+/, "")).sort();

test("docs/agent.md lists exactly the agent's flags", () => {
  assert.deepEqual(stripDashes(documented(doc("agent.md"), "## Configuration", /^-/)), flagNames(AGENT_FLAGS));
});

test("docs/operator.md lists exactly the operator's flags", () => {
  assert.deepEqual(stripDashes(documented(doc("operator.md"), "## Running it", /^-/)), flagNames(OPERATOR_FLAGS));
});

test("docs/operator.md lists exactly the annotations injection reads", () => {
  assert.deepEqual(documented(doc("operator.md"), "### Injection by annotation", /^elector\.dev\//).sort(), [...INJECTION_ANNOTATIONS].sort());
});

test("docs/agent.md lists exactly the metric families the agent serves", () => {
  const status = {
    identity: "a",
    isLeader: true,
    leader: "a",
    token: 1,
    leaseTransitions: 1,
    record: undefined,
    slowpathTotal: 0,
    renewedAt: 0,
    synced: true,
    watchConnected: true,
  };
  startRuntimeMetrics();
  const listed = documented(doc("agent.md"), "## Metrics", METRIC).map((n) => n.replace(/\{.*$/, ""));
  assert.deepEqual(listed.sort(), families(agentMetrics("e", 15_000, NO_REQUESTS, () => status).scrape()));
});

test("docs/operator.md lists exactly the metric families the operator serves", () => {
  startRuntimeMetrics();
  const metrics = new OperatorMetrics({
    client: NO_REQUESTS,
    queue: new WorkQueue(systemClock),
    workers: 4,
    elections: () => [],
    leadership: () => ({ lease: "elector-operator", state: { isLeader: true, slowpathTotal: 0 } }),
  });
  const listed = documented(doc("operator.md"), "### Metrics", METRIC).map((n) => n.replace(/\{.*$/, ""));
  const served = families(metrics.scrape());
  // process_* and nodejs_* are the agent's list.
  assert.deepEqual(
    listed.filter((n) => !n.endsWith("*")).sort(),
    served.filter((n) => !/^(process|nodejs)_/.test(n)),
  );
});

test("docs/operator.md describes exactly the Election's spec and status fields", () => {
  const crd = loadYaml(readFileSync(new URL("../../crds/elections.elector.dev.yaml", import.meta.url), "utf8")) as {
    spec: { versions: { schema: { openAPIV3Schema: { properties: Record<"spec" | "status", { properties: Record<string, unknown> }> } } }[] };
  };
  const schema = crd.spec.versions[0]?.schema.openAPIV3Schema.properties;
  assert.ok(schema);
  const topLevel = (names: string[]): string[] => [...new Set(names.map((n) => n.split(".")[0] ?? ""))].sort();
  assert.deepEqual(topLevel(documented(doc("operator.md"), "## Spec", /^[a-zA-Z.]+$/)), Object.keys(schema.spec.properties).sort());
  assert.deepEqual(topLevel(documented(doc("operator.md"), "## Status", /^[a-zA-Z.]+$/)), Object.keys(schema.status.properties).sort());
});
