// Builds and signs X.509 certificates. node-forge assembles the ASN.1 (its own signing knows RSA
// only); Node's crypto signs, so a bring-your-own CA may hold an RSA or an EC key (RFC 5280 4.1).
import { createHash, type KeyObject, randomBytes, sign } from "node:crypto";
import forge from "node-forge";

const { asn1, pki } = forge;
type Asn1 = forge.asn1.Asn1;

/** What a CA contributes to the certificates it signs. */
export interface Issuer {
  /** The CA's subject Name, copied verbatim from its certificate so issuer and subject match byte for byte. */
  name: Asn1;
  /** The CA's subjectKeyIdentifier (raw bytes), for the leaf's authorityKeyIdentifier (RFC 5280 4.2.1.1). */
  keyIdentifier: Buffer;
  key: KeyObject;
}

export interface CertificateSpec {
  subject: { commonName?: string; organization?: string };
  /** PEM (SPKI) of the subject's RSA public key: every key wharf generates is RSA. */
  publicKeyPem: string;
  notBefore: Date;
  notAfter: Date;
  /** node-forge extension objects (basicConstraints, keyUsage, subjectAltName...). */
  extensions: object[];
  /** The signer; absent for a self-signed certificate, which then needs `selfKey`. */
  issuer?: Issuer;
  selfKey?: KeyObject;
}

interface SignatureAlgorithm {
  oid: string;
  hash: string;
  /** RSA algorithm identifiers carry NULL parameters (RFC 4055 5), ECDSA ones none (RFC 5758 3.2). */
  nullParams: boolean;
}

const EC_HASH: Record<string, SignatureAlgorithm> = {
  prime256v1: { oid: "1.2.840.10045.4.3.2", hash: "sha256", nullParams: false },
  secp384r1: { oid: "1.2.840.10045.4.3.3", hash: "sha384", nullParams: false },
  secp521r1: { oid: "1.2.840.10045.4.3.4", hash: "sha512", nullParams: false },
};

export function signatureAlgorithmFor(key: KeyObject): SignatureAlgorithm {
  if (key.asymmetricKeyType === "rsa")
    return { oid: "1.2.840.113549.1.1.11", hash: "sha256", nullParams: true };
  if (key.asymmetricKeyType === "ec") {
    const alg = EC_HASH[key.asymmetricKeyDetails?.namedCurve ?? ""];
    if (alg) return alg;
  }
  const kind =
    key.asymmetricKeyType === "ec" ? `EC ${key.asymmetricKeyDetails?.namedCurve}` : key.asymmetricKeyType;
  throw new Error(`unsupported CA key type ${kind} (use RSA or EC P-256/P-384/P-521)`);
}

function algorithmIdentifier(alg: SignatureAlgorithm): Asn1 {
  const parts = [asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(alg.oid).getBytes())];
  if (alg.nullParams) parts.push(asn1.create(asn1.Class.UNIVERSAL, asn1.Type.NULL, false, ""));
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, parts);
}

function parseDer(der: Buffer): Asn1 {
  // Keep BIT STRING contents raw: forge would otherwise try to parse them as nested ASN.1.
  const opts = { strict: true, parseAllBytes: true, decodeBitStrings: false };
  return asn1.fromDer(forge.util.createBuffer(der.toString("binary")), opts as unknown as boolean);
}

function children(node: Asn1 | undefined): Asn1[] {
  if (!node || typeof node.value === "string") throw new Error("malformed certificate");
  return node.value;
}

/** Reads the Name and key identifier a CA certificate (DER) gives to the certificates it signs. */
export function issuerFromCertificate(certDer: Buffer, key: KeyObject): Issuer {
  const tbs = children(children(parseDer(certDer))[0]);
  // TBSCertificate: [0] version, serial, signature, issuer, validity, subject, spki, ..., [3] extensions.
  const first = tbs[0];
  const offset = first?.tagClass === asn1.Class.CONTEXT_SPECIFIC && first.type === 0 ? 1 : 0;
  const name = tbs[4 + offset];
  const spki = tbs[5 + offset];
  if (!name || !spki) throw new Error("malformed certificate");
  let keyIdentifier: Buffer | undefined;
  const exts = tbs.find((n) => n.tagClass === asn1.Class.CONTEXT_SPECIFIC && n.type === 3);
  for (const ext of exts ? children(children(exts)[0]) : []) {
    const [oid, ...rest] = children(ext);
    if (!oid || asn1.derToOid(oid.value as string) !== "2.5.29.14") continue;
    const octets = rest[rest.length - 1];
    const inner = octets ? parseDer(Buffer.from(octets.value as string, "binary")) : undefined;
    if (inner && typeof inner.value === "string") keyIdentifier = Buffer.from(inner.value, "binary");
  }
  return { name, keyIdentifier: keyIdentifier ?? keyIdentifierOf(spki), key };
}

/** RFC 5280 4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING (without the unused-bits byte). */
function keyIdentifierOf(spki: Asn1): Buffer {
  const bits = children(spki)[1];
  if (!bits || typeof bits.value !== "string") throw new Error("malformed public key");
  return createHash("sha1")
    .update(Buffer.from(bits.value.slice(1), "binary"))
    .digest();
}

/** A positive 128-bit serial number (RFC 5280 4.1.2.2: at most 20 octets, positive). */
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01;
  return bytes.toString("hex");
}

function toPem(der: Buffer): string {
  const lines = der.toString("base64").match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join("\n")}\n-----END CERTIFICATE-----\n`;
}

/** Builds the certificate described by `spec` and returns it as PEM. */
export function buildCertificate(spec: CertificateSpec): string {
  const signer = spec.issuer?.key ?? spec.selfKey;
  if (!signer) throw new Error("buildCertificate needs an issuer or a self-signing key");
  const alg = signatureAlgorithmFor(signer);
  const cert = pki.createCertificate();
  cert.publicKey = pki.publicKeyFromPem(spec.publicKeyPem);
  cert.serialNumber = serialNumber();
  cert.validity.notBefore = spec.notBefore;
  cert.validity.notAfter = spec.notAfter;
  const attrs: forge.pki.CertificateField[] = [];
  if (spec.subject.commonName) attrs.push({ shortName: "CN", value: spec.subject.commonName });
  if (spec.subject.organization) attrs.push({ shortName: "O", value: spec.subject.organization });
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  const aki = spec.issuer && {
    name: "authorityKeyIdentifier",
    keyIdentifier: spec.issuer.keyIdentifier.toString("binary"),
  };
  cert.setExtensions(aki ? [...spec.extensions, aki] : spec.extensions);
  cert.siginfo.algorithmOid = alg.oid;
  const getTbs = (pki as unknown as { getTBSCertificate(c: forge.pki.Certificate): Asn1 }).getTBSCertificate;
  const tbs = getTbs(cert);
  const fields = children(tbs);
  fields[2] = algorithmIdentifier(alg);
  if (spec.issuer) fields[3] = spec.issuer.name;
  const tbsDer = Buffer.from(asn1.toDer(tbs).getBytes(), "binary");
  const signature = sign(alg.hash, tbsDer, signer);
  const whole = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    tbs,
    algorithmIdentifier(alg),
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BITSTRING, false, `\0${signature.toString("binary")}`),
  ]);
  return toPem(Buffer.from(asn1.toDer(whole).getBytes(), "binary"));
}
