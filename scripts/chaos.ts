/**
 * `npm run chaos -- --faults N --seed S`: a chaos run on the real node (test/chaos): the elector
 * image built from the working tree, a fresh cluster with its node, the chart's operator, the
 * workloads, N faults from seed S, the outside observer's judgement. Prints the figures; with
 * `--out FILE` also writes them into that file's results section (docs/reliability.md), with
 * `--record FILE` everything the observer recorded, as JSON. Exits 1 on any violation.
 */
import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { KubeClient } from "../src/kube/client.ts";
import { loadConnection } from "../src/kube/kubeconfig.ts";
import { writeSection } from "../bench/report.ts";
import { nodeDefault, withScratchPlane, type ControlPlane } from "../test/cluster/controlplane.ts";
import { buildElectorImage } from "../test/cluster/images.ts";
import { report } from "../test/chaos/report.ts";
import { runChaos } from "../test/chaos/run.ts";
import { createNamespace, testCluster } from "../test/support/cluster.ts";
import { stageReady } from "../test/support/node.ts";

const { values } = parseArgs({
  options: { faults: { type: "string", default: "200" }, seed: { type: "string", default: "1" }, out: { type: "string" }, record: { type: "string" } },
});
const faults = Number(values.faults);
const seed = Number(values.seed);
if (!Number.isInteger(faults) || faults < 1 || !Number.isInteger(seed)) {
  console.error(`--faults must be a positive integer and --seed an integer (got ${values.faults} and ${values.seed})`);
  process.exit(2);
}
const node = nodeDefault();
if (!node.node) {
  console.error(`a chaos run needs a node, and none can run here: ${node.why ?? ""}`);
  process.exit(2);
}

async function main(plane: ControlPlane): Promise<number> {
  process.env.ELECTOR_TEST_CLUSTER_DIR = plane.dir;
  const { kc } = await testCluster();
  await stageReady(plane);
  const namespace = await createNamespace(kc, "chaos");
  const client = new KubeClient(loadConnection(plane.kubeconfig));
  const log = (line: string): void => {
    console.error(`${new Date().toISOString().slice(11, 23)} ${line}`);
  };
  const run = await runChaos(plane, client, { faults, seed, namespace, log });
  const lines = report(run, `npm run chaos -- --faults ${String(faults)} --seed ${String(seed)}`);
  console.log(lines.join("\n"));
  if (values.out) await writeSection(values.out, "npm run chaos", lines);
  if (values.record) await writeFile(values.record, JSON.stringify({ faults: run.faults, observed: run.observed, verdict: run.verdict }));
  return run.verdict.violations.length === 0 && run.finalConvergenceMs !== undefined ? 0 : 1;
}

await buildElectorImage(console.error);
process.exitCode = await withScratchPlane("elector-chaos-", main, { node: true });
