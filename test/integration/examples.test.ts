/** Every file in examples/ is accepted by the real API server, within Pod Security `restricted`. */
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { kubectl, testNamespace } from "../support/cluster.ts";
import { installCrd } from "../support/operator.ts";

const DIR = fileURLToPath(new URL("../../examples/", import.meta.url));
const EXAMPLES = readdirSync(DIR).filter((f) => f.endsWith(".yaml"));

test("every example applies (server-side dry run) in a restricted namespace, without a Pod Security warning", async (t) => {
  assert.ok(EXAMPLES.length >= 6, `examples: ${EXAMPLES.join(", ")}`);
  await installCrd();
  const namespace = await testNamespace(t);
  for (const file of EXAMPLES) {
    const r = await kubectl(["apply", "--dry-run=server", "-n", namespace, "-f", `${DIR}${file}`]);
    assert.equal(r.code, 0, `${file}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /Warning/i, `${file}: ${r.stderr}`);
    t.diagnostic(`${file}: ${r.stdout.trim().replaceAll("\n", "; ")}`);
  }
});
