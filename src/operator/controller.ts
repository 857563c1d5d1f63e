/**
 * The Election controller, in the shape of controller-runtime's Reconciler: `reconcile(key)` reads
 * the caches (watches.ts), asks projection.ts what should be, makes it so through the writer
 * (writes.ts), and returns what to do next: when to look again, or nothing. Level-triggered and
 * idempotent: any change that may concern an Election queues its key, and a reconcile does the
 * whole job. A thrown error is the runner's to retry with backoff (runner.ts).
 */
import type { V1Pod } from "@kubernetes/client-node";
import type { Clock } from "../election/clock.ts";
import type { Log } from "../election/log.ts";
import { FINALIZER, leaseNameOf, type Election } from "./election.ts";
import { project, type Decision, type DesiredSlice } from "./projection.ts";
import { selectorQuery } from "./selector.ts";
import { leaseView, podView, serviceView } from "./views.ts";
import type { ElectionCache } from "./watches.ts";
import { sliceLabels, type ElectionWriter } from "./writes.ts";

export interface Reconciled {
  /** Reconcile again after this long, though nothing changed (a Lease's expiry, say). */
  requeueAfterMs?: number;
}

export class ElectionController {
  private readonly cache: ElectionCache;
  private readonly writer: ElectionWriter;
  private readonly clock: Clock;
  private readonly log: Log;

  constructor(cache: ElectionCache, writer: ElectionWriter, clock: Clock, log: Log) {
    this.cache = cache;
    this.writer = writer;
    this.clock = clock;
    this.log = log;
  }

  /** Makes one Election's status, routing and handover what projection.ts says they should be. */
  async reconcile(key: string): Promise<Reconciled> {
    const election = this.cache.election(key);
    if (!election) return {};
    const { namespace } = election.metadata;
    await this.cache.namespaceSynced(namespace);
    if (election.metadata.deletionTimestamp) {
      await this.finalize(key, election);
      return {};
    }
    if (!election.metadata.finalizers?.includes(FINALIZER)) {
      // The update comes back through the watch, and with it the next reconcile.
      await this.writer.setFinalizer(election, true);
      return {};
    }

    const pods = this.cache.candidates(election);
    const leaseName = leaseNameOf(election);
    const lease = this.cache.lease(namespace, leaseName);
    const decision = project({
      election,
      lease: lease ? leaseView(lease.lease, lease.unchangedForMs) : undefined,
      pods: pods.map(podView),
      ...(election.spec.service ? { service: serviceView(this.cache.service(namespace, election.spec.service.name)) } : {}),
      now: this.clock.wall(),
    });

    if (decision.leaseAnnotation !== undefined) await this.writer.setLeaseAnnotation(namespace, leaseName, decision.leaseAnnotation);
    // The label and the slice are independent routes to the leader, written together; both settle
    // before a failure is reported, so a retry never overlaps a write still under way. The status
    // comes after both: Routed=True is never written before the routing it reports.
    const { label, slice } = decision;
    const routed = await Promise.allSettled([label && this.applyLabel(election, label, pods), slice !== undefined && this.applySlice(election, slice)]);
    for (const r of routed) if (r.status === "rejected") throw r.reason;

    if (!sameJson(election.status ?? {}, decision.status)) {
      await this.writer.putStatus(election, decision.status);
      for (const event of decision.events) await this.writer.recordEvent(election, event);
    }
    return decision.recheckAfterMs === undefined ? {} : { requeueAfterMs: decision.recheckAfterMs };
  }

  /** The Election is being deleted: take the label off its pods and its slices away, then let it go. */
  private async finalize(key: string, election: Election): Promise<void> {
    if (!election.metadata.finalizers?.includes(FINALIZER)) return;
    const { namespace } = election.metadata;
    const { leaderLabel } = election.spec;
    if (leaderLabel) {
      const labelled = this.cache.candidates(election).filter((pod) => pod.metadata?.labels?.[leaderLabel.key] === leaderLabel.value);
      // And the pod labelled last, which may have left the selector since.
      const names = new Set([...labelled.map((pod) => pod.metadata?.name ?? ""), ...(election.status?.leaderPod ? [election.status.leaderPod.name] : [])]);
      for (const name of names) await this.writer.setLabel(namespace, name, leaderLabel.key, null);
    }
    for (const slice of this.cache.ownedSlices(election)) await this.writer.deleteSlice(namespace, slice.metadata?.name ?? "");
    await this.writer.setFinalizer(election, false);
    this.log.info({ election: key }, "election deleted; its routing is undone");
  }

  /**
   * Never two labelled pods, not even for a moment: the label comes off every other candidate
   * first, and before it goes on, a live list (not the cache, which may not show a label this
   * operator added a moment ago) confirms that no other candidate carries it.
   */
  private async applyLabel(election: Election, label: NonNullable<Decision["label"]>, pods: V1Pod[]): Promise<void> {
    const { namespace } = election.metadata;
    for (const name of label.remove) await this.writer.setLabel(namespace, name, label.key, null);
    const carrier = pods.find((p) => p.metadata?.name === label.carrier);
    if (!carrier || carrier.metadata?.labels?.[label.key] === label.value) return;
    // Only this Election's candidates: other Elections in the namespace may use the same label.
    const selector = [`${label.key}=${label.value}`, selectorQuery(election.spec.candidates?.selector ?? {})].filter((s) => s !== "").join(",");
    for (const pod of await this.writer.livePods(namespace, selector)) {
      if (pod.metadata?.name !== label.carrier) await this.writer.setLabel(namespace, pod.metadata?.name ?? "", label.key, null);
    }
    await this.writer.setLabel(namespace, label.carrier ?? "", label.key, label.value);
  }

  private async applySlice(election: Election, desired: DesiredSlice | null): Promise<void> {
    const { namespace, name } = election.metadata;
    const owned = this.cache.ownedSlices(election);
    const sliceName = desired ? `${desired.service}-elector-${name}`.slice(0, 253) : undefined;
    for (const slice of owned) {
      const stale = slice.metadata?.name !== sliceName || (desired && slice.addressType !== desired.addressType);
      if (stale) await this.writer.deleteSlice(namespace, slice.metadata?.name ?? "");
    }
    if (!desired || !sliceName) return;
    const current = owned.find((s) => s.metadata?.name === sliceName && s.addressType === desired.addressType);
    if (!current) return this.writer.putSlice(election, sliceName, desired);
    const unchanged = sameJson(
      { e: current.endpoints ?? [], p: current.ports ?? [], l: current.metadata?.labels },
      { e: desired.endpoints, p: desired.ports, l: sliceLabels(desired.service) },
    );
    if (!unchanged) await this.writer.putSlice(election, sliceName, desired, current.metadata?.resourceVersion ?? "");
  }
}

/** Equal as the API would store them: key order and absent-vs-undefined do not matter. */
function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, v]) => v !== undefined)
        // Code-unit order: as canonical as localeCompare's, and far cheaper on a hot path.
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, v]) => [k, canonical(v)]),
    );
  }
  return value;
}
