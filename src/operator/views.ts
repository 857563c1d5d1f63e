/**
 * The API objects as the pure projection (projection.ts) sees them: only the fields its rules
 * read, so that a test builds a world in a few lines and the rules never depend on API shapes.
 */
import type { V1Lease, V1Pod, V1Service } from "@kubernetes/client-node";
import { leaseSpecToRecord, PREFERRED_HOLDER_ANNOTATION } from "../election/record.ts";
import type { LeaseView, PodView, ServiceView } from "./projection.ts";

export function leaseView(lease: V1Lease, unchangedForMs: number): LeaseView {
  return { record: leaseSpecToRecord(lease.spec), preferredHolder: lease.metadata?.annotations?.[PREFERRED_HOLDER_ANNOTATION] ?? "", unchangedForMs };
}

/**
 * What the operator caches of a pod: the fields podView, the candidate filter and the label writes
 * read, and none of the rest (volumes, env, probes, container statuses, annotations), which is most
 * of a pod. Applied as each pod arrives (watches.ts); nothing is ever written back from it.
 */
export function cachedPod(pod: V1Pod): V1Pod {
  const { metadata, spec, status } = pod;
  return defined({
    metadata: defined({
      name: metadata?.name,
      namespace: metadata?.namespace,
      uid: metadata?.uid,
      resourceVersion: metadata?.resourceVersion,
      labels: metadata?.labels,
      deletionTimestamp: metadata?.deletionTimestamp,
    }),
    spec: defined({ nodeName: spec?.nodeName, containers: (spec?.containers ?? []).map((c) => defined({ name: c.name, ports: c.ports })) }),
    status: defined({ phase: status?.phase, podIP: status?.podIP, conditions: status?.conditions?.filter((c) => c.type === "Ready") }),
  });
}

/** `object` without its undefined fields, as JSON would have it. */
function defined<T extends object>(object: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(object).filter(([, v]) => v !== undefined)) as { [K in keyof T]: Exclude<T[K], undefined> };
}

export function podView(pod: V1Pod): PodView {
  const ready = pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
  return {
    name: pod.metadata?.name ?? "",
    ...(pod.metadata?.uid ? { uid: pod.metadata.uid } : {}),
    ...(pod.status?.podIP ? { ip: pod.status.podIP } : {}),
    ...(pod.spec?.nodeName ? { node: pod.spec.nodeName } : {}),
    ready,
    terminating: pod.metadata?.deletionTimestamp !== undefined,
    labels: pod.metadata?.labels ?? {},
    ports: (pod.spec?.containers ?? []).flatMap((c) =>
      (c.ports ?? []).map((p) => ({ ...(p.name ? { name: p.name } : {}), containerPort: p.containerPort, ...(p.protocol ? { protocol: p.protocol } : {}) })),
    ),
  };
}

export function serviceView(service: V1Service | undefined): ServiceView {
  if (!service) return { exists: false };
  const family = service.spec?.ipFamilies?.[0];
  return {
    exists: true,
    hasSelector: Object.keys(service.spec?.selector ?? {}).length > 0,
    ports: (service.spec?.ports ?? []).map((p) => ({
      ...(p.name ? { name: p.name } : {}),
      port: p.port,
      ...(p.targetPort !== undefined ? { targetPort: p.targetPort } : {}),
      ...(p.protocol ? { protocol: p.protocol } : {}),
      ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}),
    })),
    ...(family === "IPv4" || family === "IPv6" ? { ipFamily: family } : {}),
  };
}
