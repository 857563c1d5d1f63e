/** The Election resource as the operator reads and writes it (crds/elections.elector.dev.yaml). */
import type { KubernetesObject, V1ObjectMeta } from "@kubernetes/client-node";

export const GROUP = "elector.dev";
export const VERSION = "v1alpha1";
export const PLURAL = "elections";
/** Held on every Election whose routing the operator may have touched, until it is undone. */
export const FINALIZER = "elector.dev/cleanup";
export const MANAGED_BY = "elector.dev";
/** The label by which the EndpointSlice controller leaves elector's slices alone, and the operator watches only its own. */
export const MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by";
export const HISTORY_LIMIT = 10;

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: "In" | "NotIn" | "Exists" | "DoesNotExist"; values?: string[] }[];
}

export interface ElectionSpec {
  leaseName?: string;
  candidates?: { selector: LabelSelector };
  leaderLabel?: { key: string; value: string };
  service?: { name: string };
  preferredHolder?: string;
  handoverTimeoutSeconds?: number;
}

export type TermEnd = "Released" | "Expired" | "HandedOver" | "Unknown";

export interface PastTerm {
  leader: string;
  transitions: number;
  acquireTime?: string;
  endTime?: string;
  reason: TermEnd;
}

export type ConditionType = "LeaderElected" | "Routed" | "Ready" | "HandoverFailed";

export interface Condition {
  type: ConditionType;
  status: "True" | "False" | "Unknown";
  observedGeneration: number;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

export interface ElectionStatus {
  observedGeneration?: number;
  leader?: string;
  leaderPod?: { name: string; ip?: string; node?: string };
  acquireTime?: string;
  renewTime?: string;
  leaseDurationSeconds?: number;
  transitions?: number;
  history?: PastTerm[];
  candidates?: { total: number; ready: number };
  /**
   * While spec.preferredHolder names a pod that does not lead: since when this attempt (or wait)
   * runs, failed attempts in a row, and while backing off, when the next one may start.
   */
  handover?: { to: string; since: string; failures?: number; retryAfter?: string };
  conditions?: Condition[];
}

export interface Election extends KubernetesObject {
  metadata: V1ObjectMeta & { name: string; namespace: string };
  spec: ElectionSpec;
  status?: ElectionStatus;
}

export function leaseNameOf(election: Election): string {
  return election.spec.leaseName ?? election.metadata.name;
}

/** The work queue's key of an Election, as client-go's MetaNamespaceKeyFunc makes it. */
export function keyOf(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}
