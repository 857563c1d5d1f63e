/**
 * X.509 certificates made in memory (ECDSA P-256 keys, X.509 v3, DER written here), for servers
 * that must speak TLS before anyone has given them a certificate: the operator's secure metrics
 * (self-signed, as controller-runtime makes one when no certificate is mounted), and its admission
 * webhook (a CA of its own and a serving certificate the CA signs, as cert-controller's rotator
 * does for OPA Gatekeeper). Node can parse and verify certificates but not make them, and openssl
 * is not in the image.
 */
const { createPrivateKey, generateKeyPairSync, randomBytes, sign, X509Certificate } = process.getBuiltinModule("node:crypto");

/** PEM. */
export interface KeyPair {
  cert: string;
  key: string;
}

export interface CertificateRequest {
  commonName: string;
  /** Subject alternative names, for a serving certificate. */
  dnsNames?: string[];
  /** A certificate authority: it may sign others, and serves no one. */
  authority?: boolean;
  /** Who signs it; itself when not given. */
  issuer?: KeyPair;
  validDays: number;
  now?: Date;
}

export function issueCertificate(request: CertificateRequest): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const now = request.now ?? new Date();
  const ecdsaWithSha256 = seq(oid("1.2.840.10045.4.3.2"));
  const subject = nameOf(request.commonName);
  // The issuer's name exactly as its own certificate encodes it: Go matches the bytes.
  const issuerDer = request.issuer ? new X509Certificate(request.issuer.cert).raw : undefined;
  const issuer = issuerDer ? issuerDer.subarray(...subjectSpan(issuerDer)) : subject;
  const signingKey = request.issuer ? createPrivateKey(request.issuer.key) : privateKey;
  const serial = randomBytes(16);
  // Positive and minimal, as DER asks: a leading 0x00 before a byte under 0x80 is "illegal padding" to OpenSSL,
  // which refused 1 certificate in about 512 before this.
  serial[0] = ((serial[0] ?? 0) & 0x3f) | 0x40;
  const notAfter = new Date(now.getTime() + request.validDays * 86_400_000);
  const extensions = request.authority
    ? seq(
        extension("2.5.29.19", seq(tlv(0x01, Buffer.from([0xff]))), true), // basicConstraints: CA
        extension("2.5.29.15", tlv(0x03, Buffer.from([0x02, 0x84])), true), // keyUsage: digitalSignature, keyCertSign
      )
    : seq(
        extension("2.5.29.17", seq(...(request.dnsNames ?? []).map((n) => tlv(0x82, Buffer.from(n))))), // subjectAltName: dNSName
        extension("2.5.29.37", seq(oid("1.3.6.1.5.5.7.3.1"))), // extKeyUsage: serverAuth
        extension("2.5.29.15", tlv(0x03, Buffer.from([0x07, 0x80])), true), // keyUsage: digitalSignature
      );
  const tbs = seq(
    tlv(0xa0, integer(Buffer.from([2]))), // v3
    integer(serial),
    ecdsaWithSha256,
    issuer,
    seq(time(new Date(now.getTime() - 60_000)), time(notAfter)),
    subject,
    publicKey.export({ type: "spki", format: "der" }),
    tlv(0xa3, extensions),
  );
  const signature = sign("sha256", tbs, { key: signingKey, dsaEncoding: "der" });
  const der = seq(tbs, ecdsaWithSha256, tlv(0x03, Buffer.concat([Buffer.from([0]), signature])));
  const lines = der.toString("base64").match(/.{1,64}/g) ?? [];
  return {
    cert: `-----BEGIN CERTIFICATE-----\n${lines.join("\n")}\n-----END CERTIFICATE-----\n`,
    key: String(privateKey.export({ type: "pkcs8", format: "pem" })),
  };
}

/** A self-signed serving certificate for `dnsNames`. */
export function selfSignedCertificate(commonName: string, dnsNames: string[], validDays = 365, now = new Date()): KeyPair {
  return issueCertificate({ commonName, dnsNames, validDays, now });
}

const nameOf = (commonName: string): Buffer => seq(set(seq(oid("2.5.4.3"), tlv(0x0c, Buffer.from(commonName)))));

/** Where the subject Name lies in a certificate's DER: tbsCertificate's sixth element (version, serial, signature, issuer, validity, subject). */
function subjectSpan(der: Buffer): [number, number] {
  const [tbs = 0] = children(der, 0);
  const subject = children(der, tbs)[5] ?? 0;
  return [subject, next(der, subject)];
}

/** The offsets of the elements inside the constructed element at `offset`. */
function children(der: Buffer, offset: number): number[] {
  const { header, length } = lengthAt(der, offset);
  const starts: number[] = [];
  for (let at = offset + header, end = offset + header + length; at < end; at = next(der, at)) starts.push(at);
  return starts;
}

/** The offset just past the element at `offset`. */
function next(der: Buffer, offset: number): number {
  const { header, length } = lengthAt(der, offset);
  return offset + header + length;
}

function lengthAt(der: Buffer, offset: number): { header: number; length: number } {
  const first = der[offset + 1] ?? 0;
  if (first < 0x80) return { header: 2, length: first };
  const count = first & 0x7f;
  let length = 0;
  for (let i = 0; i < count; i++) length = length * 256 + (der[offset + 2 + i] ?? 0);
  return { header: 2 + count, length };
}

function tlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  const length = n < 0x80 ? Buffer.from([n]) : lengthBytes(n);
  return Buffer.concat([Buffer.from([tag]), length, content]);
}

function lengthBytes(n: number): Buffer {
  const bytes: number[] = [];
  for (let rest = n; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

const seq = (...items: Buffer[]): Buffer => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]): Buffer => tlv(0x31, Buffer.concat(items));
const integer = (bytes: Buffer): Buffer => tlv(0x02, bytes);

function oid(dotted: string): Buffer {
  const [first = 0, second = 0, ...rest] = dotted.split(".").map(Number);
  const bytes = [40 * first + second];
  for (const arc of rest) {
    const base128 = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) base128.unshift((v & 0x7f) | 0x80);
    bytes.push(...base128);
  }
  return tlv(0x06, Buffer.from(bytes));
}

function extension(id: string, value: Buffer, critical = false): Buffer {
  return seq(oid(id), ...(critical ? [tlv(0x01, Buffer.from([0xff]))] : []), tlv(0x04, value));
}

/** UTCTime (years before 2050), as RFC 5280 asks, else GeneralizedTime. */
function time(d: Date): Buffer {
  const iso = d.toISOString().replace(/[-:T]/g, "").slice(0, 14); // YYYYMMDDHHMMSS
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`)) : tlv(0x18, Buffer.from(`${iso}Z`));
}
