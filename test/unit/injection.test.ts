/** Injection by annotation (src/operator/injection.ts): what a pod gets, what it is refused, and what is left alone. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { decideInjection, type PatchOperation, type PodToAdmit } from "../../src/operator/injection.ts";

const DEFAULTS = { image: "elector:dev" };

function pod(annotations: Record<string, string> | undefined, spec: PodToAdmit["spec"] = { containers: [{ name: "app" }] }): PodToAdmit {
  return { metadata: annotations ? { annotations } : {}, spec };
}

/** The pod as the API server would store it after the patch (only "add" operations, as injection makes). */
function applied(p: PodToAdmit, patch: PatchOperation[]): PodToAdmit {
  const copy = structuredClone(p) as { spec: { initContainers?: unknown[] } };
  for (const op of patch) {
    if (op.path === "/spec/initContainers") copy.spec.initContainers = op.value as unknown[];
    else if (op.path === "/spec/initContainers/0") copy.spec.initContainers?.unshift(op.value);
    else assert.fail(`unexpected path ${op.path}`);
  }
  return copy as PodToAdmit;
}

interface Sidecar {
  name: string;
  restartPolicy: string;
  args: string[];
  ports: { name?: string; containerPort: number }[];
  securityContext: Record<string, unknown>;
  resources: { requests: Record<string, string>; limits: Record<string, string> };
}

function sidecarOf(p: PodToAdmit): Sidecar {
  const result = decideInjection(p, DEFAULTS);
  assert.equal(result.kind, "inject", JSON.stringify(result));
  const injected = applied(p, result.patch);
  return injected.spec?.initContainers?.[0] as unknown as Sidecar;
}

test("a pod without the annotation is left alone", () => {
  assert.equal(decideInjection(pod(undefined), DEFAULTS).kind, "skip");
  assert.equal(decideInjection(pod({ "app.kubernetes.io/name": "x" }), DEFAULTS).kind, "skip");
});

test("the annotation gets the agent as a native sidecar: restricted, probed, on its election, named by the pod", () => {
  const sidecar = sidecarOf(pod({ "elector.dev/election": "db" }));
  assert.equal(sidecar.name, "elector");
  assert.equal(sidecar.restartPolicy, "Always");
  assert.deepEqual(sidecar.args, [
    "agent",
    "-election=db",
    "-id=$(ELECTOR_POD_NAME)",
    "-http=:4040",
    "--lease-duration=15s",
    "--renew-deadline=10s",
    "--retry-period=2s",
  ]);
  assert.deepEqual(sidecar.ports, [{ name: "elector", containerPort: 4040 }]);
  assert.equal(sidecar.securityContext.runAsNonRoot, true);
  assert.equal(sidecar.securityContext.allowPrivilegeEscalation, false);
  assert.deepEqual(sidecar.securityContext.capabilities, { drop: ["ALL"] });
  assert.deepEqual(sidecar.resources, { requests: { cpu: "10m", memory: "64Mi" }, limits: { memory: "128Mi" } });
});

test("re-admission of an injected pod changes nothing", () => {
  const first = pod({ "elector.dev/election": "db" });
  const result = decideInjection(first, DEFAULTS);
  assert.equal(result.kind, "inject");
  const again = decideInjection(applied(first, result.patch), DEFAULTS);
  assert.equal(again.kind, "skip");
});

test("the port avoids the pod's own ports; existing init containers keep their order after the sidecar", () => {
  const taken = pod(
    { "elector.dev/election": "db" },
    { containers: [{ name: "app", ports: [{ containerPort: 4040 }, { containerPort: 4041, name: "elector" }] }] },
  );
  const sidecar = sidecarOf(taken);
  assert.deepEqual(sidecar.ports, [{ containerPort: 4042 }]);
  const withInit = pod({ "elector.dev/election": "db" }, { initContainers: [{ name: "migrate" }], containers: [{ name: "app" }] });
  const result = decideInjection(withInit, DEFAULTS);
  assert.deepEqual(result.kind === "inject" ? result.patch.map((op) => op.path) : [], ["/spec/initContainers/0"]);
});

test("the other annotations configure it", () => {
  const sidecar = sidecarOf(
    pod({
      "elector.dev/election": "db",
      "elector.dev/port": "9999",
      "elector.dev/lease-duration": "4s",
      "elector.dev/renew-deadline": "3s",
      "elector.dev/retry-period": "1s",
      "elector.dev/memory-limit": "96Mi",
    }),
  );
  assert.ok(sidecar.args.includes("-http=:9999") && sidecar.args.includes("--lease-duration=4s") && sidecar.args.includes("--retry-period=1s"));
  assert.equal(sidecar.resources.limits.memory, "96Mi");
});

test("a bad configuration is refused with what to fix", () => {
  const refused = (annotations: Record<string, string>, spec?: PodToAdmit["spec"]): string => {
    const result = decideInjection(pod({ "elector.dev/election": "db", ...annotations }, spec), DEFAULTS);
    assert.equal(result.kind, "refuse", JSON.stringify(result));
    return result.message;
  };
  assert.match(refused({ "elector.dev/election": "DB_1" }), /not a valid Lease name/);
  assert.match(refused({ "elector.dev/port": "http" }), /elector.dev\/port: "http" is not a port/);
  assert.match(refused({ "elector.dev/port": "8080" }, { containers: [{ name: "app", ports: [{ containerPort: 8080 }] }] }), /another container/);
  assert.match(refused({ "elector.dev/lease-duration": "2s" }), /lease duration \(2s\) must be greater than renew deadline \(10s\)/);
  assert.match(refused({ "elector.dev/renew-deadline": "ten" }), /annotation elector.dev\/renew-deadline/);
  assert.match(refused({ "elector.dev/memory-limit": "lots" }), /not a quantity/);
  assert.match(refused({ "elector.dev/log-level": "loud" }), /must be one of/);
  assert.match(refused({ "elector.dev/leaseduration": "4s" }), /unknown annotation elector.dev\/leaseduration/);
});
