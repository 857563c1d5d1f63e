/**
 * `npm run cluster -- up|down|status|exec [--dir DIR] [--no-node]`: the local cluster by hand.
 * `up` prints the admin kubeconfig's path as its last line, so `export KUBECONFIG=$(... | tail -1)`
 * works; nothing here reads or writes ~/.kube/config. `exec -- CMD…` runs CMD inside the cluster's
 * network namespace, where pod IPs and ClusterIPs answer; `image` builds elector:dev and loads it on
 * the node.
 */
import { parseArgs } from "node:util";
import { buildElectorImage, importImage } from "./images.ts";
import { KUBERNETES_VERSION, ETCD_VERSION } from "./versions.ts";
import { clusterExec, DEFAULT_CLUSTER_DIR, down, load, nodeDefault, status, up } from "./controlplane.ts";

const usage = "usage: npm run cluster -- up [--no-node] | down | status | exec -- CMD [ARGS…] | image   [--dir DIR]";

async function main(): Promise<number> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { dir: { type: "string", default: DEFAULT_CLUSTER_DIR }, "no-node": { type: "boolean", default: false } },
  });
  const dir = values.dir;
  switch (positionals[0]) {
    case "up": {
      const wanted = nodeDefault();
      if (!wanted.node) console.error(`no node: ${wanted.why ?? ""}; starting the control plane alone`);
      const plane = await up(dir, { node: wanted.node && !values["no-node"] });
      const node = plane.node ? `, node ${plane.node.name}` : "";
      console.error(`kube-apiserver v${KUBERNETES_VERSION} and etcd v${ETCD_VERSION} at ${plane.server}${node}; logs in ${dir}/logs`);
      console.error(`kubectl: ${plane.kubectl}`);
      console.log(plane.kubeconfig);
      return 0;
    }
    case "down":
      await down(dir);
      console.error(`stopped the cluster in ${dir}`);
      return 0;
    case "status": {
      const s = await status(dir);
      if (!s.plane) {
        console.log(`no cluster in ${dir}`);
        return 1;
      }
      console.log(`server: ${s.plane.server} (${s.healthy ? "ready" : "not ready"})${s.plane.node ? `, node ${s.plane.node.name}` : ", no node"}`);
      for (const [name, c] of Object.entries(s.supervisor?.components ?? {})) console.log(`${name}: pid ${String(c.pid)} ${c.running ? "running" : "stopped"}`);
      console.log(`kubeconfig: ${s.plane.kubeconfig}`);
      console.log(`kubectl: ${s.plane.kubectl}`);
      return s.healthy ? 0 : 1;
    }
    case "exec": {
      const plane = await load(dir);
      if (!plane) throw new Error(`no cluster in ${dir}`);
      const command = positionals.slice(1);
      if (command.length === 0) throw new Error(usage);
      return (await clusterExec(plane, command)).code;
    }
    case "image": {
      // `npm run image`: elector:dev from the Dockerfile, loaded on the node if one runs in DIR.
      const archive = await buildElectorImage(console.error);
      const plane = await load(dir);
      if (plane?.node) {
        await importImage(plane.node.containerdSocket, archive);
        console.error(`elector:dev loaded on node ${plane.node.name}`);
      }
      console.log(archive);
      return 0;
    }
    default:
      console.error(usage);
      return 2;
  }
}

try {
  process.exitCode = await main();
} catch (err) {
  console.error(`cluster: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
