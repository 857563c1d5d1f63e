/**
 * A Lease seen from outside, on this process's clock: what the demo and the benches time handovers
 * with, the same observer whichever program holds the Lease.
 */
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import type { TestContext } from "node:test";
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

/** One version of a Lease's record, as a watch delivered it. */
export interface LeaseVersion {
  holder: string;
  transitions: number;
}

/** Every version of Lease `name` the API server sends a watch of `client` (BOOKMARKs, which carry no record, left out), until `t` ends. */
export function recordLease(t: TestContext, client: KubeClient, namespace: string, name: string): LeaseVersion[] {
  const seen: LeaseVersion[] = [];
  const stop = client.watch<LeaseObject>(
    `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`,
    { fieldSelector: `metadata.name=${name}` },
    {
      onConnected: () => undefined,
      onEvent: (type, lease) => {
        if (type === "ADDED" || type === "MODIFIED") seen.push({ holder: lease.spec?.holderIdentity ?? "", transitions: lease.spec?.leaseTransitions ?? 0 });
      },
      onClosed: () => undefined,
    },
  );
  t.after(stop);
  return seen;
}

/** Each change of holder to a live one that did not write a leaseTransitions above all before it: fencing tokens must only rise. */
export function tokensNotRising(seen: LeaseVersion[]): string[] {
  const found: string[] = [];
  let highest = -1;
  let holder = "";
  for (const s of seen) {
    if (s.holder !== holder && s.holder !== "" && s.transitions <= highest) {
      found.push(`${s.holder} took the Lease with leaseTransitions ${String(s.transitions)}, not above ${String(highest)}`);
    }
    highest = Math.max(highest, s.transitions);
    holder = s.holder;
  }
  return found;
}

/** Fails unless every change of holder to a live one wrote a leaseTransitions above all before it (tokensNotRising). */
export function assertTokensRise(seen: LeaseVersion[], context = ""): void {
  const [first] = tokensNotRising(seen);
  assert.ok(first === undefined, `${context}${first ?? ""}: ${JSON.stringify(seen)}`);
}
