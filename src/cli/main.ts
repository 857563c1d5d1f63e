#!/usr/bin/env node
/** The `elector` command. Bad input ends in one line on stderr and a non-zero exit, never a trace. */
import { hostname } from "node:os";
import { pino } from "pino";
import { runAgent, runPassthrough } from "../agent/agent.ts";
import { AGENT_USAGE, parseAgentConfig } from "../agent/config.ts";
import { OPERATOR_USAGE, parseOperatorConfig } from "../operator/config.ts";
import { ConfigError, LOG_LEVELS } from "../config/flags.ts";
import { KubeconfigError, podNamespace } from "../kube/kubeconfig.ts";

// The CommonJS object, not an ESM import: see src/kube/client.ts.
const { readFileSync } = process.getBuiltinModule("node:fs");

const USAGE =
  "usage: elector agent [flags] [-- CMD ARGS...] | elector operator [flags] | elector install DIR | elector version   (-h after a command lists its flags)";

function logger(): pino.Logger {
  const level = (process.env.LOG_LEVEL ?? "info").toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new ConfigError(`invalid LOG_LEVEL "${level}": must be one of ${LOG_LEVELS.join(", ")}`);
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
}

/** The package's version: from package.json beside dist/, or in the single executable, from the copy embedded in it. */
function version(): string {
  const sea = process.getBuiltinModule("node:sea");
  const text = sea.isSea() ? sea.getAsset("package.json", "utf8") : readFileSync(new URL("../../package.json", import.meta.url), "utf8");
  return (JSON.parse(text) as { version: string }).version;
}

/**
 * `elector install DIR`: the single executable copies itself to DIR/elector, for an init container
 * that hands it to an app container through an emptyDir. Written under a temporary name and then
 * renamed, so that a copy cut short (the init container killed) never leaves a file that looks whole.
 */
function install(args: string[]): number {
  const [dir, ...extra] = args;
  if (!dir || extra.length > 0) throw new ConfigError("usage: elector install DIR   (copies this executable to DIR/elector)");
  if (!process.getBuiltinModule("node:sea").isSea()) {
    throw new ConfigError("elector install copies the single executable (/elector in the image), and this is elector run by Node: run /elector install DIR");
  }
  const { chmodSync, copyFileSync, renameSync } = process.getBuiltinModule("node:fs");
  const target = `${dir.replace(/\/+$/, "")}/elector`;
  try {
    copyFileSync(process.execPath, `${target}.partial`);
    chmodSync(`${target}.partial`, 0o755);
    renameSync(`${target}.partial`, target);
  } catch (err) {
    throw new ConfigError(`cannot install into ${dir}: ${err instanceof Error ? err.message : String(err)}`);
  }
  console.log(`installed ${target}`);
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "install":
      return install(rest);
    case "version":
      console.log(`elector ${version()}`);
      return 0;
    case "agent": {
      const config = parseAgentConfig(rest, { env: process.env, hostname: hostname(), podNamespace: podNamespace() });
      if (config === "help") {
        console.log(AGENT_USAGE);
        return 0;
      }
      if ("passthrough" in config) return runPassthrough(config.command);
      return runAgent(config, logger());
    }
    case "operator": {
      const config = parseOperatorConfig(rest, { hostname: hostname(), podNamespace: podNamespace() });
      if (config === "help") {
        console.log(OPERATOR_USAGE);
        return 0;
      }
      // Loaded only here: the agent never loads the operator's code.
      const { runOperator } = await import("../operator/operator.ts");
      return runOperator(config, logger());
    }
    default:
      console.error(command ? `elector: unknown command "${command}"\n${USAGE}` : USAGE);
      return 2;
  }
}

// A promise chain, not a top-level await: the single executable runs this file bundled as CommonJS.
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const known = err instanceof ConfigError || err instanceof KubeconfigError;
    console.error(`elector: ${err instanceof Error ? err.message : String(err)}`);
    if (!known && process.env.LOG_LEVEL === "debug" && err instanceof Error) console.error(err.stack);
    process.exitCode = err instanceof ConfigError ? 2 : 1;
  },
);
