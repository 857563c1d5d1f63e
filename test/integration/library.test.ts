/**
 * The `elector` package as another project gets it: `npm pack`, installed from the tarball into a
 * fresh project, type-checked there, and run against the real API server by a program that calls
 * runElection, on one Lease with an elector agent and a client-go peer. An observer of its own (a
 * watch on the Lease) checks that each new term's token is higher than every one before it and
 * that the library's release record is written when its signal aborts.
 */
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test, type TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import { KubeClient } from "../../src/kube/client.ts";
import { loadConnection } from "../../src/kube/kubeconfig.ts";
import { Agent, assertNeverTwoLeaders, freePort, startAgent, startPeer, waitForOneLeader } from "../support/agents.ts";
import { eventually, testCluster, testNamespace } from "../support/cluster.ts";
import { assertTokensRise, recordLease } from "../support/lease.ts";

const REPO = fileURLToPath(new URL("../..", import.meta.url));

function run(file: string, args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd, maxBuffer: 16 * 2 ** 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${file} ${args.join(" ")}: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}

/**
 * A candidate written as a user would write one: runElection, and the agent's `GET /` answer
 * (is_leader, leader, node, fencing_token) so the shared helpers can watch it beside the others.
 * It prints, first, every module file it loaded from the package, and each callback as a JSON line.
 */
const CANDIDATE = `
import { createServer } from "node:http";
import { registerHooks } from "node:module";
const loaded = [];
registerHooks({ load(url, context, next) { loaded.push(url); return next(url, context); } });
const { runElection } = await import("elector");
const say = (msg, fields = {}) => console.log(JSON.stringify({ msg, ...fields }));
say("loaded", { urls: loaded.filter((u) => u.includes("/node_modules/")) });
const [name, namespace, identity, kubeconfig, port] = process.argv.slice(2);
let leading, leader = "";
const server = createServer((req, res) => {
  res.setHeader("content-type", "application/json");
  res.end(JSON.stringify({ is_leader: leading !== undefined, leader: leading ? identity : leader, node: identity, fencing_token: leading?.token ?? null }));
}).listen(Number(port), "127.0.0.1");
const controller = new AbortController();
process.on("SIGTERM", () => controller.abort());
await runElection({
  name, namespace, identity, kubeconfig,
  leaseDurationMs: 4000, renewDeadlineMs: 3000, retryPeriodMs: 1000,
  signal: controller.signal,
  onStartedLeading(leadership) {
    leading = leadership;
    say("started leading", { token: leadership.token });
    leadership.signal.addEventListener("abort", () => { leading = undefined; });
  },
  async onStoppedLeading(reason) { say("stopped leading", { reason }); },
  onNewLeader(holder) { leader = holder; },
});
say("released");
server.close();
`;

/** What a TypeScript user writes against the declarations: it must type-check as it stands. */
const TYPED = `
import { runElection, type ElectionOptions, type Leadership, type StopReason } from "elector";
const options: ElectionOptions = {
  name: "x",
  signal: new AbortController().signal,
  onStartedLeading(leadership: Leadership) { const token: number = leadership.token; void token; },
  onStoppedLeading(reason: StopReason) { void reason; },
};
const done: Promise<void> = runElection(options);
void done;
`;

/** The packed tarball installed in a new project, once for this file, and removed after its last test. */
let project: Promise<string> | undefined;
after(() => project?.then((dir) => rm(dir, { recursive: true, force: true })));
function installedProject(): Promise<string> {
  project ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), "elector-library-"));
    await run("npm", ["pack", "--silent", "--pack-destination", dir], REPO);
    const [tarball] = (await readdir(dir)).filter((f) => f.endsWith(".tgz"));
    assert.ok(tarball, "npm pack wrote no tarball");
    const pkg = { name: "library-user", private: true, type: "module", dependencies: { elector: `file:./${tarball}` } };
    await writeFile(join(dir, "package.json"), JSON.stringify(pkg));
    await run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline"], dir);
    await writeFile(join(dir, "candidate.mjs"), CANDIDATE);
    await writeFile(join(dir, "typed.ts"), TYPED);
    return dir;
  })();
  return project;
}

async function startLibraryCandidate(t: TestContext, dir: string, namespace: string, election: string, id: string): Promise<Agent> {
  const port = await freePort();
  const { plane } = await testCluster();
  const child = spawn(process.execPath, ["candidate.mjs", election, namespace, id, plane.kubeconfig, String(port)], {
    cwd: dir,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const candidate = new Agent(id, port, child, false);
  t.after(() => {
    candidate.dispose();
  });
  return candidate;
}

test("the packed package installs into a fresh project, type-checks there, and loads only the election core and the client", async (t) => {
  const dir = await installedProject();
  const manifest = JSON.parse(await run("npm", ["pkg", "get", "name", "version", "types", "engines", "exports", "repository", "keywords"], REPO)) as Record<
    string,
    unknown
  >;
  for (const field of ["name", "version", "types", "engines", "exports", "repository", "keywords"]) assert.ok(manifest[field], `package.json has no ${field}`);
  const tsc = join(REPO, "node_modules/.bin/tsc");
  const typeRoots = join(REPO, "node_modules/@types");
  await run(tsc, ["--noEmit", "--strict", "--module", "nodenext", "--target", "es2024", "--types", "node", "--typeRoots", typeRoots, "typed.ts"], dir);

  const namespace = await testNamespace(t);
  const candidate = await startLibraryCandidate(t, dir, namespace, "library-load", "library-1");
  await waitForOneLeader([candidate]);
  const urls = (candidate.logged("loaded")[0]?.urls ?? []) as string[];
  const files = urls.map((u) => u.replace(/^.*\/node_modules\//, ""));
  assert.ok(files.includes("elector/dist/election/elector.js"), `the core was not loaded: ${files.join(", ")}`);
  const unneeded = files.filter((f) => /^elector\/dist\/(agent|operator|cli|http|metrics)\//.test(f) || f.startsWith("pino"));
  assert.deepEqual(unneeded, [], "the library loaded code the election does not need");
  t.diagnostic(`loaded ${String(files.length)} files: ${files.join(", ")}`);
});

test("runElection in that project shares one Lease with an elector agent and a client-go peer: one leader, rising tokens, release on abort", async (t) => {
  const dir = await installedProject();
  const namespace = await testNamespace(t);
  const election = "shared";
  const { plane } = await testCluster();
  const seen = recordLease(t, new KubeClient(loadConnection(plane.kubeconfig)), namespace, election);
  const library = await startLibraryCandidate(t, dir, namespace, election, "library-1");
  await waitForOneLeader([library]);
  const group = [library, await startAgent(t, { namespace, election, id: "elector-1" }), await startPeer(t, { namespace, election, id: "client-go-1" })];
  await assertNeverTwoLeaders(group, 2000);

  // The library leads first; aborting its signal must end its term and release the Lease.
  library.kill("SIGTERM");
  assert.equal(await library.exited, 0, library.stderr);
  assert.deepEqual(
    library.logs.map((l) => l.msg).filter((m) => m !== "loaded"),
    ["started leading", "stopped leading", "released"],
  );
  assert.equal(library.logged("stopped leading")[0]?.reason, "shutdown");
  const releasedAt = seen.findIndex((s, i) => i > 0 && s.holder === "" && seen[i - 1]?.holder === "library-1");
  assert.ok(releasedAt > 0, `no release record after library-1's term: ${JSON.stringify(seen)}`);

  // The agent and the peer lead in turn (each killed, SIGKILL, as a crash); then a second library candidate takes over.
  const [agent, peer] = group.slice(1);
  assert.ok(agent && peer);
  const first = await waitForOneLeader([agent, peer], 15_000);
  first.kill("SIGKILL");
  await first.exited;
  const next = first === agent ? peer : agent;
  await waitForOneLeader([next], 15_000);
  const second = await startLibraryCandidate(t, dir, namespace, election, "library-2");
  await assertNeverTwoLeaders([next, second], 1000);
  next.kill("SIGKILL");
  await next.exited;
  await waitForOneLeader([second], 15_000);
  const token = (await second.status())?.fencing_token;
  await eventually("the Lease shows library-2's term", () => Promise.resolve(seen.some((s) => s.holder === "library-2") ? true : undefined), 5000);
  assert.deepEqual([...new Set(seen.map((s) => s.holder).filter(Boolean))].sort(), ["client-go-1", "elector-1", "library-1", "library-2"]);

  // From the observer: each change of holder to a live one wrote a higher leaseTransitions than any before it.
  assertTokensRise(seen);
  assert.equal(token, seen.at(-1)?.transitions, "library-2's fencing token is the Lease's leaseTransitions");
  t.diagnostic(`holders: ${seen.map((s) => `${s.holder || "(released)"}#${String(s.transitions)}`).join(" → ")}`);
});
