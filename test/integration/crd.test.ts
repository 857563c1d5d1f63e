/** The Election CRD at admission: defaults filled in, bad specs refused with a message a person understands. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { kubectl, testNamespace } from "../support/cluster.ts";
import { installCrd } from "../support/operator.ts";

const CANDIDATES = { selector: { matchLabels: { app: "db" } } };

/** [what is wrong, spec, what the refusal must say] */
const BAD: [string, Record<string, unknown>, RegExp][] = [
  ["leaderLabel without candidates", { leaderLabel: {} }, /leaderLabel needs candidates: say which pods take part with candidates.selector/],
  ["service without candidates", { service: { name: "db" } }, /service needs candidates/],
  ["preferredHolder without candidates", { preferredHolder: "db-1" }, /preferredHolder needs candidates/],
  ["a lease name that is no DNS subdomain", { leaseName: "Db_Primary" }, /leaseName must be a DNS subdomain/],
  [
    "an empty candidate selector",
    { candidates: { selector: {} } },
    /candidates.selector must not be empty: an empty selector would make every pod in the namespace a candidate/,
  ],
  ["a label key with a space", { candidates: CANDIDATES, leaderLabel: { key: "is leader" } }, /leaderLabel.key must be a label key/],
  ["a label key with two slashes", { candidates: CANDIDATES, leaderLabel: { key: "a/b/c" } }, /leaderLabel.key must be a label key/],
  ["a label value starting with '-'", { candidates: CANDIDATES, leaderLabel: { value: "-yes" } }, /leaderLabel.value must be a label value/],
  [
    "a label value of 64 characters",
    { candidates: CANDIDATES, leaderLabel: { value: "x".repeat(64) } },
    /spec.leaderLabel.value: Too long: may not be (longer than|more than) 63/,
  ],
  [
    "an empty service name",
    { candidates: CANDIDATES, service: { name: "" } },
    /spec.service.name: Invalid value: "": spec.service.name in body should be at least 1 chars long/,
  ],
  ["a service name with capitals", { candidates: CANDIDATES, service: { name: "DB" } }, /service.name must be a Service name/],
  ["a service without a name", { candidates: CANDIDATES, service: {} }, /spec.service.name: Required value/],
  [
    "In without values",
    { candidates: { selector: { matchExpressions: [{ key: "app", operator: "In" }] } } },
    /matchExpressions: In and NotIn need values; Exists and DoesNotExist take none/,
  ],
  [
    "an unknown selector operator",
    { candidates: { selector: { matchExpressions: [{ key: "app", operator: "Near", values: ["x"] }] } } },
    /Unsupported value: "Near": supported values: "In", "NotIn", "Exists", "DoesNotExist"/,
  ],
  [
    "a handover timeout of 0",
    { candidates: CANDIDATES, handoverTimeoutSeconds: 0 },
    /spec.handoverTimeoutSeconds: Invalid value: 0: spec.handoverTimeoutSeconds in body should be greater than or equal to 1/,
  ],
  ["an empty preferredHolder", { candidates: CANDIDATES, preferredHolder: "" }, /spec.preferredHolder in body should be at least 1 chars long/],
];

function election(namespace: string, name: string, spec: Record<string, unknown>): string {
  return JSON.stringify({ apiVersion: "elector.dev/v1alpha1", kind: "Election", metadata: { name, namespace }, spec });
}

test("bad Election specs are refused at admission, each with a message that says what to fix", async (t) => {
  await installCrd();
  const namespace = await testNamespace(t);
  const rows: string[] = [];
  for (const [i, [what, spec, message]] of BAD.entries()) {
    const r = await kubectl(["create", "--dry-run=server", "-f", "-"], election(namespace, `bad-${i}`, spec));
    assert.notEqual(r.code, 0, `${what} was admitted`);
    assert.match(r.stderr, message, what);
    rows.push(`${what}: ${r.stderr.trim()}`);
  }
  t.diagnostic(`${rows.length} refusals:\n${rows.join("\n")}`);
});

test("a minimal Election is admitted with defaults filled in", async (t) => {
  await installCrd();
  const namespace = await testNamespace(t);
  const r = await kubectl(["create", "--dry-run=server", "-o", "json", "-f", "-"], election(namespace, "ok", { candidates: CANDIDATES, leaderLabel: {} }));
  assert.equal(r.code, 0, r.stderr);
  const spec = (JSON.parse(r.stdout) as { spec: Record<string, unknown> }).spec;
  assert.deepEqual(spec.leaderLabel, { key: "leader", value: "true" });
  assert.equal(spec.handoverTimeoutSeconds, 60);
  const empty = await kubectl(["create", "--dry-run=server", "-f", "-"], election(namespace, "bare", {}));
  assert.equal(empty.code, 0, `an Election that only shows its Lease needs no candidates: ${empty.stderr}`);
});
