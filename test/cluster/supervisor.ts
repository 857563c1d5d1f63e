/**
 * The one process that owns a local cluster's components. With a node, it is the only child of
 * the reaping PID 1 (`pause`) inside the cluster's own namespaces; without one, a plain host
 * process. It runs the set-up steps, starts each component in order, stops or starts one on
 * request, and stops them all on SIGTERM.
 *
 * Host commands talk to it over HTTP on a Unix socket in the cluster folder (a Unix socket is
 * reached through the file system, so it crosses network namespaces). With a node, the API
 * server's host address is a listening socket the host opened and this process inherited as fd 3:
 * a socket stays in the network namespace it was made in, so one process bridges both without
 * any interface, route or address on the host.
 *
 * Usage: node supervisor.ts <cluster dir>   (reads <dir>/supervisor.json)
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, openSync, closeSync } from "node:fs";
import { readFile, rm } from "node:fs/promises";
import { createServer as createHttpServer, request as httpRequest } from "node:http";
import { connect, createServer } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

export interface Step {
  name: string;
  command: string;
  args: string[];
  /** Runs to its end before the next step starts (a failure stops the set-up). */
  oneshot?: boolean;
  /** A long-running step counts as started once this file exists (a socket, say). */
  readyFile?: string;
}

export interface SupervisorConfig {
  steps: Step[];
  /** Forward connections on the inherited listening socket (fd 3) to this port on loopback. */
  bridgePort?: number;
}

export interface SupervisorStatus {
  /** Every step has started (or, for a oneshot, finished). */
  started: boolean;
  failed?: string;
  components: Record<string, { pid: number; running: boolean }>;
}

export const SUPERVISOR_SOCKET = "supervisor.sock";
export const SUPERVISOR_CONFIG = "supervisor.json";
/** A component asked to stop gets this long before SIGKILL. */
const STOP_GRACE_MS = 10_000;

/**
 * A GET made from inside the cluster's network namespace (a pod IP, a ClusterIP, kube-proxy's
 * healthz), on a connection of its own: kube-proxy routes connections, not requests, so a kept-alive
 * connection would go on reaching the pod it reached first.
 */
function fetchInside(url: string, timeoutMs: number, post?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const headers = { connection: "close", ...(post === undefined ? {} : { "content-type": "application/json" }) };
    const req = httpRequest(url, { method: post === undefined ? "GET" : "POST", agent: false, timeout: timeoutMs, headers }, (res) => {
      let body = "";
      res.on("data", (chunk: Buffer) => (body += chunk.toString()));
      res.on("end", () => {
        resolve({ status: res.statusCode ?? 0, body });
      });
      res.on("error", (err) => {
        resolve({ status: 0, body: err.message });
      });
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${String(timeoutMs)} ms`)));
    req.end(post);
    req.on("error", (err) => {
      resolve({ status: 0, body: err.message });
    });
  });
}

async function main(dir: string): Promise<void> {
  const config = JSON.parse(await readFile(join(dir, SUPERVISOR_CONFIG), "utf8")) as SupervisorConfig;
  const logs = join(dir, "logs");
  const children = new Map<string, ChildProcess>();
  const status: SupervisorStatus = { started: false, components: {} };
  const log = (line: string): void => {
    console.log(`${new Date().toISOString()} ${line}`);
  };

  const start = (step: Step): ChildProcess => {
    const fd = openSync(join(logs, `${step.name}.log`), "a");
    try {
      const child = spawn(step.command, step.args, { stdio: ["ignore", fd, fd], cwd: dir });
      children.set(step.name, child);
      status.components[step.name] = { pid: child.pid ?? 0, running: true };
      child.on("exit", (code, signal) => {
        status.components[step.name] = { pid: child.pid ?? 0, running: false };
        if (!step.oneshot) log(`${step.name} exited (${signal ?? `code ${String(code)}`})`);
      });
      child.on("error", (err) => {
        log(`${step.name}: ${err.message}`);
      });
      return child;
    } finally {
      closeSync(fd);
    }
  };

  const stop = async (name: string): Promise<void> => {
    const child = children.get(name);
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    if ((await Promise.race([exited, sleep(STOP_GRACE_MS, "late")])) === "late") {
      child.kill("SIGKILL");
      await exited;
    }
  };

  const handle = async (method: string, url: URL): Promise<[number, unknown]> => {
    const [, verb, name = ""] = url.pathname.split("/");
    if (method === "GET" && verb === "status") return [200, status];
    if (method === "GET" && verb === "fetch") {
      const post = url.searchParams.get("post") ?? undefined;
      return [200, await fetchInside(url.searchParams.get("url") ?? "", Number(url.searchParams.get("timeout") ?? 2000), post)];
    }
    const step = config.steps.find((s) => s.name === name && !s.oneshot);
    if (method !== "POST" || !step) return [404, { error: `no such request: ${method} ${url.pathname}` }];
    if (verb === "stop") {
      await stop(name);
      return [200, status.components[name]];
    }
    if (verb === "start") {
      if (status.components[name]?.running) return [409, { error: `${name} is running` }];
      start(step);
      return [200, status.components[name]];
    }
    return [404, { error: `no such request: ${method} ${url.pathname}` }];
  };
  const control = createHttpServer((req, res) => {
    void handle(req.method ?? "", new URL(req.url ?? "/", "http://supervisor")).then(([code, body]) => {
      res.writeHead(code, { "content-type": "application/json" }).end(JSON.stringify(body));
    });
  });
  const socket = join(dir, SUPERVISOR_SOCKET);
  await rm(socket, { force: true });
  await new Promise<void>((resolve) => control.listen(socket, resolve));

  if (config.bridgePort !== undefined) {
    const port = config.bridgePort;
    const bridge = createServer((client) => {
      const server = connect(port, "127.0.0.1");
      client.pipe(server).pipe(client);
      client.on("error", () => server.destroy());
      server.on("error", () => client.destroy());
    });
    bridge.listen({ fd: 3 });
  }

  const run = { stopping: false };
  const shutdown = async (): Promise<void> => {
    if (run.stopping) return;
    run.stopping = true;
    log("stopping every component");
    for (const step of [...config.steps].reverse()) await stop(step.name);
    control.close();
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown());
  process.on("SIGINT", () => void shutdown());

  for (const step of config.steps) {
    // A SIGTERM during start-up: the shutdown under way stops what has started; start nothing more.
    if (run.stopping) return;
    log(`starting ${step.name}`);
    const child = start(step);
    if (step.oneshot) {
      const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
      if (code !== 0) {
        status.failed = `${step.name} failed (exit ${String(code)}); see ${join(logs, `${step.name}.log`)}`;
        log(status.failed);
        return;
      }
    }
    if (step.readyFile) {
      const readyFile = step.readyFile;
      for (let i = 0; !existsSync(readyFile); i++) {
        if (!status.components[step.name]?.running || i > 600) {
          status.failed = `${step.name} did not create ${readyFile}; see ${join(logs, `${step.name}.log`)}`;
          log(status.failed);
          return;
        }
        await sleep(100);
      }
    }
  }
  status.started = true;
  log("every component started");
}

if (import.meta.url === `file://${process.argv[1] ?? ""}`) {
  const dir = process.argv[2];
  if (!dir) {
    console.error("usage: node supervisor.ts <cluster dir>");
    process.exit(2);
  }
  await main(dir);
}
