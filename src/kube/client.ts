/**
 * A small Kubernetes REST client: JSON requests and watches over node:http(s) with one keep-alive
 * connection pool. The election core and the agent use it instead of @kubernetes/client-node,
 * whose import alone takes a Node process from 42 MB to 125 MB and ~0.8 s (docs/benchmarks.md):
 * the agent runs in every member pod, so its footprint is multiplied by the fleet.
 */
import type * as Http from "node:http";
import type { Credentials } from "./execcredential.ts";
import type { Connection } from "./kubeconfig.ts";

// Not `import "node:http"`: its ESM namespace reads every export, and the lazy ones load undici
// (+13 MB RSS, measured). process.getBuiltinModule hands over the CommonJS object instead.
const http = process.getBuiltinModule("node:http");
const https = process.getBuiltinModule("node:https");

/** The few object fields this client's users read; the rest of an object passes through untouched. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    resourceVersion?: string;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
  };
}

/** The API server answered with an error status; `reason` and `message` come from its Status. */
export class ApiError extends Error {
  override name = "ApiError";
  readonly code: number;
  readonly reason: string;

  constructor(code: number, reason: string, message: string) {
    super(message);
    this.code = code;
    this.reason = reason;
  }
}

export interface WatchHandlers<T> {
  /** The server accepted the watch; events follow. */
  onConnected: () => void;
  onEvent: (type: string, object: T) => void;
  /** The watch ended (never after stop()): `err` is undefined for a normal server-side close. */
  onClosed: (err?: Error) => void;
}

/** Each watch asks the server to close it after a random 5–10 minutes, as client-go's reflector does. */
const WATCH_MIN_SECONDS = 300;
/** A watch that sends nothing for this long past its server-side timeout is taken for hung. */
const WATCH_GRACE_MS = 30_000;

export class KubeClient {
  private readonly connection: Connection;
  private readonly base: URL;
  private readonly transport: typeof https | typeof http;
  /** The connection pool, made for the client certificate it presents. */
  private pool: { agent: Http.Agent; cert: Buffer | undefined } | undefined;
  /** Requests sent, by "code method" (code "<error>" when no answer came), as client-go's rest_client_requests_total counts them. */
  readonly requests = new Map<string, number>();

  constructor(connection: Connection) {
    this.connection = connection;
    this.base = new URL(connection.server);
    this.transport = this.base.protocol === "https:" ? https : http;
  }

  /**
   * Sends `body` as JSON (or as `contentType`, a patch type) and parses the JSON answer; an
   * ApiError for any status but 2xx.
   */
  async request<T>(method: string, path: string, options: { body?: unknown; timeoutMs: number; contentType?: string; signal?: AbortSignal }): Promise<T> {
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const credentials = await this.connection.credentials();
    return new Promise<T>((resolve, reject) => {
      const headers = this.headers(credentials, payload, options.contentType);
      let answered = false;
      const req = this.transport.request(this.url(path), { method, agent: this.agentFor(credentials), headers }, (res) => {
        answered = true;
        this.count(res.statusCode, method);
        collect(res, (text) => {
          if (!isSuccess(res.statusCode)) reject(this.failure(res.statusCode ?? 0, text));
          else {
            try {
              resolve(JSON.parse(text) as T);
            } catch {
              reject(new Error(`${method} ${path}: the answer is not JSON: ${text.slice(0, 80)}`));
            }
          }
        });
      });
      // A hung connection must not stall a renewal past its deadline.
      const timer = setTimeout(() => req.destroy(new Error(`no response within ${options.timeoutMs} ms`)), options.timeoutMs);
      // Cancelled, not abandoned: the connection goes, and with it any answer still on its way.
      const abort = (): void => {
        req.destroy(new Error(`${method} ${path}: cancelled`, { cause: options.signal?.reason }));
      };
      if (options.signal?.aborted) abort();
      options.signal?.addEventListener("abort", abort, { once: true });
      req.once("error", reject);
      req.once("close", () => {
        clearTimeout(timer);
        if (!answered) this.count(undefined, method);
        options.signal?.removeEventListener("abort", abort);
        // Node's https Agent keeps the request that opened a pooled socket reachable for the
        // socket's life (its TLS session listener); through `reject` it would keep this promise's
        // answer too. Measured: the first list page of every socket, all 3,000 pods at 1,000 Elections.
        req.removeListener("error", reject);
        req.on("error", ignore);
        // Settles nothing if the answer was complete; otherwise the connection died under it.
        reject(new Error(`${method} ${path}: the connection closed before the answer was complete`));
      });
      req.end(payload);
    });
  }

  /**
   * Streams the watch events of a collection; returns stop(). A watch that sends nothing, not even
   * a bookmark, for `idleTimeoutMs` (by default past its own server-side timeout) is closed as hung.
   */
  watch<T>(path: string, query: Record<string, string>, handlers: WatchHandlers<T>, idleTimeoutMs?: number): () => void {
    let stopped = false;
    let stopOpen: (() => void) | undefined;
    this.connection.credentials().then(
      (credentials) => {
        if (!stopped) stopOpen = this.openWatch(credentials, path, query, handlers, idleTimeoutMs);
      },
      (err: unknown) => {
        if (!stopped) handlers.onClosed(err instanceof Error ? err : new Error(String(err)));
      },
    );
    return () => {
      stopped = true;
      stopOpen?.();
    };
  }

  private openWatch<T>(credentials: Credentials, path: string, query: Record<string, string>, handlers: WatchHandlers<T>, idleTimeoutMs?: number): () => void {
    const timeoutSeconds = WATCH_MIN_SECONDS + Math.floor(Math.random() * WATCH_MIN_SECONDS);
    const params = new URLSearchParams({ ...query, watch: "true", allowWatchBookmarks: "true", timeoutSeconds: String(timeoutSeconds) });
    let stopped = false;
    let closed = false;
    const close = (err?: Error): void => {
      if (closed || stopped) return;
      closed = true;
      handlers.onClosed(err ?? failure);
    };
    /** An error this side found in the stream; the close it causes reports it. */
    let failure: Error | undefined;
    const fail = (err: Error): void => {
      failure ??= err;
      req.destroy(err);
    };
    const req = this.transport.request(
      this.url(`${path}?${params.toString()}`),
      { method: "GET", agent: this.agentFor(credentials), headers: this.headers(credentials, undefined) },
      (res) => {
        this.count(res.statusCode, "GET");
        if (res.statusCode !== 200) {
          // Synchronously on 'end': the request's 'close' follows in the same tick and must not win.
          collect(res, (text) => {
            close(this.failure(res.statusCode ?? 0, text));
          });
          return;
        }
        handlers.onConnected();
        let partial = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          const lines = (partial + chunk).split("\n");
          partial = lines.pop() ?? "";
          for (const line of lines) {
            if (line.trim() === "" || stopped || failure) continue;
            let event: { type?: unknown; object?: unknown };
            try {
              event = JSON.parse(line) as typeof event;
            } catch {
              fail(new Error(`watch ${path}: unreadable event: ${line.slice(0, 80)}`));
              return;
            }
            if (event.type === "ERROR") {
              const status = (event.object ?? {}) as { code?: number; reason?: string; message?: string };
              fail(new ApiError(status.code ?? 0, status.reason ?? "Error", status.message ?? "watch error"));
              return;
            }
            handlers.onEvent(String(event.type), event.object as T);
          }
        });
        res.once("end", () => {
          close();
        });
        res.once("error", close);
      },
    );
    const idleMs = idleTimeoutMs ?? timeoutSeconds * 1000 + WATCH_GRACE_MS;
    req.setTimeout(idleMs, () => {
      fail(new Error(`watch ${path}: no data for ${String(idleMs)} ms`));
    });
    req.once("error", close);
    req.once("close", () => {
      close();
    });
    req.end();
    return () => {
      stopped = true;
      req.destroy();
    };
  }

  private url(path: string): URL {
    return new URL(`${this.base.pathname.replace(/\/$/, "")}${path}`, this.base);
  }

  /**
   * The pool for the credentials' client certificate. An exec plugin that hands over a new one gets
   * a new pool, and the old one's connections close: their callers retry, watches reconnect.
   */
  private agentFor(credentials: Credentials): Http.Agent {
    if (this.pool && sameBytes(this.pool.cert, credentials.cert)) return this.pool.agent;
    this.pool?.agent.destroy();
    const { ca, tlsServerName, insecureSkipTlsVerify } = this.connection;
    const agent =
      this.transport === https
        ? new https.Agent({
            keepAlive: true,
            ...(ca ? { ca } : {}),
            ...(credentials.cert && credentials.key ? { cert: credentials.cert, key: credentials.key } : {}),
            ...(tlsServerName ? { servername: tlsServerName } : {}),
            rejectUnauthorized: !insecureSkipTlsVerify,
          })
        : new http.Agent({ keepAlive: true });
    this.pool = { agent, cert: credentials.cert };
    return agent;
  }

  /** The error for a status; a 401 also tells the connection, so that an exec plugin runs again. */
  /** The host requests go to, as client-go's rest_client metrics label it. */
  get host(): string {
    return this.base.host;
  }

  private count(code: number | undefined, method: string): void {
    const key = `${code === undefined ? "<error>" : String(code)} ${method}`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
  }

  private failure(code: number, body: string): ApiError {
    if (code === 401) this.connection.rejected();
    return statusError(code, body);
  }

  private headers(credentials: Credentials, payload: string | undefined, contentType = "application/json"): Http.OutgoingHttpHeaders {
    const { authorization } = credentials;
    return {
      accept: "application/json",
      "user-agent": "elector",
      ...(authorization ? { authorization } : {}),
      ...(payload === undefined ? {} : { "content-type": contentType, "content-length": Buffer.byteLength(payload) }),
    };
  }
}

function ignore(): void {
  // An error after the close: the request has been answered or failed already.
}

function sameBytes(a: Buffer | undefined, b: Buffer | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && a.equals(b));
}

function isSuccess(code: number | undefined): boolean {
  return code !== undefined && code >= 200 && code < 300;
}

/** Calls `done` with the whole body, in the 'end' event itself. */
function collect(res: Http.IncomingMessage, done: (text: string) => void): void {
  const chunks: Buffer[] = [];
  res.on("data", (chunk: Buffer) => chunks.push(chunk));
  res.once("end", () => {
    const body = Buffer.concat(chunks).toString("utf8");
    // Emptied and let go, not left to the collector: the request that opened a pooled socket stays
    // reachable (see request()), and through its response this array and `done`'s promise.
    // Measured: 13.6 MB of answers at 1,000 Elections.
    chunks.length = 0;
    res.removeAllListeners("data");
    done(body);
  });
  // A connection that dies mid-answer also closes the request, whose handler reports it.
  res.once("error", ignore);
}

/** The Status the API server sends with an error, or the bare code when the body is not one. */
function statusError(code: number, body: string): ApiError {
  let status: { reason?: unknown; message?: unknown } = {};
  try {
    status = JSON.parse(body) as typeof status;
  } catch {
    // A non-JSON body (a proxy's HTML page, say) has no Status to read.
  }
  const reason = typeof status.reason === "string" && status.reason !== "" ? status.reason : `HTTP ${code}`;
  const message = typeof status.message === "string" && status.message !== "" ? status.message : `HTTP ${code}`;
  return new ApiError(code, reason, message);
}
