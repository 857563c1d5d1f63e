/** `elector operator`'s flags, in the same Go-flag forms as the agent's. */
import {
  ConfigError,
  isDnsLabel,
  isDnsSubdomain,
  parseCommandFlags,
  parseListenAddress,
  timingFromFlags,
  usage,
  type FlagSpec,
  type ListenAddress,
} from "../config/flags.ts";
import { DEFAULT_TIMING, type Timing } from "../election/timing.ts";

export interface OperatorConfig {
  /** Watch Elections in these namespaces only; all namespaces when undefined. */
  namespaces: string[] | undefined;
  kubeconfig: string | undefined;
  metrics: ListenAddress | undefined;
  /** Serve /metrics over HTTPS to authenticated, authorized clients only (TokenReview + SubjectAccessReview). */
  metricsSecure: boolean;
  /** A directory with tls.crt and tls.key for the secure metrics; a self-signed certificate without it. */
  metricsCertDir: string | undefined;
  health: ListenAddress | undefined;
  /** The admission webhook that injects the agent into annotated pods, when asked for. */
  webhook: WebhookConfig | undefined;
  /** The operator's own leader election, when asked for. */
  leaderElection: { namespace: string; lease: string; identity: string; timing: Timing } | undefined;
  workers: number;
}

export interface WebhookConfig {
  address: ListenAddress;
  /** A directory with tls.crt and tls.key (cert-manager's, say); without it the operator manages its own in `secret`. */
  certDir: string | undefined;
  /** The operator's namespace: where `secret` and `service` are. */
  namespace: string;
  secret: string;
  service: string;
  /** The MutatingWebhookConfiguration whose caBundle the operator writes when it manages the certificate. */
  configuration: string;
  /** The image of the injected agent. */
  agentImage: string;
  /** The ClusterRole that lets a ServiceAccount hold Leases, which a warning tells to bind. */
  agentClusterRole: string;
}

/** controller-runtime's and component-base's spellings → ours. */
const SPELLINGS: Record<string, string> = {
  "metrics-bind-address": "metrics-addr",
  "health-probe-bind-address": "health-addr",
  "leader-elect-resource-name": "leader-elect-lease",
  "leader-elect-resource-namespace": "leader-elect-namespace",
  "leader-elect-lease-duration": "lease-duration",
  "leader-elect-renew-deadline": "renew-deadline",
  "leader-elect-retry-period": "retry-period",
};

export const OPERATOR_FLAGS: FlagSpec[] = [
  { name: "namespace", usage: "Watch Elections in this namespace only, or in these (a comma-separated list). Default: all namespaces." },
  { name: "kubeconfig", usage: "The kubeconfig file. Default: in-cluster config, then $KUBECONFIG, then ~/.kube/config." },
  { name: "metrics-addr", usage: 'The address (host:port) to serve /metrics on; "0" turns it off (default ":8080").' },
  {
    name: "metrics-secure",
    usage: "Serve /metrics over HTTPS, only to clients whose token may get /metrics (TokenReview, SubjectAccessReview).",
    boolean: true,
  },
  { name: "metrics-cert-path", usage: "A directory with tls.crt and tls.key for --metrics-secure. Default: a self-signed certificate." },
  { name: "health-addr", usage: 'The address (host:port) to serve /healthz and /readyz on; "0" turns it off (default ":8081").' },
  { name: "webhook-bind-address", usage: 'The address (host:port) to serve the injection webhook on, over HTTPS; "0" turns it off (default "0").' },
  {
    name: "webhook-cert-path",
    usage: "A directory with tls.crt and tls.key for the webhook (cert-manager's, say). Default: the operator makes and renews its own.",
  },
  { name: "webhook-secret", usage: "The Secret, in the operator's namespace, that holds the webhook's own certificate (default \"elector-webhook-tls\")." },
  { name: "webhook-service", usage: "The webhook's Service, in the operator's namespace: the names its certificate is for (default \"elector-webhook\")." },
  { name: "webhook-configuration", usage: 'The MutatingWebhookConfiguration whose caBundle the operator writes (default "elector").' },
  { name: "agent-image", usage: "The image of the agent the webhook injects (required with --webhook-bind-address)." },
  {
    name: "agent-cluster-role",
    usage: 'The ClusterRole the webhook\'s warnings tell to bind, for a ServiceAccount that may not hold its Lease (default "elector-agent").',
  },
  { name: "leader-elect", usage: "Run several replicas: only the one holding the Lease reconciles.", boolean: true },
  { name: "leader-elect-namespace", usage: "The namespace of the operator's own Lease. Default: the pod's namespace, else \"default\"." },
  { name: "leader-elect-lease", usage: 'The name of the operator\'s own Lease (default "elector-operator").' },
  ...Object.entries(SPELLINGS).map(([name, ours]) => ({ name, usage: `The same as --${ours} (controller-runtime's and component-base's spelling).` })),
  { name: "id", usage: "This replica's identity in its own election. Default: the hostname, i.e. the pod name." },
  { name: "lease-duration", usage: "The operator's own election: lease duration (default 15s)." },
  { name: "renew-deadline", usage: "The operator's own election: renew deadline (default 10s)." },
  { name: "retry-period", usage: "The operator's own election: retry period (default 2s)." },
  { name: "workers", usage: "How many Elections are reconciled at once (default 4)." },
  { name: "help", usage: "Show this help.", boolean: true },
  { name: "h", usage: "Show this help.", boolean: true },
];

/** What controller-runtime and component-base call some of our flags: accepted as the same flag. */
function sameFlag(flags: Map<string, string>, ours: string): string | undefined {
  const theirs = Object.entries(SPELLINGS).find(([, o]) => o === ours)?.[0];
  const a = flags.get(ours);
  const b = theirs === undefined ? undefined : flags.get(theirs);
  if (a !== undefined && b !== undefined && a !== b) throw new ConfigError(`--${ours} "${a}" and --${theirs ?? ""} "${b}" are the same flag: give one`);
  return a ?? b;
}

export const OPERATOR_USAGE = `${usage("elector operator", OPERATOR_FLAGS)}

LOG_LEVEL sets the log level.`;

export function parseOperatorConfig(argv: string[], environment: { hostname: string; podNamespace: string | undefined }): OperatorConfig | "help" {
  const flags = parseCommandFlags("operator", argv, OPERATOR_FLAGS);
  if (flags.values.has("help") || flags.values.has("h")) return "help";
  if (flags.rest.length > 0) throw new ConfigError(`unexpected argument "${flags.rest[0] ?? ""}" (see elector operator -h)`);
  const flag = (name: string): string | undefined => sameFlag(flags.values, name);

  const namespaces = flag("namespace")?.split(",");
  const badNamespace = namespaces?.find((n) => !isDnsLabel(n));
  if (badNamespace !== undefined)
    throw new ConfigError(`invalid --namespace "${badNamespace}": must be a lowercase DNS label (or a comma-separated list of them)`);
  const address = (name: string, fallback: string): ListenAddress | undefined => {
    const text = flag(name) ?? fallback;
    return text === "0" ? undefined : parseListenAddress(text, `--${name}`);
  };
  const workersText = flag("workers") ?? "4";
  const workers = Number(workersText);
  if (!Number.isInteger(workers) || workers < 1 || workers > 64) throw new ConfigError(`invalid --workers "${workersText}": want a whole number from 1 to 64`);

  let leaderElection: OperatorConfig["leaderElection"];
  if (flag("leader-elect") === "true") {
    const leNamespace = flag("leader-elect-namespace") ?? environment.podNamespace ?? "default";
    if (!isDnsLabel(leNamespace)) throw new ConfigError(`invalid --leader-elect-namespace "${leNamespace}": must be a lowercase DNS label`);
    const lease = flag("leader-elect-lease") ?? "elector-operator";
    if (!isDnsSubdomain(lease)) throw new ConfigError(`invalid --leader-elect-lease "${lease}": must be a lowercase DNS subdomain`);
    const identity = flag("id") ?? environment.hostname;
    if (identity === "") throw new ConfigError("empty --id, and no hostname to default to");
    const timing = timingFromFlags(flag, DEFAULT_TIMING);
    leaderElection = { namespace: leNamespace, lease, identity, timing };
  }
  const webhookAddress = address("webhook-bind-address", "0");
  let webhook: WebhookConfig | undefined;
  if (webhookAddress) {
    const agentImage = flag("agent-image");
    if (!agentImage) throw new ConfigError("--webhook-bind-address needs --agent-image: the image of the agent it injects");
    const name = (flagName: string, fallback: string): string => {
      const value = flag(flagName) ?? fallback;
      if (!isDnsSubdomain(value)) throw new ConfigError(`invalid --${flagName} "${value}": must be a lowercase DNS subdomain`);
      return value;
    };
    webhook = {
      address: webhookAddress,
      certDir: flag("webhook-cert-path"),
      namespace: environment.podNamespace ?? "default",
      secret: name("webhook-secret", "elector-webhook-tls"),
      service: name("webhook-service", "elector-webhook"),
      configuration: name("webhook-configuration", "elector"),
      agentImage,
      agentClusterRole: name("agent-cluster-role", "elector-agent"),
    };
  }
  return {
    namespaces: namespaces && [...new Set(namespaces)],
    kubeconfig: flag("kubeconfig"),
    metrics: address("metrics-addr", ":8080"),
    metricsSecure: flag("metrics-secure") === "true",
    metricsCertDir: flag("metrics-cert-path"),
    health: address("health-addr", ":8081"),
    webhook,
    leaderElection,
    workers,
  };
}
