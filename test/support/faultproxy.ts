/**
 * A TLS proxy in front of the real API server that answers chosen requests with an error status
 * (503, 429, …), or forwards them and drops the connection instead of the answer, and forwards the
 * rest, watches included: faults on demand, with the real API server behind them. It presents the API server's own serving certificate and forwards
 * as the admin user.
 */
import { readFile, writeFile } from "node:fs/promises";
import { createServer, request, type Server } from "node:https";
import type { IncomingMessage } from "node:http";
import { join } from "node:path";
import type { TestContext } from "node:test";
import type { ControlPlane } from "../cluster/controlplane.ts";
import { freePort } from "./agents.ts";
import { scratchDir, testCluster } from "./cluster.ts";

export interface Fault {
  code: number;
  reason: string;
}

/** The request reaches the API server, but its answer never reaches the client. */
export const LOSE_ANSWER = "lose-answer";
/** The answer's status and headers reach the client, its body never does: a watch gone silent. */
export const STALL = "stall";

/** The request reaches the API server at once; its answer reaches the client this much later. */
export interface DelayAnswer {
  delayAnswerMs: number;
}

export interface FaultProxy {
  /** The fault for a request, or undefined to forward it. */
  inject: (req: IncomingMessage) => Fault | DelayAnswer | typeof LOSE_ANSWER | typeof STALL | undefined;
  /** How many requests were answered with a fault. */
  injected: number;
  /** A kubeconfig that points at the proxy. */
  kubeconfig: string;
  /** Drops every open connection (watches included), as a load balancer that restarts would. */
  cutAll(): void;
  close(): void;
}

export async function startFaultProxy(plane: ControlPlane, kubeconfigPath: string): Promise<FaultProxy> {
  const [ca, cert, key, servingCert, servingKey] = await Promise.all(
    [plane.pki.caCert, plane.pki.adminCert, plane.pki.adminKey, plane.pki.servingCert, plane.pki.servingKey].map((f) => readFile(f)),
  );
  const upstream = new URL(plane.server);
  const proxy: FaultProxy = { inject: () => undefined, injected: 0, kubeconfig: kubeconfigPath, cutAll: () => undefined, close: () => undefined };
  const server: Server = createServer({ cert: servingCert, key: servingKey }, (req, res) => {
    const fault = proxy.inject(req);
    if (typeof fault === "object" && "code" in fault) {
      proxy.injected += 1;
      const status = { kind: "Status", apiVersion: "v1", status: "Failure", message: `injected ${fault.code}`, reason: fault.reason, code: fault.code };
      res.writeHead(fault.code, { "content-type": "application/json", ...(fault.code === 429 ? { "retry-after": "1" } : {}) });
      res.end(JSON.stringify(status));
      return;
    }
    // A stall is silence from the moment of the request: the client may give up before the server answers at all.
    if (fault === STALL) proxy.injected += 1;
    const forwarded = request(
      { host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: { ...req.headers, host: upstream.host }, ca, cert, key },
      (upstreamRes) => {
        if (fault === LOSE_ANSWER) {
          proxy.injected += 1;
          upstreamRes.resume();
          res.destroy();
          return;
        }
        if (typeof fault === "object") {
          proxy.injected += 1;
          setTimeout(() => {
            res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
            upstreamRes.pipe(res);
          }, fault.delayAnswerMs);
          return;
        }
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
        if (fault === STALL) {
          res.flushHeaders();
          upstreamRes.resume();
          return;
        }
        upstreamRes.pipe(res);
      },
    );
    forwarded.on("error", () => res.destroy());
    res.on("close", () => forwarded.destroy());
    req.pipe(forwarded);
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const text = await readFile(plane.kubeconfig, "utf8");
  await writeFile(kubeconfigPath, text.replace(/server: .*/, `server: https://127.0.0.1:${port}`));
  proxy.cutAll = () => {
    server.closeAllConnections();
  };
  proxy.close = () => {
    server.closeAllConnections();
    server.close();
  };
  return proxy;
}

/** A fault proxy in front of the test cluster, closed when the test ends. */
export async function testFaultProxy(t: TestContext): Promise<FaultProxy> {
  const { plane } = await testCluster();
  const proxy = await startFaultProxy(plane, join(await scratchDir(t), "proxied.kubeconfig"));
  t.after(() => {
    proxy.close();
  });
  return proxy;
}
