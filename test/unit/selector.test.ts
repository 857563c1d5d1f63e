import assert from "node:assert/strict";
import { test } from "node:test";
import { matches, selectorQuery } from "../../src/operator/selector.ts";

test("label selectors match as Kubernetes matches them", () => {
  const labels = { app: "db", tier: "primary" };
  assert.equal(matches({ matchLabels: { app: "db" } }, labels), true);
  assert.equal(matches({ matchLabels: { app: "web" } }, labels), false);
  assert.equal(matches({ matchExpressions: [{ key: "tier", operator: "In", values: ["primary", "replica"] }] }, labels), true);
  assert.equal(matches({ matchExpressions: [{ key: "tier", operator: "NotIn", values: ["primary"] }] }, labels), false);
  assert.equal(matches({ matchExpressions: [{ key: "zone", operator: "NotIn", values: ["a"] }] }, labels), true, "NotIn holds for an absent key");
  assert.equal(matches({ matchExpressions: [{ key: "app", operator: "Exists" }] }, labels), true);
  assert.equal(matches({ matchExpressions: [{ key: "app", operator: "DoesNotExist" }] }, labels), false);
  assert.equal(matches({ matchLabels: { app: "db" }, matchExpressions: [{ key: "zone", operator: "Exists" }] }, labels), false, "all terms must hold");
});

test("the same selector in the API's query syntax", () => {
  assert.equal(
    selectorQuery({
      matchLabels: { app: "db" },
      matchExpressions: [
        { key: "tier", operator: "In", values: ["a", "b"] },
        { key: "z", operator: "NotIn", values: ["c"] },
        { key: "e", operator: "Exists" },
        { key: "d", operator: "DoesNotExist" },
      ],
    }),
    "app=db,tier in (a,b),z notin (c),e,!d",
  );
});
