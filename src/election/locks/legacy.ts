/**
 * The record as JSON in the `control-plane.alpha.kubernetes.io/leader` annotation of an Endpoints
 * or ConfigMap object: the locks of the old sidecars (k8s-elector's endpoints and configmaps lock
 * types, the contrib leader-elector), for a drop-in migration.
 */
import { CoreV1Api, type KubeConfig, type V1ConfigMap, type V1Endpoints } from "@kubernetes/client-node";
import type { LockState } from "../lock.ts";
import {
  annotationToRecord,
  LEGACY_RECORD_ANNOTATION,
  MalformedRecordError,
  PREFERRED_HOLDER_ANNOTATION,
  recordToAnnotation,
  type LeaderElectionRecord,
} from "../record.ts";
import type { LockBackend, LockObject } from "./objectlock.ts";

export function endpointsBackend(kc: KubeConfig): LockBackend<V1Endpoints> {
  const api = kc.makeApiClient(CoreV1Api);
  return annotationBackend("endpoints", "Endpoints", {
    read: (name, namespace, options) => api.readNamespacedEndpoints({ name, namespace }, options),
    create: (namespace, body, options) => api.createNamespacedEndpoints({ namespace, body }, options),
    replace: (name, namespace, body, options) => api.replaceNamespacedEndpoints({ name, namespace, body }, options),
  });
}

export function configMapBackend(kc: KubeConfig): LockBackend<V1ConfigMap> {
  const api = kc.makeApiClient(CoreV1Api);
  return annotationBackend("configmaps", "ConfigMap", {
    read: (name, namespace, options) => api.readNamespacedConfigMap({ name, namespace }, options),
    create: (namespace, body, options) => api.createNamespacedConfigMap({ namespace, body }, options),
    replace: (name, namespace, body, options) => api.replaceNamespacedConfigMap({ name, namespace, body }, options),
  });
}

/** A core-group kind whose record lives in the legacy annotation; only its API calls differ. */
function annotationBackend<T extends LockObject>(
  resource: string,
  kind: string,
  calls: Pick<LockBackend<T>, "read" | "create" | "replace">,
): LockBackend<T> {
  return {
    resource,
    group: "",
    collectionPath: (namespace) => `/api/v1/namespaces/${namespace}/${resource}`,
    ...calls,
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

/** No annotation reads as a free lock, as in client-go; an unreadable one is reported as malformed. */
export function annotationState(object: LockObject): LockState {
  const annotations = object.metadata?.annotations ?? {};
  const raw = annotations[LEGACY_RECORD_ANNOTATION] ?? "";
  const preferredHolder = annotations[PREFERRED_HOLDER_ANNOTATION] ?? "";
  if (raw === "") return { record: EMPTY, raw, preferredHolder };
  try {
    return { record: annotationToRecord(raw), raw, preferredHolder };
  } catch (err) {
    if (!(err instanceof MalformedRecordError)) throw err;
    return { record: EMPTY, raw, preferredHolder, malformed: err.message };
  }
}

function withAnnotation<T extends LockObject>(object: T | undefined, name: string, record: LeaderElectionRecord, kind: string): T {
  const annotation = { [LEGACY_RECORD_ANNOTATION]: recordToAnnotation(record) };
  if (!object) return { apiVersion: "v1", kind, metadata: { name, annotations: annotation } } as LockObject as T;
  const metadata = object.metadata ?? {};
  return { ...object, metadata: { ...metadata, annotations: { ...metadata.annotations, ...annotation } } };
}
