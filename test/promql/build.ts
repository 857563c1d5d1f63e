/**
 * Builds the PromQL checker (main.go beside this file: Prometheus' own parser) once per version of
 * its sources, into the same cache as the control plane.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildOnce, cacheRoot, goBuild } from "../cluster/build.ts";

const SOURCE = fileURLToPath(new URL(".", import.meta.url));

/** The path of the checker binary, built if needed. */
export async function ensurePromql(log: (line: string) => void = console.error): Promise<string> {
  const hash = createHash("sha256");
  for (const file of ["main.go", "go.mod", "go.sum"]) hash.update(await readFile(join(SOURCE, file)));
  const dir = join(cacheRoot(), `promql-${hash.digest("hex").slice(0, 12)}`);
  await buildOnce(dir, "the PromQL checker", log, async (_work, out, progress) => {
    await goBuild(SOURCE, ["-trimpath", "-o", join(out, "promql"), "."], progress);
  });
  return join(dir, "bin", "promql");
}
