/**
 * The Election controller: informers feed a work queue of Election keys; `reconcile(key)` reads
 * the caches, asks projection.ts what should be, and makes it so. Level-triggered and idempotent:
 * any event that may concern an Election queues its key, and a reconcile does the whole job.
 *
 * Watches: Elections (all namespaces, or one), and in each namespace that has Elections, its
 * Leases, Pods, Services and elector's EndpointSlices. Nothing in other namespaces, so node
 * heartbeat Leases in kube-node-lease and pods outside elections' namespaces are never watched.
 *
 * Writes go through elector's own client (src/kube/client.ts), with optimistic concurrency where a
 * stale cache could do harm: the status is replaced at the resourceVersion it was computed from,
 * so a reconcile working from an old status fails with 409 and runs again on fresh data.
 */
import {
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  type KubeConfig,
  type KubernetesListObject,
  type V1EndpointSlice,
  type V1Lease,
  type V1Pod,
  type V1Service,
} from "@kubernetes/client-node";
import type { Clock } from "../election/clock.ts";
import type { Log } from "../election/log.ts";
import { leaseSpecToRecord, formatMicroTime, PREFERRED_HOLDER_ANNOTATION } from "../election/record.ts";
import type { KubeClient } from "../kube/client.ts";
import { apiFailure } from "../kube/errors.ts";
import { FINALIZER, GROUP, leaseNameOf, MANAGED_BY, PLURAL, VERSION, type Election } from "./election.ts";
import { Informer } from "./informer.ts";
import { project, type Decision, type DesiredSlice, type ElectionEvent, type LeaseView, type PodView, type ServiceView } from "./projection.ts";
import { WorkQueue } from "./queue.ts";
import { matches, selectorQuery } from "./selector.ts";

export interface ControllerOptions {
  kc: KubeConfig;
  client: KubeClient;
  /** Watch only this namespace; all when undefined. */
  namespace?: string;
  /** This operator instance, for the Events it reports. */
  identity: string;
  clock: Clock;
  log: Log;
  workers?: number;
  requestTimeoutMs?: number;
  /** Told about every reconcile, for metrics. */
  onReconcile?: (outcome: "success" | "error", seconds: number) => void;
}

const MERGE_PATCH = "application/merge-patch+json";
const SERVICE_NAME_LABEL = "kubernetes.io/service-name";
const MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by";

/** The caches of one namespace that has Elections. */
interface NamespaceCaches {
  leases: Informer<V1Lease>;
  pods: Informer<V1Pod>;
  services: Informer<V1Service>;
  slices: Informer<V1EndpointSlice>;
  synced: Promise<unknown>;
}

export class ElectionController {
  readonly queue: WorkQueue;
  private readonly o: ControllerOptions;
  private readonly electionInformer: Informer<Election>;
  private readonly namespaces = new Map<string, NamespaceCaches>();
  /** When this operator saw each Lease's record change (monotonic ms): expiry by local observation. */
  private readonly leaseChanges = new Map<string, { raw: string; at: number }>();
  /** Keeps the names of Events reported within one millisecond apart. */
  private eventCount = 0;

  constructor(options: ControllerOptions) {
    this.o = options;
    this.queue = new WorkQueue(options.clock);
    const custom = options.kc.makeApiClient(CustomObjectsApi);
    const ns = options.namespace;
    this.electionInformer = new Informer<Election>({
      kc: options.kc,
      what: "elections",
      path: ns ? `/apis/${GROUP}/${VERSION}/namespaces/${ns}/${PLURAL}` : `/apis/${GROUP}/${VERSION}/${PLURAL}`,
      list: () =>
        (ns
          ? custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: PLURAL })
          : custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL })) as Promise<KubernetesListObject<Election>>,
      log: options.log,
      onChange: (election) => {
        this.watchNamespace(election.metadata.namespace);
        this.queue.add(keyOf(election.metadata.namespace, election.metadata.name));
      },
      index: electionIndexKeys,
    });
  }

  /** Runs until `signal` aborts: caches first, then the workers. */
  async run(signal: AbortSignal): Promise<void> {
    void this.electionInformer.start();
    await this.electionInformer.synced;
    this.o.log.info({ elections: this.electionInformer.cache.list().length }, "caches synced; reconciling");
    const stop = (): void => {
      this.queue.shutDown();
    };
    signal.addEventListener("abort", stop);
    try {
      await Promise.all(Array.from({ length: this.o.workers ?? 4 }, () => this.work()));
    } finally {
      signal.removeEventListener("abort", stop);
      await this.electionInformer.stop();
      await Promise.all([...this.namespaces.values()].flatMap((c) => [c.leases.stop(), c.pods.stop(), c.services.stop(), c.slices.stop()]));
    }
  }

  /** The Elections as cached, for metrics. */
  elections(): readonly Election[] {
    return this.electionInformer.cache.list();
  }

  get synced(): boolean {
    return (
      this.electionInformer.hasSynced &&
      [...this.namespaces.values()].every((c) => c.leases.hasSynced && c.pods.hasSynced && c.services.hasSynced && c.slices.hasSynced)
    );
  }

  private async work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      const started = performance.now();
      try {
        await this.reconcile(key);
        this.queue.forget(key);
        this.o.onReconcile?.("success", (performance.now() - started) / 1000);
      } catch (err) {
        const f = apiFailure(err);
        // A conflict means our cache was behind: normal, and fixed by running again on fresher data.
        if (f.code === 409) this.o.log.debug({ election: key, err: f.message }, "conflict; reconciling again");
        else this.o.log.warn({ election: key, err: f.message }, "reconcile failed; retrying with backoff");
        this.queue.addRateLimited(key);
        this.o.onReconcile?.("error", (performance.now() - started) / 1000);
      } finally {
        this.queue.done(key);
      }
    }
  }

  /** Makes one Election's status, routing and handover what projection.ts says they should be. */
  async reconcile(key: string): Promise<void> {
    const [namespace = "", name = ""] = key.split("/");
    const election = this.electionInformer.cache.get(name, namespace);
    if (!election) return;
    const caches = this.watchNamespace(namespace);
    await caches.synced;
    if (election.metadata.deletionTimestamp) return this.finalize(election, caches);
    if (!election.metadata.finalizers?.includes(FINALIZER)) {
      await this.patch(electionPath(election), {
        metadata: { finalizers: [...(election.metadata.finalizers ?? []), FINALIZER], resourceVersion: election.metadata.resourceVersion },
      });
      return; // the update comes back through the watch, and with it the next reconcile
    }

    const pods = this.candidates(election, caches);
    const leaseName = leaseNameOf(election);
    const lease = caches.leases.cache.get(leaseName, namespace);
    const decision = project({
      election,
      lease: lease ? this.leaseView(namespace, lease) : undefined,
      pods: pods.map(podView),
      ...(election.spec.service ? { service: serviceView(caches.services.cache.get(election.spec.service.name, namespace)) } : {}),
      now: this.o.clock.wall(),
    });

    if (decision.leaseAnnotation !== undefined) {
      await this.patch(`/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${leaseName}`, {
        metadata: { annotations: { [PREFERRED_HOLDER_ANNOTATION]: decision.leaseAnnotation === "" ? null : decision.leaseAnnotation } },
      });
    }
    // The label and the slice are independent routes to the leader, written together; both settle
    // before a failure is reported, so a retry never overlaps a write still under way. The status
    // comes after both: Routed=True is never written before the routing it reports.
    const { label, slice } = decision;
    const routed = await Promise.allSettled([label && this.applyLabel(election, label, pods), slice !== undefined && this.applySlice(election, slice, caches)]);
    for (const r of routed) if (r.status === "rejected") throw r.reason;

    if (!sameJson(election.status ?? {}, decision.status)) {
      // Replaced at the resourceVersion the decision was made from: see the header.
      await this.o.client.request("PUT", `${electionPath(election)}/status`, { body: { ...election, status: decision.status }, timeoutMs: this.timeout() });
      for (const event of decision.events) await this.report(election, event);
    }
    if (decision.clearPreferredHolder) await this.patch(electionPath(election), { spec: { preferredHolder: null } });
    if (decision.recheckAfterMs !== undefined) this.queue.addAfter(key, decision.recheckAfterMs);
  }

  /** The Election is being deleted: take the label off its pods and its slices away, then let it go. */
  private async finalize(election: Election, caches: NamespaceCaches): Promise<void> {
    if (!election.metadata.finalizers?.includes(FINALIZER)) return;
    const { leaderLabel } = election.spec;
    if (leaderLabel) {
      const labelled = this.candidates(election, caches).filter((pod) => pod.metadata?.labels?.[leaderLabel.key] === leaderLabel.value);
      // And the pod labelled last, which may have left the selector since.
      const names = new Set([...labelled.map((pod) => pod.metadata?.name ?? ""), ...(election.status?.leaderPod ? [election.status.leaderPod.name] : [])]);
      for (const name of names) await this.setLabel(election.metadata.namespace, name, leaderLabel.key, null);
    }
    for (const slice of this.ownedSlices(election, caches)) await this.deleteSlice(election.metadata.namespace, slice.metadata?.name ?? "");
    await this.patch(electionPath(election), {
      metadata: { finalizers: (election.metadata.finalizers ?? []).filter((f) => f !== FINALIZER), resourceVersion: election.metadata.resourceVersion },
    });
    this.o.log.info({ election: keyOf(election.metadata.namespace, election.metadata.name) }, "election deleted; its routing is undone");
  }

  /**
   * Never two labelled pods, not even for a moment: the label comes off every other candidate
   * first, and before it goes on, a live list (not the cache, which may not show a label this
   * operator added a moment ago) confirms that no other candidate carries it.
   */
  private async applyLabel(election: Election, label: NonNullable<Decision["label"]>, pods: V1Pod[]): Promise<void> {
    const { namespace } = election.metadata;
    for (const name of label.remove) await this.setLabel(namespace, name, label.key, null);
    const carrier = pods.find((p) => p.metadata?.name === label.carrier);
    if (!carrier || carrier.metadata?.labels?.[label.key] === label.value) return;
    // Only this Election's candidates: other Elections in the namespace may use the same label.
    const selector = [`${label.key}=${label.value}`, selectorQuery(election.spec.candidates?.selector ?? {})].filter((s) => s !== "").join(",");
    const live = await this.o.client.request<{ items: V1Pod[] }>("GET", `/api/v1/namespaces/${namespace}/pods?labelSelector=${encodeURIComponent(selector)}`, {
      timeoutMs: this.timeout(),
    });
    for (const pod of live.items) {
      if (pod.metadata?.name !== label.carrier) await this.setLabel(namespace, pod.metadata?.name ?? "", label.key, null);
    }
    await this.setLabel(namespace, label.carrier ?? "", label.key, label.value);
  }

  private async setLabel(namespace: string, pod: string, key: string, value: string | null): Promise<void> {
    try {
      await this.patch(`/api/v1/namespaces/${namespace}/pods/${pod}`, { metadata: { labels: { [key]: value } } });
    } catch (err) {
      // A pod deleted meanwhile carries no label.
      if (apiFailure(err).code !== 404) throw err;
    }
  }

  private async applySlice(election: Election, desired: DesiredSlice | null, caches: NamespaceCaches): Promise<void> {
    const { namespace, name } = election.metadata;
    const owned = this.ownedSlices(election, caches);
    const sliceName = desired ? `${desired.service}-elector-${name}`.slice(0, 253) : undefined;
    for (const slice of owned) {
      const stale = slice.metadata?.name !== sliceName || (desired && slice.addressType !== desired.addressType);
      if (stale) await this.deleteSlice(namespace, slice.metadata?.name ?? "");
    }
    if (!desired || !sliceName) return;
    const body = {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: {
        name: sliceName,
        namespace,
        labels: { [SERVICE_NAME_LABEL]: desired.service, [MANAGED_BY_LABEL]: MANAGED_BY },
        ownerReferences: [{ apiVersion: `${GROUP}/${VERSION}`, kind: "Election", name, uid: election.metadata.uid ?? "", controller: true }],
      },
      addressType: desired.addressType,
      endpoints: desired.endpoints,
      ports: desired.ports,
    };
    const current = owned.find((s) => s.metadata?.name === sliceName && s.addressType === desired.addressType);
    const path = `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`;
    if (!current) {
      await this.o.client.request("POST", path, { body, timeoutMs: this.timeout() });
    } else if (
      !sameJson(
        { e: current.endpoints ?? [], p: current.ports ?? [], l: current.metadata?.labels },
        { e: desired.endpoints, p: desired.ports, l: body.metadata.labels },
      )
    ) {
      await this.o.client.request("PUT", `${path}/${sliceName}`, {
        body: { ...body, metadata: { ...body.metadata, resourceVersion: current.metadata?.resourceVersion } },
        timeoutMs: this.timeout(),
      });
    }
  }

  private async deleteSlice(namespace: string, name: string): Promise<void> {
    try {
      await this.o.client.request("DELETE", `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices/${name}`, { timeoutMs: this.timeout() });
    } catch (err) {
      if (apiFailure(err).code !== 404) throw err;
    }
  }

  private ownedSlices(election: Election, caches: NamespaceCaches): V1EndpointSlice[] {
    return caches.slices.byIndex(ownerKey(election.metadata.uid ?? ""));
  }

  /** An Event on the Election, and the same as one log line. */
  private async report(election: Election, event: ElectionEvent): Promise<void> {
    const { namespace, name, uid } = election.metadata;
    this.o.log.info({ election: keyOf(namespace, name), reason: event.reason }, event.note);
    const body = {
      apiVersion: "events.k8s.io/v1",
      kind: "Event",
      metadata: { name: eventName(name, this.o.clock.wall(), this.eventCount++), namespace },
      eventTime: formatMicroTime(this.o.clock.wall()),
      reportingController: `${GROUP}/operator`,
      reportingInstance: this.o.identity,
      action: "ObserveLease",
      type: event.type,
      reason: event.reason,
      note: event.note,
      regarding: { apiVersion: `${GROUP}/${VERSION}`, kind: "Election", name, namespace, uid },
    };
    try {
      await this.o.client.request("POST", `/apis/events.k8s.io/v1/namespaces/${namespace}/events`, { body, timeoutMs: this.timeout() });
    } catch (err) {
      // An Event is a courtesy: the status already says what happened.
      this.o.log.warn({ election: keyOf(namespace, name), reason: event.reason, err: apiFailure(err).message }, "could not record an event");
    }
  }

  /** The selected pods that are still running or may run: finished pods are no candidates. */
  private candidates(election: Election, caches: NamespaceCaches): V1Pod[] {
    const selector = election.spec.candidates?.selector;
    if (!selector) return [];
    const { namespace } = election.metadata;
    // The pods with the rarest of the selector's labels, not every pod in the namespace.
    const pairs = Object.entries(selector.matchLabels ?? {}).map(([k, v]) => caches.pods.byIndex(labelKey(namespace, k, v)));
    const pool = pairs.length > 0 ? pairs.reduce((a, b) => (b.length < a.length ? b : a)) : caches.pods.cache.list(namespace);
    return pool.filter((p) => p.status?.phase !== "Succeeded" && p.status?.phase !== "Failed" && matches(selector, p.metadata?.labels ?? {}));
  }

  private leaseView(namespace: string, lease: V1Lease): LeaseView {
    const spec = lease.spec ?? {};
    const record = leaseSpecToRecord(spec);
    const key = keyOf(namespace, lease.metadata?.name ?? "");
    // From the parsed record: a relist hands times over as Dates, a watch as strings.
    const raw = JSON.stringify([
      record.holderIdentity,
      record.leaseDurationSeconds,
      record.acquireTime?.getTime(),
      record.renewTime?.getTime(),
      record.leaderTransitions,
    ]);
    const now = this.o.clock.monotonic();
    const seen = this.leaseChanges.get(key);
    if (seen?.raw !== raw) this.leaseChanges.set(key, { raw, at: now });
    return { record, preferredHolder: lease.metadata?.annotations?.[PREFERRED_HOLDER_ANNOTATION] ?? "", unchangedForMs: seen?.raw === raw ? now - seen.at : 0 };
  }

  /** The caches of `namespace`, started on first use; events in them queue the Elections they concern. */
  private watchNamespace(namespace: string): NamespaceCaches {
    const existing = this.namespaces.get(namespace);
    if (existing) return existing;
    const { kc, log } = this.o;
    const core = kc.makeApiClient(CoreV1Api);
    const coordination = kc.makeApiClient(CoordinationV1Api);
    const discovery = kc.makeApiClient(DiscoveryV1Api);
    // The Elections filed under any of `keys` (see electionIndexKeys) that pass `test` are queued.
    const concerned = (keys: string[], test: (e: Election) => boolean): void => {
      for (const key of keys) for (const e of this.electionInformer.byIndex(key)) if (test(e)) this.queue.add(keyOf(namespace, e.metadata.name));
    };
    const caches: NamespaceCaches = {
      leases: new Informer<V1Lease>({
        kc,
        log,
        what: `leases in ${namespace}`,
        path: `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`,
        list: () => coordination.listNamespacedLease({ namespace }),
        onChange: (lease) => {
          if (lease.metadata?.name) this.leaseView(namespace, lease);
          concerned([`${namespace}/lease:${lease.metadata?.name ?? ""}`], () => true);
        },
      }),
      pods: new Informer<V1Pod>({
        kc,
        log,
        what: `pods in ${namespace}`,
        path: `/api/v1/namespaces/${namespace}/pods`,
        list: () => core.listNamespacedPod({ namespace }),
        index: (pod) => Object.entries(pod.metadata?.labels ?? {}).map(([k, v]) => labelKey(namespace, k, v)),
        // A pod whose labels changed may have left an Election's selector: those that named it care too.
        onChange: (pod) => {
          const labels = pod.metadata?.labels ?? {};
          const keys = [...Object.entries(labels).map(([k, v]) => labelKey(namespace, k, v)), `${namespace}/pod:${pod.metadata?.name ?? ""}`, `${namespace}/*`];
          concerned(keys, (e) => {
            // Not "carries the leader label": Elections share that label, and each touches only its own candidates.
            const selected = e.spec.candidates ? matches(e.spec.candidates.selector, labels) : false;
            return selected || e.status?.leader === pod.metadata?.name || e.spec.preferredHolder === pod.metadata?.name;
          });
        },
      }),
      services: new Informer<V1Service>({
        kc,
        log,
        what: `services in ${namespace}`,
        path: `/api/v1/namespaces/${namespace}/services`,
        list: () => core.listNamespacedService({ namespace }),
        onChange: (service) => {
          concerned([`${namespace}/service:${service.metadata?.name ?? ""}`], () => true);
        },
      }),
      slices: new Informer<V1EndpointSlice>({
        kc,
        log,
        what: `elector's endpointslices in ${namespace}`,
        path: `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`,
        labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY}`,
        list: () => discovery.listNamespacedEndpointSlice({ namespace, labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY}` }),
        onChange: (slice) => {
          concerned(
            (slice.metadata?.ownerReferences ?? []).map((r) => ownerKey(r.uid)),
            () => true,
          );
        },
        index: (slice) => (slice.metadata?.ownerReferences ?? []).map((r) => ownerKey(r.uid)),
      }),
      synced: Promise.resolve(),
    };
    caches.synced = Promise.all([caches.leases, caches.pods, caches.services, caches.slices].map((i) => i.synced));
    for (const informer of [caches.leases, caches.pods, caches.services, caches.slices]) void informer.start();
    this.namespaces.set(namespace, caches);
    return caches;
  }

  private patch(path: string, body: unknown): Promise<unknown> {
    return this.o.client.request("PATCH", path, { body, contentType: MERGE_PATCH, timeoutMs: this.timeout() });
  }

  private timeout(): number {
    return this.o.requestTimeoutMs ?? 10_000;
  }
}

/** An index key for objects carrying label `key=value` in `namespace`. */
function labelKey(namespace: string, key: string, value: string): string {
  return `${namespace}/${key}=${value}`;
}

function ownerKey(uid: string): string {
  return `owner:${uid}`;
}

/**
 * Where an event may concern an Election, so that an event looks only at the Elections it may
 * concern: the labels its selector requires (or "*" when it requires none), the pods it names
 * (leader, preferred holder), its Lease, its Service, and its uid (as the owner of slices).
 */
function electionIndexKeys(e: Election): string[] {
  const { namespace, uid } = e.metadata;
  const matchLabels = Object.entries(e.spec.candidates?.selector.matchLabels ?? {});
  return [
    ...(matchLabels.length > 0 ? matchLabels.map(([k, v]) => labelKey(namespace, k, v)) : [`${namespace}/*`]),
    ...[e.status?.leader, e.spec.preferredHolder].filter((p) => p).map((p) => `${namespace}/pod:${p ?? ""}`),
    `${namespace}/lease:${leaseNameOf(e)}`,
    ...(e.spec.service ? [`${namespace}/service:${e.spec.service.name}`] : []),
    ...(uid ? [ownerKey(uid)] : []),
  ];
}

function keyOf(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/**
 * client-go's recorder names an Event `<object>.<hex nanoseconds>` (a generateName ending in "."
 * is refused); here the nanoseconds below the millisecond are a counter, so names stay unique.
 */
function eventName(object: string, at: Date, count: number): string {
  return `${object}.${(BigInt(at.getTime()) * 1_000_000n + BigInt(count % 1_000_000)).toString(16)}`;
}

function electionPath(e: Election): string {
  return `/apis/${GROUP}/${VERSION}/namespaces/${e.metadata.namespace}/${PLURAL}/${e.metadata.name}`;
}

function podView(pod: V1Pod): PodView {
  const ready = pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
  return {
    name: pod.metadata?.name ?? "",
    ...(pod.metadata?.uid ? { uid: pod.metadata.uid } : {}),
    ...(pod.status?.podIP ? { ip: pod.status.podIP } : {}),
    ...(pod.spec?.nodeName ? { node: pod.spec.nodeName } : {}),
    ready,
    terminating: pod.metadata?.deletionTimestamp !== undefined,
    labels: pod.metadata?.labels ?? {},
    ports: (pod.spec?.containers ?? []).flatMap((c) =>
      (c.ports ?? []).map((p) => ({ ...(p.name ? { name: p.name } : {}), containerPort: p.containerPort, ...(p.protocol ? { protocol: p.protocol } : {}) })),
    ),
  };
}

function serviceView(service: V1Service | undefined): ServiceView {
  if (!service) return { exists: false };
  const family = service.spec?.ipFamilies?.[0];
  return {
    exists: true,
    hasSelector: Object.keys(service.spec?.selector ?? {}).length > 0,
    ports: (service.spec?.ports ?? []).map((p) => ({
      ...(p.name ? { name: p.name } : {}),
      port: p.port,
      ...(p.targetPort !== undefined ? { targetPort: p.targetPort } : {}),
      ...(p.protocol ? { protocol: p.protocol } : {}),
      ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}),
    })),
    ...(family === "IPv4" || family === "IPv6" ? { ipFamily: family } : {}),
  };
}

/** Equal as the API would store them: key order and absent-vs-undefined do not matter. */
function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value instanceof Date) return value.toISOString();
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
