/**
 * The image `npm test` built from the Dockerfile with buildah (elector:dev): its configuration,
 * what it holds and leaves out, and its ENTRYPOINT run inside its own root file system (the
 * Debian 13 distroless stand-in's Node 24). The end-to-end tier runs it as real pods.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { nodeDefault } from "../cluster/controlplane.ts";
import { ELECTOR_ARCHIVE, ELECTOR_IMAGE, imageConfig, withImage } from "../cluster/images.ts";
import { runCommand } from "../support/cluster.ts";

const REPO = fileURLToPath(new URL("../..", import.meta.url));

test("elector:dev runs as nonroot from the compiled app and its production dependencies only", async (t) => {
  const { node, why } = nodeDefault();
  if (!node || !existsSync(ELECTOR_ARCHIVE)) {
    t.skip(`no image built here (${why ?? "npm run image builds it"})`);
    return;
  }
  const config = await imageConfig(ELECTOR_IMAGE);
  assert.equal(config.user, "65532:65532");
  assert.deepEqual(config.entrypoint.slice(0, 2), ["/nodejs/bin/node", "--lite-mode"]);
  assert.equal(config.entrypoint.at(-1), "/app/dist/cli/main.js");

  const pkg = JSON.parse(await readFile(join(REPO, "package.json"), "utf8")) as { version: string };
  const lock = JSON.parse(await readFile(join(REPO, "package-lock.json"), "utf8")) as { packages: Record<string, { dev?: boolean }> };
  await withImage(ELECTOR_IMAGE, async (root, run) => {
    assert.equal(await run([...config.entrypoint, "version"]), `elector ${pkg.version}\n`);
    assert.match(await run([...config.entrypoint, "agent", "-h"]).catch((err: unknown) => String(err)), /-election/);
    // The lock says which packages only development needs ("dev": true); a production dependency
    // may need one of the same name too (client-node needs @types/node), and then it is not dev-only.
    for (const [path, { dev }] of Object.entries(lock.packages).filter(([p]) => p !== "")) {
      assert.equal(
        existsSync(join(root, "app", path)),
        dev !== true,
        `${path} (${dev ? "development only" : "production"}) ${dev ? "is in" : "is missing from"} the image`,
      );
    }
    for (const left of ["app/src", "app/.cluster", "app/.git", "src"]) assert.ok(!existsSync(join(root, left)), `${left} is in the image`);
    assert.match(await readFile(join(root, "etc/os-release"), "utf8"), /VERSION_ID="13"/);
    assert.match(await readFile(join(root, "etc/passwd"), "utf8"), /^nonroot:x:65532:65532:/m);
    const du = await runCommand("du", ["-sm", join(root, "app")]);
    t.diagnostic(`the image's /app: ${du.stdout.split("\t")[0] ?? "?"} MB`);
  });
});
