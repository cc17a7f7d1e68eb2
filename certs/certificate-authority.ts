// wharf's local CA: created on first use in the data directory and reused on every start, or brought
// by the operator (tls.caCertFile / tls.caKeyFile). It signs one leaf per registry (leaf-certificates.ts).
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  X509Certificate,
} from "node:crypto";
import { chmod, mkdir, readFile, stat } from "node:fs/promises";
import { isIP } from "node:net";
import { join } from "node:path";
import { writeFileAtomic } from "./atomic-file.ts";
import { buildCertificate, type Issuer, issuerFromCertificate, signatureAlgorithmFor } from "./x509-build.ts";

const DAY_MS = 86_400_000;
export const CA_VALIDITY_MS = 3652 * DAY_MS;
/** Leaves live at most a year: clients increasingly reject longer-lived server certificates. */
export const MAX_LEAF_VALIDITY_MS = 365 * DAY_MS;
/** notBefore is backdated so builders with a slightly slow clock accept a fresh certificate. */
const BACKDATE_MS = 3_600_000;

/** The part of a logger certs/ needs (pino's Logger fits). */
export interface CertLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface LeafPem {
  certPem: string;
  keyPem: string;
  notAfter: Date;
}

export interface Ca {
  readonly certPem: string;
  readonly certFile: string;
  /** "CN=wharf local CA host, O=wharf" */
  readonly subject: string;
  /** Colon-separated hex SHA-256 of the DER certificate, as `openssl x509 -fingerprint -sha256` shows it. */
  readonly fingerprint256: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** True for a bring-your-own CA (wharf never rotates it). */
  readonly external: boolean;
  readonly x509: X509Certificate;
  /** Signs a server certificate for `names` (DNS names or IP addresses); `keyPem` reuses a given RSA key. */
  issueLeaf(names: string[], validityMs: number, now?: number, keyPem?: string): LeafPem;
  /** True if `cert` was signed by this CA. */
  issued(cert: X509Certificate): boolean;
}

export interface CaOptions {
  dir: string;
  hostname: string;
  certFile?: string | null;
  keyFile?: string | null;
  now?: number;
  log?: CertLog;
}

export function caFiles(dir: string): { certFile: string; keyFile: string } {
  return { certFile: join(dir, "ca.crt"), keyFile: join(dir, "ca.key") };
}

export function generateRsaKeyPem(): { privateKeyPem: string; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", {
    modulusLength: 2048,
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
  });
  return { privateKeyPem: privateKey, publicKeyPem: publicKey };
}

class LoadedCa implements Ca {
  readonly certPem: string;
  readonly certFile: string;
  readonly subject: string;
  readonly fingerprint256: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly external: boolean;
  readonly x509: X509Certificate;
  readonly #issuer: Issuer;

  constructor(x509: X509Certificate, key: KeyObject, certFile: string, external: boolean) {
    this.x509 = x509;
    this.certPem = x509.toString();
    this.certFile = certFile;
    this.subject = x509.subject.split("\n").join(", ");
    this.fingerprint256 = x509.fingerprint256;
    this.notBefore = new Date(x509.validFrom);
    this.notAfter = new Date(x509.validTo);
    this.external = external;
    this.#issuer = issuerFromCertificate(x509.raw, key);
  }

  issueLeaf(names: string[], validityMs: number, now = Date.now(), keyPem?: string): LeafPem {
    if (names.length === 0) throw new Error("a leaf certificate needs at least one name");
    const privateKeyPem = keyPem ?? generateRsaKeyPem().privateKeyPem;
    const publicKeyPem = createPublicKey(privateKeyPem).export({ type: "spki", format: "pem" }).toString();
    const notAfter = new Date(
      Math.min(now + Math.min(validityMs, MAX_LEAF_VALIDITY_MS), this.notAfter.getTime()),
    );
    const dnsName = names.find((n) => isIP(n) === 0 && n.length <= 64);
    const certPem = buildCertificate({
      subject: { commonName: dnsName, organization: "wharf" },
      publicKeyPem,
      notBefore: new Date(now - BACKDATE_MS),
      notAfter,
      extensions: [
        { name: "basicConstraints", cA: false },
        { name: "keyUsage", critical: true, digitalSignature: true, keyEncipherment: true },
        { name: "extKeyUsage", serverAuth: true },
        {
          name: "subjectAltName",
          altNames: names.map((n) => (isIP(n) ? { type: 7, ip: n } : { type: 2, value: n })),
        },
        { name: "subjectKeyIdentifier" },
      ],
      issuer: this.#issuer,
    });
    return { certPem, keyPem: privateKeyPem, notAfter };
  }

  issued(cert: X509Certificate): boolean {
    return cert.checkIssued(this.x509) && cert.verify(this.x509.publicKey);
  }
}

async function readOrFail(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (e) {
    throw new Error(`cannot read ${what} ${path} (${(e as NodeJS.ErrnoException).code ?? "error"})`);
  }
}

/** Loads and checks a CA pair. Messages name files, never their contents. */
async function loadPair(
  certFile: string,
  keyFile: string,
  external: boolean,
  now: number,
): Promise<LoadedCa> {
  const certText = await readOrFail(certFile, "CA certificate");
  const keyText = await readOrFail(keyFile, "CA key");
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(certText);
  } catch {
    throw new Error(`CA certificate ${certFile} is not a PEM or DER X.509 certificate`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(keyText);
  } catch {
    throw new Error(`CA key ${keyFile} is not an unencrypted PEM private key`);
  }
  if (!x509.ca) throw new Error(`${certFile} is not a CA certificate (basicConstraints CA:TRUE is missing)`);
  if (!x509.checkPrivateKey(key))
    throw new Error(`CA key ${keyFile} does not match the certificate ${certFile}`);
  signatureAlgorithmFor(key);
  if (now > Date.parse(x509.validTo))
    throw new Error(`CA certificate ${certFile} expired on ${x509.validTo}`);
  return new LoadedCa(x509, key, certFile, external);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function createCa(dir: string, hostname: string, now: number): Promise<void> {
  const { certFile, keyFile } = caFiles(dir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const { privateKeyPem, publicKeyPem } = generateRsaKeyPem();
  const certPem = buildCertificate({
    subject: { commonName: `wharf local CA ${hostname}`.slice(0, 64), organization: "wharf" },
    publicKeyPem,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + CA_VALIDITY_MS),
    extensions: [
      { name: "basicConstraints", critical: true, cA: true },
      { name: "keyUsage", critical: true, keyCertSign: true, cRLSign: true },
      { name: "subjectKeyIdentifier" },
    ],
    selfKey: createPrivateKey(privateKeyPem),
  });
  // Key first: a crash in between leaves a key without certificate, which loadOrCreateCa reports.
  await writeFileAtomic(keyFile, privateKeyPem, 0o600);
  await writeFileAtomic(certFile, certPem, 0o644);
}

/**
 * Returns the CA: the operator's pair when certFile/keyFile are set, else `dir/ca.crt` + `dir/ca.key`,
 * created on first use. With several processes, create it once (for example in the primary) before
 * the others start.
 */
export async function loadOrCreateCa(opts: CaOptions): Promise<Ca> {
  const now = opts.now ?? Date.now();
  if (opts.certFile || opts.keyFile) {
    if (!opts.certFile || !opts.keyFile)
      throw new Error("a custom CA needs both tls.caCertFile and tls.caKeyFile");
    return loadPair(opts.certFile, opts.keyFile, true, now);
  }
  const { certFile, keyFile } = caFiles(opts.dir);
  const [hasCert, hasKey] = await Promise.all([exists(certFile), exists(keyFile)]);
  if (hasCert !== hasKey) {
    const [found, missing] = hasCert ? [certFile, keyFile] : [keyFile, certFile];
    throw new Error(
      `found ${found} but not ${missing}: restore it, or move ${found} away to create a new CA`,
    );
  }
  if (!hasCert) {
    await createCa(opts.dir, opts.hostname, now);
    opts.log?.info({ certFile }, "created local CA");
  } else {
    const mode = (await stat(keyFile)).mode & 0o777;
    if (mode & 0o077) {
      await chmod(keyFile, 0o600);
      opts.log?.warn({ keyFile, mode: mode.toString(8) }, "CA key was readable by others; mode set to 0600");
    }
  }
  return loadPair(certFile, keyFile, false, now);
}
