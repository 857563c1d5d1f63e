/**
 * The admission webhook's serving certificate, managed by the operator itself, as cert-controller's
 * rotator does for OPA Gatekeeper (cert-manager is optional: --webhook-cert-path reads a mounted one
 * instead). A CA of its own and a serving certificate for the webhook's Service live in one Secret
 * of the operator's namespace (ca.crt, ca.key, tls.crt, tls.key). The leader makes them when missing,
 * renews each when less than a third of its life is left, and writes the CA into the caBundle of every
 * webhook of the MutatingWebhookConfiguration. Every replica serves with what the Secret holds,
 * reading it every FOLLOW_MS (the leader uses what it wrote at once).
 *
 * A new CA is trusted before anything is signed with it: the Secret's ca.crt holds the new CA and the
 * old one until the old one expires, and the caBundle is written before the serving certificate changes.
 */
import { issueCertificate, type KeyPair } from "../http/certificates.ts";
import { sleep } from "../kube/backoff.ts";
import { ApiError, type KubeClient } from "../kube/client.ts";
import type { Log } from "../election/log.ts";

const { X509Certificate } = process.getBuiltinModule("node:crypto");

const CA_DAYS = 3650;
const SERVING_DAYS = 365;
/** How often every replica reads the Secret: a certificate the leader made is served by the others within this. */
const FOLLOW_MS = 10_000;
/** How often the leader checks the certificates and the caBundle. */
const MAINTAIN_MS = 10 * 60_000;
const REQUEST_TIMEOUT_MS = 10_000;

export interface WebhookCertificateOptions {
  namespace: string;
  /** The Secret that holds them. */
  secret: string;
  /** The webhook's Service: the serving certificate names NAME.NAMESPACE.svc. */
  service: string;
  /** The MutatingWebhookConfiguration whose caBundle is written. */
  configuration: string;
  log: Log;
}

/** What the Secret holds, as PEM. */
export interface CertificateSet {
  /** The CAs to trust: the current one first, then an older one still valid. */
  caBundle: string;
  ca: KeyPair;
  serving: KeyPair;
}

/** What must be made anew at `now`: nothing, the serving certificate, or the CA and so the serving certificate too. */
export function renewalDue(set: CertificateSet | undefined, now: Date): "none" | "serving" | "ca" {
  if (!set) return "ca";
  const nearEnd = (pem: string): boolean => {
    const cert = new X509Certificate(pem);
    const from = Date.parse(cert.validFrom);
    const to = Date.parse(cert.validTo);
    return now.getTime() > to - (to - from) / 3;
  };
  try {
    if (nearEnd(set.ca.cert)) return "ca";
    if (nearEnd(set.serving.cert) || !new X509Certificate(set.serving.cert).verify(new X509Certificate(set.ca.cert).publicKey)) return "serving";
    return "none";
  } catch {
    return "ca";
  }
}

/** `set` renewed as `due` says, for the names of `service` in `namespace`. */
export function renewed(set: CertificateSet | undefined, due: "serving" | "ca", dnsNames: string[], now: Date): CertificateSet {
  const ca = due === "ca" || !set ? issueCertificate({ commonName: "elector-webhook-ca", authority: true, validDays: CA_DAYS, now }) : set.ca;
  const serving = issueCertificate({ commonName: dnsNames[0] ?? "elector-webhook", dnsNames, issuer: ca, validDays: SERVING_DAYS, now });
  const stillValid = certificatesIn(set?.caBundle ?? "").filter(
    (pem) => pem.trim() !== ca.cert.trim() && Date.parse(new X509Certificate(pem).validTo) > now.getTime(),
  );
  return { caBundle: [ca.cert, ...stillValid.slice(0, 1)].map((p) => p.trim()).join("\n") + "\n", ca, serving };
}

/** The PEM certificates of a bundle, in order. */
function certificatesIn(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----\n?/g) ?? [];
}

interface SecretObject {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  type?: string;
  data?: Record<string, string>;
}

interface WebhookConfiguration {
  metadata: { name: string; resourceVersion?: string };
  webhooks?: { name: string; clientConfig: { caBundle?: string } }[];
}

const b64 = (text: string): string => Buffer.from(text).toString("base64");
const unb64 = (text: string | undefined): string => Buffer.from(text ?? "", "base64").toString("utf8");

export class WebhookCertificates {
  private readonly client: KubeClient;
  private readonly options: WebhookCertificateOptions;
  private held: CertificateSet | undefined;
  private onChange: ((serving: KeyPair) => void) | undefined;

  constructor(client: KubeClient, options: WebhookCertificateOptions) {
    this.client = client;
    this.options = options;
  }

  get dnsNames(): string[] {
    const { service, namespace } = this.options;
    return [`${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`];
  }

  /** The serving key pair, once the Secret has one. */
  serving(): KeyPair | undefined {
    return this.held?.serving;
  }

  /** Every replica: reads the Secret now and every FOLLOW_MS until `signal` aborts, calling `onChange` with each new serving pair. */
  async follow(signal: AbortSignal, onChange: (serving: KeyPair) => void): Promise<void> {
    this.onChange = onChange;
    while (!signal.aborted) {
      const read = await this.read(signal).catch((err: unknown) => {
        this.options.log.warn({ err: err instanceof Error ? err.message : String(err) }, "could not read the webhook's certificate");
        return undefined;
      });
      if (read?.set) this.adopt(read.set);
      await sleep(FOLLOW_MS, signal);
    }
  }

  private adopt(set: CertificateSet): void {
    if (set.serving.cert === this.held?.serving.cert) return;
    this.held = set;
    this.onChange?.(set.serving);
  }

  /** The leader: keeps the certificates valid and the caBundle written, until `signal` aborts. */
  async maintain(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const ok = await this.maintainOnce(signal).then(
        () => true,
        (err: unknown) => {
          if (!signal.aborted) this.options.log.warn({ err: err instanceof Error ? err.message : String(err) }, "could not maintain the webhook's certificate");
          return false;
        },
      );
      await sleep(ok ? MAINTAIN_MS : 5000, signal);
    }
  }

  private async maintainOnce(signal: AbortSignal): Promise<void> {
    const now = new Date();
    const current = await this.read(signal);
    let set = current?.set;
    const due = renewalDue(set, now);
    if (due !== "none") {
      set = renewed(set, due, this.dnsNames, now);
      // The new CA is trusted before the Secret, and so the served certificate, changes.
      await this.writeCaBundle(set.caBundle, signal);
      await this.write(set, current?.object, signal);
      this.adopt(set);
      this.options.log.info({ renewed: due, notAfter: new X509Certificate(set.serving.cert).validTo }, "made the webhook's serving certificate");
    }
    if (set) await this.writeCaBundle(set.caBundle, signal);
  }

  private async read(signal: AbortSignal): Promise<{ object: SecretObject; set: CertificateSet | undefined } | undefined> {
    const { namespace, secret } = this.options;
    const object = await this.client
      .request<SecretObject>("GET", `/api/v1/namespaces/${namespace}/secrets/${secret}`, { timeoutMs: REQUEST_TIMEOUT_MS, signal })
      .catch((err: unknown) => {
        if (err instanceof ApiError && err.code === 404) return undefined;
        throw err;
      });
    if (!object) return undefined;
    const d = object.data ?? {};
    const set =
      d["tls.crt"] && d["tls.key"] && d["ca.crt"] && d["ca.key"]
        ? {
            caBundle: unb64(d["ca.crt"]),
            ca: { cert: certificatesIn(unb64(d["ca.crt"]))[0] ?? "", key: unb64(d["ca.key"]) },
            serving: { cert: unb64(d["tls.crt"]), key: unb64(d["tls.key"]) },
          }
        : undefined;
    return { object, set };
  }

  private async write(set: CertificateSet, existing: SecretObject | undefined, signal: AbortSignal): Promise<void> {
    const { namespace, secret } = this.options;
    const data = { "ca.crt": b64(set.caBundle), "ca.key": b64(set.ca.key), "tls.crt": b64(set.serving.cert), "tls.key": b64(set.serving.key) };
    const body: SecretObject = {
      metadata: { name: secret, namespace, ...(existing?.metadata.resourceVersion ? { resourceVersion: existing.metadata.resourceVersion } : {}) },
      type: "kubernetes.io/tls",
      data,
    };
    const collection = `/api/v1/namespaces/${namespace}/secrets`;
    if (existing) await this.client.request("PUT", `${collection}/${secret}`, { body, timeoutMs: REQUEST_TIMEOUT_MS, signal });
    else await this.client.request("POST", collection, { body, timeoutMs: REQUEST_TIMEOUT_MS, signal });
  }

  private async writeCaBundle(caBundle: string, signal: AbortSignal): Promise<void> {
    const path = `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${this.options.configuration}`;
    const config = await this.client.request<WebhookConfiguration>("GET", path, { timeoutMs: REQUEST_TIMEOUT_MS, signal });
    const wanted = b64(caBundle);
    if ((config.webhooks ?? []).every((w) => w.clientConfig.caBundle === wanted)) return;
    for (const w of config.webhooks ?? []) w.clientConfig.caBundle = wanted;
    await this.client.request("PUT", path, { body: config, timeoutMs: REQUEST_TIMEOUT_MS, signal });
    this.options.log.info({ configuration: this.options.configuration }, "wrote the webhook's caBundle");
  }
}
