/**
 * The record as JSON in the `control-plane.alpha.kubernetes.io/leader` annotation of an Endpoints
 * or ConfigMap object: the locks of the old sidecars (k8s-elector's endpoints and configmaps lock
 * types, the contrib leader-elector), for a drop-in migration.
 */
import type { KubeObject } from "../../kube/client.ts";
import type { LockState } from "../lock.ts";
import {
  annotationToRecord,
  LEGACY_RECORD_ANNOTATION,
  MalformedRecordError,
  PREFERRED_HOLDER_ANNOTATION,
  recordProblem,
  recordToAnnotation,
  type LeaderElectionRecord,
} from "../record.ts";
import type { LockBackend } from "./objectlock.ts";

export const endpointsBackend = annotationBackend("endpoints", "Endpoints");
export const configMapBackend = annotationBackend("configmaps", "ConfigMap");

/** A core-group kind whose record lives in the legacy annotation. */
function annotationBackend(resource: string, kind: string): LockBackend<KubeObject> {
  return {
    resource,
    group: "",
    version: "v1",
    stateOf: annotationState,
    withRecord: (object, name, record) => withAnnotation(object, name, record, kind),
  };
}

const EMPTY: LeaderElectionRecord = {
  holderIdentity: "",
  leaseDurationSeconds: 0,
  acquireTime: undefined,
  renewTime: undefined,
  leaderTransitions: 0,
};

/** No annotation reads as a free lock, as in client-go; an unreadable one, or one that cannot be honoured, is reported as malformed. */
function annotationState(object: KubeObject): LockState {
  const annotations = object.metadata?.annotations ?? {};
  const raw = annotations[LEGACY_RECORD_ANNOTATION] ?? "";
  const preferredHolder = annotations[PREFERRED_HOLDER_ANNOTATION] ?? "";
  if (raw === "") return { record: EMPTY, raw, preferredHolder };
  try {
    const record = annotationToRecord(raw);
    const problem = recordProblem(record);
    return { record, raw, preferredHolder, ...(problem ? { malformed: problem } : {}) };
  } catch (err) {
    if (!(err instanceof MalformedRecordError)) throw err;
    return { record: EMPTY, raw, preferredHolder, malformed: err.message };
  }
}

function withAnnotation(object: KubeObject | undefined, name: string, record: LeaderElectionRecord, kind: string): KubeObject {
  const annotation = { [LEGACY_RECORD_ANNOTATION]: recordToAnnotation(record) };
  if (!object) return { apiVersion: "v1", kind, metadata: { name, annotations: annotation } };
  const metadata = object.metadata ?? {};
  return { ...object, metadata: { ...metadata, annotations: { ...metadata.annotations, ...annotation } } };
}
