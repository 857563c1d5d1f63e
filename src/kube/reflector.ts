/**
 * A reflector: a watcher's events kept as a store of objects, with client-go-style indexes, as
 * kube-rs's `reflector` and client-go's Reflector + Indexer do. A relist's Init … InitDone is
 * applied as one swap, so an object deleted while the watch was away leaves the store (and is
 * reported deleted). `managedFields` are dropped as each object arrives: nothing here reads them,
 * and on pods they are a good part of the object (controller-runtime's TransformStripManagedFields).
 */
import type { KubeClient, KubeObject } from "./client.ts";
import { ObjectIndex } from "./objectindex.ts";
import { Watcher, type WatcherEvent, type WatcherOptions } from "./watcher.ts";

export interface ReflectorOptions<T> extends WatcherOptions<T> {
  /**
   * What of each object to keep (client-go's SetTransform, kube-rs's `modify`): a cache that keeps
   * only the fields its reader uses holds thousands of pods in a fraction of the memory.
   */
  transform?: (object: T) => T;
  /** The keys under which byIndex() finds an object (client-go's IndexFunc). */
  index?: (object: T) => string[];
  /** Told of every change once the store and the index have it. */
  onChange?: (object: T, deleted: boolean) => void;
}

export class Reflector<T extends KubeObject> {
  readonly synced: Promise<void>;
  private readonly objects = new Map<string, T>();
  private readonly index = new ObjectIndex();
  private readonly options: ReflectorOptions<T>;
  private readonly watcher: Watcher<T>;
  /** The objects of a relist under way, swapped in at InitDone. */
  private relisted: Map<string, T> | undefined;
  private markSynced: () => void = () => undefined;
  private isSynced = false;

  constructor(client: KubeClient, options: ReflectorOptions<T>) {
    this.options = options;
    this.synced = new Promise((resolve) => (this.markSynced = resolve));
    this.watcher = new Watcher<T>(client, options, (event) => {
      this.apply(event);
    });
  }

  start(): void {
    this.watcher.start();
  }

  stop(): Promise<void> {
    return this.watcher.stop();
  }

  /** Whether the first list has filled the store. */
  get hasSynced(): boolean {
    return this.isSynced;
  }

  get(namespace: string, name: string): T | undefined {
    return this.objects.get(storeKey(namespace, name));
  }

  /** Every object, or those of one namespace. */
  list(namespace?: string): T[] {
    const all = [...this.objects.values()];
    return namespace === undefined ? all : all.filter((o) => o.metadata?.namespace === namespace);
  }

  /** The objects filed under `key` by the index function. */
  byIndex(key: string): T[] {
    const found: T[] = [];
    for (const id of this.index.ids(key)) {
      const object = this.objects.get(id);
      if (object) found.push(object);
    }
    return found;
  }

  private apply(event: WatcherEvent<T>): void {
    switch (event.type) {
      case "Init":
        this.relisted = new Map<string, T>();
        return;
      case "InitApply":
        this.relisted?.set(idOf(event.object), this.decoded(event.object));
        return;
      case "InitDone":
        this.swap(this.relisted ?? new Map<string, T>());
        this.relisted = undefined;
        if (!this.isSynced) {
          this.isSynced = true;
          this.markSynced();
        }
        return;
      case "Apply":
        this.put(this.decoded(event.object));
        return;
      case "Delete":
        this.remove(idOf(event.object), event.object);
    }
  }

  /** The store becomes `listed`: what is gone is deleted, what is new or changed is applied. */
  private swap(listed: Map<string, T>): void {
    for (const [id, object] of this.objects) if (!listed.has(id)) this.remove(id, object);
    for (const [id, object] of listed) {
      const old = this.objects.get(id);
      if (!old || old.metadata?.resourceVersion !== object.metadata?.resourceVersion) this.put(object);
    }
  }

  /** The object as stored: without its managedFields (an update sent without them leaves the server's as they are), transformed. */
  private decoded(object: T): T {
    if (object.metadata) delete (object.metadata as { managedFields?: unknown }).managedFields;
    return this.options.transform ? this.options.transform(object) : object;
  }

  private put(object: T): void {
    const id = idOf(object);
    this.objects.set(id, object);
    if (this.options.index) this.index.set(id, this.options.index(object));
    this.options.onChange?.(object, false);
  }

  private remove(id: string, object: T): void {
    this.objects.delete(id);
    this.index.remove(id);
    this.options.onChange?.(object, true);
  }
}

function storeKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

function idOf(object: KubeObject): string {
  return storeKey(object.metadata?.namespace ?? "", object.metadata?.name ?? "");
}
