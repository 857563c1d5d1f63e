/** The lock types an election can use, by the names k8s-elector's `-lock-type` flag gives them. */
import type { KubeConfig } from "@kubernetes/client-node";
import type { Lock } from "../lock.ts";
import { leaseBackend } from "./lease.ts";
import { configMapBackend, endpointsBackend } from "./legacy.ts";
import { ObjectLock, type ObjectLockOptions } from "./objectlock.ts";

export const LOCK_TYPES = ["leases", "endpoints", "configmaps"] as const;
export type LockType = (typeof LOCK_TYPES)[number];

export function isLockType(value: string): value is LockType {
  return (LOCK_TYPES as readonly string[]).includes(value);
}

export function createLock(kc: KubeConfig, type: LockType, options: ObjectLockOptions): Lock {
  switch (type) {
    case "leases":
      return new ObjectLock(kc, leaseBackend(kc), options);
    case "endpoints":
      return new ObjectLock(kc, endpointsBackend(kc), options);
    case "configmaps":
      return new ObjectLock(kc, configMapBackend(kc), options);
  }
}
