/** The record in a coordination.k8s.io/v1 Lease's spec, exactly where client-go's LeaseLock keeps it. */
import { CoordinationV1Api, type KubeConfig, type V1Lease } from "@kubernetes/client-node";
import type { LockState } from "../lock.ts";
import { leaseSpecToRecord, PREFERRED_HOLDER_ANNOTATION, recordToLeaseSpec, type LeaderElectionRecord } from "../record.ts";
import type { LockBackend } from "./objectlock.ts";

export function leaseBackend(kc: KubeConfig): LockBackend<V1Lease> {
  const api = kc.makeApiClient(CoordinationV1Api);
  return {
    resource: "leases",
    group: "coordination.k8s.io",
    collectionPath: (namespace) => `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`,
    read: (name, namespace, options) => api.readNamespacedLease({ name, namespace }, options),
    create: (namespace, body, options) => api.createNamespacedLease({ namespace, body }, options),
    replace: (name, namespace, body, options) => api.replaceNamespacedLease({ name, namespace, body }, options),
    stateOf: leaseState,
    withRecord: (lease, name, record) => leaseWithRecord(lease, name, record),
  };
}

export function leaseState(lease: V1Lease): LockState {
  const spec = lease.spec ?? {};
  const raw = JSON.stringify([spec.holderIdentity, spec.leaseDurationSeconds, spec.acquireTime, spec.renewTime, spec.leaseTransitions]);
  return {
    record: leaseSpecToRecord(spec),
    raw,
    preferredHolder: lease.metadata?.annotations?.[PREFERRED_HOLDER_ANNOTATION] ?? "",
  };
}

/** Other spec fields (strategy, preferredHolder of coordinated election) are kept as they are. */
function leaseWithRecord(lease: V1Lease | undefined, name: string, record: LeaderElectionRecord): V1Lease {
  // The generated client types MicroTime as a Date subclass but passes strings through unchanged;
  // strings keep the six fractional digits of RFC 3339 micro time.
  const spec = recordToLeaseSpec(record) as NonNullable<V1Lease["spec"]>;
  if (!lease) return { apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name }, spec };
  return { ...lease, spec: { ...lease.spec, ...spec } };
}
