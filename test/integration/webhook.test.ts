/**
 * The injection webhook's own certificate against the real API server, with the operator as a
 * process: it makes the Secret and writes the CA into the MutatingWebhookConfiguration's caBundle;
 * what it serves verifies against that bundle for the Service's names (checked by Node's TLS client,
 * as the API server's would); a restarted operator that finds its serving certificate near its end
 * renews it with the same CA and serves the new one. The API server calling the webhook through
 * its Service, with pods, is the end-to-end tier's (test/e2e/injection.test.ts).
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { test, type TestContext } from "node:test";
import { connect } from "node:tls";
import { issueCertificate } from "../../src/http/certificates.ts";
import { KubeClient } from "../../src/kube/client.ts";
import { loadConnection } from "../../src/kube/kubeconfig.ts";
import { freePort } from "../support/agents.ts";
import { eventually, testCluster, testNamespace } from "../support/cluster.ts";
import { startOperator } from "../support/operator.ts";

interface SecretData {
  data?: Record<string, string>;
  metadata: { resourceVersion: string };
}

const unb64 = (s: string | undefined): string => Buffer.from(s ?? "", "base64").toString("utf8");

async function admin(): Promise<KubeClient> {
  return new KubeClient(loadConnection((await testCluster()).plane.kubeconfig));
}

/** A MutatingWebhookConfiguration that no pod matches, for the operator to write the caBundle of. */
async function webhookConfiguration(t: TestContext, client: KubeClient, name: string): Promise<void> {
  const path = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations";
  await client.request("POST", path, {
    body: {
      metadata: { name },
      webhooks: [
        {
          name: "inject.elector.dev",
          admissionReviewVersions: ["v1"],
          sideEffects: "None",
          failurePolicy: "Ignore",
          clientConfig: { url: "https://127.0.0.1:1/inject" },
          rules: [{ operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["pods"] }],
          matchConditions: [{ name: "never", expression: "false" }],
        },
      ],
    },
    timeoutMs: 5000,
  });
  t.after(() => client.request("DELETE", `${path}/${name}`, { timeoutMs: 5000 }).catch(() => undefined));
}

/** The certificate the webhook port serves to a client that trusts `ca` and asks for `servername`; rejects if it does not verify. */
function served(port: number, ca: string, servername: string): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, ca, servername }, () => {
      const cert = socket.getPeerX509Certificate();
      socket.end();
      if (cert) resolve(cert);
      else reject(new Error("no certificate"));
    });
    socket.on("error", reject);
  });
}

test("the operator makes its webhook's CA and certificate, writes the caBundle, serves what verifies, and renews a certificate near its end", async (t) => {
  const namespace = await testNamespace(t);
  const client = await admin();
  const name = `elector-webhook-${namespace.slice(-8)}`;
  await webhookConfiguration(t, client, name);
  // Outside a pod the operator's namespace is "default": this test's names keep it apart from any other.
  const secretPath = `/api/v1/namespaces/default/secrets/${name}-tls`;
  t.after(() => client.request("DELETE", secretPath, { timeoutMs: 5000 }).catch(() => undefined));
  const start = async (): Promise<{ port: number; stop: () => Promise<void> }> => {
    const port = await freePort();
    const args = [
      `--webhook-bind-address=127.0.0.1:${String(port)}`,
      "--agent-image=elector:dev",
      `--webhook-service=${name}`,
      `--webhook-secret=${name}-tls`,
      `--webhook-configuration=${name}`,
    ];
    const operator = await startOperator(t, namespace, args);
    await eventually("the operator ready", async () => ((await operator.process.get("/readyz"))?.code === 200 ? true : undefined), 30_000);
    const stop = async (): Promise<void> => {
      operator.process.kill("SIGTERM");
      await operator.process.exited;
    };
    return { port, stop };
  };
  const { port, stop } = await start();

  const secret = await client.request<SecretData>("GET", secretPath, { timeoutMs: 5000 });
  const caBundle = unb64(secret.data?.["ca.crt"]);
  const bundleInConfig = await client.request<{ webhooks: { clientConfig: { caBundle?: string } }[] }>(
    "GET",
    `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${name}`,
    { timeoutMs: 5000 },
  );
  assert.equal(unb64(bundleInConfig.webhooks[0]?.clientConfig.caBundle), caBundle, "the caBundle is not the Secret's CA");
  const first = await served(port, caBundle, `${name}.default.svc`);
  assert.equal(first.serialNumber, new X509Certificate(unb64(secret.data?.["tls.crt"])).serialNumber);
  assert.ok(first.checkHost(`${name}.default.svc`) && first.checkHost(`${name}.default.svc.cluster.local`));

  // Replace the serving certificate by one of the same CA with a day of its year left; a restarted operator must renew it.
  const ca = { cert: caBundle, key: unb64(secret.data?.["ca.key"]) };
  const old = issueCertificate({
    commonName: name,
    dnsNames: [`${name}.default.svc`],
    issuer: ca,
    validDays: 365,
    now: new Date(Date.now() - 364 * 86_400_000),
  });
  await client.request("PUT", secretPath, {
    body: { ...secret, data: { ...secret.data, "tls.crt": Buffer.from(old.cert).toString("base64"), "tls.key": Buffer.from(old.key).toString("base64") } },
    timeoutMs: 5000,
  });
  await stop();
  const { port: again } = await start();
  const renewed = await eventually(
    "a renewed certificate served",
    async () => {
      const cert = await served(again, caBundle, `${name}.default.svc`).catch(() => undefined);
      return cert && cert.serialNumber !== new X509Certificate(old.cert).serialNumber && cert.serialNumber !== first.serialNumber ? cert : undefined;
    },
    30_000,
  );
  assert.ok(Date.parse(renewed.validTo) > Date.now() + 300 * 86_400_000, `renewed until ${renewed.validTo}`);
  assert.equal(unb64((await client.request<SecretData>("GET", secretPath, { timeoutMs: 5000 })).data?.["ca.crt"]), caBundle, "the CA changed");
});
