// The application of the examples, run for real on the node: on each port in PORTS it answers
// every request with the name of its pod and what the elector sidecar says (localhost:4040), so
// a test sees which pod a Service routed to. With STORE_URL (the chaos harness's fenced store), it
// also writes there every 100 ms while the sidecar says this pod leads, with the sidecar's fencing
// token: an application that fences its writes.
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
  setInterval(() => {
    void fetch(sidecar, { signal: AbortSignal.timeout(500) })
      .then(async (r) => (await r.json()) as AgentStatus)
      .then(async (agent) => {
        if (!agent.is_leader || agent.fencing_token === undefined) return;
        const query = new URLSearchParams({ resource: process.env.STORE_RESOURCE ?? "app", writer: hostname(), token: String(agent.fencing_token) });
        await fetch(`${store}/write?${query.toString()}`, { method: "POST", signal: AbortSignal.timeout(500) });
      })
      .catch(() => undefined);
  }, 100);
}
process.on("SIGTERM", () => process.exit(0));
