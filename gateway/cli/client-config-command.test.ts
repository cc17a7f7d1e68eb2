import { X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { isWharfError } from "../errors.ts";
import { registerClientConfigCommand } from "./client-config-command.ts";

let tmp: string;
let configFile: string;
beforeEach(async () => {
  tmp = await mkdtemp(join(tmpdir(), "wharf-client-config-"));
  configFile = join(tmp, "wharf.yaml");
  await writeFile(configFile, `dataDir: ${JSON.stringify(join(tmp, "data"))}\ndns: {answer: [10.4.4.4]}\n`);
});
afterEach(async () => {
  vi.restoreAllMocks();
  await rm(tmp, { recursive: true, force: true });
});

/** Parses `args` with only this command registered; exit codes as in main.ts (2 usage/config, 1 failure). */
async function run(args: string[]): Promise<number> {
  const program = new Command("wharf")
    .exitOverride()
    .configureOutput({ writeErr: () => {}, writeOut: () => {} });
  registerClientConfigCommand(program);
  try {
    await program.parseAsync(args, { from: "user" });
    return 0;
  } catch (e) {
    if (isWharfError(e, "CONFIG_INVALID")) process.stderr.write(`wharf: config: ${e.message}\n`);
    else if (e instanceof Error && !("exitCode" in e)) process.stderr.write(`wharf: ${e.message}\n`);
    return isWharfError(e, "CONFIG_INVALID") || (e instanceof Error && "exitCode" in e) ? 2 : 1;
  }
}

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
    stdout += String(chunk);
    return true;
  });
  vi.spyOn(process.stderr, "write").mockImplementation((chunk) => {
    stderr += String(chunk);
    return true;
  });
  try {
    const code = await run(args);
    return { code, stdout, stderr };
  } finally {
    vi.restoreAllMocks();
  }
}

const caPem = () => readFile(join(tmp, "data", "ca.crt"), "utf8");

describe("wharf client-config", () => {
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
