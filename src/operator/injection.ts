/**
 * Injection by annotation, decided as a pure function: a pod whose template carries
 * `elector.dev/election: NAME` gets the agent as a native sidecar (an init container with
 * `restartPolicy: Always`), configured by the other `elector.dev/` annotations of INJECTION_ANNOTATIONS.
 * A pod without the annotation is left alone; one that has the sidecar already is left alone
 * (re-admission changes nothing); one that asks for something invalid is refused with what to fix.
 * The webhook (webhook.ts) serves it.
 */
import { ConfigError, isDnsSubdomain, LOG_LEVELS, TIMING_FLAGS, timingFromFlags } from "../config/flags.ts";
import { DEFAULT_TIMING, type Timing } from "../election/timing.ts";

export const ELECTION_ANNOTATION = "elector.dev/election";
export const SIDECAR_NAME = "elector";
/** The agent's HTTP port when the pod does not name one and nothing in the pod uses it. */
const DEFAULT_PORT = 4040;
const QUANTITY = /^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;

/** Every annotation injection reads (docs/operator.md lists them with their defaults). */
export const INJECTION_ANNOTATIONS: string[] = [
  ELECTION_ANNOTATION,
  "elector.dev/port",
  ...Object.values(TIMING_FLAGS).map((flag) => `elector.dev/${flag}`),
  "elector.dev/cpu-request",
  "elector.dev/memory-request",
  "elector.dev/memory-limit",
  "elector.dev/log-level",
];

interface Port {
  containerPort?: number;
  name?: string;
}

interface Container {
  name: string;
  ports?: Port[];
}

export interface PodToAdmit {
  metadata?: { annotations?: Record<string, string> };
  spec?: { containers?: Container[]; initContainers?: Container[] };
}

/** One RFC 6902 operation. */
export interface PatchOperation {
  op: "add";
  path: string;
  value: unknown;
}

export type Injection = { kind: "skip"; why: string } | { kind: "inject"; patch: PatchOperation[]; election: string } | { kind: "refuse"; message: string };

export interface InjectionDefaults {
  /** The agent's image: the operator's own. */
  image: string;
}

export function decideInjection(pod: PodToAdmit, defaults: InjectionDefaults): Injection {
  const annotations = pod.metadata?.annotations ?? {};
  const election = annotations[ELECTION_ANNOTATION];
  if (election === undefined) return { kind: "skip", why: `no ${ELECTION_ANNOTATION} annotation` };
  const containers = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
  if (containers.some((c) => c.name === SIDECAR_NAME)) return { kind: "skip", why: `the pod has a container named ${SIDECAR_NAME} already` };
  try {
    const sidecar = sidecarFor(annotations, election, containers, defaults);
    const patch: PatchOperation[] = pod.spec?.initContainers
      ? [{ op: "add", path: "/spec/initContainers/0", value: sidecar }]
      : [{ op: "add", path: "/spec/initContainers", value: [sidecar] }];
    return { kind: "inject", patch, election };
  } catch (err) {
    if (err instanceof ConfigError) return { kind: "refuse", message: err.message };
    throw err;
  }
}

function sidecarFor(annotations: Record<string, string>, election: string, containers: Container[], defaults: InjectionDefaults) {
  const known = new Set(INJECTION_ANNOTATIONS);
  const unknown = Object.keys(annotations).filter((k) => k.startsWith("elector.dev/") && !known.has(k));
  if (unknown.length > 0) throw new ConfigError(`unknown annotation ${unknown.join(", ")}: elector reads ${[...known].join(", ")}`);
  if (!isDnsSubdomain(election))
    throw new ConfigError(`${ELECTION_ANNOTATION}: "${election}" is not a valid Lease name (lowercase letters, digits, "-" and ".")`);
  const used = new Set(containers.flatMap((c) => (c.ports ?? []).map((p) => p.containerPort)));
  // Port names are unique within a pod: the probes use the number, so a taken name is simply left out.
  const nameTaken = containers.some((c) => (c.ports ?? []).some((p) => p.name === SIDECAR_NAME));
  const port = portFrom(annotations["elector.dev/port"], used);
  const timing: Timing = timingFromFlags(
    () => undefined,
    DEFAULT_TIMING,
    (field) => {
      const name = `elector.dev/${TIMING_FLAGS[field]}`;
      const text = annotations[name];
      return text === undefined ? undefined : { source: `annotation ${name}`, text };
    },
  );
  const quantity = (name: string, fallback: string): string => {
    const text = annotations[`elector.dev/${name}`] ?? fallback;
    if (!QUANTITY.test(text)) throw new ConfigError(`elector.dev/${name}: "${text}" is not a quantity (such as 10m, 64Mi or 0.5)`);
    return text;
  };
  const logLevel = annotations["elector.dev/log-level"] ?? "info";
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel))
    throw new ConfigError(`elector.dev/log-level: "${logLevel}" must be one of ${LOG_LEVELS.join(", ")}`);
  const seconds = (ms: number): string => `${String(ms / 1000)}s`;
  const probe = (path: string) => ({ httpGet: { path, port } });
  const container = {
    name: SIDECAR_NAME,
    image: defaults.image,
    restartPolicy: "Always",
    args: [
      "agent",
      `-election=${election}`,
      "-id=$(ELECTOR_POD_NAME)",
      `-http=:${String(port)}`,
      `--lease-duration=${seconds(timing.leaseDurationMs)}`,
      `--renew-deadline=${seconds(timing.renewDeadlineMs)}`,
      `--retry-period=${seconds(timing.retryPeriodMs)}`,
    ],
    env: [
      { name: "ELECTOR_POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
      { name: "LOG_LEVEL", value: logLevel },
    ],
    ports: [nameTaken ? { containerPort: port } : { name: SIDECAR_NAME, containerPort: port }],
    readinessProbe: probe("/readyz"),
    livenessProbe: probe("/healthz"),
    resources: {
      requests: { cpu: quantity("cpu-request", "10m"), memory: quantity("memory-request", "64Mi") },
      limits: { memory: quantity("memory-limit", "128Mi") },
    },
    securityContext: {
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    },
  };
  return container;
}

function portFrom(text: string | undefined, used: Set<number | undefined>): number {
  if (text === undefined) {
    let port = DEFAULT_PORT;
    while (used.has(port)) port++;
    return port;
  }
  const port = Number(text);
  if (!/^\d+$/.test(text) || port < 1 || port > 65535) throw new ConfigError(`elector.dev/port: "${text}" is not a port (1-65535)`);
  if (used.has(port)) throw new ConfigError(`elector.dev/port: ${text} is a port of another container of the pod; choose a free one`);
  return port;
}
