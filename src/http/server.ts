/**
 * Small read-only HTTP servers: the agent's status API, the operator's probes and metrics. A
 * route answers a GET with a code and a body (JSON unless it names another content type).
 */
import type { Server, ServerResponse } from "node:http";
import type { Server as HttpsServer } from "node:https";
import type { ListenAddress } from "../config/flags.ts";

export interface Answer {
  code: number;
  body: unknown;
  /** Default application/json; anything else sends `body` as text. */
  type?: string;
}

export type Routes = Record<string, () => Answer>;

export function createRouteServer(routes: Routes): Server {
  // The CommonJS object, not an ESM import: see src/kube/client.ts.
  return process.getBuiltinModule("node:http").createServer((req, res) => {
    answer(res, routeAnswer(routes, req.method, new URL(req.url ?? "/", "http://localhost").pathname));
  });
}

/** What `routes` answer to a request: 405 for anything but GET and HEAD, 404 for a path none serves. */
export function routeAnswer(routes: Routes, method: string | undefined, path: string): Answer {
  if (method !== "GET" && method !== "HEAD") return { code: 405, body: { error: "method not allowed" } };
  const route = Object.hasOwn(routes, path) ? routes[path] : undefined;
  return route ? route() : { code: 404, body: { error: `no such endpoint: ${path}` } };
}

export function answer(res: ServerResponse, { code, body, type = "application/json" }: Answer): void {
  const text = type === "application/json" ? `${JSON.stringify(body)}\n` : String(body);
  res.writeHead(code, { "content-type": type, "cache-control": "no-store" });
  res.end(text);
}

/** /healthz as both commands answer it: 500 "expired" while wedged, else 200 "ok". */
export function healthz(wedged: () => boolean): () => Answer {
  return () => {
    const stuck = wedged();
    return { code: stuck ? 500 : 200, body: { status: stuck ? "expired" : "ok" } };
  };
}

/** Listens, turning a bad address into one clear error rather than an unhandled 'error' event. */
export function listen(server: Server | HttpsServer, address: ListenAddress): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) => {
      reject(new Error(`cannot listen on ${address.host}:${address.port}: ${err.code ?? err.message}`));
    });
    server.listen(address.port, address.host, () => {
      resolve();
    });
  });
}

/** Stops listening and drops open connections, so the process can exit. */
export function closeServer(server: Server | HttpsServer | undefined): void {
  server?.close();
  server?.closeAllConnections();
}
