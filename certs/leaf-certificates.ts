// One server certificate per registry ("group"), with a SAN for every host name it answers for.
// Cached under dir/leaves, reused while valid, renewed before expiry without a restart.
import { createPrivateKey, generateKeyPair, X509Certificate } from "node:crypto";
import { mkdir, readFile } from "node:fs/promises";
import { isIP } from "node:net";
import { join } from "node:path";
import { createSecureContext, type SecureContext } from "node:tls";
import { promisify } from "node:util";
import forge from "node-forge";
import { writeFileAtomic } from "./atomic-file.ts";
import { type Ca, type CertLog, MAX_LEAF_VALIDITY_MS } from "./certificate-authority.ts";

const generateKeyPairAsync = promisify(generateKeyPair);

export interface LeafCertificatesOptions {
  ca: Ca;
  dir: string;
  /** Registry name -> every host name (aliases and extra names included) its certificate must cover. */
  groups: Record<string, string[]>;
  validityMs: number;
  renewBeforeMs: number;
  now?: () => number;
  log?: CertLog;
  /** How often start()'s timer looks for leaves due for renewal; default min(1 h, renewBefore / 2). */
  checkIntervalMs?: number;
  /** Called whenever a group's certificate is (re)installed, with its PEM (for the no-SNI default). */
  onInstall?: (group: string, pem: { certPem: string; keyPem: string }) => void;
}

interface Leaf {
  notAfter: number;
  context: SecureContext;
}

/** "Registry-1.Docker.IO." -> "registry-1.docker.io"; "[::1]:443" -> "::1"; "localhost:5000" -> "localhost". */
export function certName(name: string): string {
  let n = name.trim().toLowerCase().replace(/\.$/, "");
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(n);
  if (bracketed?.[1]) return bracketed[1];
  if (isIP(n) !== 6) n = n.replace(/:\d+$/, "");
  return n;
}

// forge.util's IP helpers exist at run time but are missing from @types/node-forge.
const ipUtil = forge.util as unknown as { bytesFromIP(ip: string): string; bytesToIP(bytes: string): string };

function sanKey(name: string): string {
  return isIP(name) ? `ip:${ipUtil.bytesToIP(ipUtil.bytesFromIP(name))}` : `dns:${name}`;
}

/** The SAN entries of a certificate, in the same normal form as sanKey. */
function sansOf(certPem: string): string[] {
  const ext = forge.pki.certificateFromPem(certPem).getExtension("subjectAltName") as
    | { altNames: { type: number; value: string; ip?: string }[] }
    | undefined;
  return (ext?.altNames ?? []).map((a) =>
    a.type === 7 ? sanKey(a.ip ?? "") : `dns:${a.value.toLowerCase()}`,
  );
}

function sameSet(a: string[], b: string[]): boolean {
  const x = [...new Set(a)].sort();
  const y = [...new Set(b)].sort();
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

export class LeafCertificates {
  readonly #ca: Ca;
  readonly #dir: string;
  readonly #groups = new Map<string, string[]>();
  readonly #byName = new Map<string, string>();
  readonly #validityMs: number;
  readonly #renewBeforeMs: number;
  readonly #now: () => number;
  readonly #log: CertLog | undefined;
  readonly #checkIntervalMs: number;
  readonly #onInstall: LeafCertificatesOptions["onInstall"];
  readonly #leaves = new Map<string, Leaf>();
  readonly #renewing = new Map<string, Promise<void>>();
  #timer: NodeJS.Timeout | undefined;
  #caExpiryWarned = false;

  constructor(opts: LeafCertificatesOptions) {
    this.#ca = opts.ca;
    this.#dir = join(opts.dir, "leaves");
    this.#validityMs = Math.min(opts.validityMs, MAX_LEAF_VALIDITY_MS);
    if (!(this.#validityMs > 0)) throw new Error("leaf validity must be positive");
    // A renewal window as long as the validity would renew on every access.
    this.#renewBeforeMs = Math.min(Math.max(opts.renewBeforeMs, 0), this.#validityMs / 2);
    this.#now = opts.now ?? Date.now;
    this.#log = opts.log;
    this.#onInstall = opts.onInstall;
    this.#checkIntervalMs = Math.max(
      opts.checkIntervalMs ?? Math.min(3_600_000, this.#renewBeforeMs / 2),
      1000,
    );
    for (const [group, names] of Object.entries(opts.groups)) {
      const normal = [...new Set(names.map(certName))].filter((n) => n.length > 0);
      if (normal.length === 0) throw new Error(`certificate group ${group} has no host names`);
      for (const name of normal) {
        const other = this.#byName.get(name);
        if (other && other !== group) throw new Error(`host name ${name} is in both ${other} and ${group}`);
        this.#byName.set(name, group);
      }
      this.#groups.set(group, normal);
    }
  }

  /** The group whose certificate covers `servername` (case-insensitive; "*.example.com" covers one label). */
  groupFor(servername: string | false | null | undefined): string | undefined {
    if (!servername) return undefined;
    const name = servername.toLowerCase().replace(/\.$/, "");
    const exact = this.#byName.get(name);
    if (exact) return exact;
    const dot = name.indexOf(".");
    return dot > 0 ? this.#byName.get(`*${name.slice(dot)}`) : undefined;
  }

  /** The TLS context for an SNI name, or undefined for names wharf does not answer (the handshake then fails). */
  secureContextFor(servername: string | false | null | undefined): SecureContext | undefined {
    const group = this.groupFor(servername);
    if (!group) return undefined;
    const now = this.#now();
    let leaf = this.#leaves.get(group);
    if (!leaf || now >= leaf.notAfter) {
      // No usable certificate at all: issue one synchronously (prepare() normally avoids this).
      leaf = this.#install(group, this.#ca.issueLeaf(this.#names(group), this.#validityMs, now), true);
    } else if (this.#due(leaf, now)) {
      void this.#renew(group);
    }
    return leaf.context;
  }

  /** Loads every group's certificate from disk, or issues it when missing, stale, or from another CA. */
  async prepare(): Promise<void> {
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    for (const group of this.#groups.keys()) {
      if (!(await this.#loadFromDisk(group))) await this.#renew(group);
    }
  }

  /** Issues fresh certificates for every group now. */
  async renewAll(): Promise<void> {
    await Promise.all([...this.#groups.keys()].map((g) => this.#renew(g)));
  }

  /** Renews the groups whose certificate is missing or within renewBefore of expiry. */
  async renewDue(): Promise<void> {
    const now = this.#now();
    const due = [...this.#groups.keys()].filter((g) => {
      const leaf = this.#leaves.get(g);
      return !leaf || this.#due(leaf, now);
    });
    await Promise.all(due.map((g) => this.#renew(g)));
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.renewDue(), this.#checkIntervalMs);
    this.#timer.unref();
  }

  /** Stops the timer; resolves once renewals already running have written their files. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await Promise.allSettled([...this.#renewing.values()]);
  }

  /** Each group's names and current expiry, for status output. */
  status(): { group: string; names: string[]; notAfter: Date | undefined }[] {
    return [...this.#groups].map(([group, names]) => {
      const leaf = this.#leaves.get(group);
      return { group, names, notAfter: leaf ? new Date(leaf.notAfter) : undefined };
    });
  }

  /**
   * Within renewBefore of expiry, and a new leaf would actually live longer: leaves never outlive
   * the CA, so near the CA's own end re-issuing would only repeat itself (on every handshake).
   */
  #due(leaf: Leaf, now: number): boolean {
    if (now < leaf.notAfter - this.#renewBeforeMs) return false;
    const reachable = Math.min(now + this.#validityMs, this.#ca.notAfter.getTime());
    if (reachable > leaf.notAfter + 60_000) return true;
    if (!this.#caExpiryWarned) {
      this.#caExpiryWarned = true;
      this.#log?.warn(
        { caNotAfter: this.#ca.notAfter.toISOString() },
        "the CA expires soon: leaves cannot be renewed past it; run `wharf ca rotate`",
      );
    }
    return false;
  }

  #names(group: string): string[] {
    return this.#groups.get(group) ?? [];
  }

  #paths(group: string): { certFile: string; keyFile: string } {
    const base = join(this.#dir, group.replace(/[^a-z0-9._-]/gi, "_"));
    return { certFile: `${base}.crt`, keyFile: `${base}.key` };
  }

  #install(group: string, pem: { certPem: string; keyPem: string }, save: boolean): Leaf {
    const notAfter = Date.parse(new X509Certificate(pem.certPem).validTo);
    const context = createSecureContext({ cert: pem.certPem, key: pem.keyPem, minVersion: "TLSv1.2" });
    const leaf = { notAfter, context };
    this.#leaves.set(group, leaf);
    this.#onInstall?.(group, pem);
    if (save) void this.#save(group, pem);
    return leaf;
  }

  async #save(group: string, pem: { certPem: string; keyPem: string }): Promise<void> {
    const { certFile, keyFile } = this.#paths(group);
    try {
      await mkdir(this.#dir, { recursive: true, mode: 0o700 });
      await writeFileAtomic(keyFile, pem.keyPem, 0o600);
      await writeFileAtomic(certFile, pem.certPem, 0o644);
    } catch (e) {
      this.#log?.warn({ group, certFile, err: (e as Error).message }, "could not save leaf certificate");
    }
  }

  async #loadFromDisk(group: string): Promise<boolean> {
    const { certFile, keyFile } = this.#paths(group);
    try {
      const [certPem, keyPem] = await Promise.all([readFile(certFile, "utf8"), readFile(keyFile, "utf8")]);
      const x509 = new X509Certificate(certPem);
      const now = this.#now();
      const usable =
        this.#ca.issued(x509) &&
        x509.checkPrivateKey(createPrivateKey(keyPem)) &&
        sameSet(sansOf(certPem), this.#names(group).map(sanKey)) &&
        now >= Date.parse(x509.validFrom) &&
        now < Date.parse(x509.validTo) - this.#renewBeforeMs;
      if (usable) this.#install(group, { certPem, keyPem }, false);
      return usable;
    } catch {
      return false; // missing or unreadable: issue a new one
    }
  }

  /** Issues a new certificate for `group` off the event loop's critical path; one renewal per group at a time. */
  #renew(group: string): Promise<void> {
    const running = this.#renewing.get(group);
    if (running) return running;
    const job = (async () => {
      try {
        const { privateKey } = await generateKeyPairAsync("rsa", {
          modulusLength: 2048,
          publicKeyEncoding: { type: "spki", format: "pem" },
          privateKeyEncoding: { type: "pkcs8", format: "pem" },
        });
        const pem = this.#ca.issueLeaf(this.#names(group), this.#validityMs, this.#now(), privateKey);
        this.#install(group, pem, false);
        await this.#save(group, pem);
        this.#log?.info({ group, notAfter: pem.notAfter.toISOString() }, "issued leaf certificate");
      } catch (e) {
        this.#log?.warn({ group, err: (e as Error).message }, "leaf certificate renewal failed");
      } finally {
        this.#renewing.delete(group);
      }
    })();
    this.#renewing.set(group, job);
    return job;
  }
}
