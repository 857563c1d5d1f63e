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
  servingCert: string;
  servingKey: string;
  adminCert: string;
  adminKey: string;
  serviceAccountKey: string;
  serviceAccountPub: string;
}

export async function generatePki(dir: string): Promise<Pki> {
  await mkdir(dir, { recursive: true });
  const p = (name: string): string => join(dir, name);
  const pki: Pki = {
    caCert: p("ca.crt"),
    servingCert: p("apiserver.crt"),
    servingKey: p("apiserver.key"),
    adminCert: p("admin.crt"),
    adminKey: p("admin.key"),
    serviceAccountKey: p("sa.key"),
    serviceAccountPub: p("sa.pub"),
  };
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "3650"];
  await openssl(["req", "-x509", ...ec, "-keyout", p("ca.key"), "-out", pki.caCert, "-subj", "/CN=elector-local-ca"]);
  const signed = ["-x509", "-CA", pki.caCert, "-CAkey", p("ca.key"), ...ec];
  await openssl([
    "req", ...signed, "-keyout", pki.servingKey, "-out", pki.servingCert, "-subj", "/CN=kube-apiserver",
    "-addext", "subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc",
    "-addext", "basicConstraints=critical,CA:FALSE",
    "-addext", "extendedKeyUsage=serverAuth",
  ]);
  await openssl([
    "req", ...signed, "-keyout", pki.adminKey, "-out", pki.adminCert, "-subj", "/O=system:masters/CN=elector-admin",
    "-addext", "basicConstraints=critical,CA:FALSE",
    "-addext", "extendedKeyUsage=clientAuth",
  ]);
  await openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", pki.serviceAccountKey]);
  await openssl(["pkey", "-in", pki.serviceAccountKey, "-pubout", "-out", pki.serviceAccountPub]);
  return pki;
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
