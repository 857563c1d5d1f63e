// The fenced store of the chaos harness (test/chaos), run for real on the node: one register per
// resource that accepts a write only with a fencing token at least the highest it has accepted,
// as a database that checks a fencing token would. It keeps every write it was sent, accepted or
// refused, stamped on its own clock, for the harness to read back (GET /writes?from=N): the
// harness judges the writes against the Lease it watched, not against what any writer said.
import { createServer } from "node:http";

interface Write {
  at: number;
  resource: string;
  writer: string;
  token: number;
  accepted: boolean;
}

const highest = new Map<string, number>();
const writes: Write[] = [];

createServer((req, res) => {
  const url = new URL(req.url ?? "/", "http://store");
  const q = url.searchParams;
  if (req.method === "POST" && url.pathname === "/write") {
    const resource = q.get("resource") ?? "";
    const writer = q.get("writer") ?? "";
    const token = Number(q.get("token"));
    if (!resource || !writer || !Number.isSafeInteger(token) || token < 0) {
      res.writeHead(400).end("resource, writer and a token (an integer ≥ 0) are needed\n");
      return;
    }
    const accepted = token >= (highest.get(resource) ?? 0);
    if (accepted) highest.set(resource, token);
    writes.push({ at: Date.now(), resource, writer, token, accepted });
    res.writeHead(accepted ? 200 : 409).end();
    return;
  }
  if (req.method === "GET" && url.pathname === "/writes") {
    const from = Math.max(0, Number(q.get("from") ?? 0) || 0);
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ next: writes.length, writes: writes.slice(from) }));
    return;
  }
  res.writeHead(404).end();
}).listen(Number(process.env.PORT ?? 8080));
process.on("SIGTERM", () => process.exit(0));
