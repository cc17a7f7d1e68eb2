import { X509Certificate } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { rotateCa } from "./ca-rotation.ts";
import { loadOrCreateCa } from "./certificate-authority.ts";
import { LeafCertificates } from "./leaf-certificates.ts";

let tmp: string;
beforeEach(async () => {
  tmp = await mkdtemp(join(tmpdir(), "wharf-rotate-"));
});
afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe("rotateCa", () => {
  it("keeps the old CA aside, creates a new one and drops leaves signed by the old one", async () => {
    const old = await loadOrCreateCa({ dir: tmp, hostname: "h" });
    await new LeafCertificates({
      ca: old,
      dir: tmp,
      groups: { "ghcr.io": ["ghcr.io"] },
      validityMs: 86_400_000,
      renewBeforeMs: 0,
    }).prepare();
    expect(await readdir(join(tmp, "leaves"))).toContain("ghcr.io.crt");

    const now = Date.UTC(2031, 4, 6, 7, 8, 9);
    const { ca, previous } = await rotateCa({ dir: tmp, hostname: "h", now });
    expect(ca.fingerprint256).not.toBe(old.fingerprint256);
    expect(previous?.certFile).toBe(join(tmp, "ca.crt.old-20310506T070809.000Z"));
    expect(new X509Certificate(await readFile(previous?.certFile ?? "", "utf8")).fingerprint256).toBe(
      old.fingerprint256,
    );
    expect((await stat(previous?.keyFile ?? "")).mode & 0o777).toBe(0o600);
    await expect(stat(join(tmp, "leaves"))).rejects.toThrow(/ENOENT/);

    const reloaded = await loadOrCreateCa({ dir: tmp, hostname: "h" });
    expect(reloaded.fingerprint256).toBe(ca.fingerprint256);
  });

  it("creates a CA when there was none", async () => {
    const { ca, previous } = await rotateCa({ dir: join(tmp, "fresh"), hostname: "h" });
    expect(previous).toBeUndefined();
    expect(ca.certPem).toContain("BEGIN CERTIFICATE");
  });
});
