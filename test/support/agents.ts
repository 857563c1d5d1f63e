/**
 * Agents as real processes against the test control plane: `elector agent` started with Node 24
 * from the source tree, each in its own PID namespace when asked (so that, as in a container,
 * killing the agent kills what it wrapped), with its JSON log lines collected.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { freePorts } from "../cluster/controlplane.ts";
import type { TestContext } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { ensurePeer } from "../peer/build.ts";
import { eventually, testCluster } from "./cluster.ts";

const MAIN = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));

/**
 * elector as shipped, agent and operator alike: the compiled entry (scripts/test.ts builds it) with
 * the Node flags of the image's ENTRYPOINT. The source cannot run in lite mode: Node's type stripping needs WebAssembly,
 * which lite mode turns off.
 */
export const SHIPPED = { entry: fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url)), nodeFlags: ["--lite-mode"] };

/** The agent as one self-contained file (npm run build:executable; scripts/test.ts builds it): run instead of Node and an entry. */
export const EXECUTABLE = fileURLToPath(new URL("../../dist/elector", import.meta.url));

/** A short lease so that failover tests take seconds: 4s/3s/1s. */
export const FAST = ["--lease-duration=4s", "--renew-deadline=3s", "--retry-period=1s"];

export interface Status {
  is_leader: boolean;
  leader: string;
  node: string;
  timestamp: string;
  name: string;
  fencing_token: number | null;
  lease_transitions: number;
  election: string;
}

export interface AgentOptions {
  namespace: string;
  election: string;
  id: string;
  args?: string[];
  /** The wrapped command, if any. */
  command?: string[];
  env?: NodeJS.ProcessEnv;
  /** Run in a new PID namespace, as PID 1, like a container's main process. */
  podLike?: boolean;
  kubeconfig?: string;
  /** The CLI entry to run: the TypeScript source by default, or SHIPPED's. */
  entry?: string;
  nodeFlags?: string[];
  /** A single executable to run instead of Node with `entry` (EXECUTABLE). */
  executable?: string;
}

export class Agent {
  readonly id: string;
  readonly port: number;
  readonly process: ChildProcess;
  readonly logs: Record<string, unknown>[] = [];
  stderr = "";
  readonly exited: Promise<number>;

  /** Whether `process` is the `unshare` that runs the agent as PID 1 of a new PID namespace. */
  private readonly podLike: boolean;

  constructor(id: string, port: number, child: ChildProcess, podLike: boolean) {
    this.id = id;
    this.port = port;
    this.process = child;
    this.podLike = podLike;
    let partial = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) {
        try {
          this.logs.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          this.logs.push({ msg: line });
        }
      }
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
    this.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        resolve(code ?? (signal ? 128 : 0));
      });
    });
  }

  get running(): boolean {
    return this.process.exitCode === null && this.process.signalCode === null;
  }

  /** GET a path of the status API; undefined when the agent does not answer. */
  async get(path = "/"): Promise<{ code: number; body: unknown } | undefined> {
    try {
      const res = await fetch(`http://127.0.0.1:${this.port}${path}`, { signal: AbortSignal.timeout(2000) });
      const text = await res.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // /metrics is text.
      }
      return { code: res.status, body };
    } catch {
      return undefined;
    }
  }

  async status(): Promise<Status | undefined> {
    const r = await this.get("/");
    return r?.code === 200 ? (r.body as Status) : undefined;
  }

  /**
   * Signals the agent itself (`unshare` ignores SIGTERM, so a pod-like agent is signalled inside);
   * one that has exited already is left alone.
   */
  kill(signal: NodeJS.Signals): void {
    const pid = this.process.pid;
    if (pid === undefined || !this.running) return;
    const target = this.podLike ? Number(readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(" ")[0]) : pid;
    process.kill(target || pid, signal);
  }

  /** Kills the process (a pod-like one with everything in its PID namespace) and drops its pipes. */
  dispose(): void {
    if (this.running && this.process.pid !== undefined) process.kill(this.process.pid, "SIGKILL");
    // A command orphaned by a killed agent would otherwise hold these pipes, and the caller, open.
    this.process.stdout?.destroy();
    this.process.stderr?.destroy();
  }

  logged(msg: string): Record<string, unknown>[] {
    return this.logs.filter((l) => l.msg === msg);
  }
}

export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  if (port === undefined) throw new Error("no free port");
  return port;
}

/** What a candidate is started with when no test owns it (the benchmarks). */
export type LaunchOptions = AgentOptions & {
  kubeconfig: string;
  logLevel?: string;
};

export async function launchAgent(o: LaunchOptions): Promise<Agent> {
  const port = await freePort();
  const args = [
    ...(o.executable ? [] : [...(o.nodeFlags ?? []), o.entry ?? MAIN]),
    "agent",
    `-election=${o.election}`,
    `-namespace=${o.namespace}`,
    `-id=${o.id}`,
    `-kubeconfig=${o.kubeconfig}`,
    `-http=127.0.0.1:${port}`,
    ...(o.args ?? FAST),
    ...(o.command ? ["--", ...o.command] : []),
  ];
  const program = o.executable ?? process.execPath;
  const [file, argv]: [string, string[]] = o.podLike ? ["unshare", ["--pid", "--fork", "--kill-child", "--mount-proc", program, ...args]] : [program, args];
  const env = { ...process.env, LOG_LEVEL: o.logLevel ?? "debug", ...o.env };
  return new Agent(o.id, port, spawn(file, argv, { stdio: ["ignore", "pipe", "pipe"], env }), o.podLike ?? false);
}

/** A client-go candidate (test/peer) with the same status API, on the same kind of Lease. */
export async function launchPeer(o: Omit<LaunchOptions, "command" | "podLike" | "env">): Promise<Agent> {
  const port = await freePort();
  const args = [`-election=${o.election}`, `-namespace=${o.namespace}`, `-id=${o.id}`, `-kubeconfig=${o.kubeconfig}`, `-http=127.0.0.1:${port}`];
  return new Agent(o.id, port, spawn(await ensurePeer(), [...args, ...(o.args ?? FAST)], { stdio: ["ignore", "pipe", "pipe"] }), false);
}

export async function startAgent(t: TestContext, o: AgentOptions): Promise<Agent> {
  const { plane } = await testCluster();
  const agent = await launchAgent({ kubeconfig: plane.kubeconfig, ...o });
  t.after(() => {
    agent.dispose();
  });
  return agent;
}

export async function startPeer(t: TestContext, o: Omit<AgentOptions, "command" | "podLike" | "env">): Promise<Agent> {
  const { plane } = await testCluster();
  const peer = await launchPeer({ kubeconfig: plane.kubeconfig, ...o });
  t.after(() => {
    peer.dispose();
  });
  return peer;
}

/** Waits until exactly one of `agents` says it leads, and all that answer agree who it is. */
export async function waitForOneLeader(agents: Agent[], timeoutMs = 20_000): Promise<Agent> {
  const waiting = eventually(
    "exactly one leader",
    async () => {
      const statuses = await Promise.all(agents.map(async (a) => ({ a, s: a.running ? await a.status() : undefined })));
      const answering = statuses.filter((x) => x.s !== undefined);
      const leaders = answering.filter((x) => x.s?.is_leader);
      if (leaders.length !== 1) return undefined;
      const leader = leaders[0];
      if (!leader || !answering.every((x) => x.s?.leader === leader.a.id)) return undefined;
      return leader.a;
    },
    timeoutMs,
  );
  // A rare slow election is worth understanding: say what each agent was doing.
  return waiting.catch((err: unknown) => {
    const recent = agents.map(
      (a) =>
        `${a.id}: ${a.logs
          .slice(-6)
          .map((l) => JSON.stringify(l))
          .join("\n  ")}${a.stderr ? `\n  stderr: ${a.stderr.trim().split("\n").slice(-5).join("\n  ")}` : ""}`,
    );
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n${recent.join("\n")}`, { cause: err });
  });
}

/** Samples every agent's `/` until `ms` has passed, failing if two ever claim leadership together. */
export async function assertNeverTwoLeaders(agents: Agent[], ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const statuses = await Promise.all(agents.map((a) => (a.running ? a.status() : Promise.resolve(undefined))));
    const leaders = statuses.filter((s) => s?.is_leader).map((s) => s?.node);
    assert.ok(leaders.length <= 1, `two leaders at once: ${leaders.join(", ")}`);
    await sleep(50);
  }
}
