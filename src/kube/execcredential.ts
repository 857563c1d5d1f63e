/**
 * Exec credential plugins, as kubectl runs them (the `client.authentication.k8s.io/v1`
 * ExecCredential protocol): the kubeconfig's `users[].user.exec` names a command (aws eks
 * get-token, gke-gcloud-auth-plugin, kubelogin …) that prints an ExecCredential holding a bearer
 * token or a client certificate. The answer is kept until its expirationTimestamp (for the
 * process's life without one), one run serves every request waiting for it, and a 401 from the
 * API server makes the next request run the plugin again, as client-go does.
 */
import { dirname, isAbsolute, join } from "node:path";

const { execFile } = process.getBuiltinModule("node:child_process");

export interface Credentials {
  /** The Authorization header's value, if any. */
  authorization?: string;
  cert?: Buffer;
  key?: Buffer;
}

/** The kubeconfig's `exec` section, and the cluster the plugin may be told about. */
export interface ExecConfig {
  apiVersion: string;
  command: string;
  args: string[];
  env: { name: string; value: string }[];
  installHint?: string;
  interactiveMode?: string;
  provideClusterInfo: boolean;
  /** The kubeconfig file that names the plugin: a relative command path is relative to it. */
  kubeconfig: string;
  /** What `provideClusterInfo` hands the plugin: the cluster entry, in the ExecCredential's terms. */
  cluster: Record<string, unknown>;
}

export class ExecCredentialError extends Error {
  override name = "ExecCredentialError";
}

const API_VERSIONS = ["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"];
/** client-go gives a plugin no deadline; a plugin hung this long is broken, and waiting on it stalls every request. */
const PLUGIN_TIMEOUT_MS = 60_000;

export class ExecCredentialSource {
  private readonly config: ExecConfig;
  private cached: { credentials: Credentials; expires: number } | undefined;
  private running: Promise<Credentials> | undefined;

  constructor(config: ExecConfig) {
    if (!API_VERSIONS.includes(config.apiVersion)) {
      throw new ExecCredentialError(`exec plugin ${config.command}: apiVersion "${config.apiVersion}" is not one of ${API_VERSIONS.join(", ")}`);
    }
    if (config.interactiveMode === "Always") {
      throw new ExecCredentialError(`exec plugin ${config.command} has interactiveMode Always, and elector has no terminal to give it`);
    }
    this.config = config;
  }

  /** The plugin's credentials: cached while unexpired, else from one run shared by all who ask meanwhile. */
  credentials(): Promise<Credentials> {
    if (this.cached && Date.now() < this.cached.expires) return Promise.resolve(this.cached.credentials);
    this.running ??= this.run().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** The API server refused what the plugin gave (401): the next request runs it again. */
  rejected(): void {
    this.cached = undefined;
  }

  private async run(): Promise<Credentials> {
    const { command, args, env, apiVersion, provideClusterInfo, cluster } = this.config;
    const info = { apiVersion, kind: "ExecCredential", spec: { interactive: false, ...(provideClusterInfo ? { cluster } : {}) } };
    const output = await new Promise<string>((resolve, reject) => {
      execFile(
        this.commandPath(),
        args,
        {
          env: { ...process.env, ...Object.fromEntries(env.map((e) => [e.name, e.value])), KUBERNETES_EXEC_INFO: JSON.stringify(info) },
          timeout: PLUGIN_TIMEOUT_MS,
          maxBuffer: 1 << 20,
        },
        (err, stdout, stderr) => {
          if (!err) {
            resolve(stdout);
            return;
          }
          const missing = (err as NodeJS.ErrnoException).code === "ENOENT";
          const why = missing ? "not found" : (stderr.trim().split("\n").at(-1) ?? "") || err.message.split("\n")[0];
          const hint = missing && this.config.installHint ? ` (${this.config.installHint.trim().replace(/\s+/g, " ")})` : "";
          reject(new ExecCredentialError(`exec plugin ${command}: ${why}${hint}`));
        },
      );
    });
    const credentials = this.parse(output);
    this.cached = credentials;
    return credentials.credentials;
  }

  private parse(output: string): { credentials: Credentials; expires: number } {
    const { command, apiVersion } = this.config;
    let answer: { apiVersion?: unknown; kind?: unknown; status?: Record<string, unknown> };
    try {
      answer = JSON.parse(output) as typeof answer;
    } catch {
      throw new ExecCredentialError(`exec plugin ${command}: its output is not an ExecCredential (not JSON): ${output.slice(0, 80)}`);
    }
    if (answer.kind !== "ExecCredential" || answer.apiVersion !== apiVersion) {
      throw new ExecCredentialError(`exec plugin ${command}: answered ${String(answer.apiVersion)} ${String(answer.kind)}, not ${apiVersion} ExecCredential`);
    }
    const status = answer.status ?? {};
    const text = (field: string): string | undefined => (typeof status[field] === "string" && status[field] !== "" ? status[field] : undefined);
    const token = text("token");
    const cert = text("clientCertificateData");
    const key = text("clientKeyData");
    if (!token && !(cert && key))
      throw new ExecCredentialError(`exec plugin ${command}: its ExecCredential holds neither a token nor a client certificate and key`);
    const expiry = text("expirationTimestamp");
    const expires = expiry ? Date.parse(expiry) : Infinity;
    if (Number.isNaN(expires)) throw new ExecCredentialError(`exec plugin ${command}: expirationTimestamp "${expiry ?? ""}" is not a time`);
    return {
      credentials: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(cert && key ? { cert: Buffer.from(cert), key: Buffer.from(key) } : {}),
      },
      expires,
    };
  }

  /** A command with a slash in it is relative to the kubeconfig; a bare name is looked up in $PATH. */
  private commandPath(): string {
    const { command, kubeconfig } = this.config;
    return command.includes("/") && !isAbsolute(command) ? join(dirname(kubeconfig), command) : command;
  }
}
