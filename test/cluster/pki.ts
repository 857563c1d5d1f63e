/**
 * The certificates and keys a local control plane needs: a CA, the API server's serving
 * certificate (loopback names), an admin client certificate in system:masters, and the
 * service-account signing key pair. Made with the openssl CLI, one folder per cluster.
 */
import { execFile } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

const exec = promisify(execFile);

export interface Pki {
  caCert: string;
  caKey: string;
  servingCert: string;
  servingKey: string;
  adminCert: string;
  adminKey: string;
  serviceAccountKey: string;
  serviceAccountPub: string;
}

/** A client certificate and its key. */
export interface ClientCert {
  cert: string;
  key: string;
}

/** Names the API server's serving certificate carries besides loopback and the `kubernetes` Service's. */
export async function generatePki(dir: string, extraIps: string[] = []): Promise<Pki> {
  await mkdir(dir, { recursive: true });
  const p = (name: string): string => join(dir, name);
  const pki: Pki = {
    caCert: p("ca.crt"),
    caKey: p("ca.key"),
    servingCert: p("apiserver.crt"),
    servingKey: p("apiserver.key"),
    adminCert: p("admin.crt"),
    adminKey: p("admin.key"),
    serviceAccountKey: p("sa.key"),
    serviceAccountPub: p("sa.pub"),
  };
  await openssl(["req", "-x509", ...EC_KEY, "-keyout", pki.caKey, "-out", pki.caCert, "-subj", "/CN=elector-local-ca"]);
  const ips = ["127.0.0.1", KUBERNETES_SERVICE_IP, ...extraIps].map((ip) => `IP:${ip}`).join(",");
  await openssl([
    "req",
    ...signedBy(pki),
    "-keyout",
    pki.servingKey,
    "-out",
    pki.servingCert,
    "-subj",
    "/CN=kube-apiserver",
    "-addext",
    `subjectAltName=${ips},DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc`,
    "-addext",
    "basicConstraints=critical,CA:FALSE",
    "-addext",
    "extendedKeyUsage=serverAuth",
  ]);
  await clientCert(pki, "admin", "/O=system:masters/CN=elector-admin");
  await openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", pki.serviceAccountKey]);
  await openssl(["pkey", "-in", pki.serviceAccountKey, "-pubout", "-out", pki.serviceAccountPub]);
  return pki;
}

/** The Service range of every local cluster, and the ClusterIP of its `kubernetes` Service. */
export const SERVICE_RANGE = "10.96.0.0/16";
export const KUBERNETES_SERVICE_IP = "10.96.0.1";

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "3650"];
const signedBy = (pki: Pki): string[] => ["-x509", "-CA", pki.caCert, "-CAkey", pki.caKey, ...EC_KEY];

/** A client certificate for `subject` (`/O=group/CN=user`) signed by the cluster's CA, as `<name>.crt` beside it. */
export async function clientCert(pki: Pki, name: string, subject: string): Promise<ClientCert> {
  const base = pki.caCert.replace(/ca\.crt$/, name);
  const cert = { cert: `${base}.crt`, key: `${base}.key` };
  await openssl([
    "req",
    ...signedBy(pki),
    "-keyout",
    cert.key,
    "-out",
    cert.cert,
    "-subj",
    subject,
    "-addext",
    "basicConstraints=critical,CA:FALSE",
    "-addext",
    "extendedKeyUsage=clientAuth",
  ]);
  return cert;
}

async function openssl(args: string[]): Promise<void> {
  try {
    await exec("openssl", args);
  } catch (err) {
    const e = err as { code?: string; stderr?: string; message: string };
    if (e.code === "ENOENT") throw new Error("openssl is not installed (Debian: apt-get install openssl)", { cause: err });
    throw new Error(`openssl ${args[0] ?? ""} failed: ${e.stderr?.trim() ?? e.message}`, { cause: err });
  }
}
