/**
 * Events as client-go's events.k8s.io recorder (tools/events) writes them, so that a flapping
 * leader cannot flood etcd: the first Event of a kind (same reason and action, same Election) is
 * created; a repeat within six minutes of the last one makes it a series, one Event whose
 * `series.count` and `series.lastObservedTime` grow; a series six minutes quiet is finished, and
 * the next repeat starts a new Event.
 *
 * client-go writes a series on its first repeat, then only every 30 minutes and when it finishes;
 * here the count is written on the first repeat and then at most once a minute, so that
 * `kubectl events` is never more than a minute behind. The note is the first occurrence's, as in
 * client-go; each occurrence's own note is in the operator's log.
 */
import type { Clock } from "../election/clock.ts";
import type { Log } from "../election/log.ts";
import { formatMicroTime } from "../election/record.ts";
import type { KubeClient } from "../kube/client.ts";
import { apiFailure } from "../kube/errors.ts";
import { GROUP, keyOf, VERSION, type Election } from "./election.ts";
import type { ElectionEvent } from "./projection.ts";

/** client-go's finishTime: a series this long without a repeat is over. */
export const SERIES_FINISH_MS = 6 * 60_000;
/** How often a growing series' count is written at most. */
export const SERIES_WRITE_MS = 60_000;
const ACTION = "ObserveLease";

interface Series {
  namespace: string;
  /** The Event object's name. */
  name: string;
  count: number;
  /** The count the API server has. */
  written: number;
  lastObserved: Date;
  lastWriteAt: number;
  cancelWrite?: () => void;
  cancelFinish?: () => void;
}

export interface RecorderOptions {
  identity: string;
  clock: Clock;
  log: Log;
  requestTimeoutMs: number;
}

export class EventRecorder {
  private readonly client: KubeClient;
  private readonly o: RecorderOptions;
  private readonly series = new Map<string, Series>();
  /** Keeps the names of Events reported within one millisecond apart. */
  private eventCount = 0;

  constructor(client: KubeClient, options: RecorderOptions) {
    this.client = client;
    this.o = options;
  }

  /** An Event on the Election (or one more of its series), and the same as one log line; failures are logged, not thrown. */
  async record(election: Election, event: ElectionEvent): Promise<void> {
    const { namespace, name, uid } = election.metadata;
    this.o.log.info({ election: keyOf(namespace, name), reason: event.reason }, event.note);
    const key = `${namespace}/${name}/${uid ?? ""}/${event.type}/${event.reason}`;
    const now = this.o.clock.wall();
    const known = this.series.get(key);
    if (known) {
      known.count += 1;
      known.lastObserved = now;
      this.finishLater(key, known);
      // The first repeat at once, as client-go writes it; later ones gathered.
      if (known.count === 2) await this.writeSeries(key, known);
      else known.cancelWrite ??= this.o.clock.after(known.lastWriteAt + SERIES_WRITE_MS - this.o.clock.monotonic(), () => void this.writeSeries(key, known));
      return;
    }
    const created = await this.create(election, event, now);
    if (!created) return;
    const series: Series = { namespace, name: created, count: 1, written: 1, lastObserved: now, lastWriteAt: this.o.clock.monotonic() };
    this.series.set(key, series);
    this.finishLater(key, series);
  }

  /** Writes every pending count and forgets the series: the operator is stopping. */
  async stop(): Promise<void> {
    const pending = [...this.series.entries()];
    this.series.clear();
    for (const [, s] of pending) {
      s.cancelWrite?.();
      s.cancelFinish?.();
    }
    await Promise.all(pending.filter(([, s]) => s.count > s.written).map(([key, s]) => this.writeSeries(key, s)));
  }

  private finishLater(key: string, series: Series): void {
    series.cancelFinish?.();
    series.cancelFinish = this.o.clock.after(SERIES_FINISH_MS, () => {
      if (this.series.get(key) !== series) return;
      this.series.delete(key);
      series.cancelWrite?.();
      if (series.count > series.written) void this.writeSeries(key, series);
    });
  }

  private async writeSeries(key: string, series: Series): Promise<void> {
    series.cancelWrite?.();
    delete series.cancelWrite;
    series.lastWriteAt = this.o.clock.monotonic();
    const count = series.count;
    const body = { series: { count, lastObservedTime: formatMicroTime(series.lastObserved) } };
    try {
      await this.client.request("PATCH", `${eventsPath(series.namespace)}/${series.name}`, {
        body,
        contentType: "application/merge-patch+json",
        timeoutMs: this.o.requestTimeoutMs,
      });
      series.written = Math.max(series.written, count);
    } catch (err) {
      // Gone (Events expire after an hour) or refused: the next occurrence starts a new Event.
      if (this.series.get(key) === series) this.series.delete(key);
      series.cancelFinish?.();
      this.o.log.warn({ event: series.name, err: apiFailure(err).message }, "could not update an event's series");
    }
  }

  /** Creates the Event; its name, or undefined when it could not be written. */
  private async create(election: Election, event: ElectionEvent, at: Date): Promise<string | undefined> {
    const { namespace, name, uid } = election.metadata;
    const eventName = nameFor(name, at, this.eventCount++);
    const body = {
      apiVersion: "events.k8s.io/v1",
      kind: "Event",
      metadata: { name: eventName, namespace },
      eventTime: formatMicroTime(at),
      reportingController: `${GROUP}/operator`,
      reportingInstance: this.o.identity,
      action: ACTION,
      type: event.type,
      reason: event.reason,
      note: event.note,
      regarding: { apiVersion: `${GROUP}/${VERSION}`, kind: "Election", name, namespace, uid },
    };
    try {
      await this.client.request("POST", eventsPath(namespace), { body, timeoutMs: this.o.requestTimeoutMs });
      return eventName;
    } catch (err) {
      // An Event is a courtesy: the status already says what happened.
      this.o.log.warn({ election: keyOf(namespace, name), reason: event.reason, err: apiFailure(err).message }, "could not record an event");
      return undefined;
    }
  }
}

function eventsPath(namespace: string): string {
  return `/apis/events.k8s.io/v1/namespaces/${namespace}/events`;
}

/**
 * client-go's recorder names an Event `<object>.<hex nanoseconds>` (a generateName ending in "."
 * is refused); here the nanoseconds below the millisecond are a counter, so names stay unique.
 */
function nameFor(object: string, at: Date, count: number): string {
  return `${object}.${(BigInt(at.getTime()) * 1_000_000n + BigInt(count % 1_000_000)).toString(16)}`;
}
