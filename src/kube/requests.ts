/**
 * Per-request options for client-node's generated APIs, and the kubeconfig lookup every command
 * shares.
 */
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { KubeConfig, Observable, type CoordinationV1Api } from "@kubernetes/client-node";

/** The per-call options every generated API method takes (not exported by client-node by name). */
export type RequestOptions = Parameters<CoordinationV1Api["readNamespacedLease"]>[1];
type Middleware = NonNullable<NonNullable<RequestOptions>["middleware"]>[number];

/** Aborts the request after `ms`: a hung connection must not stall a renewal past its deadline. */
export function withTimeout(ms: number): RequestOptions {
  const middleware: Middleware = {
    pre: (context) => {
      context.setSignal(AbortSignal.timeout(ms));
      return new Observable(Promise.resolve(context));
    },
    post: (context) => new Observable(Promise.resolve(context)),
  };
  return { middleware: [middleware], middlewareMergeStrategy: "append" };
}

export class KubeconfigError extends Error {
  override name = "KubeconfigError";
}

/**
 * The kubeconfig as client-go's tools resolve it for an in-cluster workload: the explicit file if
 * given, else the pod's service account, else $KUBECONFIG, else ~/.kube/config.
 */
export function loadKubeConfig(file: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (file) {
      if (!existsSync(file)) throw new KubeconfigError(`kubeconfig ${file} does not exist`);
      kc.loadFromFile(file);
    } else if (process.env.KUBERNETES_SERVICE_HOST && existsSync("/var/run/secrets/kubernetes.io/serviceaccount/token")) {
      kc.loadFromCluster();
    } else if (process.env.KUBECONFIG || existsSync(join(homedir(), ".kube", "config"))) {
      kc.loadFromDefault();
    } else {
      // client-node would quietly fall back to http://localhost:8080; say what is missing instead.
      throw new KubeconfigError("no kubeconfig: not running in a pod, $KUBECONFIG is unset and ~/.kube/config does not exist (pass -kubeconfig)");
    }
  } catch (err) {
    if (err instanceof KubeconfigError) throw err;
    const reason = err instanceof Error ? err.message.split("\n")[0] : String(err);
    throw new KubeconfigError(`cannot read kubeconfig ${file ?? process.env.KUBECONFIG ?? "~/.kube/config"}: ${reason}`, { cause: err });
  }
  if (!kc.getCurrentCluster()) {
    throw new KubeconfigError(`no cluster in kubeconfig ${file ?? process.env.KUBECONFIG ?? "~/.kube/config"} (and not running in a pod)`);
  }
  return kc;
}
