/** The agent's configuration: k8s-elector's flags in every Go form, k8s-await-election's env, and errors. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseAgentConfig, type AgentConfig, type Environment } from "../../src/agent/config.ts";
import { ConfigError } from "../../src/config/flags.ts";
import { parseGoDuration } from "../../src/config/flags.ts";

const pod: Environment = { env: {}, hostname: "db-0", podNamespace: "shop" };

function config(argv: string[], environment: Environment = pod): AgentConfig {
  const parsed = parseAgentConfig(argv, environment);
  assert.ok(typeof parsed === "object" && !("passthrough" in parsed), "expected an election config");
  return parsed;
}

function error(argv: string[], environment: Environment = pod): string {
  try {
    parseAgentConfig(argv, environment);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.doesNotMatch(err.message, /\n/, "one line");
    return err.message;
  }
  assert.fail("expected a ConfigError");
}

test("k8s-elector flags are accepted in all four of Go's forms", () => {
  for (const argv of [
    ["-election=db", "-http=:4040", "-lock-type=configmaps"],
    ["-election", "db", "-http", ":4040", "-lock-type", "configmaps"],
    ["--election=db", "--http=:4040", "--lock-type=configmaps"],
    ["--election", "db", "--http", ":4040", "--lock-type", "configmaps"],
  ]) {
    const c = config(argv);
    assert.equal(c.election, "db");
    assert.deepEqual(c.http, { host: "0.0.0.0", port: 4040 });
    assert.equal(c.lockType, "configmaps");
    assert.deepEqual(c.command, []);
  }
});

test("defaults: identity from the hostname, the pod's namespace, leases, client-go's timing", () => {
  const c = config(["-election=db"]);
  assert.equal(c.identity, "db-0");
  assert.equal(c.namespace, "shop");
  assert.equal(c.lockType, "leases");
  assert.deepEqual(c.timing, { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 });
  assert.equal(config(["-election=db"], { ...pod, podNamespace: undefined }).namespace, "default");
});

test("the contrib leader-elector's arguments work unchanged", () => {
  const c = config(["--election=example", "--election-namespace=apps", "--http=0.0.0.0:4040", "--use-cluster-credentials", "--id=pod-a"]);
  assert.equal(c.election, "example");
  assert.equal(c.namespace, "apps");
  assert.equal(c.identity, "pod-a");
  assert.deepEqual(c.http, { host: "0.0.0.0", port: 4040 });
  assert.match(error(["-election=db", "-namespace=a", "-election-namespace=b"]), /-namespace and -election-namespace name the same thing/);
});

test("-ttl derives the timing as k8s-elector does, and explicit durations win", () => {
  assert.deepEqual(config(["-election=db", "-ttl=12s"]).timing, { leaseDurationMs: 12_000, renewDeadlineMs: 4_000, retryPeriodMs: 2_000 });
  assert.deepEqual(config(["-election=db", "--lease-duration", "4s", "--renew-deadline=3s", "--retry-period", "1s"]).timing, {
    leaseDurationMs: 4_000,
    renewDeadlineMs: 3_000,
    retryPeriodMs: 1_000,
  });
});

test("the wrapped command follows -- or the first non-flag argument", () => {
  assert.deepEqual(config(["-election=db", "--", "server", "--port", "1"]).command, ["server", "--port", "1"]);
  assert.deepEqual(config(["-election", "db", "server", "-x"]).command, ["server", "-x"]);
});

test("k8s-await-election's environment configures the same election", () => {
  const env: Environment = {
    hostname: "ignored",
    podNamespace: "shop",
    env: {
      K8S_AWAIT_ELECTION_ENABLED: "1",
      K8S_AWAIT_ELECTION_NAME: "linstor-controller",
      K8S_AWAIT_ELECTION_LOCK_NAME: "piraeus-op-cs",
      K8S_AWAIT_ELECTION_LOCK_NAMESPACE: "storage",
      K8S_AWAIT_ELECTION_IDENTITY: "cs-1",
      K8S_AWAIT_ELECTION_STATUS_ENDPOINT: ":9999",
      K8S_AWAIT_ELECTION_LEASE_DURATION: "20s",
      K8S_AWAIT_ELECTION_RENEW_DEADLINE: "15s",
      K8S_AWAIT_ELECTION_RETRY_PERIOD: "5s",
      K8S_AWAIT_ELECTION_SERVICE_NAME: "cs",
      K8S_AWAIT_ELECTION_POD_IP: "10.0.0.9",
    },
  };
  const c = config(["my-singleton-server", "--flag"], env);
  assert.equal(c.election, "piraeus-op-cs");
  assert.equal(c.name, "linstor-controller");
  assert.equal(c.namespace, "storage");
  assert.equal(c.identity, "cs-1");
  assert.deepEqual(c.http, { host: "0.0.0.0", port: 9999 });
  assert.deepEqual(c.timing, { leaseDurationMs: 20_000, renewDeadlineMs: 15_000, retryPeriodMs: 5_000 });
  assert.deepEqual(c.command, ["my-singleton-server", "--flag"]);
  assert.equal(c.notices.length, 2);
  assert.match(c.notices[0] ?? "", /K8S_AWAIT_ELECTION_SERVICE_NAME is ignored: routing .* Election/);
});

test("without K8S_AWAIT_ELECTION_ENABLED and -election, the command simply runs", () => {
  assert.deepEqual(parseAgentConfig(["server", "-x"], { ...pod, env: { K8S_AWAIT_ELECTION_LOCK_NAME: "x" } }), {
    passthrough: true,
    command: ["server", "-x"],
  });
});

test("bad input gets one clear line", () => {
  assert.match(error([]), /missing required flag -election/);
  assert.match(error(["server"], { ...pod, env: { K8S_AWAIT_ELECTION_ENABLED: "1" } }), /K8S_AWAIT_ELECTION_LOCK_NAME is required/);
  assert.match(error(["-election=db", "-lock-type=etcd"]), /invalid -lock-type "etcd": must be one of leases, endpoints, configmaps/);
  assert.match(error(["-election=db", "-http=4040"]), /invalid HTTP address "4040": want host:port/);
  assert.match(error(["-election=db", "-http=:99999"]), /invalid HTTP address/);
  assert.match(error(["-election=db", "-ttl=10"]), /invalid duration "10" for -ttl/);
  assert.match(
    error(["-election=db", "--lease-duration=10s", "--renew-deadline=10s"]),
    /invalid timing: lease duration \(10s\) must be greater than renew deadline \(10s\)/,
  );
  assert.match(error(["-election=db", "--retry-period=9s"]), /renew deadline \(10s\) must be greater than 1.2 × retry period \(9s\)/);
  assert.match(error(["-election=Bad_Name"]), /invalid election name "Bad_Name"/);
  assert.match(error(["-election=db", "-bogus"]), /flag provided but not defined: -bogus/);
  assert.match(error(["-election"]), /flag needs an argument: -election/);
  assert.match(error(["-election=db", "-namespace=Not.A.Label"]), /invalid namespace/);
});

test("-h asks for help", () => {
  assert.equal(parseAgentConfig(["-h"], pod), "help");
  assert.equal(parseAgentConfig(["--help"], pod), "help");
});

test("Go durations", () => {
  assert.equal(parseGoDuration("15s"), 15_000);
  assert.equal(parseGoDuration("1m30s"), 90_000);
  assert.equal(parseGoDuration("1.5h"), 5_400_000);
  assert.equal(parseGoDuration("250ms"), 250);
  assert.equal(parseGoDuration("0"), 0);
  assert.equal(parseGoDuration("15"), undefined);
  assert.equal(parseGoDuration("s"), undefined);
  assert.equal(parseGoDuration("1d"), undefined);
});
