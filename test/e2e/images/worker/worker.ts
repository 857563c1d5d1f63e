// The wrapped command of examples/wrapper.yaml, run for real on the node: while it runs it answers
// on port 8080 with its pod and the fencing token the agent gave it; SIGTERM ends it at once.
// Plain JavaScript as well as TypeScript: the image has it as /app/worker.js. With STORE_URL (the
// chaos harness's fenced store), it writes there at once and every 100 ms with its token, for as
// long as it runs: what the store receives shows from outside where the command runs.
import { createServer } from "node:http";
import { hostname } from "node:os";

createServer((_req, res) => {
  res.setHeader("content-type", "application/json");
  res.end(JSON.stringify({ pod: hostname(), token: Number(process.env.ELECTOR_FENCING_TOKEN), identity: process.env.ELECTOR_IDENTITY }));
}).listen(8080);
const store = process.env.STORE_URL;
if (store) {
  const query = new URLSearchParams({ resource: process.env.STORE_RESOURCE ?? "worker", writer: hostname(), token: process.env.ELECTOR_FENCING_TOKEN ?? "" });
  const write = () => {
    fetch(`${store}/write?${query.toString()}`, { method: "POST", signal: AbortSignal.timeout(500) }).catch(() => undefined);
  };
  write();
  setInterval(write, 100);
}
process.on("SIGTERM", () => process.exit(0));
