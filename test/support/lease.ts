/**
 * A Lease seen from outside, on this process's clock: what the demo and the benches time handovers
 * with, the same observer whichever program holds the Lease.
 */
import { performance } from "node:perf_hooks";
import type { KubeClient } from "../../src/kube/client.ts";

export interface LeaseEvent {
  holder: string;
  transitions: number;
  /** The holder's renewTime (ms since the epoch; 0 when unset). */
  renewTime: number;
  /** When this process saw the event (performance.now()). */
  at: number;
}

interface LeaseObject {
  spec?: { holderIdentity?: string; leaseTransitions?: number; renewTime?: string };
}

/** Resolves with the first change of Lease `name` that `accept` takes; the watch ends with it. */
export function nextLeaseEvent(client: KubeClient, namespace: string, name: string, accept: (e: LeaseEvent) => boolean): Promise<LeaseEvent> {
  return new Promise((resolve) => {
    const stop = client.watch<LeaseObject>(
      `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`,
      { fieldSelector: `metadata.name=${name}` },
      {
        onConnected: () => undefined,
        onEvent: (_type, lease) => {
          const renew = lease.spec?.renewTime;
          const event = {
            holder: lease.spec?.holderIdentity ?? "",
            transitions: lease.spec?.leaseTransitions ?? 0,
            renewTime: renew ? Date.parse(renew) : 0,
            at: performance.now(),
          };
          if (!accept(event)) return;
          stop();
          resolve(event);
        },
        onClosed: () => undefined,
      },
    );
  });
}
