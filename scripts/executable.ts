/**
 * `npm run build:executable`: `elector` as one self-contained file, dist/elector, a Node
 * single-executable application. It holds the Node 24 binary this runs on, with the whole CLI
 * (src/cli/main.ts and every module it loads, node_modules included) bundled into one CommonJS
 * script and injected as its blob, with package.json as an asset (for `elector version`).
 * It runs with no Node, node_modules or other file beside it, on glibc 2.28 or later with
 * libstdc++ (GLIBCXX_3.4.21) and libgcc_s: what the Node binary links (docs/agent.md).
 */
import { execFile } from "node:child_process";
import { chmod, copyFile, mkdir, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const REPO = fileURLToPath(new URL("..", import.meta.url));
const WORK = join(REPO, "dist", "executable");
export const EXECUTABLE = join(REPO, "dist", "elector");
/** Where Node looks for the blob: postject's and Node's documented sentinel. */
const SEA_FUSE = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2";

function run(file: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd: REPO, maxBuffer: 16 * 2 ** 20 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`${file} ${args.join(" ")}: ${stderr.trim() || err.message}`));
      else resolve();
    });
  });
}

export async function buildExecutable(): Promise<string> {
  await rm(WORK, { recursive: true, force: true });
  await mkdir(WORK, { recursive: true });
  const bundle = join(WORK, "elector.cjs");
  await build({
    entryPoints: [join(REPO, "src/cli/main.ts")],
    bundle: true,
    platform: "node",
    target: "node24",
    format: "cjs",
    outfile: bundle,
    // main.ts reads package.json through import.meta.url only outside the executable (node:sea says which).
    logOverride: { "empty-import-meta": "silent" },
    logLevel: "warning",
  });
  const config = join(WORK, "sea-config.json");
  const blob = join(WORK, "elector.blob");
  await writeFile(
    config,
    JSON.stringify({
      main: bundle,
      output: blob,
      disableExperimentalSEAWarning: true,
      // The image's ENTRYPOINT flag: V8 without its optimizing compilers keeps the agent small (docs/benchmarks.md).
      execArgv: ["--lite-mode"],
      assets: { "package.json": join(REPO, "package.json") },
    }),
  );
  await run(process.execPath, ["--experimental-sea-config", config]);
  await rm(EXECUTABLE, { force: true });
  await copyFile(process.execPath, EXECUTABLE);
  await chmod(EXECUTABLE, 0o755);
  await run(process.execPath, [join(REPO, "node_modules/postject/dist/cli.js"), EXECUTABLE, "NODE_SEA_BLOB", blob, "--sentinel-fuse", SEA_FUSE]);
  return EXECUTABLE;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = await buildExecutable();
  console.log(`${file}: ${((await stat(file)).size / 2 ** 20).toFixed(1)} MiB`);
}
