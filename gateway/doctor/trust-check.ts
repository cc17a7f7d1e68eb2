// Does the builder trust wharf under each intercepted name, the way its dockerd decides? A TLS
// handshake to the address the name resolved to, verified against exactly the CAs dockerd would
// use: for Docker Hub's names only the system trust store (dockerd skips certs.d for them; seen
// with dockerd 20.10), for every other name certs.d/<host>/*.crt on top of the system store
// (docs.docker.com/engine/security/certificates).
import type { X509Certificate } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { isIP } from "node:net";
import { join } from "node:path";
import { connect } from "node:tls";
import { isDockerHub } from "../client-config/client-targets.ts";
import { certificates } from "./ca-check.ts";
import { type CheckResult, fail, pass, reason } from "./check-result.ts";

/** Where a builder's dockerd finds the CAs it trusts. */
export interface BuilderTrust {
  /** The system trust store bundle (Debian and Alpine: /etc/ssl/certs/ca-certificates.crt). */
  systemStore: string;
  /** dockerd's certs.d directory (/etc/docker/certs.d). */
  certsDir: string;
}

interface TrustedCa {
  cert: X509Certificate;
  /** The file it came from. */
  file: string;
}

async function readBundle(file: string): Promise<TrustedCa[]> {
  const text = await readFile(file, "utf8").catch(() => "");
  return certificates(text).map((cert) => ({ cert, file }));
}

async function certsDirCas(host: string, trust: BuilderTrust): Promise<TrustedCa[]> {
  const dir = join(trust.certsDir, host);
  const files = await readdir(dir).catch(() => [] as string[]);
  const own = await Promise.all(files.filter((f) => f.endsWith(".crt")).map((f) => readBundle(join(dir, f))));
  return own.flat();
}

/** The CAs dockerd trusts for `host` (a registry name, with its port when it has one). */
export async function trustedCas(host: string, trust: BuilderTrust): Promise<TrustedCa[]> {
  const system = await readBundle(trust.systemStore);
  return isDockerHub(host) ? system : [...(await certsDirCas(host, trust)), ...system];
}

/** What the handshake showed: the leaf wharf presented and whether the builder's CAs verify it. */
interface Handshake {
  leaf: X509Certificate;
  /** Why verification failed (chain or name), undefined when it succeeded. */
  error?: string;
  /** The trusted CA that issued the leaf. */
  issuer?: TrustedCa;
}

function handshake(opts: {
  name: string;
  address: string;
  port: number;
  cas: TrustedCa[];
  timeoutMs: number;
}): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    // rejectUnauthorized off so the leaf can be inspected and the reason worded; `ca` replaces
    // Node's own roots, so only the builder's trust takes part.
    const socket = connect({
      host: opts.address,
      port: opts.port,
      servername: isIP(opts.name) ? undefined : opts.name,
      ca: opts.cas.map((c) => c.cert.toString()),
      rejectUnauthorized: false,
      ALPNProtocols: ["h2", "http/1.1"],
    });
    socket.setTimeout(opts.timeoutMs, () =>
      socket.destroy(
        Object.assign(new Error(`no TLS answer within ${opts.timeoutMs} ms`), { code: "ETIMEDOUT" }),
      ),
    );
    socket.once("error", reject);
    socket.once("secureConnect", () => {
      const leaf = socket.getPeerX509Certificate();
      const chainError = socket.authorized ? undefined : String(socket.authorizationError);
      const named = leaf && (isIP(opts.name) ? leaf.checkIP(opts.name) : leaf.checkHost(opts.name));
      const nameError = named ? undefined : `the certificate does not name ${opts.name}`;
      socket.end();
      if (!leaf) return reject(new Error("the server presented no certificate"));
      const issuer = opts.cas.find((c) => leaf.checkIssued(c.cert) && leaf.verify(c.cert.publicKey));
      resolve({ leaf, error: chainError ?? nameError, issuer });
    });
  });
}

const subjectOf = (c: X509Certificate) => c.subject.split("\n").join(", ");
export const issuerOf = (c: X509Certificate) => c.issuer.split("\n").join(", ");

export interface TrustCheck {
  result: CheckResult;
  /** The certificate wharf presented under this name, when the handshake completed. */
  leaf?: X509Certificate;
}

/** The fix, worded for the builder: where wharf's CA goes for this name. */
export function trustFix(host: string, trust: BuilderTrust): string {
  const getCa = "get wharf's CA with `wharf ca export --out wharf-ca.crt` on wharf's host";
  if (isDockerHub(host))
    return (
      `on the builder: ${getCa}, copy it to /usr/local/share/ca-certificates/wharf-ca.crt, run ` +
      `update-ca-certificates (it rebuilds ${trust.systemStore}) and restart dockerd; dockerd ignores ` +
      "certs.d for Docker Hub's names (or use registry-mirrors instead)"
    );
  return `on the builder: ${getCa} and copy it to ${join(trust.certsDir, host, "ca.crt")}`;
}

/**
 * One name: handshake with the address it resolved to, then: does the builder's trust verify it,
 * and (when wharf's CA is known) is the certificate wharf's?
 */
export async function checkTrust(opts: {
  host: string;
  address: string;
  port: number;
  trust: BuilderTrust;
  /** wharf's CA (from --ca or the config); undefined when doctor only knows what wharf presents. */
  ca?: X509Certificate;
  timeoutMs: number;
}): Promise<TrustCheck> {
  const { host, trust } = opts;
  const name = `tls ${host}`;
  const target = `${opts.address.includes(":") ? `[${opts.address}]` : opts.address}:${opts.port}`;
  const cas = await trustedCas(host, trust);
  const where = isDockerHub(host)
    ? `the system trust store ${trust.systemStore} (dockerd reads only that for Docker Hub's names)`
    : `${join(trust.certsDir, host)}/*.crt and the system trust store ${trust.systemStore}`;
  let h: Handshake;
  try {
    h = await handshake({
      name: host.replace(/:\d+$/, ""),
      address: opts.address,
      port: opts.port,
      cas,
      timeoutMs: opts.timeoutMs,
    });
  } catch (e) {
    return {
      result: fail(
        name,
        `${target}: ${reason(e)}`,
        `on the builder: check that ${target} is wharf's TLS listener and reachable from here (firewall, published port)`,
      ),
    };
  }
  const from = issuerOf(h.leaf);
  if (opts.ca && !(h.leaf.checkIssued(opts.ca) && h.leaf.verify(opts.ca.publicKey))) {
    return {
      result: fail(
        name,
        `${target} presents a certificate issued by ${from}, not by wharf's CA ${subjectOf(opts.ca)}`,
        `on the builder: make ${host} resolve to wharf (hosts entry, network alias or wharf's DNS), not to another server`,
      ),
      leaf: h.leaf,
    };
  }
  if (h.error || !h.issuer) {
    // The usual mistake for Docker Hub: the CA sits in certs.d, which dockerd skips for these names.
    const ignored = isDockerHub(host)
      ? (await certsDirCas(host, trust)).find(
          (c) => h.leaf.checkIssued(c.cert) && h.leaf.verify(c.cert.publicKey),
        )
      : undefined;
    const note = ignored
      ? `; ${ignored.file} holds it, but dockerd ignores certs.d for Docker Hub's names`
      : "";
    return {
      result: fail(
        name,
        `${target}: certificate from ${from} is not trusted by ${where}: ${h.error ?? "no trusted issuer"}${note}`,
        trustFix(host, trust),
      ),
      leaf: h.leaf,
    };
  }
  return {
    result: pass(name, `${target}: certificate from ${from}, trusted via ${h.issuer.file}`),
    leaf: h.leaf,
  };
}
