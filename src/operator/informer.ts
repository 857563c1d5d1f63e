/**
 * A cache of one kind of object kept current by client-node's ListWatch, made to last: client-node
 * stops an informer on any error and leaves restarting to the caller, so this restarts it with
 * backoff; and a watch that stays silent too long is restarted by a watchdog (client-node's watch
 * has known silent hangs). `synced` resolves once the first list has filled the cache.
 */
import { ListWatch, Watch, type KubeConfig, type KubernetesObject, type ListPromise, type ObjectCache } from "@kubernetes/client-node";
import type { Log } from "../election/log.ts";
import { ObjectIndex } from "../kube/objectindex.ts";

export interface InformerOptions<T extends KubernetesObject> {
  kc: KubeConfig;
  /** For log lines: "pods in shop", "elections". */
  what: string;
  path: string;
  list: ListPromise<T>;
  labelSelector?: string;
  log: Log;
  /** Called for every add, update and delete, after the cache and the index have it. */
  onChange: (object: T) => void;
  /**
   * The keys under which byIndex() finds an object (client-go's IndexFunc): so that a lookup
   * touches the objects it wants, not every object in the cache.
   */
  index?: (object: T) => string[];
}

const RESTART_MIN_MS = 500;
const RESTART_MAX_MS = 30_000;
/** client-node's watch reconnects after 30 s without data; a watch quiet for longer is hung. */
const SILENCE_LIMIT_MS = 120_000;
/** Long enough for an aborted watch's callback to have run. */
const ABORT_SETTLE_MS = 1000;

export class Informer<T extends KubernetesObject> {
  readonly cache: ObjectCache<T>;
  readonly synced: Promise<void>;
  private readonly listWatch: ListWatch<T>;
  private readonly options: InformerOptions<T>;
  private stopped = false;
  private restartDelay = RESTART_MIN_MS;
  private restartTimer: NodeJS.Timeout | undefined;
  private lastSign = Date.now();
  private readonly watchdog: NodeJS.Timeout;
  private markSynced: () => void = () => {};
  private isSynced = false;
  /** Where options.index files each cached object ("namespace/name"). */
  private readonly index = new ObjectIndex();

  constructor(options: InformerOptions<T>) {
    this.options = options;
    const list: ListPromise<T> = async () => {
      const result = await options.list();
      for (const item of result.items) stripManagedFields(item);
      return result;
    };
    this.listWatch = new ListWatch<T>(options.path, new StrippingWatch(options.kc), list, false, options.labelSelector);
    this.cache = this.listWatch;
    this.synced = new Promise((resolve) => (this.markSynced = resolve));
    const changed = (object: T, deleted: boolean): void => {
      this.lastSign = Date.now();
      this.reindex(object, deleted);
      options.onChange(object);
    };
    this.listWatch.on("add", (object) => {
      changed(object, false);
    });
    this.listWatch.on("update", (object) => {
      changed(object, false);
    });
    this.listWatch.on("delete", (object) => {
      changed(object, true);
    });
    this.listWatch.on("connect", () => {
      this.lastSign = Date.now();
    });
    this.listWatch.on("error", (err: unknown) => {
      this.scheduleRestart(err);
    });
    this.watchdog = setInterval(() => {
      if (this.stopped || this.restartTimer || Date.now() - this.lastSign < SILENCE_LIMIT_MS) return;
      options.log.warn({ informer: options.what }, "watch silent for too long; restarting it");
      this.restartAfter(ABORT_SETTLE_MS);
    }, SILENCE_LIMIT_MS / 4);
    this.watchdog.unref();
  }

  /** The cached objects filed under `key` by the index function. */
  byIndex(key: string): T[] {
    const found: T[] = [];
    for (const id of this.index.ids(key)) {
      const [namespace = "", name = ""] = id.split("/");
      const object = this.cache.get(name, namespace);
      if (object) found.push(object);
    }
    return found;
  }

  private reindex(object: T, deleted: boolean): void {
    if (!this.options.index) return;
    const id = `${object.metadata?.namespace ?? ""}/${object.metadata?.name ?? ""}`;
    if (deleted) this.index.remove(id);
    else this.index.set(id, this.options.index(object));
  }

  get hasSynced(): boolean {
    return this.isSynced;
  }

  async start(): Promise<void> {
    if (this.stopped) return;
    this.lastSign = Date.now();
    const outcome = { failed: false };
    const onError = (): void => {
      outcome.failed = true;
    };
    this.listWatch.on("error", onError);
    try {
      await this.listWatch.start();
    } finally {
      this.listWatch.off("error", onError);
    }
    if (outcome.failed) return;
    this.restartDelay = RESTART_MIN_MS;
    if (!this.isSynced) {
      this.isSynced = true;
      this.markSynced();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    clearInterval(this.watchdog);
    await this.listWatch.stop();
  }

  private scheduleRestart(err: unknown): void {
    // client-node reports its own abort of a replaced watch (on start and stop) as an error too.
    if (this.stopped || this.restartTimer || (err instanceof Error && err.name === "AbortError")) return;
    const delay = this.restartDelay;
    this.restartDelay = Math.min(this.restartDelay * 2, RESTART_MAX_MS);
    this.options.log.warn(
      { informer: this.options.what, err: err instanceof Error ? err.message : String(err), retryInMs: delay },
      "watch failed; restarting it",
    );
    this.restartAfter(delay);
  }

  /**
   * Stops the watch now and starts it again after `ms`. Stopped first because
   * client-node's start() aborts a running watch whose abort callback arrives later and would
   * abort the new watch as well.
   */
  private restartAfter(ms: number): void {
    void this.listWatch.stop();
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      void this.start();
    }, ms);
  }
}

/**
 * The operator never reads metadata.managedFields, and on pods they are a good part of each
 * object: dropped before caching, as controller-runtime's TransformStripManagedFields does. An
 * update sent without them leaves the server's managedFields as they are.
 */
function stripManagedFields(object: KubernetesObject): void {
  if (object.metadata) delete object.metadata.managedFields;
}

class StrippingWatch extends Watch {
  override watch(...[path, query, callback, done]: Parameters<Watch["watch"]>): Promise<AbortController> {
    return super.watch(
      path,
      query,
      (phase: string, object: KubernetesObject, raw?: unknown) => {
        stripManagedFields(object);
        callback(phase, object, raw);
      },
      done,
    );
  }
}
