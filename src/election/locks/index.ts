/** The lock types an election can use, by the names k8s-elector's `-lock-type` flag gives them. */
import type { KubeClient } from "../../kube/client.ts";
import type { Lock } from "../lock.ts";
import { leaseBackend } from "./lease.ts";
import { configMapBackend, endpointsBackend } from "./legacy.ts";
import { ObjectLock, type ObjectLockOptions } from "./objectlock.ts";

export const LOCK_TYPES = ["leases", "endpoints", "configmaps"] as const;
export type LockType = (typeof LOCK_TYPES)[number];

export function isLockType(value: string): value is LockType {
  return (LOCK_TYPES as readonly string[]).includes(value);
}

const BACKENDS = { leases: leaseBackend, endpoints: endpointsBackend, configmaps: configMapBackend };

export function createLock(client: KubeClient, type: LockType, options: ObjectLockOptions): Lock {
  return new ObjectLock(client, BACKENDS[type], options);
}
