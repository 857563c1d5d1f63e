/**
 * The webhook certificate's renewal (src/operator/webhookcerts.ts) over simulated years: what is due
 * when, that a renewed serving certificate verifies against the CA the bundle trusts, and that a new
 * CA is trusted beside the old one until the old one ends. Verified with Node's X.509 code, not ours.
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { test } from "node:test";
import { issueCertificate } from "../../src/http/certificates.ts";
import { renewalDue, renewed } from "../../src/operator/webhookcerts.ts";

const NAMES = ["elector-webhook.elector-system.svc", "elector-webhook.elector-system.svc.cluster.local"];
const DAY = 86_400_000;
const at = (days: number): Date => new Date(Date.UTC(2026, 11, 1) + days * DAY);
const bundle = (pem: string): X509Certificate[] =>
  (pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? []).map((p) => new X509Certificate(p));

test("nothing at first, then a CA and a serving certificate for the Service's names, signed by it", () => {
  assert.equal(renewalDue(undefined, at(0)), "ca");
  const set = renewed(undefined, "ca", NAMES, at(0));
  const serving = new X509Certificate(set.serving.cert);
  const [ca, ...others] = bundle(set.caBundle);
  assert.ok(ca && others.length === 0);
  assert.ok(ca.ca && !serving.ca);
  assert.ok(serving.checkIssued(ca) && serving.verify(ca.publicKey));
  assert.equal(serving.subjectAltName, NAMES.map((n) => `DNS:${n}`).join(", "));
  assert.equal(renewalDue(set, at(1)), "none");
});

test("the serving certificate is renewed with a third of its year left, by the same CA", () => {
  const set = renewed(undefined, "ca", NAMES, at(0));
  assert.equal(renewalDue(set, at(240)), "none");
  assert.equal(renewalDue(set, at(250)), "serving");
  const next = renewed(set, "serving", NAMES, at(250));
  assert.equal(next.ca.cert, set.ca.cert);
  assert.notEqual(next.serving.cert, set.serving.cert);
  assert.ok(new X509Certificate(next.serving.cert).verify(new X509Certificate(set.ca.cert).publicKey));
  assert.equal(renewalDue(next, at(251)), "none");
});

test("a CA near its end is replaced, and the bundle trusts both until the old one ends", () => {
  const set = renewed(undefined, "ca", NAMES, at(0));
  const day = 365 * 7; // past two thirds of the CA's ten years
  assert.equal(renewalDue(set, at(day)), "ca");
  const next = renewed(set, "ca", NAMES, at(day));
  const trusted = bundle(next.caBundle);
  assert.equal(trusted.length, 2);
  assert.equal(trusted[0]?.raw.toString("base64"), new X509Certificate(next.ca.cert).raw.toString("base64"));
  assert.equal(trusted[1]?.raw.toString("base64"), new X509Certificate(set.ca.cert).raw.toString("base64"));
  assert.ok(new X509Certificate(next.serving.cert).verify(new X509Certificate(next.ca.cert).publicKey));
  // Once the old CA has ended, a renewal drops it.
  const later = renewed(next, "serving", NAMES, at(365 * 11));
  assert.equal(bundle(later.caBundle).length, 1);
});

test("a serving certificate that the CA did not sign is renewed", () => {
  const one = renewed(undefined, "ca", NAMES, at(0));
  const other = renewed(undefined, "ca", NAMES, at(0));
  assert.equal(renewalDue({ ...one, serving: other.serving }, at(1)), "serving");
});

test("every certificate made parses: 2,000 of them, with random serials", () => {
  // A serial of 0x00 then a byte under 0x80 is not DER; OpenSSL refused about 1 in 512 that way.
  for (let i = 0; i < 2000; i++) {
    const cert = new X509Certificate(issueCertificate({ commonName: "c", validDays: 1 }).cert);
    assert.match(cert.serialNumber, /^[1-7][0-9A-F]{31}$/);
  }
});
