/**
 * What the operator watches, and which Elections each change concerns: reflectors (src/kube) for
 * Elections (all namespaces, or those listed) and, in each namespace that has Elections, its Leases, Pods,
 * Services and elector's EndpointSlices. Nothing in other namespaces, so node heartbeat Leases in
 * kube-node-lease and pods outside elections' namespaces are never watched.
 *
 * The index keys are built here, each by one function that both the indexer and the lookup use:
 * an event looks only at the Elections filed under its keys, and a reconcile reads only the pods
 * and slices filed under the Election's, never the whole cache (10,000 Elections: docs/benchmarks.md).
 */
import type { V1EndpointSlice, V1Lease, V1Pod, V1Service } from "@kubernetes/client-node";
import type { Clock } from "../election/clock.ts";
import type { Log } from "../election/log.ts";
import { leaseSpecToRecord } from "../election/record.ts";
import type { KubeClient, KubeObject } from "../kube/client.ts";
import { apiFailure } from "../kube/errors.ts";
import { Reflector } from "../kube/reflector.ts";
import { GROUP, keyOf, leaseNameOf, MANAGED_BY, MANAGED_BY_LABEL, PLURAL, VERSION, type Election } from "./election.ts";
import { matches } from "./selector.ts";
import { cachedPod } from "./views.ts";

/** What the controller reads: the caches, never the API server. */
export interface ElectionCache {
  election(key: string): Election | undefined;
  /** Resolves once the caches of the namespace have been filled (and starts them on first use). */
  namespaceSynced(namespace: string): Promise<void>;
  /** The Lease, and how long ago this operator saw its record last change. */
  lease(namespace: string, name: string): { lease: V1Lease; unchangedForMs: number } | undefined;
  /** The selected pods that are still running or may run: finished pods are no candidates. */
  candidates(election: Election): V1Pod[];
  service(namespace: string, name: string): V1Service | undefined;
  /** The EndpointSlices this Election owns. */
  ownedSlices(election: Election): V1EndpointSlice[];
}

export interface WatchesOptions {
  client: KubeClient;
  /** Watch only these namespaces; all when undefined. */
  namespaces?: string[];
  requestTimeoutMs: number;
  clock: Clock;
  log: Log;
  /** Told the key ("namespace/name") of every Election a change may concern. */
  onConcern: (key: string) => void;
}

/** The caches of one namespace that has Elections. */
interface NamespaceCaches {
  leases: Reflector<V1Lease>;
  pods: Reflector<V1Pod>;
  services: Reflector<V1Service>;
  slices: Reflector<V1EndpointSlice>;
  synced: Promise<void>;
}

export class Watches implements ElectionCache {
  private readonly o: WatchesOptions;
  /** One cluster-wide reflector (key ""), or one per namespace listed. */
  private readonly elections = new Map<string, Reflector<Election>>();
  private readonly namespaces = new Map<string, NamespaceCaches>();
  /** When this operator saw each Lease's record change (monotonic ms): expiry by local observation. */
  private readonly leaseChanges = new Map<string, { record: string; at: number }>();

  constructor(options: WatchesOptions) {
    this.o = options;
    for (const ns of options.namespaces ?? [""]) {
      const path = ns ? `/apis/${GROUP}/${VERSION}/namespaces/${ns}/${PLURAL}` : `/apis/${GROUP}/${VERSION}/${PLURAL}`;
      const reflector = this.reflector<Election>(ns ? `elections in ${ns}` : "elections", path, {
        index: electionIndexKeys,
        onChange: (election) => {
          this.watchNamespace(election.metadata.namespace);
          options.onConcern(keyOf(election.metadata.namespace, election.metadata.name));
        },
      });
      this.elections.set(ns, reflector);
    }
  }

  /** Starts the Election watch; resolves once its first list is in. */
  async start(): Promise<void> {
    const elections = [...this.elections.values()];
    for (const r of elections) r.start();
    await Promise.all(elections.map((r) => r.synced));
  }

  async stop(): Promise<void> {
    await Promise.all(
      [...this.elections.values(), ...[...this.namespaces.values()].flatMap((c) => [c.leases, c.pods, c.services, c.slices])].map((r) => r.stop()),
    );
  }

  /** The Elections as cached. */
  all(): Election[] {
    return [...this.elections.values()].flatMap((r) => r.list());
  }

  /** Every cache has had its first list. */
  get synced(): boolean {
    return (
      [...this.elections.values()].every((r) => r.hasSynced) &&
      [...this.namespaces.values()].every((c) => c.leases.hasSynced && c.pods.hasSynced && c.services.hasSynced && c.slices.hasSynced)
    );
  }

  election(key: string): Election | undefined {
    const [namespace = "", name = ""] = key.split("/");
    return this.electionsIn(namespace)?.get(namespace, name);
  }

  namespaceSynced(namespace: string): Promise<void> {
    return this.watchNamespace(namespace).synced;
  }

  lease(namespace: string, name: string): { lease: V1Lease; unchangedForMs: number } | undefined {
    const lease = this.namespaces.get(namespace)?.leases.get(namespace, name);
    if (!lease) return undefined;
    const seen = this.observeLease(lease);
    return { lease, unchangedForMs: this.o.clock.monotonic() - seen };
  }

  candidates(election: Election): V1Pod[] {
    const selector = election.spec.candidates?.selector;
    const pods = this.namespaces.get(election.metadata.namespace)?.pods;
    if (!selector || !pods) return [];
    const { namespace } = election.metadata;
    // The pods with the rarest of the selector's labels, not every pod in the namespace.
    const byLabel = Object.entries(selector.matchLabels ?? {}).map(([k, v]) => pods.byIndex(labelKey(namespace, k, v)));
    const pool = byLabel.length > 0 ? byLabel.reduce((a, b) => (b.length < a.length ? b : a)) : pods.list(namespace);
    return pool.filter((p) => p.status?.phase !== "Succeeded" && p.status?.phase !== "Failed" && matches(selector, p.metadata?.labels ?? {}));
  }

  service(namespace: string, name: string): V1Service | undefined {
    return this.namespaces.get(namespace)?.services.get(namespace, name);
  }

  ownedSlices(election: Election): V1EndpointSlice[] {
    return this.namespaces.get(election.metadata.namespace)?.slices.byIndex(ownerKey(election.metadata.uid ?? "")) ?? [];
  }

  /** The monotonic time at which this operator first saw the Lease's current record. */
  private observeLease(lease: V1Lease): number {
    const key = keyOf(lease.metadata?.namespace ?? "", lease.metadata?.name ?? "");
    const record = JSON.stringify(leaseSpecToRecord(lease.spec));
    const seen = this.leaseChanges.get(key);
    if (seen?.record === record) return seen.at;
    const at = this.o.clock.monotonic();
    this.leaseChanges.set(key, { record, at });
    return at;
  }

  private electionsIn(namespace: string): Reflector<Election> | undefined {
    return this.elections.get(namespace) ?? this.elections.get("");
  }

  /** The caches of `namespace`, started on first use; changes in them concern the Elections filed under their keys. */
  private watchNamespace(namespace: string): NamespaceCaches {
    const existing = this.namespaces.get(namespace);
    if (existing) return existing;
    // The Elections filed under any of `keys` (see electionIndexKeys) that pass `test` are concerned.
    const concern = (keys: string[], test: (e: Election) => boolean = () => true): void => {
      for (const key of keys) for (const e of this.electionsIn(namespace)?.byIndex(key) ?? []) if (test(e)) this.o.onConcern(keyOf(namespace, e.metadata.name));
    };
    const caches: NamespaceCaches = {
      leases: this.reflector<V1Lease>(`leases in ${namespace}`, `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`, {
        onChange: (lease, deleted) => {
          const key = keyOf(namespace, lease.metadata?.name ?? "");
          if (deleted) this.leaseChanges.delete(key);
          else this.observeLease(lease);
          concern([leaseKey(namespace, lease.metadata?.name ?? "")]);
        },
      }),
      pods: this.reflector<V1Pod>(`pods in ${namespace}`, `/api/v1/namespaces/${namespace}/pods`, {
        index: (pod) => Object.entries(pod.metadata?.labels ?? {}).map(([k, v]) => labelKey(namespace, k, v)),
        transform: cachedPod,
        // A pod whose labels changed may have left an Election's selector: those that named it care too.
        onChange: (pod) => {
          const labels = pod.metadata?.labels ?? {};
          const name = pod.metadata?.name ?? "";
          const keys = [...Object.entries(labels).map(([k, v]) => labelKey(namespace, k, v)), podKey(namespace, name), anyPodKey(namespace)];
          concern(keys, (e) => {
            // Not "carries the leader label": Elections share that label, and each touches only its own candidates.
            const selected = e.spec.candidates ? matches(e.spec.candidates.selector, labels) : false;
            return selected || e.status?.leader === name || e.spec.preferredHolder === name;
          });
        },
      }),
      services: this.reflector<V1Service>(`services in ${namespace}`, `/api/v1/namespaces/${namespace}/services`, {
        onChange: (service) => {
          concern([serviceKey(namespace, service.metadata?.name ?? "")]);
        },
      }),
      slices: this.reflector<V1EndpointSlice>(`elector's endpointslices in ${namespace}`, `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`, {
        labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY}`,
        index: sliceOwnerKeys,
        onChange: (slice) => {
          concern(sliceOwnerKeys(slice));
        },
      }),
      synced: Promise.resolve(),
    };
    const reflectors = [caches.leases, caches.pods, caches.services, caches.slices];
    caches.synced = Promise.all(reflectors.map((r) => r.synced)).then(() => undefined);
    for (const reflector of reflectors) reflector.start();
    this.namespaces.set(namespace, caches);
    return caches;
  }

  private reflector<T extends KubeObject>(
    what: string,
    path: string,
    options: { labelSelector?: string; index?: (object: T) => string[]; transform?: (object: T) => T; onChange: (object: T, deleted: boolean) => void },
  ): Reflector<T> {
    return new Reflector<T>(this.o.client, {
      path,
      requestTimeoutMs: this.o.requestTimeoutMs,
      ...options,
      onError: (err, retryInMs) => {
        this.o.log.warn({ watch: what, err: apiFailure(err).message, retryInMs }, "watch failed; retrying");
      },
    });
  }
}

/** Objects carrying label `key=value` in `namespace`. */
function labelKey(namespace: string, key: string, value: string): string {
  return `${namespace}/${key}=${value}`;
}

/** The Elections whose selector requires no label: every pod of the namespace may concern them. */
function anyPodKey(namespace: string): string {
  return `${namespace}/*`;
}

function podKey(namespace: string, name: string): string {
  return `${namespace}/pod:${name}`;
}

function leaseKey(namespace: string, name: string): string {
  return `${namespace}/lease:${name}`;
}

function serviceKey(namespace: string, name: string): string {
  return `${namespace}/service:${name}`;
}

function ownerKey(uid: string): string {
  return `owner:${uid}`;
}

function sliceOwnerKeys(slice: V1EndpointSlice): string[] {
  return (slice.metadata?.ownerReferences ?? []).map((r) => ownerKey(r.uid));
}

/**
 * Where a change may concern an Election: the labels its selector requires (or any pod when it
 * requires none), the pods it names (leader, preferred holder), its Lease, its Service, and its
 * uid (as the owner of slices).
 */
function electionIndexKeys(e: Election): string[] {
  const { namespace, uid } = e.metadata;
  const matchLabels = Object.entries(e.spec.candidates?.selector.matchLabels ?? {});
  return [
    ...(matchLabels.length > 0 ? matchLabels.map(([k, v]) => labelKey(namespace, k, v)) : [anyPodKey(namespace)]),
    ...[e.status?.leader, e.spec.preferredHolder].filter((p) => p).map((p) => podKey(namespace, p ?? "")),
    leaseKey(namespace, leaseNameOf(e)),
    ...(e.spec.service ? [serviceKey(namespace, e.spec.service.name)] : []),
    ...(uid ? [ownerKey(uid)] : []),
  ];
}
