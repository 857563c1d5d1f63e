/**
 * A Lock on one Kubernetes object, whatever its kind: reads, conditional writes and a watch with
 * reconnects. The kind-specific part (which resource, where the record lives in the object) is a
 * LockBackend: Lease (lease.ts), or the legacy annotation on Endpoints and ConfigMaps (legacy.ts).
 */
import type { KubeClient, KubeObject } from "../../kube/client.ts";
import { apiFailure, KubeError } from "../../kube/errors.ts";
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

const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 5_000;

export class ObjectLock<T extends KubeObject> implements Lock {
  readonly identity: string;
  private readonly backend: LockBackend<T>;
  private readonly client: KubeClient;
  private readonly options: ObjectLockOptions;
  private readonly collection: string;
  /** The object as last seen: its resourceVersion is the precondition of the next write. */
  private last: T | undefined;

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

  async get(): Promise<LockState | undefined> {
    try {
      this.last = await this.client.request<T>("GET", this.itemPath(), { timeoutMs: this.options.requestTimeoutMs });
    } catch (err) {
      if (apiFailure(err).code === 404) {
        this.last = undefined;
        return undefined;
      }
      throw this.error("get", err);
    }
    return this.backend.stateOf(this.last);
  }

  async create(record: LeaderElectionRecord): Promise<LockState> {
    const body = this.backend.withRecord(undefined, this.options.name, record);
    try {
      this.last = await this.client.request<T>("POST", this.collection, { body, timeoutMs: this.options.requestTimeoutMs });
    } catch (err) {
      if (apiFailure(err).code === 409) throw new ConflictError(`${this.describe()} already exists`);
      throw this.error("create", err);
    }
    return this.backend.stateOf(this.last);
  }

  async update(record: LeaderElectionRecord): Promise<LockState> {
    if (!this.last) throw new ConflictError(`${this.describe()} has not been read yet`);
    // The body carries the resourceVersion last seen: the API server refuses it (409) if the object has changed since.
    const body = this.backend.withRecord(this.last, this.options.name, record);
    try {
      this.last = await this.client.request<T>("PUT", this.itemPath(), { body, timeoutMs: this.options.requestTimeoutMs });
    } catch (err) {
      const code = apiFailure(err).code;
      // 404: deleted under us; the next read finds out and creates it again.
      if (code === 409 || code === 404) throw new ConflictError(`${this.describe()} changed since it was read`);
      throw this.error("update", err);
    }
    return this.backend.stateOf(this.last);
  }

  watch(onState: (state: LockState | undefined) => void, onStatus: (connected: boolean) => void): () => void {
    let stopWatch: (() => void) | undefined;
    let delay = RECONNECT_MIN_MS;
    let timer: NodeJS.Timeout | undefined;
    const { log } = this.options;

    const connect = (): void => {
      let connected = false;
      stopWatch = this.client.watch<T>(
        this.collection,
        { fieldSelector: `metadata.name=${this.options.name}` },
        {
          onConnected: () => {
            connected = true;
            onStatus(true);
          },
          onEvent: (type, object) => {
            if (type === "BOOKMARK") return;
            delay = RECONNECT_MIN_MS;
            this.last = type === "DELETED" ? undefined : object;
            onState(this.last ? this.backend.stateOf(this.last) : undefined);
          },
          onClosed: (err) => {
            if (connected) onStatus(false);
            if (err) log.debug({ lock: this.describe(), err: apiFailure(err).message }, "lock watch ended; reconnecting");
            // Events reset the delay: a watch that keeps failing before any arrives backs off.
            timer = setTimeout(connect, delay);
            delay = Math.min(delay * 2, RECONNECT_MAX_MS);
          },
        },
      );
    };
    connect();
    return () => {
      clearTimeout(timer);
      stopWatch?.();
    };
  }

  private itemPath(): string {
    return `${this.collection}/${encodeURIComponent(this.options.name)}`;
  }

  private error(verb: string, err: unknown): KubeError {
    const group = this.backend.group ? `${this.backend.resource}.${this.backend.group}` : this.backend.resource;
    return new KubeError(`${verb} ${this.describe()}`, apiFailure(err), `get, create, update, watch on ${group} in namespace ${this.options.namespace}`);
  }
}
