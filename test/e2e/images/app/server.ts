// The application of the examples, run for real on the node: on each port in PORTS it answers
// every request with the name of its pod and what the elector sidecar says (localhost:4040), so
// a test sees which pod a Service routed to. With STORE_URL (the chaos harness's fenced store), it
// also writes there every 100 ms while it believes it leads, with the fencing token: it asks the
// sidecar once a second, as an application that does not ask before every write would, so a pod
// that was frozen writes on with its old token for up to a second, and only the fence stops that.
import { createServer } from "node:http";
import { hostname } from "node:os";

interface AgentStatus {
  is_leader?: boolean;
  fencing_token?: number;
}

const sidecar = process.env.ELECTOR_URL ?? "http://127.0.0.1:4040/";
for (const port of (process.env.PORTS ?? "8080,5432").split(",")) {
  createServer((_req, res) => {
    void fetch(sidecar, { signal: AbortSignal.timeout(500) })
      .then(async (r) => (await r.json()) as AgentStatus)
      .catch(() => undefined)
      .then((agent) => {
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify({ pod: hostname(), port: Number(port), is_leader: agent?.is_leader ?? null, fencing_token: agent?.fencing_token ?? null }));
      });
  }).listen(Number(port));
}

const store = process.env.STORE_URL;
if (store) {
  let believed: AgentStatus = {};
  setInterval(() => {
    void fetch(sidecar, { signal: AbortSignal.timeout(500) })
      .then(async (r) => (believed = (await r.json()) as AgentStatus))
      .catch(() => (believed = {}));
  }, 1000);
  setInterval(() => {
    if (!believed.is_leader || believed.fencing_token === undefined) return;
    const query = new URLSearchParams({ resource: process.env.STORE_RESOURCE ?? "app", writer: hostname(), token: String(believed.fencing_token) });
    fetch(`${store}/write?${query.toString()}`, { method: "POST", signal: AbortSignal.timeout(500) }).catch(() => undefined);
  }, 100);
}
process.on("SIGTERM", () => process.exit(0));
