/**
 * An HTTPS server whose routes answer only clients the API server vouches for, as kubebuilder's
 * secure metrics (controller-runtime's filters.WithAuthenticationAndAuthorization) and
 * kube-rbac-proxy do: the bearer token is checked with a TokenReview, and its user with a
 * SubjectAccessReview for `get` on the request's path (a non-resource URL, so RBAC grants it with
 * `nonResourceURLs: ["/metrics"]`). 401 without a valid token, 403 without the permission.
 */
import type { Server } from "node:https";
import type { Log } from "../election/log.ts";
import type { KubeClient } from "../kube/client.ts";
import type { KeyPair } from "./certificates.ts";
import { answer, routeAnswer, type Routes } from "./server.ts";

/** How long a review's verdict is reused for the same token and path: a scrape every few seconds would otherwise cost two API requests each. */
const VERDICT_TTL_MS = 60_000;
const REVIEW_TIMEOUT_MS = 5000;

interface Verdict {
  code: 200 | 401 | 403;
  why: string;
  until: number;
}

export function createAuthorizedServer(routes: Routes, tls: KeyPair, client: KubeClient, log: Log): Server {
  const verdicts = new Map<string, Verdict>();
  const review = async (token: string, path: string): Promise<Verdict> => {
    const key = `${path} ${token}`;
    const now = performance.now();
    const cached = verdicts.get(key);
    if (cached && cached.until > now) return cached;
    for (const [k, v] of verdicts) if (v.until <= now) verdicts.delete(k);
    const verdict = { ...(await decide(client, token, path)), until: now + VERDICT_TTL_MS };
    verdicts.set(key, verdict);
    return verdict;
  };
  return process.getBuiltinModule("node:https").createServer(tls, (req, res) => {
    const path = new URL(req.url ?? "/", "https://localhost").pathname;
    const token = /^Bearer (\S+)$/i.exec(req.headers.authorization ?? "")?.[1];
    if (!token) {
      answer(res, { code: 401, body: { error: "Unauthorized: a bearer token is required" } });
      return;
    }
    review(token, path).then(
      (verdict) => {
        if (verdict.code === 200) answer(res, routeAnswer(routes, req.method, path));
        else answer(res, { code: verdict.code, body: { error: verdict.why } });
      },
      (err: unknown) => {
        log.warn({ err: err instanceof Error ? err.message : String(err), path }, "could not review a metrics client's token");
        answer(res, { code: 500, body: { error: "the API server could not review the token" } });
      },
    );
  });
}

async function decide(client: KubeClient, token: string, path: string): Promise<Omit<Verdict, "until">> {
  const tokenReview = await client.request<{ status?: { authenticated?: boolean; error?: string; user?: ReviewedUser } }>(
    "POST",
    "/apis/authentication.k8s.io/v1/tokenreviews",
    { body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", spec: { token } }, timeoutMs: REVIEW_TIMEOUT_MS },
  );
  const user = tokenReview.status?.user;
  if (!tokenReview.status?.authenticated || !user) return { code: 401, why: `Unauthorized: ${tokenReview.status?.error ?? "the token is not valid"}` };
  const access = await client.request<{ status?: { allowed?: boolean; reason?: string } }>("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", {
    body: {
      apiVersion: "authorization.k8s.io/v1",
      kind: "SubjectAccessReview",
      spec: {
        user: user.username,
        ...(user.uid ? { uid: user.uid } : {}),
        groups: user.groups ?? [],
        ...(user.extra ? { extra: user.extra } : {}),
        nonResourceAttributes: { path, verb: "get" },
      },
    },
    timeoutMs: REVIEW_TIMEOUT_MS,
  });
  if (!access.status?.allowed) return { code: 403, why: `Forbidden: ${user.username ?? "this user"} may not get ${path}` };
  return { code: 200, why: "" };
}

interface ReviewedUser {
  username?: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}
