/** The record in a coordination.k8s.io/v1 Lease's spec, exactly where client-go's LeaseLock keeps it. */
import type { KubeObject } from "../../kube/client.ts";
import type { LockState } from "../lock.ts";
import {
  leaseSpecToRecord,
  PREFERRED_HOLDER_ANNOTATION,
  recordProblem,
  recordToLeaseSpec,
  type LeaderElectionRecord,
  type LeaseSpecRecord,
} from "../record.ts";
import type { LockBackend } from "./objectlock.ts";

/** A Lease as it travels: other spec fields (strategy, preferredHolder) pass through as they are. */
export interface Lease extends KubeObject {
  spec?: LeaseSpecRecord;
}

export const leaseBackend: LockBackend<Lease> = {
  resource: "leases",
  group: "coordination.k8s.io",
  version: "v1",
  stateOf: leaseState,
  withRecord: leaseWithRecord,
};

function leaseState(lease: Lease): LockState {
  const spec = lease.spec ?? {};
  const raw = JSON.stringify([spec.holderIdentity, spec.leaseDurationSeconds, spec.acquireTime, spec.renewTime, spec.leaseTransitions]);
  const record = leaseSpecToRecord(spec);
  const problem = recordProblem(record);
  return {
    record,
    raw,
    preferredHolder: lease.metadata?.annotations?.[PREFERRED_HOLDER_ANNOTATION] ?? "",
    ...(problem ? { malformed: problem } : {}),
  };
}

function leaseWithRecord(lease: Lease | undefined, name: string, record: LeaderElectionRecord): Lease {
  const spec = recordToLeaseSpec(record);
  if (!lease) return { apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name }, spec };
  return { ...lease, spec: { ...lease.spec, ...spec } };
}
