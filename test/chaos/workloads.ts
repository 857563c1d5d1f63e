/**
 * What the chaos harness runs on the node, in one namespace:
 * - `store`: the fenced store (test/e2e/images/app/store.ts), which no fault hits;
 * - `fenced`: a Deployment of 3 whose application writes to the store with the sidecar's fencing
 *   token while the sidecar says it leads; the operator labels its leader (Service `fenced-leader`
 *   selects the label) and keeps Service `fenced-primary`'s EndpointSlice on it;
 * - `wrapped`: a StatefulSet of 3 whose command runs under the wrapper and writes to the store with
 *   its token for as long as it runs;
 * - `mixed`: one election of elector agents (2 pods) and client-go programs (2 pods).
 * Every election runs at the tests' short timing (a 4 s lease), and each has an Election.
 */
import { FAST } from "../support/agents.ts";
import { APP_IMAGE, PEER_IMAGE, WORKER_IMAGE } from "../support/node.ts";
import type { Workload } from "./schedule.ts";

export const LEASE_MS = 4000;

/** The container of each workload that holds the election: what a crash kills. */
export const ELECTION_CONTAINER: Record<Workload, string> = { fenced: "elector", wrapped: "worker", mixed: "election" };

const RESTRICTED = { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } };
const POD_SECURITY = { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: "RuntimeDefault" } };
const READY_ON_AGENT = { httpGet: { path: "/readyz", port: 4040 }, periodSeconds: 2 };
const DOWNWARD = [
  { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
  { name: "POD_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
];

function podTemplate(labels: Record<string, string>, containers: object[]): object {
  return {
    metadata: { labels },
    spec: { serviceAccountName: "elector-agent", terminationGracePeriodSeconds: 10, securityContext: POD_SECURITY, containers },
  };
}

function deployment(name: string, replicas: number, labels: Record<string, string>, containers: object[]): object {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name },
    spec: { replicas, selector: { matchLabels: labels }, template: podTemplate(labels, containers) },
  };
}

function election(name: string, spec: object): object {
  return { apiVersion: "elector.dev/v1alpha1", kind: "Election", metadata: { name }, spec };
}

/** The store and its Service: created first, since the writers are given its ClusterIP. */
export function storeObjects(): object[] {
  return [
    deployment("store", 1, { app: "store" }, [
      { name: "store", image: APP_IMAGE, command: ["/nodejs/bin/node", "/app/store.ts"], ports: [{ containerPort: 8080 }], securityContext: RESTRICTED },
    ]),
    { apiVersion: "v1", kind: "Service", metadata: { name: "store" }, spec: { selector: { app: "store" }, ports: [{ port: 80, targetPort: 8080 }] } },
  ];
}

/** The three workloads, their Services and Elections; `store` is the store's URL as pods reach it. */
export function workloadObjects(store: string): object[] {
  const agent = (election: string): object => ({
    name: "elector",
    image: "elector:dev",
    args: ["agent", `-election=${election}`, "-http=:4040", ...FAST],
    readinessProbe: READY_ON_AGENT,
    securityContext: RESTRICTED,
  });
  const fenced = deployment("fenced", 3, { app: "fenced" }, [
    {
      name: "app",
      image: APP_IMAGE,
      env: [
        { name: "STORE_URL", value: store },
        { name: "STORE_RESOURCE", value: "fenced" },
        { name: "PORTS", value: "8080" },
      ],
      securityContext: RESTRICTED,
    },
    agent("fenced"),
  ]);
  const wrapped = {
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    metadata: { name: "wrapped" },
    spec: {
      serviceName: "wrapped",
      replicas: 3,
      podManagementPolicy: "Parallel",
      selector: { matchLabels: { app: "wrapped" } },
      template: podTemplate({ app: "wrapped" }, [
        {
          name: "worker",
          image: WORKER_IMAGE,
          args: ["agent", "-election=wrapped", "-http=:4040", ...FAST, "--", "/nodejs/bin/node", "/app/worker.js"],
          env: [
            { name: "STORE_URL", value: store },
            { name: "STORE_RESOURCE", value: "wrapped" },
          ],
          readinessProbe: READY_ON_AGENT,
          securityContext: RESTRICTED,
        },
      ]),
    },
  };
  const peer = {
    name: "election",
    image: PEER_IMAGE,
    args: ["-election=mixed", "-id=$(POD_NAME)", "-namespace=$(POD_NAMESPACE)", "-http=:4040", ...FAST],
    env: DOWNWARD,
    readinessProbe: { httpGet: { path: "/", port: 4040 }, periodSeconds: 2 },
    securityContext: RESTRICTED,
  };
  return [
    fenced,
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "fenced-leader" },
      spec: { selector: { app: "fenced", leader: "true" }, ports: [{ port: 80, targetPort: 8080 }] },
    },
    { apiVersion: "v1", kind: "Service", metadata: { name: "fenced-primary" }, spec: { ports: [{ name: "http", port: 80, targetPort: 8080 }] } },
    election("fenced", { candidates: { selector: { matchLabels: { app: "fenced" } } }, leaderLabel: {}, service: { name: "fenced-primary" } }),
    wrapped,
    election("wrapped", { candidates: { selector: { matchLabels: { app: "wrapped" } } } }),
    deployment("mixed-elector", 2, { app: "mixed", impl: "elector" }, [{ ...agent("mixed"), name: "election" }]),
    deployment("mixed-client-go", 2, { app: "mixed", impl: "client-go" }, [peer]),
    election("mixed", { candidates: { selector: { matchLabels: { app: "mixed" } } } }),
  ];
}
