/**
 * The mutating admission webhook that injects the agent (injection.ts decides, this serves):
 * `POST /inject` takes an AdmissionReview (admission.k8s.io/v1) for a pod and answers with a JSON
 * patch, a refusal with what to fix, or nothing to do. When the pod's ServiceAccount may not hold
 * its Lease, the answer carries an admission warning (kubectl prints it), from SubjectAccessReviews.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Server } from "node:https";
import type { KeyPair } from "../http/certificates.ts";
import type { Log } from "../election/log.ts";
import type { KubeClient } from "../kube/client.ts";
import { decideInjection, type InjectionDefaults, type PodToAdmit } from "./injection.ts";

/** A pod's AdmissionReview is far below this; a larger body is refused unread. */
const MAX_BODY_BYTES = 4 * 2 ** 20;
const REVIEW_TIMEOUT_MS = 2000;
/** How long one ServiceAccount's verdict on one Lease is reused: a Deployment's pods would otherwise ask the same thing each. */
const VERDICT_TTL_MS = 60_000;
/** What an agent does to its Lease (examples/rbac.yaml, the chart's elector-agent ClusterRole). */
const LEASE_VERBS = ["get", "watch", "create", "update"];

interface AdmissionReview {
  apiVersion?: string;
  kind?: string;
  request?: { uid?: string; namespace?: string; object?: PodToAdmit & { spec?: { serviceAccountName?: string } } };
}

export function createWebhookServer(tls: KeyPair, defaults: InjectionDefaults, agentClusterRole: string, client: KubeClient, log: Log): Server {
  const warnings = leaseWarnings(client, agentClusterRole, log);
  return process.getBuiltinModule("node:https").createServer(tls, (req, res) => {
    if (req.method !== "POST" || new URL(req.url ?? "/", "https://localhost").pathname !== "/inject") {
      reply(res, 404, { error: "POST /inject only" });
      return;
    }
    // Whatever goes wrong with one review (its body, a pod the decision cannot read) is that review's answer, never the process's end.
    readBody(req)
      .then(async (text) => {
        const review = JSON.parse(text) as AdmissionReview;
        const uid = review.request?.uid ?? "";
        const pod = review.request?.object ?? {};
        const namespace = review.request?.namespace ?? "";
        const decision = decideInjection(pod, defaults);
        const response: Record<string, unknown> = { uid, allowed: decision.kind !== "refuse" };
        if (decision.kind === "refuse") {
          response.status = { code: 400, message: `elector: ${decision.message}` };
        } else if (decision.kind === "inject") {
          response.patchType = "JSONPatch";
          response.patch = Buffer.from(JSON.stringify(decision.patch)).toString("base64");
          const warned = await warnings(namespace, pod.spec?.serviceAccountName ?? "default", decision.election);
          if (warned.length > 0) response.warnings = warned;
        }
        const why = decision.kind === "refuse" ? { message: decision.message } : decision.kind === "skip" ? { why: decision.why } : {};
        log.debug({ namespace, decision: decision.kind, ...why }, "admission review");
        reply(res, 200, { apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response });
      })
      .catch((err: unknown) => {
        log.warn({ err: err instanceof Error ? err.message : String(err) }, "could not answer an admission review");
        if (!res.headersSent) reply(res, 400, { error: err instanceof Error ? err.message : String(err) });
      });
  });
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error(`an AdmissionReview of over ${String(MAX_BODY_BYTES)} bytes`));
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on("end", () => {
      resolve(Buffer.concat(chunks).toString("utf8"));
    });
    req.on("error", reject);
  });
}

function reply(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

/**
 * The warnings for a pod whose ServiceAccount cannot do to its Lease what the agent does. A review
 * that fails gives no warning (the pod is admitted all the same); its reason is logged.
 */
function leaseWarnings(client: KubeClient, clusterRole: string, log: Log): (namespace: string, serviceAccount: string, lease: string) => Promise<string[]> {
  const verdicts = new Map<string, { warnings: string[]; until: number }>();
  return async (namespace, serviceAccount, lease) => {
    const key = `${namespace}/${serviceAccount}/${lease}`;
    const now = performance.now();
    const cached = verdicts.get(key);
    if (cached && cached.until > now) return cached.warnings;
    for (const [k, v] of verdicts) if (v.until <= now) verdicts.delete(k);
    try {
      const denied = (
        await Promise.all(
          LEASE_VERBS.map(async (verb) => {
            const review = await client.request<{ status?: { allowed?: boolean } }>("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", {
              body: {
                apiVersion: "authorization.k8s.io/v1",
                kind: "SubjectAccessReview",
                spec: {
                  user: `system:serviceaccount:${namespace}:${serviceAccount}`,
                  groups: ["system:serviceaccounts", `system:serviceaccounts:${namespace}`, "system:authenticated"],
                  resourceAttributes: { namespace, verb, group: "coordination.k8s.io", resource: "leases", name: lease },
                },
              },
              timeoutMs: REVIEW_TIMEOUT_MS,
            });
            return review.status?.allowed === true ? undefined : verb;
          }),
        )
      ).filter((v) => v !== undefined);
      const warnings =
        denied.length === 0
          ? []
          : [
              `elector: ServiceAccount ${namespace}/${serviceAccount} may not ${denied.join(", ")} Lease ${lease}, so the injected agent cannot elect: ` +
                `kubectl create rolebinding ${lease}-elector -n ${namespace} --clusterrole=${clusterRole} --serviceaccount=${namespace}:${serviceAccount}`,
            ];
      verdicts.set(key, { warnings, until: now + VERDICT_TTL_MS });
      return warnings;
    } catch (err) {
      log.warn({ err: err instanceof Error ? err.message : String(err), namespace, serviceAccount }, "could not review the pod's ServiceAccount");
      return [];
    }
  };
}
