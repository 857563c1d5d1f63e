/**
 * Generated bad input for both commands' configuration (seeded: ELECTOR_SEED replays a run): each
 * argument list and environment must give a configuration, or a ConfigError of one non-empty line,
 * and never any other error. test/integration/agent-faults.test.ts runs such input as processes.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { AGENT_FLAGS, parseAgentConfig } from "../../src/agent/config.ts";
import { ConfigError } from "../../src/config/flags.ts";
import { OPERATOR_FLAGS, parseOperatorConfig } from "../../src/operator/config.ts";
import { Random, runSeed } from "../support/random.ts";

const CASES = 3000;
const VALUES = [
  "",
  "0",
  "-1",
  "15s",
  "-15s",
  "1h30m",
  "9999999999h",
  "0.5s",
  "1e3s",
  "soon",
  ":4040",
  "0.0.0.0:99999",
  "[::1]:80",
  "localhost",
  "db",
  "DB_1",
  "a".repeat(300),
  "leases",
  "zookeeper",
  "true",
  "false",
  "🦄",
  "x\ny",
  "--",
  "-election",
  "/nonexistent/kubeconfig",
  "a,b,,c",
  "NaN",
  "Infinity",
];
const ENV_NAMES = [
  "ENABLED",
  "NAME",
  "LOCK_NAME",
  "LOCK_NAMESPACE",
  "IDENTITY",
  "STATUS_ENDPOINT",
  "LEASE_DURATION",
  "RENEW_DEADLINE",
  "RETRY_PERIOD",
  "SERVICE_NAME",
  "POD_IP",
].map((n) => `K8S_AWAIT_ELECTION_${n}`);

/** An argument list in every form Go's flag package accepts, and some it does not. */
function argv(random: Random, names: string[]): string[] {
  const args: string[] = [];
  for (let i = random.below(7); i > 0; i--) {
    const name = random.chance(0.9) ? random.pick(names) : random.pick(["frobnicate", "", "-", "e", "Election"]);
    const value = random.pick(VALUES);
    const dashes = random.pick(["-", "--", "---"]);
    if (random.chance(0.5)) args.push(`${dashes}${name}=${value}`);
    else args.push(`${dashes}${name}`, value);
  }
  if (random.chance(0.2)) args.push("--", ...(random.chance(0.5) ? ["sleep", "1"] : []));
  return args;
}

function expectConfigOrOneLine(what: string, parse: () => unknown): void {
  try {
    parse();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `${what}: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
    assert.ok(err.message.length > 0 && !err.message.includes("\n"), `${what}: not one line: ${JSON.stringify(err.message)}`);
  }
}

test("the agent's flags and environment, generated: a configuration or one line, never another error", (t) => {
  const seed = runSeed(20261202);
  const random = new Random(seed);
  const names = AGENT_FLAGS.map((f) => f.name);
  let refused = 0;
  for (let i = 0; i < CASES; i++) {
    const args = argv(random, names);
    const env: NodeJS.ProcessEnv = {};
    for (let j = random.below(4); j > 0; j--) env[random.pick(ENV_NAMES)] = random.pick(VALUES);
    const what = `seed ${String(seed)}, case ${String(i)}: ${JSON.stringify(args)} ${JSON.stringify(env)}`;
    expectConfigOrOneLine(what, () => parseAgentConfig(args, { env, hostname: random.pick(["pod-0", ""]), podNamespace: random.pick(["shop", undefined]) }));
    try {
      parseAgentConfig(args, { env, hostname: "pod-0", podNamespace: "shop" });
    } catch {
      refused += 1;
    }
  }
  t.diagnostic(`seed ${String(seed)}: ${String(CASES)} cases, ${String(refused)} refused`);
  assert.ok(refused > CASES / 10 && refused < CASES, "the generator should make both kinds");
});

test("the operator's flags, generated: a configuration or one line, never another error", (t) => {
  const seed = runSeed(20261203);
  const random = new Random(seed);
  const names = OPERATOR_FLAGS.map((f) => f.name);
  for (let i = 0; i < CASES; i++) {
    const args = argv(random, names).filter((a) => a !== "--");
    expectConfigOrOneLine(`seed ${String(seed)}, case ${String(i)}: ${JSON.stringify(args)}`, () =>
      parseOperatorConfig(args, { hostname: random.pick(["op-0", ""]), podNamespace: random.pick(["elector-system", undefined]) }),
    );
  }
  t.diagnostic(`seed ${String(seed)}: ${String(CASES)} cases`);
});
