/**
 * An image build with a RUN step (what `npm run image` and `npm test` do) leaves the machine as it
 * was: buildah runs in a private mount namespace with its writes to /run, /var/lib and /etc kept
 * there (it wrote /etc/cni on the host here before), and RUN steps on the host's network as it is
 * (chroot isolation, --network host), so no bridge, route, iptables chain or ip_forward changes.
 */
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { nodeDefault } from "../cluster/controlplane.ts";
import { buildImage, ensureBaseImages, NODE_BASE } from "../cluster/images.ts";
import { scratchDir } from "../support/cluster.ts";
import { hostState } from "../support/host.ts";

test("an image build with a RUN step changes nothing on the machine", async (t) => {
  const { node, why } = nodeDefault();
  if (!node) {
    t.skip(`no image builds here (${why ?? ""})`);
    return;
  }
  // Before any buildah command: buildah sets its network backend up (/etc/cni) on its first call.
  const before = await hostState();
  await ensureBaseImages(() => undefined);
  const dir = await scratchDir(t);
  const context = join(dir, "context");
  await mkdir(context);
  // A step that uses the network the way the Dockerfile's npm ci does: a connection out of the step.
  await writeFile(
    join(context, "Containerfile"),
    `FROM ${NODE_BASE}\nRUN node -e "require('node:dns').lookup('localhost', () => {})" && echo built > /built\n`,
  );
  await buildImage("localhost/elector-test/no-trace:dev", context, "Containerfile", join(dir, "no-trace.tar"));
  const after = await hostState();
  for (const [what, value] of before) assert.equal(after.get(what), value, `${what} changed`);
  t.diagnostic(`checked ${String(before.size)} items of host state around a build`);
});
