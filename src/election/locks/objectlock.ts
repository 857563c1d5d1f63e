/**
 * A Lock on one Kubernetes object, whatever its kind: reads, conditional writes and a watch with
 * reconnects. The kind-specific part (which API, where the record lives in the object) is a
 * LockBackend: Lease (lease.ts), or the legacy annotation on Endpoints and ConfigMaps (legacy.ts).
 */
import { Watch, type KubeConfig, type V1ObjectMeta } from "@kubernetes/client-node";
import { apiFailure, KubeError } from "../../kube/errors.ts";
import { withTimeout, type RequestOptions } from "../../kube/requests.ts";
import type { Log } from "../elector.ts";
import { ConflictError, type Lock, type LockState } from "../lock.ts";
import type { LeaderElectionRecord } from "../record.ts";

export interface LockObject {
  metadata?: V1ObjectMeta;
}

export interface LockBackend<T extends LockObject> {
  /** Plural resource name, as in RBAC rules and log lines: "leases", "endpoints", "configmaps". */
  resource: string;
  /** The API group for RBAC hints ("" for core). */
  group: string;
  /** Collection path for watching, e.g. /apis/coordination.k8s.io/v1/namespaces/ns/leases. */
  collectionPath(namespace: string): string;
  read(name: string, namespace: string, options: RequestOptions): Promise<T>;
  create(namespace: string, body: T, options: RequestOptions): Promise<T>;
  replace(name: string, namespace: string, body: T, options: RequestOptions): Promise<T>;
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

export class ObjectLock<T extends LockObject> implements Lock {
  readonly identity: string;
  private readonly backend: LockBackend<T>;
  private readonly kc: KubeConfig;
  private readonly options: ObjectLockOptions;
  /** The object as last seen: its resourceVersion is the precondition of the next write. */
  private last: T | undefined;

  constructor(kc: KubeConfig, backend: LockBackend<T>, options: ObjectLockOptions) {
    this.kc = kc;
    this.backend = backend;
    this.options = options;
    this.identity = options.identity;
  }

  describe(): string {
    return `${this.backend.resource}/${this.options.namespace}/${this.options.name}`;
  }

  async get(): Promise<LockState | undefined> {
    const { name, namespace } = this.options;
    try {
      this.last = await this.backend.read(name, namespace, this.requestOptions());
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
      this.last = await this.backend.create(this.options.namespace, body, this.requestOptions());
    } catch (err) {
      if (apiFailure(err).code === 409) throw new ConflictError(`${this.describe()} already exists`);
      throw this.error("create", err);
    }
    return this.backend.stateOf(this.last);
  }

  async update(record: LeaderElectionRecord): Promise<LockState> {
    if (!this.last) throw new ConflictError(`${this.describe()} has not been read yet`);
    const body = this.backend.withRecord(this.last, this.options.name, record);
    try {
      this.last = await this.backend.replace(this.options.name, this.options.namespace, body, this.requestOptions());
    } catch (err) {
      const code = apiFailure(err).code;
      // 404: deleted under us; the next read finds out and creates it again.
      if (code === 409 || code === 404) throw new ConflictError(`${this.describe()} changed since it was read`);
      throw this.error("update", err);
    }
    return this.backend.stateOf(this.last);
  }

  watch(onState: (state: LockState | undefined) => void, onStatus: (connected: boolean) => void): () => void {
    const watcher = new Watch(this.kc);
    let stopped = false;
    let controller: AbortController | undefined;
    let delay = RECONNECT_MIN_MS;
    let timer: NodeJS.Timeout | undefined;
    const { log } = this.options;

    const connect = async (): Promise<void> => {
      let connected = false;
      const done = (err: unknown): void => {
        if (connected) onStatus(false);
        connected = false;
        if (stopped) return;
        if (err) log.debug({ lock: this.describe(), err: apiFailure(err).message }, "lock watch ended; reconnecting");
        timer = setTimeout(() => void connect(), delay);
        delay = Math.min(delay * 2, RECONNECT_MAX_MS);
      };
      const onEvent = (type: string, object: T): void => {
        if (stopped) return;
        if (type === "ERROR") {
          // An expired resourceVersion or similar: end this watch; done() reconnects afresh.
          controller?.abort();
          return;
        }
        if (type === "BOOKMARK") return;
        delay = RECONNECT_MIN_MS;
        this.last = type === "DELETED" ? undefined : object;
        onState(this.last ? this.backend.stateOf(this.last) : undefined);
      };
      try {
        controller = await watcher.watch(
          this.backend.collectionPath(this.options.namespace),
          { fieldSelector: `metadata.name=${this.options.name}` },
          onEvent,
          done,
        );
      } catch (err) {
        done(err);
        return;
      }
      if (stopped) {
        controller.abort();
        return;
      }
      if (!controller.signal.aborted) {
        connected = true;
        onStatus(true);
      }
    };
    void connect();
    return () => {
      stopped = true;
      clearTimeout(timer);
      controller?.abort();
    };
  }

  private requestOptions(): RequestOptions {
    return withTimeout(this.options.requestTimeoutMs);
  }

  private error(verb: string, err: unknown): KubeError {
    const group = this.backend.group ? `${this.backend.resource}.${this.backend.group}` : this.backend.resource;
    return new KubeError(`${verb} ${this.describe()}`, apiFailure(err), `get, create, update, watch on ${group} in namespace ${this.options.namespace}`);
  }
}
