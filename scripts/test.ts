/**
 * `npm test`: format, lint, typecheck, build (dist/ and the single executable), elector's image (where a node can run), then every tier on
 * one fresh cluster: unit, integration (the control plane), end-to-end (real pods on the node).
 * Extra arguments narrow the run to those test files: `npm test -- test/integration/x.test.ts`.
 */
import { execFile, spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { nodeDefault, withScratchPlane } from "../test/cluster/controlplane.ts";
import { buildElectorImage } from "../test/cluster/images.ts";

/**
 * The runs, in order (Node's runner sorts the files of one run): the end-to-end tier after the
 * others, as the operator its chart installs watches every namespace and the integration tests run
 * their own; the chaos run last, as it crashes the chart's operators and restarts the cluster's
 * own parts, which the end-to-end tests must not find.
 */
const RUNS = [
  { name: "unit, image and integration tests", files: ["test/unit/**/*.test.ts", "test/image/**/*.test.ts", "test/integration/**/*.test.ts"] },
  { name: "end-to-end tests on the node", files: ["test/e2e/**/*.test.ts"] },
  { name: "chaos on the node", files: ["test/chaos/**/*.test.ts"] },
];

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: "inherit", env });
    child.on("error", (err) => {
      console.error(`${cmd}: ${err.message}`);
      resolve(1);
    });
    child.on("close", (code, signal) => {
      resolve(code ?? (signal ? 1 : 0));
    });
  });
}

/** Prettier's printWidth (.prettierrc.json): it cannot break a long string or comment, so this checks those. */
const PRINT_WIDTH = (JSON.parse(await readFile(".prettierrc.json", "utf8")) as { printWidth: number }).printWidth;

/** Whether every line of the code Prettier formats (.prettierignore) is within `width`; names each one that is not. */
async function linesWithin(width: number): Promise<boolean> {
  const listed = await new Promise<string>((resolve) => {
    execFile("git", ["ls-files", "--cached", "--others", "--exclude-standard", "*.ts", "*.js"], (_err, stdout) => {
      resolve(stdout);
    });
  });
  const over: string[] = [];
  for (const file of listed.split("\n").filter(Boolean)) {
    (await readFile(file, "utf8")).split("\n").forEach((line, i) => {
      if (line.length > width) over.push(`${file}:${String(i + 1)}: ${String(line.length)} characters`);
    });
  }
  for (const line of over) console.error(line);
  if (over.length > 0) console.error(`${String(over.length)} lines over the ${String(width)} characters Prettier formats to: break them by hand`);
  return over.length === 0;
}

async function main(): Promise<number> {
  const major = Number(process.versions.node.split(".")[0]);
  if (major !== 24) {
    console.error(`elector runs on Node 24 LTS, this is ${process.version}: run it through npm (npm ci installs Node 24 as a devDependency)`);
    return 1;
  }
  const files = process.argv.slice(2);
  const step = (name: string): void => {
    console.error(`\n== ${name}`);
  };

  step("format");
  if ((await run("prettier", ["--check", "."])) !== 0) return 1;
  if (!(await linesWithin(PRINT_WIDTH))) return 1;
  step("lint");
  if ((await run("eslint", ["--max-warnings=0", "."])) !== 0) return 1;
  step("typecheck and build");
  if ((await run("tsc", ["-p", "tsconfig.json"])) !== 0) return 1;
  // Some tests run the agent as shipped: the compiled dist/.
  if ((await run("tsc", ["-p", "tsconfig.build.json"])) !== 0) return 1;
  // ... and the single executable (dist/elector), as images without Node run it.
  if ((await run(process.execPath, ["scripts/executable.ts"])) !== 0) return 1;

  const node = nodeDefault();
  if (node.node) {
    step("image");
    // Built before the cluster starts, so that its node has elector:dev from the first moment.
    await buildElectorImage(console.error);
  } else {
    console.error(`\nno node here (${node.why ?? ""}): the end-to-end tier is skipped`);
  }
  step(node.node ? "cluster with a node" : "control plane");
  const started = Date.now();
  return withScratchPlane("elector-test-cluster-", async (plane) => {
    console.error(`cluster ready in ${((Date.now() - started) / 1000).toFixed(1)} s (${plane.dir})`);
    const env = { ...process.env, ELECTOR_TEST_CLUSTER_DIR: plane.dir, ...(node.why ? { ELECTOR_NO_NODE_REASON: node.why } : {}) };
    const totals = { passed: 0, failed: 0, skipped: 0 };
    let code = 0;
    for (const [i, { name, files: tier }] of (files.length ? [{ name: "tests", files }] : RUNS).entries()) {
      step(name);
      const tap = join(plane.dir, `results-${String(i)}.tap`);
      // --test-force-exit: a handle a test leaks must not keep a finished file, and CI, waiting.
      const args = ["--test", "--test-concurrency=1", "--test-timeout=300000", "--test-force-exit"];
      const reporters = ["--test-reporter=spec", "--test-reporter-destination=stdout", "--test-reporter=tap", `--test-reporter-destination=${tap}`];
      if ((await run(process.execPath, [...args, ...reporters, ...tier], env)) !== 0) code = 1;
      const counts = await readFile(tap, "utf8").catch(() => "");
      for (const [key, tapKey] of [
        ["passed", "pass"],
        ["failed", "fail"],
        ["skipped", "skipped"],
      ] as const) {
        totals[key] += Number(new RegExp(`^# ${tapKey} (\\d+)$`, "m").exec(counts)?.[1] ?? 0);
      }
    }
    console.log(`\n${String(totals.passed)} passed, ${String(totals.failed)} failed, ${String(totals.skipped)} skipped`);
    return code;
  });
}

process.exitCode = await main();
