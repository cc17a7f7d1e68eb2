import { X509Certificate } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { loadOrCreateCa } from "../../certs/certificate-authority.ts";
import { runCli } from "./run-cli.test-support.ts";

let tmp: string;
let configFile: string;
beforeEach(async () => {
  tmp = await mkdtemp(join(tmpdir(), "wharf-client-config-"));
  configFile = join(tmp, "wharf.yaml");
  await writeFile(configFile, `dataDir: ${JSON.stringify(join(tmp, "data"))}\ndns: {answer: [10.4.4.4]}\n`);
  await loadOrCreateCa({ dir: join(tmp, "data"), hostname: "test" }); // as `wharf serve` does
});
afterEach(async () => {
  vi.restoreAllMocks();
  await rm(tmp, { recursive: true, force: true });
});

const cli = runCli;
const caPem = () => readFile(join(tmp, "data", "ca.crt"), "utf8");

describe("wharf client-config", () => {
  it("never creates a CA: without the server's one it fails clearly and writes nothing", async () => {
    await rm(join(tmp, "data"), { recursive: true });
    const out = join(tmp, "docker");
    const r = await cli("client-config", "docker", "--out", out, "--config", configFile);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`no CA at ${join(tmp, "data", "ca.crt")} (dataDir of ${configFile})`);
    await expect(readFile(join(tmp, "data", "ca.crt"))).rejects.toThrow();
    await expect(readFile(join(out, "ca.crt"))).rejects.toThrow();
  });

  it("without --config or WHARF_CONFIG, says it used the embedded defaults", async () => {
    const cwd = process.cwd();
    const empty = join(tmp, "elsewhere");
    await mkdir(empty);
    process.chdir(empty); // the embedded defaults' dataDir is ./data
    try {
      const r = await runCli("client-config", "docker", "--out", join(tmp, "x"));
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("the embedded defaults: no --config, no WHARF_CONFIG");
      await expect(readFile(join(empty, "data", "ca.crt"))).rejects.toThrow();
    } finally {
      process.chdir(cwd);
    }
  });

  it("docker: certs.d holds wharf's CA for every intercepted host", async () => {
    const out = join(tmp, "docker");
    const r = await cli("client-config", "docker", "--out", out, "--config", configFile);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("update-ca-certificates");
    for (const host of [
      "docker.io",
      "registry-1.docker.io",
      "index.docker.io",
      "ghcr.io",
      "registry.gitlab.com",
    ]) {
      const pem = await readFile(join(out, "certs.d", host, "ca.crt"), "utf8");
      expect(pem).toBe(await caPem());
      expect(new X509Certificate(pem).ca).toBe(true);
    }
  });

  it("containerd: hosts.toml per registry with the default address, and a ca path that exists", async () => {
    const out = join(tmp, "ctd");
    expect((await cli("client-config", "containerd", "--out", out, "--config", configFile)).code).toBe(0);
    const toml = await readFile(join(out, "certs.d", "ghcr.io", "hosts.toml"), "utf8");
    expect(toml).toContain('server = "https://ghcr.io"');
    expect(toml).toContain('[host."http://10.4.4.4:5000"]');
    const caPath = /^ca = "(.+)"$/m.exec(toml)?.[1] ?? "";
    expect(caPath).toBe(join(out, "certs.d", "ghcr.io", "ca.crt"));
    expect(await readFile(caPath, "utf8")).toBe(await caPem());
    expect(await readFile(join(out, "certs.d", "_default", "hosts.toml"), "utf8")).toContain("10.4.4.4:5000");
  });

  it("buildkit: buildkitd.toml and ca.crt, paths from --install-dir", async () => {
    const out = join(tmp, "bk");
    const args = [
      "client-config",
      "buildkit",
      "--out",
      out,
      "--address",
      "wharf.lan",
      "--install-dir",
      "/etc/bk",
    ];
    expect((await cli(...args, "--config", configFile)).code).toBe(0);
    const toml = await readFile(join(out, "buildkitd.toml"), "utf8");
    expect(toml).toContain('mirrors = ["wharf.lan:5000"]');
    expect(toml).toContain('ca = ["/etc/bk/ca.crt"]');
    expect(await readFile(join(out, "ca.crt"), "utf8")).toBe(await caPem());
  });

  it("daemon-json: JSON on stdout, notes on stderr", async () => {
    const r = await cli("client-config", "daemon-json", "--address", "10.0.0.9", "--config", configFile);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ "registry-mirrors": ["http://10.0.0.9:5000"] });
    expect(r.stderr).toContain("daemon.json");
  });

  it("rejects an unknown kind", async () => {
    expect((await cli("client-config", "podman", "--config", configFile)).code).toBe(2);
  });
});
