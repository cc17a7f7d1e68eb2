import { X509Certificate } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, createServer, type SecureContext } from "node:tls";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type Ca, loadOrCreateCa } from "./certificate-authority.ts";
import { certName, LeafCertificates } from "./leaf-certificates.ts";

const DAY = 86_400_000;
const GROUPS = {
  "docker.io": ["docker.io", "registry-1.docker.io", "index.docker.io"],
  "ghcr.io": ["ghcr.io", "127.0.0.1", "::1"],
};

let tmp: string;
let ca: Ca;
beforeEach(async () => {
  tmp = await mkdtemp(join(tmpdir(), "wharf-leaf-"));
  ca = await loadOrCreateCa({ dir: tmp, hostname: "test" });
});
afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** The certificate a client sees when it connects with this SNI name, via a real TLS handshake. */
async function servedCertificate(ctx: SecureContext, servername: string): Promise<X509Certificate> {
  const server = createServer({ SNICallback: (_n, cb) => cb(null, ctx) }, (s) => s.end());
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  try {
    return await new Promise((resolve, reject) => {
      const sock = connect({ host: "127.0.0.1", port, servername, ca: ca.certPem }, () => {
        resolve(sock.getPeerX509Certificate() as X509Certificate);
        sock.destroy();
      });
      sock.on("error", reject);
    });
  } finally {
    server.close();
  }
}

function leaves(opts: Partial<ConstructorParameters<typeof LeafCertificates>[0]> = {}): LeafCertificates {
  return new LeafCertificates({
    ca,
    dir: tmp,
    groups: GROUPS,
    validityMs: 90 * DAY,
    renewBeforeMs: 30 * DAY,
    ...opts,
  });
}

describe("LeafCertificates", () => {
  it("maps names to groups case-insensitively and knows nothing else", () => {
    const certs = leaves();
    expect(certs.groupFor("Registry-1.Docker.IO")).toBe("docker.io");
    expect(certs.groupFor("index.docker.io.")).toBe("docker.io");
    expect(certs.groupFor("::1")).toBe("ghcr.io");
    expect(certs.groupFor("quay.io")).toBeUndefined();
    expect(certs.groupFor(undefined)).toBeUndefined();
    expect(certs.secureContextFor("quay.io")).toBeUndefined();
    expect(certName("[::1]:443")).toBe("::1");
    expect(certName("localhost:5000")).toBe("localhost");
  });

  it("serves one certificate per group that verifies for every alias", async () => {
    const certs = leaves();
    await certs.prepare();
    for (const [group, names] of Object.entries(GROUPS)) {
      for (const name of names.filter((n) => !n.includes(":") && !/^\d/.test(n))) {
        const ctx = certs.secureContextFor(name.toUpperCase());
        expect(ctx, name).toBeDefined();
        const x509 = await servedCertificate(ctx as SecureContext, name);
        expect(x509.checkHost(name)).toBe(name);
        expect(ca.issued(x509)).toBe(true);
        for (const other of names) {
          expect(x509.checkHost(other) ?? x509.checkIP(other), `${group} covers ${other}`).toBeDefined();
        }
      }
    }
    expect(() => new LeafCertificates({ ...optsOf(), groups: { a: ["x.test"], b: ["X.test"] } })).toThrow(
      /both/,
    );
  });

  it("caches leaves on disk with a private key and reuses them on the next start", async () => {
    await leaves().prepare();
    const dir = join(tmp, "leaves");
    expect((await readdir(dir)).sort()).toEqual([
      "docker.io.crt",
      "docker.io.key",
      "ghcr.io.crt",
      "ghcr.io.key",
    ]);
    expect((await stat(join(dir, "docker.io.key"))).mode & 0o777).toBe(0o600);
    const before = await readFile(join(dir, "docker.io.crt"), "utf8");

    await leaves().prepare();
    expect(await readFile(join(dir, "docker.io.crt"), "utf8")).toBe(before);

    // Names changed: a new certificate is issued for that group only.
    const ghcr = await readFile(join(dir, "ghcr.io.crt"), "utf8");
    await leaves({ groups: { ...GROUPS, "docker.io": ["docker.io", "mirror.example.test"] } }).prepare();
    const changed = new X509Certificate(await readFile(join(dir, "docker.io.crt"), "utf8"));
    expect(changed.checkHost("mirror.example.test")).toBe("mirror.example.test");
    expect(await readFile(join(dir, "ghcr.io.crt"), "utf8")).toBe(ghcr);
  });

  it("replaces cached leaves signed by another CA and corrupt files", async () => {
    await leaves().prepare();
    const dir = join(tmp, "leaves");
    await writeFile(join(dir, "ghcr.io.crt"), "garbage");
    const otherCa = await loadOrCreateCa({ dir: join(tmp, "other"), hostname: "other" });
    const foreign = otherCa.issueLeaf(GROUPS["docker.io"], 90 * DAY);
    await writeFile(join(dir, "docker.io.crt"), foreign.certPem);
    await writeFile(join(dir, "docker.io.key"), foreign.keyPem);

    await leaves().prepare();
    for (const group of Object.keys(GROUPS)) {
      expect(ca.issued(new X509Certificate(await readFile(join(dir, `${group}.crt`), "utf8")))).toBe(true);
    }
  });

  it("renews near expiry on access and with renewDue, without a restart", async () => {
    let now = Date.now();
    const certs = leaves({ now: () => now });
    await certs.prepare();
    const first =
      certs
        .status()
        .find((s) => s.group === "ghcr.io")
        ?.notAfter?.getTime() ?? 0;
    expect(
      certs
        .status()
        .find((s) => s.group === "docker.io")
        ?.notAfter?.getTime(),
    ).toBe(first);
    expect(first).toBeGreaterThan(now + 89 * DAY);

    now += 50 * DAY; // not yet inside the 30-day window: same certificate
    certs.secureContextFor("ghcr.io");
    await certs.renewDue();
    expect(
      certs
        .status()
        .find((s) => s.group === "ghcr.io")
        ?.notAfter?.getTime(),
    ).toBe(first);

    now += 15 * DAY; // 25 days left: access starts a background renewal, old certificate still served
    expect(certs.secureContextFor("ghcr.io")).toBeDefined();
    const notAfter = (g: string) =>
      certs
        .status()
        .find((s) => s.group === g)
        ?.notAfter?.getTime() ?? 0;
    await vi.waitFor(() => expect(notAfter("ghcr.io")).toBeGreaterThan(now + 89 * DAY), { timeout: 5000 });
    const renewed = notAfter("ghcr.io");
    await vi.waitFor(async () => {
      const onDisk = new X509Certificate(await readFile(join(tmp, "leaves", "ghcr.io.crt"), "utf8"));
      expect(Date.parse(onDisk.validTo)).toBe(renewed);
    });
    expect(notAfter("docker.io")).toBe(first); // not accessed: still the old one
    await certs.renewDue(); // the timer's job: renews what access did not
    expect(notAfter("docker.io")).toBeGreaterThan(now + 89 * DAY);
    expect(notAfter("ghcr.io")).toBe(renewed);

    now += 200 * DAY; // long expired (the server was asleep): issued synchronously on access
    const ctx = certs.secureContextFor("ghcr.io");
    expect(ctx).toBeDefined();
    expect(notAfter("ghcr.io")).toBeGreaterThan(now);
    await vi.waitFor(async () => {
      const onDisk = new X509Certificate(await readFile(join(tmp, "leaves", "ghcr.io.crt"), "utf8"));
      expect(Date.parse(onDisk.validTo)).toBe(notAfter("ghcr.io"));
    });
  });

  it("renews every leaf on renewAll", async () => {
    const certs = leaves();
    await certs.prepare();
    const file = join(tmp, "leaves", "docker.io.crt");
    const before = await readFile(file, "utf8");
    await certs.renewAll();
    const after = await readFile(file, "utf8");
    expect(after).not.toBe(before);
    expect(ca.issued(new X509Certificate(after))).toBe(true);
  });

  it("renews from an unref'd timer once started, and stops", async () => {
    let now = Date.now();
    const certs = leaves({ now: () => now, checkIntervalMs: 1000 });
    await certs.prepare();
    const file = join(tmp, "leaves", "ghcr.io.crt");
    const before = await readFile(file, "utf8");
    now += 80 * DAY;
    certs.start();
    certs.start(); // idempotent
    try {
      await vi.waitFor(async () => expect(await readFile(file, "utf8")).not.toBe(before), { timeout: 5000 });
    } finally {
      await certs.stop(); // a renewal of another group may still be writing its files
    }
  });

  it("clamps validity to a year", async () => {
    const certs = leaves({ validityMs: 3 * 365 * DAY });
    await certs.prepare();
    const notAfter = certs.status()[0]?.notAfter?.getTime() ?? 0;
    expect(notAfter).toBeLessThanOrEqual(Date.now() + 365 * DAY);
  });
});

function optsOf() {
  return { ca, dir: tmp, groups: GROUPS, validityMs: 90 * DAY, renewBeforeMs: 30 * DAY };
}

describe("near the CA's own expiry", () => {
  it("does not re-issue a leaf that cannot outlive the CA on every handshake", async () => {
    const dir = await mkdtemp(join(tmpdir(), "wharf-leaf-ca-end-"));
    const caNow = Date.now();
    const ca = await loadOrCreateCa({ dir, hostname: "t", now: caNow });
    let now = ca.notAfter.getTime() - 10 * 86_400_000;
    const issued: unknown[] = [];
    const leaves = new LeafCertificates({
      ca,
      dir,
      groups: { "ghcr.io": ["ghcr.io"] },
      validityMs: 90 * 86_400_000,
      renewBeforeMs: 30 * 86_400_000,
      now: () => now,
      log: { info: (o: unknown) => issued.push(o), warn: () => {} },
    });
    await leaves.prepare();
    expect(issued).toHaveLength(1);
    for (let i = 0; i < 20; i++) leaves.secureContextFor("ghcr.io");
    await leaves.renewDue();
    expect(issued).toHaveLength(1);
    now += 1000;
    expect(leaves.secureContextFor("ghcr.io")).toBeDefined();
    expect(issued).toHaveLength(1);
  });
});
