/**
 * `elector agent -- CMD`: the command runs only while its agent leads, never on two "pods" at
 * once. Each pod-like agent runs in its own PID namespace, so killing it kills its command, as
 * killing a container's main process does. Every test runs twice: the agent run by Node, and the
 * single executable (dist/elector), which images without Node run.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test, type TestContext } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { eventually, testNamespace } from "../support/cluster.ts";
import { EXECUTABLE, startAgent, waitForOneLeader, type Agent, type AgentOptions } from "../support/agents.ts";

const HEARTBEAT = fileURLToPath(new URL("../fixtures/heartbeat.sh", import.meta.url));

interface Run {
  id: string;
  token: number;
  start: number;
  /** The last sign of life: the last beat or the stop line, in ms. */
  end: number;
  stopped: boolean;
}

// One directory for the file, removed after its last test: a test's own after-hooks run in the
// order they were added, so a per-test directory would go while that test's commands still write.
const dir = await mkdtemp(join(tmpdir(), "elector-wrapper-"));
after(() => rm(dir, { recursive: true, force: true, maxRetries: 5 }));

function tempFile(t: TestContext): string {
  return join(dir, `${t.name.replace(/\W+/g, "-")}.log`);
}

/** The command's runs, one per (identity, token), from the heartbeat file. */
async function runs(file: string): Promise<Run[]> {
  const text = await readFile(file, "utf8").catch(() => "");
  const byKey = new Map<string, Run>();
  for (const line of text.split("\n")) {
    const [kind, id, tokenText, ns] = line.split(" ");
    if (!kind || !id || !tokenText || !ns) continue;
    const at = Number(BigInt(ns) / 1_000_000n);
    const key = `${id}/${tokenText}`;
    const run = byKey.get(key) ?? { id, token: Number(tokenText), start: at, end: at, stopped: false };
    run.start = Math.min(run.start, at);
    run.end = Math.max(run.end, at);
    if (kind === "stop") run.stopped = true;
    byKey.set(key, run);
  }
  return [...byKey.values()].sort((a, b) => a.start - b.start);
}

const FORMS: { name: string; options: Partial<AgentOptions> }[] = [
  { name: "run by Node", options: {} },
  { name: "the single executable", options: { executable: EXECUTABLE } },
];

for (const form of FORMS) {
  /** A wrapper agent in its own PID namespace: when it dies, its command dies with it, as in a container. */
  function wrapper(t: TestContext, namespace: string, file: string, id: string, extra: Partial<AgentOptions> = {}): Promise<Agent> {
    return startAgent(t, { namespace, election: "singleton", id, command: [HEARTBEAT, file], podLike: true, ...form.options, ...extra });
  }

  test(`${form.name}: the command starts only on the elected pod, with its fencing token and identity`, async (t) => {
    const namespace = await testNamespace(t);
    const file = tempFile(t);
    const agents = await Promise.all(["pod-a", "pod-b"].map((id) => wrapper(t, namespace, file, id)));
    const leader = await waitForOneLeader(agents);
    await sleep(1000);
    const seen = await runs(file);
    assert.equal(seen.length, 1, `one run expected, got ${JSON.stringify(seen)}`);
    const [run] = seen;
    assert.ok(run);
    assert.equal(run.id, leader.id);
    assert.equal(run.token, 0);
  });

  test(`${form.name}: SIGTERM reaches the command; the agent releases and exits with the command's code`, async (t) => {
    const namespace = await testNamespace(t);
    const file = tempFile(t);
    const agents = await Promise.all(["pod-a", "pod-b"].map((id) => wrapper(t, namespace, file, id, { env: { EXIT_ON_TERM: "7" } })));
    const first = await waitForOneLeader(agents);
    // Leading comes before the command has started: a SIGTERM before its trap would end it with 143 (seen once in CI).
    await eventually("the first run", async () => ((await runs(file)).length === 1 ? true : undefined));
    first.kill("SIGTERM");
    assert.equal(await first.exited, 7);
    const second = await waitForOneLeader(
      agents.filter((a) => a !== first),
      3000,
    );
    const seen = await eventually("the second run", async () => {
      const r = await runs(file);
      return r.length === 2 ? r : undefined;
    });
    const [firstRun, secondRun] = seen;
    assert.ok(firstRun && secondRun);
    assert.equal(firstRun.stopped, true, "the first command saw SIGTERM");
    assert.equal(secondRun.id, second.id);
    assert.equal(secondRun.token, 1);
  });

  test(`${form.name}: when the command exits by itself, the agent releases and exits with its code`, async (t) => {
    const namespace = await testNamespace(t);
    const file = tempFile(t);
    const a = await wrapper(t, namespace, file, "pod-a", { env: { EXIT_AFTER_BEATS: "5", EXIT_CODE: "3" } });
    assert.equal(await a.exited, 3);
    assert.equal(a.logged("released the lock").length, 1);
  });

  test(`${form.name}: a wrapper that lost leadership while frozen stops its command and exits 1`, async (t) => {
    const namespace = await testNamespace(t);
    const file = tempFile(t);
    const a = await wrapper(t, namespace, file, "pod-a");
    await waitForOneLeader([a]);
    const b = await wrapper(t, namespace, file, "pod-b");
    // Frozen agent, running command: what the fencing token is for. On resume the agent must stop it.
    a.kill("SIGSTOP");
    await waitForOneLeader([b], 10_000);
    a.kill("SIGCONT");
    assert.equal(await a.exited, 1);
    const first = (await runs(file)).find((r) => r.id === "pod-a");
    assert.equal(first?.stopped, true, "the command got SIGTERM");
    assert.ok(a.logged("lost leadership; exiting").length === 1);
  });

  test(`${form.name}: across many kills the command never runs on two pods at once, and tokens only grow`, async (t) => {
    const namespace = await testNamespace(t);
    const file = tempFile(t);
    const ids = ["pod-a", "pod-b", "pod-c"];
    const pods = new Map<string, Agent>();
    for (const id of ids) pods.set(id, await wrapper(t, namespace, file, id));
    const signals: NodeJS.Signals[] = ["SIGKILL", "SIGTERM", "SIGKILL", "SIGKILL", "SIGTERM", "SIGKILL"];
    for (const signal of signals) {
      const leader = await waitForOneLeader([...pods.values()], 15_000);
      await sleep(300);
      leader.kill(signal);
      await leader.exited;
      // The pod restarts its container: a new process with the same identity.
      pods.set(leader.id, await wrapper(t, namespace, file, leader.id));
    }
    await waitForOneLeader([...pods.values()], 15_000);
    await sleep(500);

    const seen = await runs(file);
    assert.ok(seen.length >= signals.length + 1, `expected a run per leadership, got ${seen.length}`);
    for (let i = 1; i < seen.length; i++) {
      const prev = seen[i - 1];
      const next = seen[i];
      assert.ok(prev && next);
      assert.ok(next.start > prev.end, `${next.id}#${next.token} started at ${next.start}, before ${prev.id}#${prev.token} ended at ${prev.end}`);
      assert.ok(next.token > prev.token, `token went from ${prev.token} to ${next.token}`);
    }
  });
}
