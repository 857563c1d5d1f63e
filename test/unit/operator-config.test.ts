/** `elector operator`'s flags: ours, controller-runtime's and component-base's spellings of them, and bad input. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError } from "../../src/config/flags.ts";
import { parseOperatorConfig, type OperatorConfig } from "../../src/operator/config.ts";

const ENV = { hostname: "op-0", podNamespace: "elector-system" };
const parse = (argv: string[]): OperatorConfig => {
  const config = parseOperatorConfig(argv, ENV);
  assert.notEqual(config, "help");
  return config as OperatorConfig;
};

test("defaults: metrics on :8080 in plain HTTP, health on :8081, no leader election", () => {
  const c = parse([]);
  assert.deepEqual(c.metrics, { host: "0.0.0.0", port: 8080 });
  assert.deepEqual(c.health, { host: "0.0.0.0", port: 8081 });
  assert.equal(c.metricsSecure, false);
  assert.equal(c.leaderElection, undefined);
});

test("controller-runtime's and component-base's spellings are the same flags as ours", () => {
  const theirs = parse([
    "--metrics-bind-address=:8443",
    "--metrics-secure",
    "--health-probe-bind-address=127.0.0.1:9440",
    "--leader-elect",
    "--leader-elect-resource-name=my-operator",
    "--leader-elect-resource-namespace=ops",
    "--leader-elect-lease-duration=20s",
    "--leader-elect-renew-deadline=15s",
    "--leader-elect-retry-period=3s",
  ]);
  const ours = parse([
    "--metrics-addr=:8443",
    "--metrics-secure",
    "--health-addr=127.0.0.1:9440",
    "--leader-elect",
    "--leader-elect-lease=my-operator",
    "--leader-elect-namespace=ops",
    "--lease-duration=20s",
    "--renew-deadline=15s",
    "--retry-period=3s",
  ]);
  assert.deepEqual(theirs, ours);
  assert.deepEqual(theirs.leaderElection, {
    namespace: "ops",
    lease: "my-operator",
    identity: "op-0",
    timing: { leaseDurationMs: 20_000, renewDeadlineMs: 15_000, retryPeriodMs: 3000 },
  });
  assert.equal(parse(["--metrics-bind-address=0"]).metrics, undefined, '"0" turns metrics off, as in controller-runtime');
});

test("one setting given twice under its two names with different values is one clear error", () => {
  assert.throws(
    () => parse(["--metrics-addr=:8080", "--metrics-bind-address=:8443"]),
    (err: unknown) => err instanceof ConfigError && err.message === '--metrics-addr ":8080" and --metrics-bind-address ":8443" are the same flag: give one',
  );
  assert.deepEqual(parse(["--metrics-addr=:9000", "--metrics-bind-address=:9000"]).metrics, { host: "0.0.0.0", port: 9000 });
  assert.throws(() => parse(["--leader-elect", "--leader-elect-lease-duration=fast"]), /invalid duration "fast" for --lease-duration/);
});

test("--namespace takes one namespace or a comma-separated list of them", () => {
  assert.deepEqual(parse(["--namespace=shop"]).namespaces, ["shop"]);
  assert.deepEqual(parse(["--namespace=shop,billing,shop"]).namespaces, ["shop", "billing"]);
  assert.equal(parse([]).namespaces, undefined, "all namespaces");
  assert.throws(() => parse(["--namespace=shop,"]), /invalid --namespace "": must be a lowercase DNS label \(or a comma-separated list of them\)/);
  assert.throws(() => parse(["--namespace=Shop"]), /invalid --namespace "Shop"/);
});

test("the webhook is off unless asked for; on, it needs the agent's image and names its objects in the pod's namespace", () => {
  assert.equal(parse([]).webhook, undefined);
  assert.throws(
    () => parse(["--webhook-bind-address=:9443"]),
    (e: unknown) => e instanceof ConfigError && /needs --agent-image/.test(e.message),
  );
  assert.deepEqual(parse(["--webhook-bind-address=:9443", "--agent-image=elector:0.1.0"]).webhook, {
    address: { host: "0.0.0.0", port: 9443 },
    certDir: undefined,
    namespace: "elector-system",
    secret: "elector-webhook-tls",
    service: "elector-webhook",
    configuration: "elector",
    agentImage: "elector:0.1.0",
    agentClusterRole: "elector-agent",
  });
  assert.throws(
    () => parse(["--webhook-bind-address=:9443", "--agent-image=x", "--webhook-service=Web_Hook"]),
    (e: unknown) => e instanceof ConfigError && /invalid --webhook-service "Web_Hook"/.test(e.message),
  );
});
