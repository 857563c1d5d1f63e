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
