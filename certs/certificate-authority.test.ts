import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadOrCreateCa } from "./certificate-authority.ts";

let tmp: string;
beforeEach(async () => {
  tmp = await mkdtemp(join(tmpdir(), "wharf-ca-"));
});
afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

function openssl(args: string[], cwd = tmp): string {
  return execFileSync("openssl", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

describe("loadOrCreateCa", () => {
  it("creates the CA once, with private modes, and reuses it", async () => {
    const dir = join(tmp, "data");
    const ca = await loadOrCreateCa({ dir, hostname: "builder-7" });
    expect(ca.subject).toBe("CN=wharf local CA builder-7, O=wharf");
    expect(ca.external).toBe(false);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(dir, "ca.key"))).mode & 0o777).toBe(0o600);
    expect(await readFile(join(dir, "ca.crt"), "utf8")).toBe(ca.certPem);
    const years = (ca.notAfter.getTime() - ca.notBefore.getTime()) / (365.25 * 86_400_000);
    expect(years).toBeGreaterThan(9.9);

    const again = await loadOrCreateCa({ dir, hostname: "other-name" });
    expect(again.fingerprint256).toBe(ca.fingerprint256);
    expect(again.subject).toBe(ca.subject);
  });

  it("writes a CA certificate with the extensions clients check", async () => {
    const ca = await loadOrCreateCa({ dir: tmp, hostname: "h" });
    const text = openssl(["x509", "-in", "ca.crt", "-noout", "-text"]);
    expect(text).toMatch(/Basic Constraints: critical\s+CA:TRUE/);
    expect(text).toMatch(/Key Usage: critical\s+Certificate Sign, CRL Sign/);
    expect(text).toContain("Subject Key Identifier");
    const fp = openssl(["x509", "-in", "ca.crt", "-noout", "-fingerprint", "-sha256"]);
    expect(fp.trim().split("=").pop()).toBe(ca.fingerprint256);
  });

  it("issues leaves that verify for every name, with openssl too", async () => {
    const ca = await loadOrCreateCa({ dir: tmp, hostname: "h" });
    const names = ["registry-1.docker.io", "docker.io", "index.docker.io", "127.0.0.1", "::1"];
    const leaf = ca.issueLeaf(names, 90 * 86_400_000);
    const x509 = new X509Certificate(leaf.certPem);
    expect(ca.issued(x509)).toBe(true);
    for (const n of names.slice(0, 3)) expect(x509.checkHost(n)).toBe(n);
    expect(x509.checkIP("127.0.0.1")).toBe("127.0.0.1");
    expect(x509.checkIP("::1")).toBe("::1");
    expect(x509.checkHost("ghcr.io")).toBeUndefined();
    expect(x509.checkPrivateKey((await import("node:crypto")).createPrivateKey(leaf.keyPem))).toBe(true);
    await writeFile(join(tmp, "leaf.crt"), leaf.certPem);
    expect(openssl(["verify", "-CAfile", "ca.crt", "-purpose", "sslserver", "leaf.crt"])).toContain(
      "leaf.crt: OK",
    );
  });

  it("clamps leaf validity to one year and to the CA's own expiry", async () => {
    const now = Date.UTC(2030, 0, 1);
    const ca = await loadOrCreateCa({ dir: tmp, hostname: "h", now });
    const long = ca.issueLeaf(["a.test"], 5 * 365 * 86_400_000, now);
    expect(long.notAfter.getTime()).toBe(now + 365 * 86_400_000);
    const late = ca.issueLeaf(["a.test"], 300 * 86_400_000, ca.notAfter.getTime() - 86_400_000);
    expect(late.notAfter.getTime()).toBe(ca.notAfter.getTime());
  });

  it("refuses a half-present CA instead of overwriting it", async () => {
    await loadOrCreateCa({ dir: tmp, hostname: "h" });
    await rm(join(tmp, "ca.key"));
    await expect(loadOrCreateCa({ dir: tmp, hostname: "h" })).rejects.toThrow(
      /found .*ca\.crt but not .*ca\.key/,
    );
  });
});

describe("bring-your-own CA", () => {
  async function makeEcCa(name: string): Promise<{ certFile: string; keyFile: string }> {
    openssl([
      "req",
      "-x509",
      "-new",
      "-nodes",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.crt`,
      "-days",
      "30",
      "-subj",
      `/CN=${name}/O=acme`,
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    return { certFile: join(tmp, `${name}.crt`), keyFile: join(tmp, `${name}.key`) };
  }

  it("signs leaves with an operator's EC CA that openssl accepts", async () => {
    const files = await makeEcCa("acme-ca");
    const ca = await loadOrCreateCa({ dir: join(tmp, "unused"), hostname: "h", ...files });
    expect(ca.external).toBe(true);
    expect(ca.subject).toBe("CN=acme-ca, O=acme");
    const leaf = ca.issueLeaf(["ghcr.io"], 86_400_000);
    await writeFile(join(tmp, "leaf.crt"), leaf.certPem);
    expect(openssl(["verify", "-CAfile", "acme-ca.crt", "leaf.crt"])).toContain("OK");
    // The leaf's authorityKeyIdentifier must equal the CA's subjectKeyIdentifier, or chain building fails.
    const ski = openssl(["x509", "-in", "acme-ca.crt", "-noout", "-ext", "subjectKeyIdentifier"]).split(
      "\n",
    )[1];
    const aki = openssl(["x509", "-in", "leaf.crt", "-noout", "-ext", "authorityKeyIdentifier"]).split(
      "\n",
    )[1];
    expect(aki?.trim()).toBe(ski?.trim());
  });

  it("explains missing, mismatched, non-CA and garbage files without echoing key material", async () => {
    const a = await makeEcCa("a");
    const b = await makeEcCa("b");
    const base = { dir: tmp, hostname: "h" };
    await expect(
      loadOrCreateCa({ ...base, certFile: join(tmp, "nope.crt"), keyFile: a.keyFile }),
    ).rejects.toThrow(/cannot read CA certificate .*nope\.crt \(ENOENT\)/);
    await expect(loadOrCreateCa({ ...base, certFile: a.certFile })).rejects.toThrow(/both/);
    await expect(loadOrCreateCa({ ...base, certFile: a.certFile, keyFile: b.keyFile })).rejects.toThrow(
      /does not match/,
    );
    const ca = await loadOrCreateCa({ ...base, ...a });
    await writeFile(join(tmp, "leaf.crt"), ca.issueLeaf(["x.test"], 86_400_000).certPem);
    await expect(
      loadOrCreateCa({ ...base, certFile: join(tmp, "leaf.crt"), keyFile: a.keyFile }),
    ).rejects.toThrow(/not a CA certificate/);
    const secret = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END PRIVATE KEY-----\n";
    await writeFile(join(tmp, "bad.key"), secret);
    const err = await loadOrCreateCa({ ...base, certFile: a.certFile, keyFile: join(tmp, "bad.key") }).catch(
      (e: Error) => e,
    );
    expect(String(err)).toMatch(/not an unencrypted PEM private key/);
    expect(String(err)).not.toContain("c2VjcmV0");
  });
});
