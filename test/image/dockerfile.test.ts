/**
 * The Dockerfile's steps, run as plain commands (there is no Docker engine here): each stage gets a
 * folder for its root; WORKDIR, COPY (from the repository or an earlier stage) and RUN are carried
 * out as the Dockerfile says, with this machine's Node 24 standing in for the base images' Node.
 * Then the final stage's ENTRYPOINT runs. What the Dockerfile says is what is tested.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { cp, mkdir, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { runCommand, scratchDir, type Run } from "../support/cluster.ts";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
/** Where the base images keep Node; here, this process's Node 24. */
const IMAGE_NODE = "/nodejs/bin/node";

function run(file: string, args: string[], cwd: string): Promise<Run> {
  // The base image's PATH: its node (and npm, npx) first.
  return runCommand(file, args, { cwd, env: { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ""}` } });
}

/** Builds every stage into `root/<stage>`; returns the final stage's folder and its ENTRYPOINT. */
async function build(root: string): Promise<{ stage: string; entrypoint: string[] }> {
  const lines = (await readFile(join(REPO, "Dockerfile"), "utf8")).replace(/\\\n/g, " ").split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"));
  const stages = new Map<string, string>();
  let stage = "";
  let workdir = "/";
  let entrypoint: string[] = [];
  for (const line of lines) {
    const [instruction = "", ...rest] = line.split(/\s+/);
    const args = rest.join(" ");
    switch (instruction.toUpperCase()) {
      case "FROM": {
        const alias = /\bAS\s+(\S+)$/i.exec(args)?.[1] ?? `stage${stages.size}`;
        stage = join(root, alias);
        stages.set(alias, stage);
        await mkdir(stage, { recursive: true });
        workdir = "/";
        break;
      }
      case "WORKDIR":
        workdir = args.startsWith("/") ? args : join(workdir, args);
        await mkdir(join(stage, workdir), { recursive: true });
        break;
      case "COPY": {
        const from = /^--from=(\S+)\s+/.exec(args);
        const paths = (from ? args.slice(from[0].length) : args).split(/\s+/);
        const dest = paths.pop() ?? ".";
        const source = from ? (stages.get(from[1] ?? "") ?? "") : REPO;
        const target = join(stage, dest.startsWith("/") ? dest : join(workdir, dest));
        for (const p of paths) {
          const into = dest.endsWith("/") ? join(target, p.split("/").filter(Boolean).at(-1) ?? p) : target;
          await cp(join(source, p), into, { recursive: true });
        }
        break;
      }
      case "RUN": {
        const r = await run("sh", ["-c", args], join(stage, workdir));
        assert.equal(r.code, 0, `RUN ${args}\n${r.stdout}\n${r.stderr}`);
        break;
      }
      case "ENTRYPOINT":
        entrypoint = JSON.parse(args) as string[];
        break;
      default:
      // USER, LABEL, ENV …: nothing to carry out outside a container.
    }
  }
  return { stage, entrypoint };
}

test("the Dockerfile's steps build a production install whose entrypoint answers, without dev dependencies", async (t) => {
  const root = await scratchDir(t);
  const { stage, entrypoint } = await build(root);
  const [node, ...nodeArgs] = entrypoint.map((a) => (a === IMAGE_NODE ? process.execPath : a.startsWith("/app/") ? join(stage, a) : a));
  assert.equal(entrypoint[0], IMAGE_NODE);
  assert.ok(node);
  const elector = (args: string[]): Promise<Run> => run(node, [...nodeArgs, ...args], stage);

  const pkg = JSON.parse(await readFile(join(REPO, "package.json"), "utf8")) as { version: string };
  const version = await elector(["version"]);
  assert.equal(version.code, 0, version.stderr);
  assert.equal(version.stdout, `elector ${pkg.version}\n`);
  assert.match((await elector(["agent", "-h"])).stdout, /-election/);

  // The lock says which packages only development needs ("dev": true); a production dependency
  // may need one of the same name too (client-node needs @types/node), and then it is not dev-only.
  const lock = JSON.parse(await readFile(join(REPO, "package-lock.json"), "utf8")) as { packages: Record<string, { dev?: boolean }> };
  const packages = Object.entries(lock.packages).filter(([path]) => path !== "");
  for (const [path, { dev }] of packages) {
    assert.equal(existsSync(join(stage, "app", path)), dev !== true, `${path} (${dev ? "development only" : "production"}) ${dev ? "is in" : "is missing from"} the image`);
  }
  assert.ok(!existsSync(join(stage, "app", "src")), "the image holds the compiled app only");

  // The operator refuses the ENTRYPOINT's lite mode with one clear line; the chart runs it without.
  const lite = await elector(["operator", "--namespace=x"]);
  assert.equal(lite.code, 2);
  assert.match(lite.stderr, /^elector: the operator needs WebAssembly/);
  const du = await run("du", ["-sm", join(stage, "app")], stage);
  t.diagnostic(`the image's /app: ${du.stdout.split("\t")[0] ?? "?"} MB`);
});
