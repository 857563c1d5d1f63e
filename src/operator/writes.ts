/**
 * Every write the operator makes, and nothing else: the Election's finalizer and status (never its
 * spec, which is the user's: a GitOps tool re-applying it finds nothing changed), the leader label
 * on pods, elector's EndpointSlices, the Lease's preferred-holder annotation, and Events. The
 * controller decides what and in which order; ApiWriter sends it through elector's own client
 * (src/kube/client.ts).
 */
import type { V1Pod } from "@kubernetes/client-node";
import { PREFERRED_HOLDER_ANNOTATION } from "../election/record.ts";
import type { KubeClient } from "../kube/client.ts";
import { apiFailure } from "../kube/errors.ts";
import { FINALIZER, GROUP, MANAGED_BY, MANAGED_BY_LABEL, PLURAL, VERSION, type Election, type ElectionStatus } from "./election.ts";
import { EventRecorder, type RecorderOptions } from "./events.ts";
import type { DesiredSlice, ElectionEvent } from "./projection.ts";

export interface ElectionWriter {
  /** Adds (true) or removes (false) the operator's finalizer, at the Election's resourceVersion. */
  setFinalizer(election: Election, present: boolean): Promise<void>;
  /**
   * Replaces the status at the resourceVersion it was computed from: a reconcile working from an
   * old Election fails with 409 and runs again on fresh data.
   */
  putStatus(election: Election, status: ElectionStatus): Promise<void>;
  /** Sets the Lease's preferred-holder annotation; "" removes it. */
  setLeaseAnnotation(namespace: string, lease: string, preferredHolder: string): Promise<void>;
  /** Sets (or, with null, removes) a label on a pod; a pod already gone is no error. */
  setLabel(namespace: string, pod: string, key: string, value: string | null): Promise<void>;
  /** A live list of the pods matching `selector` (not the cache, which may lag the operator's own writes). */
  livePods(namespace: string, selector: string): Promise<V1Pod[]>;
  /** Creates, or (with the current resourceVersion) replaces, the Election's slice named `name`. */
  putSlice(election: Election, name: string, desired: DesiredSlice, resourceVersion?: string): Promise<void>;
  /** A slice already gone is no error. */
  deleteSlice(namespace: string, name: string): Promise<void>;
  /** An Event on the Election (events.ts: repeats become a series), and the same as one log line; a failure is logged, not thrown. */
  recordEvent(election: Election, event: ElectionEvent): Promise<void>;
}

const MERGE_PATCH = "application/merge-patch+json";
const SERVICE_NAME_LABEL = "kubernetes.io/service-name";

/** The labels of elector's slice for `service`: the EndpointSlice controller leaves it alone, kube-proxy reads it. */
export function sliceLabels(service: string): Record<string, string> {
  return { [SERVICE_NAME_LABEL]: service, [MANAGED_BY_LABEL]: MANAGED_BY };
}

export class ApiWriter implements ElectionWriter {
  private readonly client: KubeClient;
  private readonly o: RecorderOptions;
  private readonly events: EventRecorder;

  constructor(client: KubeClient, options: RecorderOptions) {
    this.client = client;
    this.o = options;
    this.events = new EventRecorder(client, options);
  }

  async setFinalizer(election: Election, present: boolean): Promise<void> {
    const others = (election.metadata.finalizers ?? []).filter((f) => f !== FINALIZER);
    await this.patch(electionPath(election), {
      metadata: { finalizers: present ? [...others, FINALIZER] : others, resourceVersion: election.metadata.resourceVersion },
    });
  }

  async putStatus(election: Election, status: ElectionStatus): Promise<void> {
    await this.client.request("PUT", `${electionPath(election)}/status`, { body: { ...election, status }, timeoutMs: this.o.requestTimeoutMs });
  }

  async setLeaseAnnotation(namespace: string, lease: string, preferredHolder: string): Promise<void> {
    await this.patch(`/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${lease}`, {
      metadata: { annotations: { [PREFERRED_HOLDER_ANNOTATION]: preferredHolder === "" ? null : preferredHolder } },
    });
  }

  async setLabel(namespace: string, pod: string, key: string, value: string | null): Promise<void> {
    await this.tolerateGone(this.patch(`/api/v1/namespaces/${namespace}/pods/${pod}`, { metadata: { labels: { [key]: value } } }));
  }

  async livePods(namespace: string, selector: string): Promise<V1Pod[]> {
    const list = await this.client.request<{ items: V1Pod[] }>("GET", `/api/v1/namespaces/${namespace}/pods?labelSelector=${encodeURIComponent(selector)}`, {
      timeoutMs: this.o.requestTimeoutMs,
    });
    return list.items;
  }

  async putSlice(election: Election, name: string, desired: DesiredSlice, resourceVersion?: string): Promise<void> {
    const { namespace } = election.metadata;
    const body = {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: {
        name,
        namespace,
        labels: sliceLabels(desired.service),
        ownerReferences: [
          { apiVersion: `${GROUP}/${VERSION}`, kind: "Election", name: election.metadata.name, uid: election.metadata.uid ?? "", controller: true },
        ],
        ...(resourceVersion ? { resourceVersion } : {}),
      },
      addressType: desired.addressType,
      endpoints: desired.endpoints,
      ports: desired.ports,
    };
    const path = `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`;
    if (resourceVersion) await this.client.request("PUT", `${path}/${name}`, { body, timeoutMs: this.o.requestTimeoutMs });
    else await this.client.request("POST", path, { body, timeoutMs: this.o.requestTimeoutMs });
  }

  async deleteSlice(namespace: string, name: string): Promise<void> {
    await this.tolerateGone(
      this.client.request("DELETE", `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices/${name}`, { timeoutMs: this.o.requestTimeoutMs }),
    );
  }

  recordEvent(election: Election, event: ElectionEvent): Promise<void> {
    return this.events.record(election, event);
  }

  /** Writes the counts of Event series still under way. */
  stop(): Promise<void> {
    return this.events.stop();
  }

  private async patch(path: string, body: unknown): Promise<void> {
    await this.client.request("PATCH", path, { body, contentType: MERGE_PATCH, timeoutMs: this.o.requestTimeoutMs });
  }

  private async tolerateGone(write: Promise<unknown>): Promise<void> {
    try {
      await write;
    } catch (err) {
      if (apiFailure(err).code !== 404) throw err;
    }
  }
}

function electionPath(e: Election): string {
  return `/apis/${GROUP}/${VERSION}/namespaces/${e.metadata.namespace}/${PLURAL}/${e.metadata.name}`;
}
