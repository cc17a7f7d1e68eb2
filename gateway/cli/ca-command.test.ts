import { spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { loadOrCreateCa } from "../../certs/certificate-authority.ts";
import { runCli } from "./run-cli.test-support.ts";

let tmp: string;
let configFile: string;
beforeEach(async () => {
  tmp = await mkdtemp(join(tmpdir(), "wharf-ca-cli-"));
  configFile = join(tmp, "wharf.yaml");
  await writeFile(configFile, `dataDir: ${JSON.stringify(join(tmp, "data"))}\n`);
  // what `wharf serve` does on its first start: one-shot commands only read the CA
  await loadOrCreateCa({ dir: join(tmp, "data"), hostname: "test" });
});
afterEach(async () => {
  vi.restoreAllMocks();
  await rm(tmp, { recursive: true, force: true });
});

const cli = runCli;

describe("wharf ca", () => {
  it("show and export never create a CA: without one they fail, naming the config to use", async () => {
    await rm(join(tmp, "data"), { recursive: true });
    for (const cmd of [["show"], ["export"]]) {
      const r = await cli("ca", ...cmd, "--config", configFile);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`no CA at ${join(tmp, "data", "ca.crt")}`);
      expect(r.stderr).toContain(configFile);
      expect(r.stderr).toContain("Only `wharf serve` creates it");
    }
    await expect(stat(join(tmp, "data"))).rejects.toThrow();
  });

  it("show reports the server's CA", async () => {
    const first = await cli("ca", "show", "--config", configFile);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^subject: +CN=wharf local CA .+, O=wharf$/m);
    expect(first.stdout).toContain(join(tmp, "data", "ca.crt"));
    const pem = await readFile(join(tmp, "data", "ca.crt"), "utf8");
    expect(first.stdout).toContain(new X509Certificate(pem).fingerprint256);
    const again = await cli("ca", "show", "--config", configFile, "--json");
    expect(JSON.parse(again.stdout)).toMatchObject({
      fingerprint256: new X509Certificate(pem).fingerprint256,
    });
  });

  it("export writes the PEM to stdout or to a file", async () => {
    const { stdout } = await cli("ca", "export", "--config", configFile);
    expect(stdout).toBe(await readFile(join(tmp, "data", "ca.crt"), "utf8"));
    const out = join(tmp, "exported.crt");
    expect((await cli("ca", "export", "--config", configFile, "--out", out)).code).toBe(0);
    expect(await readFile(out, "utf8")).toBe(stdout);
  });

  it("rotate replaces the CA and says builders need the new one", async () => {
    const before = (await cli("ca", "export", "--config", configFile)).stdout;
    const rotated = await cli("ca", "rotate", "--config", configFile);
    expect(rotated.code).toBe(0);
    expect(rotated.stdout).toContain("Every builder must now trust the new CA");
    const after = (await cli("ca", "export", "--config", configFile)).stdout;
    expect(after).not.toBe(before);
    expect((await readdir(join(tmp, "data"))).some((f) => f.startsWith("ca.crt.old-"))).toBe(true);
  });

  it("rotate refuses a bring-your-own CA", async () => {
    await writeFile(
      configFile,
      `dataDir: ${JSON.stringify(tmp)}\ntls: {caCertFile: /nonexistent.crt, caKeyFile: /nonexistent.key}\n`,
    );
    const r = await cli("ca", "rotate", "--config", configFile);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("only rotates the CA it created");
  });

  it("works through bin/wharf.mjs without the server", async () => {
    const root = fileURLToPath(new URL("../..", import.meta.url));
    const r = spawnSync(
      process.execPath,
      [join(root, "bin", "wharf.mjs"), "ca", "show", "--config", configFile],
      {
        encoding: "utf8",
        timeout: 30_000,
      },
    );
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("sha256:");
    expect((await stat(join(tmp, "data", "ca.key"))).mode & 0o777).toBe(0o600);
  });
});
