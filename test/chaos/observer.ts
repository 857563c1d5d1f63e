/**
 * The chaos harness's outside observer. It trusts no word of elector's: it watches the API server
 * (every version of the three Leases, the pods and their leader labels, the routed Service's
 * EndpointSlices, the Elections' status), sends requests to both routed Services from inside the
 * cluster every 250 ms and reads back every write the fenced store received. What it records is
 * judged by verdict.ts; what it holds now says whether everything agrees (unsettled()).
 */
import { setTimeout as sleep } from "node:timers/promises";
import { clusterFetch, type ControlPlane } from "../cluster/controlplane.ts";
import type { KubeClient, KubeObject } from "../../src/kube/client.ts";
import { Watcher } from "../../src/kube/watcher.ts";
import { podView, type PodObject, type PodView } from "../support/node.ts";
import { WORKLOADS } from "./schedule.ts";
import type { Answer, ApiRoute, LabelBreach, LeaseVersion, Observations, StoreWrite } from "./verdict.ts";

interface Lease extends KubeObject {
  spec?: { holderIdentity?: string; leaseTransitions?: number; renewTime?: string };
}
interface Slice extends KubeObject {
  endpoints?: { addresses: string[] }[];
}
interface Election extends KubeObject {
  status?: { leader?: string };
}
type Pod = PodObject & KubeObject;

/** The observer's watches come back fast after an API-server or etcd restart (the watcher's default backoff waits up to 30 s). */
const BACKOFF = { initialMs: 200, maxMs: 1000 };
/** The routed Services of the `fenced` election. */
export const ROUTED_SERVICES = ["fenced-leader", "fenced-primary"];

/**
 * The objects of one collection as its watch has them now; a relist is swapped in whole. Not the
 * Reflector: it applies a relist object by object, and the label check must never see half of one
 * (the old leader still labelled beside the new one).
 */
class Mirror<T extends KubeObject> {
  readonly objects = new Map<string, T>();
  private readonly watcher: Watcher<T>;
  private relisted: Map<string, T> | undefined;

  constructor(client: KubeClient, path: string, onChange: (object: T | undefined) => void, labelSelector?: string) {
    const name = (o: T): string => o.metadata?.name ?? "";
    this.watcher = new Watcher<T>(
      client,
      { path, requestTimeoutMs: 5000, backoff: BACKOFF, idleTimeoutMs: 60_000, ...(labelSelector ? { labelSelector } : {}) },
      (e) => {
        if (e.type === "Init") this.relisted = new Map();
        else if (e.type === "InitApply") this.relisted?.set(name(e.object), e.object);
        else if (e.type === "InitDone") {
          this.objects.clear();
          for (const [k, v] of this.relisted ?? []) this.objects.set(k, v);
          this.relisted = undefined;
          onChange(undefined);
        } else if (e.type === "Apply") {
          this.objects.set(name(e.object), e.object);
          onChange(e.object);
        } else {
          this.objects.delete(name(e.object));
          onChange(e.object);
        }
      },
    );
  }

  start(): void {
    this.watcher.start();
  }

  stop(): Promise<void> {
    return this.watcher.stop();
  }
}

/** The tail of a list in time order whose entries pass `recent`. */
function latest<T>(list: T[], recent: (entry: T) => boolean): T[] {
  let from = list.length;
  while (from > 0 && recent(list[from - 1] as T)) from--;
  return list.slice(from);
}

export class Observer {
  readonly leases: Record<string, LeaseVersion[]> = Object.fromEntries(WORKLOADS.map((w) => [w, []]));
  readonly writes: StoreWrite[] = [];
  readonly answers: Answer[] = [];
  readonly labelBreaches: LabelBreach[] = [];
  readonly apiRoute: ApiRoute[] = [];
  /** Pods under a freeze or a partition right now: they may hold a Lease nobody can take from them yet. */
  readonly impaired = new Set<string>();
  private readonly plane: ControlPlane;
  private readonly store: string;
  private readonly serviceUrls: Record<string, string>;
  /** The `kubernetes` Service's port, spoken to in plain HTTP: any answer (the API server's 400) is a connection that reached it. */
  private readonly apiUrl: string;
  private readonly mirrors: { leases: Mirror<Lease>; pods: Mirror<Pod>; slices: Mirror<Slice>; elections: Mirror<Election> };
  private running = true;
  private loops: Promise<void>[] = [];
  private storeNext = 0;

  constructor(client: KubeClient, plane: ControlPlane, namespace: string, store: string, serviceUrls: Record<string, string>, apiUrl: string) {
    this.plane = plane;
    this.store = store;
    this.serviceUrls = serviceUrls;
    this.apiUrl = apiUrl;
    const ns = `/namespaces/${namespace}`;
    this.mirrors = {
      // A relist (after the watch was away) records what changed meanwhile: the last version of it.
      leases: new Mirror<Lease>(client, `/apis/coordination.k8s.io/v1${ns}/leases`, (lease) => {
        for (const l of lease ? [lease] : this.mirrors.leases.objects.values()) this.recordLease(l);
      }),
      pods: new Mirror<Pod>(client, `/api/v1${ns}/pods`, () => {
        this.checkLabels();
      }),
      slices: new Mirror<Slice>(client, `/apis/discovery.k8s.io/v1${ns}/endpointslices`, () => undefined, "kubernetes.io/service-name=fenced-primary"),
      elections: new Mirror<Election>(client, `/apis/elector.dev/v1alpha1${ns}/elections`, () => undefined),
    };
  }

  start(): void {
    for (const m of Object.values(this.mirrors)) m.start();
    this.loops = [this.every(250, () => this.probeServices()), this.every(250, () => this.readStore()), this.every(250, () => this.probeApiRoute())];
  }

  /** Stops watching and probing, after one last read of the store. */
  async stop(): Promise<Observations> {
    this.running = false;
    await Promise.all(this.loops);
    await this.readStore();
    await Promise.all(Object.values(this.mirrors).map((m) => m.stop()));
    return { leases: this.leases, writes: this.writes, answers: this.answers, labelBreaches: this.labelBreaches, apiRoute: this.apiRoute };
  }

  /** The pods of a workload as the pod watch has them now, by name. */
  members(workload: string): PodView[] {
    return [...this.mirrors.pods.objects.values()]
      .filter((p) => p.metadata.labels?.app === workload)
      .map(podView)
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  holder(election: string): LeaseVersion | undefined {
    return this.leases[election]?.at(-1);
  }

  /**
   * What does not agree yet, one line each; empty once every election has one working, routed,
   * reported leader, shown by evidence from after `since` (a fault's end): a renewal stamped after
   * it, writes and answers received after it. Right after a crash the pod still looks ready and
   * its last writes are recent: only what happened since can tell.
   */
  unsettled(leaseMs: number, since: number): string[] {
    const now = Date.now();
    const wrong: string[] = [];
    const fresh = Math.max(since, now - 1000);
    for (const election of WORKLOADS) {
      const lease = this.holder(election);
      const holder = lease?.holder ?? "";
      const pod = this.mirrors.pods.objects.get(holder);
      if (!lease || holder === "") wrong.push(`${election}: no holder`);
      else if (lease.renewTime <= since || now - lease.at > leaseMs) wrong.push(`${election}: ${holder} has not renewed since`);
      else if (!pod || !podView(pod).ready || podView(pod).deleting || this.impaired.has(holder))
        wrong.push(`${election}: the holder ${holder} is not a ready pod`);
      const reported = this.mirrors.elections.objects.get(election)?.status?.leader ?? "";
      if (reported !== holder) wrong.push(`${election}: the Election says ${reported || "nobody"} leads, the Lease ${holder || "nobody"}`);
      if (election === "mixed" || !lease) continue;
      const recent = latest(this.writes, (w) => w.at > fresh).filter((w) => w.resource === election);
      if (!recent.some((w) => w.writer === holder && w.token === lease.transitions && w.accepted))
        wrong.push(`${election}: no fresh accepted write of ${holder}`);
      const others = new Set(recent.filter((w) => w.writer !== holder).map((w) => w.writer));
      if (election === "wrapped" && others.size > 0) wrong.push(`wrapped: ${[...others].join(", ")} still write`);
      if (election !== "fenced") continue;
      const labelled = this.labelled();
      if (labelled.join() !== holder) wrong.push(`fenced: labelled ${labelled.join(", ") || "none"}`);
      const ips = [...this.mirrors.slices.objects.values()].flatMap((s) => (s.endpoints ?? []).flatMap((e) => e.addresses));
      const ip = pod ? podView(pod).ip : "";
      if (ips.join() !== ip) wrong.push(`fenced-primary's EndpointSlice lists ${ips.join(", ") || "nothing"}, not ${ip}`);
      for (const service of ROUTED_SERVICES) {
        const last = latest(this.answers, (a) => a.at > Math.max(since, now - 2000)).findLast((a) => a.service === service);
        if (last?.pod !== holder) wrong.push(`${service} answered from ${last?.pod ?? "nobody"}`);
      }
    }
    return wrong;
  }

  /** Waits until unsettled(since) is empty; resolves with how long after `since` that was, or undefined after `timeoutMs`. */
  async settled(leaseMs: number, since: number, timeoutMs: number): Promise<number | undefined> {
    while (Date.now() - since < timeoutMs) {
      if (this.unsettled(leaseMs, since).length === 0) return Date.now() - since;
      await sleep(100);
    }
    return undefined;
  }

  private labelled(): string[] {
    return [...this.mirrors.pods.objects.values()]
      .filter((p) => p.metadata.labels?.app === "fenced" && p.metadata.labels.leader === "true")
      .map((p) => p.metadata.name)
      .sort();
  }

  private checkLabels(): void {
    const pods = this.labelled();
    if (pods.length > 1) this.labelBreaches.push({ at: Date.now(), election: "fenced", pods });
  }

  private recordLease(lease: Lease): void {
    const versions = this.leases[lease.metadata?.name ?? ""];
    if (!versions) return;
    const renew = lease.spec?.renewTime;
    const version = {
      at: Date.now(),
      holder: lease.spec?.holderIdentity ?? "",
      transitions: lease.spec?.leaseTransitions ?? 0,
      renewTime: renew ? Date.parse(renew) : 0,
    };
    const last = versions.at(-1);
    if (last?.holder === version.holder && last.transitions === version.transitions && last.renewTime === version.renewTime) return;
    versions.push(version);
  }

  private async probeServices(): Promise<void> {
    for (const [service, url] of Object.entries(this.serviceUrls)) {
      const { status, body } = await clusterFetch(this.plane, url, 1000).catch(() => ({ status: 0, body: "" }));
      const pod = status === 200 ? (JSON.parse(body) as { pod?: string }).pod : undefined;
      this.answers.push({ at: Date.now(), service, ...(pod ? { pod } : {}) });
    }
  }

  private async probeApiRoute(): Promise<void> {
    const { status } = await clusterFetch(this.plane, this.apiUrl, 1000).catch(() => ({ status: 0 }));
    this.apiRoute.push({ at: Date.now(), reached: status !== 0 });
  }

  private async readStore(): Promise<void> {
    const { status, body } = await clusterFetch(this.plane, `${this.store}/writes?from=${String(this.storeNext)}`, 5000).catch(() => ({ status: 0, body: "" }));
    if (status !== 200) return;
    const read = JSON.parse(body) as { next: number; writes: StoreWrite[] };
    this.writes.push(...read.writes);
    this.storeNext = read.next;
  }

  private async every(ms: number, step: () => Promise<void>): Promise<void> {
    while (this.running) {
      await step();
      await sleep(ms);
    }
  }
}
