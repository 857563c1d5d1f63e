// The application of the examples, run for real on the node: on each port in PORTS it answers
// every request with the name of its pod and what the elector sidecar says (localhost:4040), so
// a test sees which pod a Service routed to.
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
process.on("SIGTERM", () => process.exit(0));
