/**
 * Where the API server is and how to authenticate to it, resolved as client-go's tools resolve it
 * for an in-cluster workload: the explicit kubeconfig file if given, else the pod's service
 * account, else $KUBECONFIG (a list of files, merged first-wins as kubectl merges them), else
 * ~/.kube/config.
 *
 * Supported: server CA (file or data) or insecure-skip-tls-verify, tls-server-name, client
 * certificates (file or data), bearer tokens (inline or tokenFile, re-read every minute as
 * client-go does for rotated service-account tokens), basic auth, and exec credential plugins
 * (execcredential.ts), so that the operator run from a laptop reaches a managed cluster as kubectl
 * does. Not supported, with a clear error: the auth-provider plugins client-go itself removed, and
 * proxy-url.
 */
import { homedir } from "node:os";
import { delimiter, dirname, isAbsolute, join } from "node:path";
// Imported, not required on first use as it once was: the single executable is one bundle, with no
// file to require from. It costs every agent about 1.4 MB of RSS (measured: `require("js-yaml")`
// alone in Node 24 with --lite-mode).
import { load as parseYaml } from "js-yaml";
import { ExecCredentialSource, type Credentials } from "./execcredential.ts";

// The CommonJS object, not an ESM import: see src/kube/client.ts.
const { existsSync, readFileSync } = process.getBuiltinModule("node:fs");

export class KubeconfigError extends Error {
  override name = "KubeconfigError";
}

export interface Connection {
  /** Base URL of the API server, without a trailing slash. */
  server: string;
  ca?: Buffer;
  insecureSkipTlsVerify: boolean;
  tlsServerName?: string;
  /** What the next request authenticates with: an Authorization header, a client certificate, or both. */
  credentials: () => Promise<Credentials>;
  /** The server refused them (401): credentials that can be fetched anew (an exec plugin's) will be. */
  rejected: () => void;
  /** Where this came from, for messages: a file path or "in-cluster". */
  source: string;
}

/** What the lookup reads besides the file it is given; tests substitute their own. */
export interface Surroundings {
  env: NodeJS.ProcessEnv;
  home: string;
  /** Where a pod's service account is mounted. */
  serviceAccountDir: string;
}

const HERE: Surroundings = { env: process.env, home: homedir(), serviceAccountDir: "/var/run/secrets/kubernetes.io/serviceaccount" };
/** client-go re-reads a token file this often, so a rotated bound token is picked up. */
const TOKEN_REREAD_MS = 60_000;

/** Where the connection comes from: the pod's service account, or kubeconfig files in merge order. */
type KubeconfigSource = { inCluster: true } | { inCluster: false; files: string[] };

export function loadConnection(file: string | undefined, around: Surroundings = HERE): Connection {
  const source = findKubeconfig(file, around);
  return source.inCluster ? inCluster(around) : fromFiles(source.files);
}

/** The namespace of the pod this runs in, from its service account; undefined outside a pod. */
export function podNamespace(around: Surroundings = HERE): string | undefined {
  try {
    return readFileSync(join(around.serviceAccountDir, "namespace"), "utf8").trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The lookup: the explicit file, the pod's service account, $KUBECONFIG's files or ~/.kube/config. */
function findKubeconfig(file: string | undefined, around: Surroundings = HERE): KubeconfigSource {
  if (file) {
    if (!existsSync(file)) throw new KubeconfigError(`kubeconfig ${file} does not exist`);
    return { inCluster: false, files: [file] };
  }
  if (around.env.KUBERNETES_SERVICE_HOST && existsSync(join(around.serviceAccountDir, "token"))) return { inCluster: true };
  const listed = (around.env.KUBECONFIG ?? "").split(delimiter).filter((f) => f !== "");
  const files = listed.length > 0 ? listed.filter((f) => existsSync(f)) : [join(around.home, ".kube", "config")].filter((f) => existsSync(f));
  if (files.length === 0) {
    throw new KubeconfigError(
      listed.length > 0
        ? `no kubeconfig: none of the files in $KUBECONFIG exists (${listed.join(delimiter)})`
        : "no kubeconfig: not running in a pod, $KUBECONFIG is unset and ~/.kube/config does not exist (pass -kubeconfig)",
    );
  }
  return { inCluster: false, files };
}

function inCluster(around: Surroundings): Connection {
  const host = around.env.KUBERNETES_SERVICE_HOST ?? "";
  const port = around.env.KUBERNETES_SERVICE_PORT ?? "443";
  return {
    server: `https://${host.includes(":") ? `[${host}]` : host}:${port}`,
    ca: readOrFail(join(around.serviceAccountDir, "ca.crt"), "in-cluster"),
    insecureSkipTlsVerify: false,
    credentials: headerOnly(bearerFromFile(join(around.serviceAccountDir, "token"), "in-cluster")),
    rejected: () => undefined,
    source: "in-cluster",
  };
}

type Section = Record<string, unknown>;

/** The entries of the kubeconfig's lists, merged across files: the first file to name one wins. */
interface Merged {
  currentContext: string;
  contexts: Map<string, Section>;
  clusters: Map<string, Section>;
  users: Map<string, Section>;
  /** Which file each cluster and user came from: their relative paths are relative to it. */
  origin: Map<Section, string>;
}

function fromFiles(files: string[]): Connection {
  const merged: Merged = { currentContext: "", contexts: new Map(), clusters: new Map(), users: new Map(), origin: new Map() };
  for (const file of files) {
    let doc: unknown;
    try {
      doc = parseYaml(readFileSync(file, "utf8"));
    } catch (err) {
      const reason = err instanceof Error ? err.message.split("\n")[0] : String(err);
      throw new KubeconfigError(`cannot read kubeconfig ${file}: ${reason}`, { cause: err });
    }
    const config = section(doc);
    if (!merged.currentContext && typeof config["current-context"] === "string") merged.currentContext = config["current-context"];
    mergeList(config.contexts, "context", merged.contexts, merged.origin, file);
    mergeList(config.clusters, "cluster", merged.clusters, merged.origin, file);
    mergeList(config.users, "user", merged.users, merged.origin, file);
  }
  const where = files.join(delimiter);
  const context = merged.contexts.get(merged.currentContext);
  if (!context) {
    throw new KubeconfigError(
      merged.currentContext ? `kubeconfig ${where}: current-context "${merged.currentContext}" is not defined` : `kubeconfig ${where} has no current-context`,
    );
  }
  const clusterName = typeof context.cluster === "string" ? context.cluster : "";
  const cluster = merged.clusters.get(clusterName);
  if (!cluster) throw new KubeconfigError(`kubeconfig ${where}: cluster "${clusterName}" of context "${merged.currentContext}" is not defined`);
  const userName = typeof context.user === "string" ? context.user : "";
  const user = userName ? merged.users.get(userName) : {};
  if (!user) throw new KubeconfigError(`kubeconfig ${where}: user "${userName}" of context "${merged.currentContext}" is not defined`);

  const server = typeof cluster.server === "string" ? cluster.server.replace(/\/+$/, "") : "";
  if (!/^https?:\/\/./.test(server)) throw new KubeconfigError(`kubeconfig ${where}: cluster "${clusterName}" has no http(s) server URL`);
  if (user["auth-provider"] !== undefined) {
    throw new KubeconfigError(
      `kubeconfig ${where}: user "${userName}" uses an auth-provider plugin, which client-go removed and elector does not run; use its exec plugin instead`,
    );
  }
  if (cluster["proxy-url"] !== undefined)
    throw new KubeconfigError(`kubeconfig ${where}: cluster "${clusterName}" uses proxy-url, which elector does not support`);

  const clusterFile = merged.origin.get(cluster) ?? where;
  const userFile = merged.origin.get(user) ?? where;
  const token = typeof user.token === "string" && user.token !== "" ? user.token : undefined;
  const tokenFile = typeof user.tokenFile === "string" && user.tokenFile !== "" ? relativeTo(userFile, user.tokenFile) : undefined;
  const basic =
    typeof user.username === "string" && typeof user.password === "string"
      ? `Basic ${Buffer.from(`${user.username}:${user.password}`).toString("base64")}`
      : undefined;
  const ca = dataOrFile(cluster, "certificate-authority", clusterFile);
  const insecureSkipTlsVerify = cluster["insecure-skip-tls-verify"] === true;
  const tlsServerName = typeof cluster["tls-server-name"] === "string" ? cluster["tls-server-name"] : undefined;
  const cert = dataOrFile(user, "client-certificate", userFile);
  const key = dataOrFile(user, "client-key", userFile);
  const header = token ? () => `Bearer ${token}` : tokenFile ? bearerFromFile(tokenFile, userFile) : () => basic;
  const connection = {
    server,
    ...(ca ? { ca } : {}),
    insecureSkipTlsVerify,
    ...(tlsServerName ? { tlsServerName } : {}),
    credentials: (): Promise<Credentials> => Promise.resolve({ ...withHeader(header()), ...(cert && key ? { cert, key } : {}) }),
    rejected: () => undefined,
    source: where,
  };
  if (user.exec === undefined) return connection;
  const plugin = execPlugin(section(user.exec), userFile, { server, ca, insecureSkipTlsVerify, tlsServerName }, `kubeconfig ${where}: user "${userName}"`);
  // Static credentials beside the plugin's are kept, and the plugin's win where both give one.
  return {
    ...connection,
    credentials: async () => ({ ...(await connection.credentials()), ...(await plugin.credentials()) }),
    rejected: () => {
      plugin.rejected();
    },
  };
}

/** The `exec` section, checked: a plugin that cannot run is named in one line before any request. */
function execPlugin(
  exec: Section,
  kubeconfig: string,
  cluster: { server: string; ca: Buffer | undefined; insecureSkipTlsVerify: boolean; tlsServerName: string | undefined },
  who: string,
): ExecCredentialSource {
  const strings = (value: unknown): string[] => (Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : []);
  const env = (Array.isArray(exec.env) ? exec.env.map(section) : []).map((e) => ({
    name: typeof e.name === "string" ? e.name : "",
    value: typeof e.value === "string" ? e.value : "",
  }));
  if (typeof exec.command !== "string" || exec.command === "") throw new KubeconfigError(`${who}: exec has no command`);
  try {
    return new ExecCredentialSource({
      apiVersion: typeof exec.apiVersion === "string" ? exec.apiVersion : "",
      command: exec.command,
      args: strings(exec.args),
      env: env.filter((e) => e.name !== ""),
      ...(typeof exec.installHint === "string" ? { installHint: exec.installHint } : {}),
      ...(typeof exec.interactiveMode === "string" ? { interactiveMode: exec.interactiveMode } : {}),
      provideClusterInfo: exec.provideClusterInfo === true,
      kubeconfig,
      cluster: {
        server: cluster.server,
        ...(cluster.ca ? { "certificate-authority-data": cluster.ca.toString("base64") } : {}),
        ...(cluster.insecureSkipTlsVerify ? { "insecure-skip-tls-verify": true } : {}),
        ...(cluster.tlsServerName ? { "tls-server-name": cluster.tlsServerName } : {}),
      },
    });
  } catch (err) {
    throw new KubeconfigError(`${who}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

function withHeader(authorization: string | undefined): Credentials {
  return authorization ? { authorization } : {};
}

function headerOnly(header: () => string): () => Promise<Credentials> {
  return () => Promise.resolve({ authorization: header() });
}

function section(value: unknown): Section {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Section) : {};
}

function mergeList(list: unknown, field: string, into: Map<string, Section>, origin: Map<Section, string>, file: string): void {
  if (!Array.isArray(list)) return;
  for (const entry of list.map(section)) {
    const name = entry.name;
    if (typeof name !== "string" || into.has(name)) continue;
    const value = section(entry[field]);
    into.set(name, value);
    origin.set(value, file);
  }
}

/** `<field>-data` (base64) or `<field>` (a path, relative to the kubeconfig that names it). */
function dataOrFile(entry: Section, field: string, kubeconfig: string): Buffer | undefined {
  const data = entry[`${field}-data`];
  if (typeof data === "string" && data !== "") return Buffer.from(data, "base64");
  const path = entry[field];
  if (typeof path === "string" && path !== "") return readOrFail(relativeTo(kubeconfig, path), kubeconfig);
  return undefined;
}

function relativeTo(kubeconfig: string, path: string): string {
  return isAbsolute(path) ? path : join(dirname(kubeconfig), path);
}

function readOrFail(path: string, source: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new KubeconfigError(`kubeconfig ${source}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
}

function bearerFromFile(path: string, source: string): () => string {
  let token = readOrFail(path, source).toString().trim();
  let readAt = Date.now();
  return () => {
    if (Date.now() - readAt >= TOKEN_REREAD_MS) {
      readAt = Date.now();
      try {
        token = readFileSync(path, "utf8").trim();
      } catch {
        // Keep the token we have: a briefly missing file (an atomic swap) is no reason to stop.
      }
    }
    return `Bearer ${token}`;
  };
}
