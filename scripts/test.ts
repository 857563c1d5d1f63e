/**
 * `npm test`: lint, typecheck, build, then every test file on one fresh control plane.
 * Extra arguments narrow the run to those test files: `npm test -- test/integration/x.test.ts`.
 */
import { spawn } from "node:child_process";
import { withScratchPlane } from "../test/cluster/controlplane.ts";

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

  step("lint");
  if ((await run("eslint", ["--max-warnings=0", "."])) !== 0) return 1;
  step("typecheck and build");
  if ((await run("tsc", ["-p", "tsconfig.json"])) !== 0) return 1;
  // Some tests run the agent as shipped: the compiled dist/.
  if ((await run("tsc", ["-p", "tsconfig.build.json"])) !== 0) return 1;

  step("control plane");
  const started = Date.now();
  return withScratchPlane("elector-test-cluster-", (plane) => {
    console.error(`control plane ready in ${((Date.now() - started) / 1000).toFixed(1)} s (${plane.dir})`);
    step("tests");
    // --test-force-exit: a handle a test leaks must not keep a finished file, and CI, waiting.
    return run(
      process.execPath,
      ["--test", "--test-concurrency=1", "--test-timeout=300000", "--test-force-exit", "--test-reporter=spec", ...(files.length ? files : ["test/**/*.test.ts"])],
      { ...process.env, ELECTOR_TEST_CLUSTER_DIR: plane.dir },
    );
  });
}

process.exitCode = await main();
