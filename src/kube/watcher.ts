/**
 * A watcher: the objects of one collection as a stream of events that outlives every failure,
 * shaped like kube-rs's `kube_runtime::watcher` and client-go's Reflector.ListAndWatch.
 *
 * It lists (in pages), then watches from the list's resourceVersion with bookmarks, so that no
 * change between the two is lost. A watch the server closes is resumed from the last
 * resourceVersion seen, at once. A 410 Gone (that version was compacted away while we were not
 * watching) starts a relist, which is bracketed by Init … InitDone: a store swaps in what the
 * relist found, so objects deleted meanwhile leave it. Every failure (list or watch, refused,
 * reset, 5xx, 410, a watch gone silent) waits for the next step of one backoff, which a list that
 * succeeds or a watch event starts over.
 */
import { Backoff, sleep, WATCH_BACKOFF, type BackoffPolicy } from "./backoff.ts";
import { ApiError, type KubeClient, type KubeObject } from "./client.ts";

export type WatcherEvent<T> =
  /** An object was added or changed. */
  | { type: "Apply"; object: T }
  | { type: "Delete"; object: T }
  /** A (re)list begins: the InitApply events up to InitDone are the whole collection. */
  | { type: "Init" }
  | { type: "InitApply"; object: T }
  | { type: "InitDone" };

/** What a list found, and the resourceVersion to watch from ("" to watch from now). */
export interface Listing<T> {
  items: T[];
  resourceVersion: string;
}

export interface WatcherOptions<T> {
  /** The collection: `/api/v1/namespaces/shop/pods`. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** The deadline of each list request. */
  requestTimeoutMs: number;
  /**
   * Reads the collection in place of a paged list: the lock reads its one object with a GET,
   * which needs only the `get` permission its RBAC already grants.
   */
  list?: (signal: AbortSignal) => Promise<Listing<T>>;
  backoff?: BackoffPolicy;
  /** A watch silent (no event, no bookmark) for this long is taken for hung and replaced. */
  idleTimeoutMs?: number;
  /** Told when a watch stream opens (true) and when it closes (false). */
  onConnected?: (connected: boolean) => void;
  /** Told of every failure, with the wait before the next attempt. */
  onError?: (err: Error, retryInMs: number) => void;
}

/** client-go's reflector lists in pages of 500, so that no answer holds the whole collection. */
const PAGE_SIZE = 500;

export class Watcher<T extends KubeObject> {
  private readonly client: KubeClient;
  private readonly options: WatcherOptions<T>;
  private readonly onEvent: (event: WatcherEvent<T>) => void;
  private readonly backoff: Backoff;
  private readonly stopping = new AbortController();
  private stopWatch: (() => void) | undefined;
  private done: Promise<void> | undefined;

  constructor(client: KubeClient, options: WatcherOptions<T>, onEvent: (event: WatcherEvent<T>) => void) {
    this.client = client;
    this.options = options;
    this.onEvent = onEvent;
    this.backoff = new Backoff(options.backoff ?? WATCH_BACKOFF);
  }

  start(): void {
    this.done ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    this.stopWatch?.();
    await this.done;
  }

  /** A method, not a getter: it changes across awaits, which narrowing cannot see. */
  private stopped(): boolean {
    return this.stopping.signal.aborted;
  }

  private async run(): Promise<void> {
    /** Where the next watch starts; undefined when a (re)list must come first. */
    let resourceVersion: string | undefined;
    while (!this.stopped()) {
      try {
        if (resourceVersion === undefined) {
          resourceVersion = await this.relist();
          this.backoff.reset();
        }
        resourceVersion = await this.watchFrom(resourceVersion);
      } catch (err) {
        if (this.stopped()) return;
        const error = err instanceof Error ? err : new Error(String(err));
        if (isGone(error)) resourceVersion = undefined;
        const delay = this.backoff.next();
        this.options.onError?.(error, delay);
        await sleep(delay, this.stopping.signal);
      }
    }
  }

  private async relist(): Promise<string> {
    const listing = await (this.options.list ?? ((signal) => this.listPages(signal)))(this.stopping.signal);
    if (this.stopped()) return listing.resourceVersion;
    this.onEvent({ type: "Init" });
    for (const object of listing.items) this.onEvent({ type: "InitApply", object });
    this.onEvent({ type: "InitDone" });
    return listing.resourceVersion;
  }

  private async listPages(signal: AbortSignal): Promise<Listing<T>> {
    const items: T[] = [];
    let next = "";
    for (;;) {
      const query = new URLSearchParams({ ...this.selectors(), limit: String(PAGE_SIZE), ...(next ? { continue: next } : {}) });
      const page = await this.client.request<{ items?: T[]; metadata?: { resourceVersion?: string; continue?: string } }>(
        "GET",
        `${this.options.path}?${query.toString()}`,
        { timeoutMs: this.options.requestTimeoutMs, signal },
      );
      for (const item of page.items ?? []) items.push(item);
      next = page.metadata?.continue ?? "";
      if (!next) return { items, resourceVersion: page.metadata?.resourceVersion ?? "" };
    }
  }

  /** One watch, until it ends: resolves with the last resourceVersion seen, rejects with why it failed. */
  private watchFrom(resourceVersion: string): Promise<string> {
    let latest = resourceVersion;
    if (this.stopped()) return Promise.resolve(latest);
    return new Promise((resolve, reject) => {
      // A stopped watch reports no close: stopping ends this one.
      const stopped = (): void => {
        resolve(latest);
      };
      this.stopping.signal.addEventListener("abort", stopped, { once: true });
      this.stopWatch = this.client.watch<T>(
        this.options.path,
        { ...this.selectors(), ...(latest ? { resourceVersion: latest } : {}) },
        {
          onConnected: () => this.options.onConnected?.(true),
          onEvent: (type, object) => {
            latest = object.metadata?.resourceVersion ?? latest;
            this.backoff.reset();
            if (type === "ADDED" || type === "MODIFIED") this.onEvent({ type: "Apply", object });
            else if (type === "DELETED") this.onEvent({ type: "Delete", object });
          },
          onClosed: (err) => {
            this.stopping.signal.removeEventListener("abort", stopped);
            this.stopWatch = undefined;
            this.options.onConnected?.(false);
            if (err) reject(err);
            else resolve(latest);
          },
        },
        this.options.idleTimeoutMs,
      );
    });
  }

  private selectors(): Record<string, string> {
    const { labelSelector, fieldSelector } = this.options;
    return { ...(labelSelector ? { labelSelector } : {}), ...(fieldSelector ? { fieldSelector } : {}) };
  }
}

/** 410 Gone, as a status or as a watch's ERROR event: the resourceVersion is no longer there to resume from. */
function isGone(err: Error): boolean {
  return err instanceof ApiError && (err.code === 410 || err.reason === "Expired" || err.reason === "Gone");
}
