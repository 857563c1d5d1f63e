import assert from "node:assert/strict";
import { test } from "node:test";
import { Histogram, processFamilies, render } from "../../src/metrics/exposition.ts";

test("the text format: HELP and TYPE per family, escaped label values, special floats", () => {
  const text = render([
    { name: "a_total", help: "Counts\nthings \\ here.", type: "counter", samples: [{ labels: { name: 'x"y\\z\nw' }, value: 3 }] },
    { name: "b", help: "B.", type: "gauge", samples: [{ value: Number.NaN }, { labels: { k: "v", l: "u" }, value: Number.POSITIVE_INFINITY }] },
  ]);
  assert.equal(
    text,
    [
      "# HELP a_total Counts\\nthings \\\\ here.",
      "# TYPE a_total counter",
      'a_total{name="x\\"y\\\\z\\nw"} 3',
      "# HELP b B.",
      "# TYPE b gauge",
      "b NaN",
      'b{k="v",l="u"} +Inf',
      "",
    ].join("\n"),
  );
});

test("process metrics under prom-client's names, with plausible values", () => {
  const byName = new Map(processFamilies().map((f) => [f.name, f.samples[0]?.value ?? Number.NaN]));
  assert.ok((byName.get("process_resident_memory_bytes") ?? 0) > 10 * 2 ** 20);
  assert.ok((byName.get("process_cpu_seconds_total") ?? 0) > 0);
  const start = byName.get("process_start_time_seconds") ?? 0;
  assert.ok(Math.abs(start - (Date.now() - performance.now()) / 1000) < 2);
  assert.ok((byName.get("process_open_fds") ?? 0) >= 3);
  assert.equal(byName.get("nodejs_version_info"), 1);
});

test("a histogram counts each observation in every bucket it fits, with sum and count", () => {
  const h = new Histogram([0.1, 1]);
  for (const v of [0.05, 0.5, 0.5, 3]) h.observe(v);
  assert.equal(
    render([{ name: "d_seconds", help: "D.", type: "histogram", samples: h.samples() }]),
    [
      "# HELP d_seconds D.",
      "# TYPE d_seconds histogram",
      'd_seconds_bucket{le="0.1"} 1',
      'd_seconds_bucket{le="1"} 3',
      'd_seconds_bucket{le="+Inf"} 4',
      "d_seconds_sum 4.05",
      "d_seconds_count 4",
      "",
    ].join("\n"),
  );
});
