// The wrapped command of examples/wrapper.yaml, run for real on the node: while it runs it answers
// on port 8080 with its pod and the fencing token the agent gave it; SIGTERM ends it at once.
// Plain JavaScript as well as TypeScript: the image has it as /app/worker.js.
import { createServer } from "node:http";
import { hostname } from "node:os";

createServer((_req, res) => {
  res.setHeader("content-type", "application/json");
  res.end(JSON.stringify({ pod: hostname(), token: Number(process.env.ELECTOR_FENCING_TOKEN), identity: process.env.ELECTOR_IDENTITY }));
}).listen(8080);
process.on("SIGTERM", () => process.exit(0));
