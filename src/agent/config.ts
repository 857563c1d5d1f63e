/**
 * The agent's configuration, from k8s-elector's flags and k8s-await-election's environment
 * (flags win where both are given). Every mistake becomes one ConfigError line.
 */
import { isLockType, LOCK_TYPES, type LockType } from "../election/locks/index.ts";
import { DEFAULT_TIMING, type Timing } from "../election/timing.ts";
import {
  ConfigError,
  durationMs,
  isDnsLabel,
  isDnsSubdomain,
  parseCommandFlags,
  parseListenAddress,
  TIMING_FLAGS,
  timingFromFlags,
  usage,
  type FlagSpec,
  type ListenAddress,
} from "../config/flags.ts";

export interface AgentConfig {
  /** The lock object's name. */
  election: string;
  /** The election's display name (K8S_AWAIT_ELECTION_NAME), else the lock name. */
  name: string;
  namespace: string;
  identity: string;
  lockType: LockType;
  kubeconfig: string | undefined;
  http: ListenAddress | undefined;
  timing: Timing;
  /** The wrapped command; empty in sidecar mode. */
  command: string[];
  /** Lines worth a log line at start-up: ignored settings and why. */
  notices: string[];
}

/** Leader election is off: run the command as it is (k8s-await-election without its env). */
export interface Passthrough {
  passthrough: true;
  command: string[];
}

export interface Environment {
  env: NodeJS.ProcessEnv;
  hostname: string;
  /** The pod's namespace from its service account, if running in a pod. */
  podNamespace: string | undefined;
}

export const AGENT_FLAGS: FlagSpec[] = [
  { name: "election", usage: "The name of the election (the lock object). Required." },
  { name: "http", usage: "The HTTP address (host:port) to serve leader state, health and metrics on." },
  { name: "id", usage: "The ID of this candidate. Default: the hostname, i.e. the pod name." },
  { name: "kubeconfig", usage: "The kubeconfig file. Default: in-cluster config, then $KUBECONFIG." },
  { name: "lock-type", usage: `The lock object's kind: ${LOCK_TYPES.join(", ")} (default "leases").` },
  { name: "namespace", usage: "The lock's namespace. Default: the pod's namespace, else \"default\"." },
  { name: "election-namespace", usage: "The contrib leader-elector's name for -namespace." },
  {
    name: "use-cluster-credentials",
    usage: "Accepted for the contrib leader-elector; in a pod, in-cluster credentials are the default anyway.",
    boolean: true,
  },
  { name: "ttl", usage: "k8s-elector's TTL: lease duration = ttl, renew deadline = ttl/3, retry period = ttl/6." },
  { name: "lease-duration", usage: "How long followers wait before taking over an unrenewed lease (default 15s)." },
  { name: "renew-deadline", usage: "How long the leader retries renewing before it stops leading (default 10s)." },
  { name: "retry-period", usage: "How often the leader renews; followers' poll interval without a watch (default 2s)." },
  { name: "help", usage: "Show this help.", boolean: true },
  { name: "h", usage: "Show this help.", boolean: true },
];

export const AGENT_USAGE = `${usage("elector agent", AGENT_FLAGS)}

Wrapper mode: elector agent [flags] -- CMD ARGS...
Environment (k8s-await-election): K8S_AWAIT_ELECTION_ENABLED, _NAME, _LOCK_NAME, _LOCK_NAMESPACE,
_IDENTITY, _STATUS_ENDPOINT, _LEASE_DURATION, _RENEW_DEADLINE, _RETRY_PERIOD. LOG_LEVEL sets the log level.`;

const ENV = "K8S_AWAIT_ELECTION_";
const ROUTING_ENV = ["SERVICE_NAME", "SERVICE_NAMESPACE", "SERVICE_PORTS_JSON", "POD_IP", "NODE_NAME"];

/** Returns "help" when help was asked for. */
export function parseAgentConfig(argv: string[], environment: Environment): AgentConfig | Passthrough | "help" {
  const flags = parseCommandFlags("agent", argv, AGENT_FLAGS);
  if (flags.values.has("help") || flags.values.has("h")) return "help";
  const { env } = environment;
  const flag = (name: string): string | undefined => flags.values.get(name);
  const fromEnv = (name: string): string | undefined => {
    const v = env[ENV + name];
    return v === undefined || v === "" ? undefined : v;
  };
  const awaitElection = fromEnv("ENABLED") !== undefined;
  const election = flag("election") ?? (awaitElection ? fromEnv("LOCK_NAME") : undefined);

  if (election === undefined) {
    if (flags.rest.length > 0 && !awaitElection) return { passthrough: true, command: flags.rest };
    throw new ConfigError(awaitElection ? `${ENV}LOCK_NAME is required when ${ENV}ENABLED is set` : "missing required flag -election (see elector agent -h)");
  }
  if (!isDnsSubdomain(election)) {
    throw new ConfigError(`invalid election name "${election}": must be a lowercase DNS subdomain (a-z, 0-9, '-', '.')`);
  }

  const lockType = flag("lock-type") ?? "leases";
  if (!isLockType(lockType)) throw new ConfigError(`invalid -lock-type "${lockType}": must be one of ${LOCK_TYPES.join(", ")}`);

  const identity = flag("id") ?? (awaitElection ? fromEnv("IDENTITY") : undefined) ?? environment.hostname;
  if (identity === "") throw new ConfigError("empty -id, and no hostname to default to");

  if (flag("namespace") !== undefined && flag("election-namespace") !== undefined)
    throw new ConfigError("-namespace and -election-namespace name the same thing: give one");
  const namespace =
    flag("namespace") ?? flag("election-namespace") ?? (awaitElection ? fromEnv("LOCK_NAMESPACE") : undefined) ?? environment.podNamespace ?? "default";
  if (!isDnsLabel(namespace)) throw new ConfigError(`invalid namespace "${namespace}": must be a lowercase DNS label`);

  const httpText = flag("http") ?? (awaitElection ? fromEnv("STATUS_ENDPOINT") : undefined);
  const notices = awaitElection
    ? ROUTING_ENV.filter((n) => fromEnv(n) !== undefined).map(
        (n) => `${ENV}${n} is ignored: routing to the leader is the operator's job (set spec.service or spec.leaderLabel on the Election)`,
      )
    : [];
  return {
    election,
    name: (awaitElection ? fromEnv("NAME") : undefined) ?? election,
    namespace,
    identity,
    lockType,
    kubeconfig: flag("kubeconfig"),
    http: httpText === undefined ? undefined : parseListenAddress(httpText),
    timing: parseTiming(flag, awaitElection ? fromEnv : () => undefined),
    command: flags.rest,
    notices,
  };
}

function parseTiming(flag: (name: string) => string | undefined, fromEnv: (name: string) => string | undefined): Timing {
  let timing: Timing = DEFAULT_TIMING;
  const ttl = flag("ttl");
  if (ttl !== undefined) {
    const ms = durationMs("-ttl", ttl);
    timing = { leaseDurationMs: ms, renewDeadlineMs: ms / 3, retryPeriodMs: ms / 6 };
  }
  // k8s-await-election's variables carry the flag's name: LEASE_DURATION for --lease-duration.
  return timingFromFlags(flag, timing, (field) => {
    const envName = TIMING_FLAGS[field].toUpperCase().replace("-", "_");
    const text = fromEnv(envName);
    return text === undefined ? undefined : { source: `${ENV}${envName}`, text };
  });
}
