/**
 * A Lock on one Kubernetes object, whatever its kind: reads, conditional writes, and a watch on
 * the access layer's watcher (src/kube/watcher.ts) with a field selector for the one object. The
 * kind-specific part (which resource, where the record lives in the object) is a
 * LockBackend: Lease (lease.ts), or the legacy annotation on Endpoints and ConfigMaps (legacy.ts).
 */
import type { BackoffPolicy } from "../../kube/backoff.ts";
import type { KubeClient, KubeObject } from "../../kube/client.ts";
import { apiFailure, KubeError } from "../../kube/errors.ts";
import { Watcher, type Listing } from "../../kube/watcher.ts";
import type { Log } from "../log.ts";
import { ConflictError, type Lock, type LockState } from "../lock.ts";
import type { LeaderElectionRecord } from "../record.ts";

export interface LockBackend<T extends KubeObject> {
  /** Plural resource name, as in URLs, RBAC rules and log lines: "leases", "endpoints", "configmaps". */
  resource: string;
  /** The API group ("" for core) and version. */
  group: string;
  version: string;
  /** The record this object holds. */
  stateOf(object: T): LockState;
  /** `object` (or a new object named `name`) carrying `record`, all else kept. */
  withRecord(object: T | undefined, name: string, record: LeaderElectionRecord): T;
}

export interface ObjectLockOptions {
  identity: string;
  namespace: string;
  name: string;
  requestTimeoutMs: number;
  log: Log;
}

/**
 * Quicker than the reflector's 800 ms to 30 s: while the lock's watch is down its elector polls,
 * and a follower is back to learning of a release within milliseconds only once it is up again.
 */
const RECONNECT_BACKOFF: BackoffPolicy = { initialMs: 100, maxMs: 5_000 };

export class ObjectLock<T extends KubeObject> implements Lock {
  readonly identity: string;
  private readonly backend: LockBackend<T>;
  private readonly client: KubeClient;
  private readonly options: ObjectLockOptions;
  private readonly collection: string;
  /** The object as last seen: its resourceVersion is the precondition of the next write. */
  private last: T | undefined;
  /** Counts the answers of get, create and update: a read the watch started earlier is older than any of them. */
  private answers = 0;

  constructor(client: KubeClient, backend: LockBackend<T>, options: ObjectLockOptions) {
    this.client = client;
    this.backend = backend;
    this.options = options;
    this.identity = options.identity;
    const api = backend.group ? `/apis/${backend.group}/${backend.version}` : `/api/${backend.version}`;
    this.collection = `${api}/namespaces/${encodeURIComponent(options.namespace)}/${backend.resource}`;
  }

  describe(): string {
    return `${this.backend.resource}/${this.options.namespace}/${this.options.name}`;
  }

  async get(signal?: AbortSignal): Promise<LockState | undefined> {
    try {
      this.last = await this.client.request<T>("GET", this.itemPath(), this.requestOptions(signal));
      this.answers += 1;
    } catch (err) {
      if (apiFailure(err).code === 404) {
        this.last = undefined;
        this.answers += 1;
        return undefined;
      }
      throw this.error("get", err);
    }
    return this.backend.stateOf(this.last);
  }

  async create(record: LeaderElectionRecord, signal?: AbortSignal): Promise<LockState> {
    const body = this.backend.withRecord(undefined, this.options.name, record);
    try {
      this.last = await this.client.request<T>("POST", this.collection, { body, ...this.requestOptions(signal) });
      this.answers += 1;
    } catch (err) {
      if (apiFailure(err).code === 409) throw new ConflictError(`${this.describe()} already exists`);
      throw this.error("create", err);
    }
    return this.backend.stateOf(this.last);
  }

  async update(record: LeaderElectionRecord, signal?: AbortSignal): Promise<LockState> {
    if (!this.last) throw new ConflictError(`${this.describe()} has not been read yet`);
    // The body carries the resourceVersion last seen: the API server refuses it (409) if the object has changed since.
    const body = this.backend.withRecord(this.last, this.options.name, record);
    try {
      this.last = await this.client.request<T>("PUT", this.itemPath(), { body, ...this.requestOptions(signal) });
      this.answers += 1;
    } catch (err) {
      const code = apiFailure(err).code;
      // 404: deleted under us; the next read finds out and creates it again.
      if (code === 409 || code === 404) throw new ConflictError(`${this.describe()} changed since it was read`);
      throw this.error("update", err);
    }
    return this.backend.stateOf(this.last);
  }

  watch(onState: (state: LockState | undefined) => void, onStatus: (connected: boolean) => void): () => void {
    const { log } = this.options;
    const seen = (object: T | undefined): void => {
      this.last = object;
      onState(object ? this.backend.stateOf(object) : undefined);
    };
    let listed: { object: T | undefined; answersBefore: number } | undefined;
    const watcher = new Watcher<T>(
      this.client,
      {
        path: this.collection,
        fieldSelector: `metadata.name=${this.options.name}`,
        requestTimeoutMs: this.options.requestTimeoutMs,
        list: async (signal) => {
          const answersBefore = this.answers;
          const listing = await this.read(signal);
          listed = { object: listing.items[0], answersBefore };
          return listing;
        },
        backoff: RECONNECT_BACKOFF,
        onConnected: onStatus,
        onError: (err, retryInMs) => {
          log.debug({ lock: this.describe(), err: apiFailure(err).message, retryInMs }, "lock watch ended; reconnecting");
        },
      },
      (event) => {
        if (event.type === "InitDone") {
          // A read whose answer came after one of this lock's own writes was answered may predate
          // that write: "no lock object" from it would look like a lost term. Seen in a test run (a
          // fresh election's first leader lost its term); test/integration/agent-faults.test.ts reproduces it.
          if (listed && listed.answersBefore === this.answers) seen(listed.object);
          else onState(this.last ? this.backend.stateOf(this.last) : undefined);
          listed = undefined;
        } else if (event.type === "Apply" || event.type === "Delete") seen(event.type === "Delete" ? undefined : event.object);
      },
    );
    watcher.start();
    return () => {
      void watcher.stop();
    };
  }

  /** The lock's "list": its one object by GET (the RBAC rules lock users have grant get, not list). */
  private async read(signal: AbortSignal): Promise<Listing<T>> {
    try {
      const object = await this.client.request<T>("GET", this.itemPath(), this.requestOptions(signal));
      return { items: [object], resourceVersion: object.metadata?.resourceVersion ?? "" };
    } catch (err) {
      // Absent: watching from now, the server sends its creation as it happens.
      if (apiFailure(err).code === 404) return { items: [], resourceVersion: "" };
      throw err;
    }
  }

  private requestOptions(signal: AbortSignal | undefined): { timeoutMs: number; signal?: AbortSignal } {
    return { timeoutMs: this.options.requestTimeoutMs, ...(signal ? { signal } : {}) };
  }

  private itemPath(): string {
    return `${this.collection}/${encodeURIComponent(this.options.name)}`;
  }

  private error(verb: string, err: unknown): KubeError {
    const group = this.backend.group ? `${this.backend.resource}.${this.backend.group}` : this.backend.resource;
    return new KubeError(`${verb} ${this.describe()}`, apiFailure(err), `get, create, update, watch on ${group} in namespace ${this.options.namespace}`);
  }
}
