/**
 * The image `npm test` built from the Dockerfile with buildah (elector:dev): its configuration,
 * what it holds and leaves out, and its ENTRYPOINT run inside its own root file system (the
 * Debian 13 distroless stand-in's Node 24). The end-to-end tier runs it as real pods.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { nodeDefault } from "../cluster/controlplane.ts";
import { ELECTOR_ARCHIVE, ELECTOR_IMAGE, imageConfig, libcOnlyRoot, withImage } from "../cluster/images.ts";
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

test("elector:dev carries the single executable at /elector: it runs, installs itself, and says what is missing where it cannot run", async (t) => {
  const { node, why } = nodeDefault();
  if (!node || !existsSync(ELECTOR_ARCHIVE)) {
    t.skip(`no image built here (${why ?? "npm run image builds it"})`);
    return;
  }
  const pkg = JSON.parse(await readFile(join(REPO, "package.json"), "utf8")) as { version: string };
  const scratch = await mkdtemp(join(tmpdir(), "elector-executable-"));
  t.after(() => rm(scratch, { recursive: true, force: true }));
  await withImage(ELECTOR_IMAGE, async (root, run) => {
    const file = await stat(join(root, "elector"));
    assert.equal(file.mode & 0o777, 0o755);
    t.diagnostic(`/elector: ${(file.size / 2 ** 20).toFixed(1)} MiB`);
    assert.equal(await run(["/elector", "version"]), `elector ${pkg.version}\n`);
    // As the init container of examples/wrapper-any-image.yaml runs it, as nonroot, into a writable folder.
    assert.equal(await run(["/elector", "install", "/tmp"]), "installed /tmp/elector\n");
    assert.equal((await stat(join(root, "tmp/elector"))).size, file.size);
    await copyFile(join(root, "elector"), join(scratch, "elector"));
  });
  // glibc without libstdc++: the dynamic loader names the library, and the exit is not 0.
  const libcOnly = join(scratch, "libc-only");
  await libcOnlyRoot(libcOnly);
  await copyFile(join(scratch, "elector"), join(libcOnly, "elector"));
  const missing = await runCommand("chroot", [libcOnly, "/elector", "version"]);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /libstdc\+\+\.so\.6: cannot open shared object file/);
  // No glibc at all (a static or musl image): there is no loader to run it, and exec says so.
  const bare = join(scratch, "bare");
  await mkdir(bare);
  await copyFile(join(scratch, "elector"), join(bare, "elector"));
  const noLoader = await runCommand("chroot", [bare, "/elector", "version"]);
  assert.notEqual(noLoader.code, 0);
  assert.match(noLoader.stderr, /No such file or directory/);
  t.diagnostic(`without libstdc++: ${missing.stderr.trim()}; without glibc: ${noLoader.stderr.trim()}`);
});
