/**
 * An in-memory cluster for the Election controller's unit tests: it is both the cache the
 * controller reads and the writer it writes through, with the API server's rules that matter
 * (resourceVersion preconditions on the status, 404 on what is gone), a log of every write in
 * order, and an observer that records any moment at which two pods carry one leader label.
 */
import type { V1EndpointSlice, V1Lease, V1Pod, V1Service } from "@kubernetes/client-node";
import { ApiError } from "../../src/kube/client.ts";
import { FINALIZER, keyOf, type Election, type ElectionStatus } from "../../src/operator/election.ts";
import type { DesiredSlice, ElectionEvent } from "../../src/operator/projection.ts";
import { matches } from "../../src/operator/selector.ts";
import type { ElectionCache } from "../../src/operator/watches.ts";
import { sliceLabels, type ElectionWriter } from "../../src/operator/writes.ts";

export class MemoryWorld implements ElectionCache, ElectionWriter {
  readonly elections = new Map<string, Election>();
  readonly leases = new Map<string, { lease: V1Lease; unchangedForMs: number }>();
  readonly pods = new Map<string, V1Pod>();
  readonly services = new Map<string, V1Service>();
  readonly slices = new Map<string, V1EndpointSlice>();
  /** Every write, in order, as one line each. */
  readonly writes: string[] = [];
  readonly events: ElectionEvent[] = [];
  /** Moments at which two pods carried the same label=value. */
  readonly doubleLabels: string[] = [];
  /** The next write whose log line starts with this fails with a 500. */
  failNext: string | undefined;
  private version = 1;

  // The cache hands out copies, as a snapshot: a write changes the world, not what a reconcile already read.
  election(key: string): Election | undefined {
    return copy(this.elections.get(key));
  }

  namespaceSynced(): Promise<void> {
    return Promise.resolve();
  }

  lease(namespace: string, name: string): { lease: V1Lease; unchangedForMs: number } | undefined {
    return copy(this.leases.get(keyOf(namespace, name)));
  }

  candidates(election: Election): V1Pod[] {
    const selector = election.spec.candidates?.selector;
    if (!selector) return [];
    return copy([...this.pods.values()].filter((p) => p.metadata?.namespace === election.metadata.namespace && matches(selector, p.metadata.labels ?? {})));
  }

  service(namespace: string, name: string): V1Service | undefined {
    return copy(this.services.get(keyOf(namespace, name)));
  }

  ownedSlices(election: Election): V1EndpointSlice[] {
    return copy([...this.slices.values()].filter((s) => s.metadata?.ownerReferences?.some((r) => r.uid === election.metadata.uid)));
  }

  setFinalizer(election: Election, present: boolean): Promise<void> {
    return this.write(`finalizer ${present ? "add" : "remove"}`, () => {
      const stored = this.storedElection(election);
      const others = (stored.metadata.finalizers ?? []).filter((f) => f !== FINALIZER);
      stored.metadata.finalizers = present ? [...others, FINALIZER] : others;
      this.bump(stored);
    });
  }

  putStatus(election: Election, status: ElectionStatus): Promise<void> {
    return this.write("status", () => {
      const stored = this.storedElection(election);
      if (stored.metadata.resourceVersion !== election.metadata.resourceVersion) throw new ApiError(409, "Conflict", "the object has been modified");
      stored.status = structuredClone(status);
      this.bump(stored);
    });
  }

  setLeaseAnnotation(namespace: string, lease: string, preferredHolder: string): Promise<void> {
    return this.write(`lease annotation ${preferredHolder || "(none)"}`, () => {
      const stored = this.leases.get(keyOf(namespace, lease));
      if (!stored) throw new ApiError(404, "NotFound", "no such lease");
      const metadata = (stored.lease.metadata ??= {});
      metadata.annotations = { ...(metadata.annotations ?? {}), "elector.dev/preferred-holder": preferredHolder };
    });
  }

  setLabel(namespace: string, pod: string, key: string, value: string | null): Promise<void> {
    return this.write(`label ${pod} ${key}=${value ?? "(removed)"}`, () => {
      const stored = this.pods.get(keyOf(namespace, pod));
      if (!stored) return; // gone: no error, as the writer treats 404
      const labels = Object.fromEntries(Object.entries(stored.metadata?.labels ?? {}).filter(([k]) => k !== key));
      if (value !== null) labels[key] = value;
      stored.metadata = { ...stored.metadata, labels };
      if (value !== null) {
        const carriers = [...this.pods.values()].filter((p) => p.metadata?.namespace === namespace && p.metadata.labels?.[key] === value);
        if (carriers.length > 1) this.doubleLabels.push(carriers.map((p) => p.metadata?.name).join(" and "));
      }
    });
  }

  livePods(namespace: string, selector: string): Promise<V1Pod[]> {
    // The selectors the controller sends are comma-separated key=value pairs.
    const pairs = selector.split(",").map((p) => p.split("="));
    return Promise.resolve(
      [...this.pods.values()].filter((p) => p.metadata?.namespace === namespace && pairs.every(([k = "", v]) => p.metadata?.labels?.[k] === v)),
    );
  }

  putSlice(election: Election, name: string, desired: DesiredSlice, resourceVersion?: string): Promise<void> {
    return this.write(`slice ${resourceVersion ? "replace" : "create"} ${name} ${desired.endpoints.flatMap((e) => e.addresses).join(",")}`, () => {
      const { namespace } = election.metadata;
      this.slices.set(keyOf(namespace, name), {
        metadata: {
          name,
          namespace,
          labels: sliceLabels(desired.service),
          resourceVersion: String(this.version++),
          ownerReferences: [{ apiVersion: "elector.dev/v1alpha1", kind: "Election", name: election.metadata.name, uid: election.metadata.uid ?? "" }],
        },
        addressType: desired.addressType,
        endpoints: structuredClone(desired.endpoints),
        ports: structuredClone(desired.ports),
      });
    });
  }

  deleteSlice(namespace: string, name: string): Promise<void> {
    return this.write(`slice delete ${name}`, () => {
      this.slices.delete(keyOf(namespace, name));
    });
  }

  recordEvent(_election: Election, event: ElectionEvent): Promise<void> {
    this.events.push(event);
    return Promise.resolve();
  }

  private storedElection(election: Election): Election {
    const stored = this.elections.get(keyOf(election.metadata.namespace, election.metadata.name));
    if (!stored) throw new ApiError(404, "NotFound", "no such election");
    return stored;
  }

  private bump(election: Election): void {
    election.metadata.resourceVersion = String(this.version++);
  }

  private async write(line: string, apply: () => void): Promise<void> {
    await Promise.resolve();
    if (this.failNext && line.startsWith(this.failNext)) {
      this.failNext = undefined;
      throw new ApiError(500, "InternalError", `injected failure of "${line}"`);
    }
    this.writes.push(line);
    apply();
  }
}

function copy<T>(value: T): T {
  return structuredClone(value);
}
