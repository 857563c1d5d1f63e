/**
 * `npm run cluster -- up|down|status [--dir DIR]`: the local control plane by hand.
 * `up` prints the admin kubeconfig's path as its last line, so `export KUBECONFIG=$(... | tail -1)`
 * works; nothing here reads or writes ~/.kube/config.
 */
import { parseArgs } from "node:util";
import { KUBERNETES_VERSION, ETCD_VERSION } from "./versions.ts";
import { COMPONENTS, DEFAULT_CLUSTER_DIR, down, status, up } from "./controlplane.ts";

const usage = "usage: npm run cluster -- up|down|status [--dir DIR]";

async function main(): Promise<number> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { dir: { type: "string", default: DEFAULT_CLUSTER_DIR } },
  });
  const dir = values.dir;
  switch (positionals[0]) {
    case "up": {
      const plane = await up(dir);
      console.error(`kube-apiserver v${KUBERNETES_VERSION} and etcd v${ETCD_VERSION} at ${plane.server}; logs in ${dir}/logs`);
      console.error(`kubectl: ${plane.kubectl}`);
      console.log(plane.kubeconfig);
      return 0;
    }
    case "down":
      await down(dir);
      console.error(`stopped the control plane in ${dir}`);
      return 0;
    case "status": {
      const s = await status(dir);
      if (!s.plane) {
        console.log(`no control plane in ${dir}`);
        return 1;
      }
      console.log(`server: ${s.plane.server} (${s.healthy ? "ready" : "not ready"})`);
      for (const c of COMPONENTS) console.log(`${c}: pid ${s.plane.processes[c].pid} ${s.alive[c] ? "running" : "stopped"}`);
      console.log(`kubeconfig: ${s.plane.kubeconfig}`);
      console.log(`kubectl: ${s.plane.kubectl}`);
      return s.healthy ? 0 : 1;
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
