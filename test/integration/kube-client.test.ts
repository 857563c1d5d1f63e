/**
 * The agent's own Kubernetes client against the real API server: every way of finding and
 * authenticating to it (in-cluster service account, client certificates by file or data, bearer
 * tokens, $KUBECONFIG lists), requests with the server's Status on failure, and watches.
 */
import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { test } from "node:test";
import { CoreV1Api } from "@kubernetes/client-node";
import { ApiError, KubeClient, type KubeObject } from "../../src/kube/client.ts";
import { KubeconfigError, loadConnection, type Surroundings } from "../../src/kube/kubeconfig.ts";
import { eventually, scratchDir, testCluster, testNamespace } from "../support/cluster.ts";

const nowhere = (dir: string, env: NodeJS.ProcessEnv = {}): Surroundings => ({ env, home: dir, serviceAccountDir: join(dir, "no-service-account") });

async function whoami(client: KubeClient): Promise<string> {
  const review = await client.request<{ status?: { userInfo?: { username?: string } } }>("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", {
    body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" },
    timeoutMs: 5000,
  });
  return review.status?.userInfo?.username ?? "";
}

/** A service account's token from the TokenRequest API, as the kubelet mounts it. */
async function serviceAccountToken(namespace: string): Promise<string> {
  const { kc } = await testCluster();
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: "member" } } });
  const request = await core.createNamespacedServiceAccountToken({ name: "member", namespace, body: { spec: { audiences: [] } } });
  return request.status?.token ?? "";
}

test("in a pod: the service account's token and CA, and the API server from KUBERNETES_SERVICE_*", async (t) => {
  const namespace = await testNamespace(t);
  const dir = await scratchDir(t);
  const { plane } = await testCluster();
  const serviceAccountDir = join(dir, "serviceaccount");
  await mkdir(serviceAccountDir);
  await writeFile(join(serviceAccountDir, "token"), `${await serviceAccountToken(namespace)}\n`);
  await writeFile(join(serviceAccountDir, "ca.crt"), await readFile(plane.pki.caCert));
  const { hostname, port } = new URL(plane.server);
  const env = { KUBERNETES_SERVICE_HOST: hostname, KUBERNETES_SERVICE_PORT: port, KUBECONFIG: plane.kubeconfig };

  const connection = loadConnection(undefined, { env, home: dir, serviceAccountDir });
  assert.equal(connection.source, "in-cluster");
  assert.equal(await whoami(new KubeClient(connection)), `system:serviceaccount:${namespace}:member`);
});

test("a kubeconfig with client certificate files relative to it, and one with a bearer token", async (t) => {
  const namespace = await testNamespace(t);
  const dir = await scratchDir(t);
  const { plane } = await testCluster();
  const rel = (file: string): string => relative(dir, file);
  const byFiles = join(dir, "files.kubeconfig");
  await writeFile(
    byFiles,
    [
      "apiVersion: v1",
      "kind: Config",
      "current-context: admin",
      "contexts: [{name: admin, context: {cluster: local, user: admin}}]",
      `clusters: [{name: local, cluster: {server: "${plane.server}/", certificate-authority: ${rel(plane.pki.caCert)}}}]`,
      `users: [{name: admin, user: {client-certificate: ${rel(plane.pki.adminCert)}, client-key: ${rel(plane.pki.adminKey)}}}]`,
      "",
    ].join("\n"),
  );
  assert.equal(await whoami(new KubeClient(loadConnection(byFiles, nowhere(dir)))), "elector-admin");

  const tokenFile = join(dir, "token");
  await writeFile(tokenFile, await serviceAccountToken(namespace));
  const byToken = join(dir, "token.kubeconfig");
  await writeFile(
    byToken,
    [
      "apiVersion: v1",
      "kind: Config",
      "current-context: sa",
      "contexts: [{name: sa, context: {cluster: local, user: sa}}]",
      `clusters: [{name: local, cluster: {server: "${plane.server}", insecure-skip-tls-verify: true}}]`,
      "users: [{name: sa, user: {tokenFile: token}}]",
      "",
    ].join("\n"),
  );
  assert.equal(await whoami(new KubeClient(loadConnection(byToken, nowhere(dir)))), `system:serviceaccount:${namespace}:member`);
});

test("$KUBECONFIG lists files merged as kubectl merges them: the first to name an entry wins", async (t) => {
  const dir = await scratchDir(t);
  const { plane } = await testCluster();
  // The first file names the context and redefines the admin kubeconfig's cluster; the second
  // (the admin kubeconfig, its own current-context ignored) supplies the context and the user.
  const first = join(dir, "first");
  await writeFile(first, "current-context: elector-local\nclusters: [{name: elector-local, cluster: {server: https://127.0.0.1:1}}]\n");
  const second = join(dir, "second");
  await writeFile(second, (await readFile(plane.kubeconfig, "utf8")).replace(/^current-context: .*$/m, "current-context: ignored"));
  const env = { KUBECONFIG: `${join(dir, "absent")}:${first}:${second}` };
  const connection = loadConnection(undefined, nowhere(dir, env));
  assert.equal(connection.server, "https://127.0.0.1:1");
  assert.ok((await connection.credentials()).cert, "the user comes from the second file");
  await assert.rejects(new KubeClient(connection).request("GET", "/version", { timeoutMs: 2000 }), /ECONNREFUSED/);
});

test("what the lookup cannot use is named in one line", async (t) => {
  const dir = await scratchDir(t);
  const write = async (name: string, text: string): Promise<string> => {
    await writeFile(join(dir, name), text);
    return join(dir, name);
  };
  const cluster = "clusters: [{name: c, cluster: {server: https://127.0.0.1:1}}]\n";
  const cases: [string, RegExp][] = [
    [await write("nocontext", cluster), /has no current-context/],
    [await write("badcontext", `current-context: x\n${cluster}`), /current-context "x" is not defined/],
    [await write("nocluster", "current-context: x\ncontexts: [{name: x, context: {cluster: y}}]\n"), /cluster "y" of context "x" is not defined/],
    [
      await write(
        "exec",
        `current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n${cluster}users: [{name: u, user: {exec: {command: aws}}}]\n`,
      ),
      /user "u": exec plugin aws: apiVersion "" is not one of client.authentication.k8s.io\/v1, /,
    ],
    [
      await write(
        "authprovider",
        `current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n${cluster}users: [{name: u, user: {auth-provider: {name: gcp}}}]\n`,
      ),
      /user "u" uses an auth-provider plugin, which client-go removed/,
    ],
    [
      await write("noserver", "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\nclusters: [{name: c, cluster: {}}]\n"),
      /cluster "c" has no http\(s\) server URL/,
    ],
    [
      await write(
        "badca",
        "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n" +
          "clusters: [{name: c, cluster: {server: https://h, certificate-authority: nope.crt}}]\n",
      ),
      /cannot read .*nope.crt: ENOENT/,
    ],
    [await write("garbage", "this: [is not: yaml\n"), /cannot read kubeconfig .*garbage: /],
  ];
  for (const [file, message] of cases) {
    assert.throws(
      () => loadConnection(file, nowhere(dir)),
      (err: unknown) => err instanceof KubeconfigError && message.test(err.message) && !err.message.includes("\n"),
      file,
    );
  }
  assert.throws(
    () => loadConnection(undefined, nowhere(dir)),
    /no kubeconfig: not running in a pod, \$KUBECONFIG is unset and ~\/.kube\/config does not exist/,
  );
  assert.throws(() => loadConnection(undefined, nowhere(dir, { KUBECONFIG: join(dir, "a") })), /none of the files in \$KUBECONFIG exists/);
});

test("requests carry the server's Status on failure; a watch streams changes and reports a refusal", async (t) => {
  const namespace = await testNamespace(t);
  const { plane } = await testCluster();
  const client = new KubeClient(loadConnection(plane.kubeconfig));
  const path = `/api/v1/namespaces/${namespace}/configmaps`;

  const missing = await client.request("GET", `${path}/absent`, { timeoutMs: 5000 }).catch((err: unknown) => err);
  assert.ok(missing instanceof ApiError);
  assert.equal(missing.code, 404);
  assert.equal(missing.reason, "NotFound");
  assert.match(missing.message, /configmaps "absent" not found/);

  const events: string[] = [];
  let connected = false;
  const stop = client.watch<KubeObject & { data?: Record<string, string> }>(
    path,
    { fieldSelector: "metadata.name=watched" },
    {
      onConnected: () => (connected = true),
      onEvent: (type, object) => {
        if (type !== "BOOKMARK") events.push(`${type} ${object.data?.v ?? ""}`);
      },
      onClosed: (err) => events.push(`closed ${err?.message ?? ""}`),
    },
  );
  t.after(stop);
  await eventually("the watch to connect", () => Promise.resolve(connected || undefined));
  const created = await client.request<KubeObject>("POST", path, { body: { metadata: { name: "watched" }, data: { v: "1" } }, timeoutMs: 5000 });
  await client.request("PUT", `${path}/watched`, { body: { ...created, data: { v: "2" } }, timeoutMs: 5000 });
  // A write with a stale resourceVersion is refused with 409, as the lock relies on.
  const stale = await client.request("PUT", `${path}/watched`, { body: { ...created, data: { v: "3" } }, timeoutMs: 5000 }).catch((err: unknown) => err);
  assert.ok(stale instanceof ApiError && stale.code === 409, String(stale));
  await client.request("POST", path, { body: { metadata: { name: "other" } }, timeoutMs: 5000 });
  await client.request("DELETE", `${path}/watched`, { timeoutMs: 5000 });
  await eventually("three events", () => Promise.resolve(events.length >= 3 || undefined));
  assert.deepEqual(events, ["ADDED 1", "MODIFIED 2", "DELETED 2"]);

  const refused: string[] = [];
  const stopRefused = client.watch(
    "/apis/elector.dev/v1/nonexistent",
    {},
    {
      onConnected: () => refused.push("connected"),
      onEvent: () => refused.push("event"),
      onClosed: (err) => refused.push(err instanceof ApiError ? `closed ${err.code}` : `closed ${String(err)}`),
    },
  );
  t.after(stopRefused);
  await eventually("the refusal", () => Promise.resolve(refused.length > 0 || undefined));
  assert.deepEqual(refused, ["closed 404"]);
});

test("an exec credential plugin: its token is used and cached until it expires, it is told about the cluster, and its failure is one line", async (t) => {
  const namespace = await testNamespace(t);
  const dir = await scratchDir(t);
  const { plane } = await testCluster();
  await writeFile(join(dir, "token"), await serviceAccountToken(namespace));
  // A plugin as cloud providers ship them: it logs each run, keeps what it was told, and answers
  // with a token that expires two seconds from now.
  await mkdir(join(dir, "bin"));
  const plugin = join(dir, "bin", "get-token");
  await writeFile(
    plugin,
    [
      "#!/bin/sh",
      'echo run >> "$RUNS"',
      'printf "%s" "$KUBERNETES_EXEC_INFO" > "$RUNS.info"',
      `token="$(cat ${join(dir, "token")})"`,
      "expires=\"$(date -u -d '+2 seconds' +%Y-%m-%dT%H:%M:%SZ)\"",
      'printf \'{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",\' ',
      `printf '"status":{"token":"%s","expirationTimestamp":"%s"}}' "$token" "$expires"`,
      "",
    ].join("\n"),
    { mode: 0o755 },
  );
  const runs = join(dir, "runs");
  const kubeconfig = async (name: string, exec: string): Promise<string> => {
    const file = join(dir, name);
    await writeFile(
      file,
      [
        "apiVersion: v1",
        "kind: Config",
        "current-context: cloud",
        "contexts: [{name: cloud, context: {cluster: local, user: cloud}}]",
        `clusters: [{name: local, cluster: {server: "${plane.server}", insecure-skip-tls-verify: true}}]`,
        `users: [{name: cloud, user: {exec: ${exec}}}]`,
        "",
      ].join("\n"),
    );
    return file;
  };
  const file = await kubeconfig(
    "exec.kubeconfig",
    "{apiVersion: client.authentication.k8s.io/v1, command: bin/get-token, " +
      `env: [{name: RUNS, value: "${runs}"}], provideClusterInfo: true, interactiveMode: Never}`,
  );
  const client = new KubeClient(loadConnection(file, nowhere(dir)));
  const count = async (): Promise<number> => (await readFile(runs, "utf8")).trim().split("\n").length;

  const names = await Promise.all([whoami(client), whoami(client), whoami(client)]);
  assert.deepEqual(names, Array(3).fill(`system:serviceaccount:${namespace}:member`));
  assert.equal(await count(), 1, "three requests at once share one run of the plugin");
  await whoami(client);
  assert.equal(await count(), 1, "an unexpired token is reused");
  const info = JSON.parse(await readFile(`${runs}.info`, "utf8")) as { kind: string; spec: { interactive: boolean; cluster?: { server: string } } };
  assert.deepEqual([info.kind, info.spec.interactive, info.spec.cluster?.server], ["ExecCredential", false, plane.server]);
  await eventually("the token to expire and the plugin to run again", async () => {
    await whoami(client);
    return (await count()) === 2 ? true : undefined;
  });

  const broken = await kubeconfig(
    "broken.kubeconfig",
    "{apiVersion: client.authentication.k8s.io/v1, command: no-such-plugin, installHint: 'install it with: apt install no-such-plugin'}",
  );
  await assert.rejects(new KubeClient(loadConnection(broken, nowhere(dir))).request("GET", "/version", { timeoutMs: 2000 }), (err: Error) =>
    /^exec plugin no-such-plugin: not found \(install it with: apt install no-such-plugin\)$/.test(err.message),
  );
});
