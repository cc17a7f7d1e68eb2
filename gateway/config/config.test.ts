import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildConfig, loadConfig } from "./load-config.ts";
import { parseDuration, parseSize } from "./units.ts";

function message(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  return "no error";
}

describe("units", () => {
  it("parses durations and sizes", () => {
    expect(parseDuration("5m")).toBe(300_000);
    expect(parseDuration("1h30m")).toBe(5_400_000);
    expect(parseDuration(30)).toBe(30_000);
    expect(parseDuration("5 minutes")).toBeUndefined();
    expect(parseSize("50GiB")).toBe(50 * 2 ** 30);
    expect(parseSize("500MB")).toBe(500e6);
    expect(parseSize("12 parsecs")).toBeUndefined();
  });
});

describe("config", () => {
  it("embedded defaults serve the three big registries", () => {
    const { config } = buildConfig({});
    expect(Object.keys(config.registries)).toEqual(["docker.io", "ghcr.io", "registry.gitlab.com"]);
    expect(config.registries["docker.io"]?.tagTtl).toBe(300_000);
    expect(config.upstreamDns).toEqual({ host: "8.8.8.8", port: 53 });
    expect(Object.isFrozen(config.registries)).toBe(true);
  });
  it("names the key and the problem", () => {
    expect(message(() => buildConfig({ listen: { http: "nope" } }))).toMatch(
      /^listen\.http: expected "host:port"/,
    );
    expect(
      message(() =>
        buildConfig({ registries: { "ghcr.io": { upstream: "https://ghcr.io", tagTtl: "soon" } } }),
      ),
    ).toMatch(/^registries\.ghcr\.io\.tagTtl: expected a duration/);
    expect(message(() => buildConfig({ cache: { maxSize: "lots" } }))).toMatch(
      /^cache\.maxSize: expected a size/,
    );
    expect(message(() => buildConfig({ typo: 1 }))).toMatch(/unknown key "typo"/);
    expect(message(() => buildConfig({ defaultRegistry: "quay.io" }))).toMatch(/^defaultRegistry:/);
    expect(
      message(() =>
        buildConfig({
          registries: {
            "a.io": { upstream: "https://a" },
            "b.io": { upstream: "https://b", aliases: ["a.io"] },
          },
          defaultRegistry: "a.io",
        }),
      ),
    ).toMatch(/already used by a.io/);
  });
  it("pins tags with never and accepts 0", () => {
    const { config } = buildConfig({
      registries: {
        "a.io": { upstream: "https://a", tagTtl: "never", repositories: [{ match: "base/*", tagTtl: 0 }] },
      },
      defaultRegistry: "a.io",
    });
    expect(config.registries["a.io"]?.tagTtl).toBe(Number.POSITIVE_INFINITY);
    expect(config.registries["a.io"]?.repositories[0]?.tagTtl).toBe(0);
  });
  it("resolves credentials from env and files, and never keeps them in the config", () => {
    const dir = mkdtempSync(join(tmpdir(), "wharf-cfg-"));
    writeFileSync(join(dir, "pw"), "file-secret\n");
    const doc = {
      defaultRegistry: "a.io",
      registries: {
        "a.io": { upstream: "https://a", auth: { username: "u1", passwordEnv: "A_PW" } },
        "b.io": { upstream: "https://b", auth: { username: "u2", passwordFile: join(dir, "pw") } },
        "c.io": { upstream: "https://c", auth: { username: "u3", password: "inline-secret" } },
      },
    };
    const loaded = buildConfig(doc, { A_PW: "env-secret" });
    expect(loaded.credentials.get("a.io")?.password.reveal()).toBe("env-secret");
    expect(loaded.credentials.get("b.io")?.password.reveal()).toBe("file-secret");
    const dump =
      JSON.stringify(loaded) +
      JSON.stringify(loaded.config) +
      JSON.stringify([...loaded.credentials.values()]);
    for (const s of ["env-secret", "file-secret", "inline-secret"]) expect(dump).not.toContain(s);
    expect(message(() => buildConfig(doc, {}))).toMatch(/A_PW is not set/);
  });
  it("reports YAML errors with file and line", () => {
    const dir = mkdtempSync(join(tmpdir(), "wharf-cfg-"));
    const file = join(dir, "bad.yml");
    writeFileSync(file, "listen:\n  http: [unclosed\n");
    expect(message(() => loadConfig(file, {}))).toMatch(/bad\.yml:\d+:\d+/);
    expect(message(() => loadConfig(join(dir, "missing.yml"), {}))).toMatch(
      /cannot read config file .*ENOENT/,
    );
  });
});

describe("hosted registries", () => {
  it("a registry is upstream: or hosted:, and hosted has defaults", () => {
    const { config } = buildConfig({
      registries: {
        "docker.io": { upstream: "https://registry-1.docker.io" },
        "registry.internal": { hosted: {}, aliases: ["wharf.example.internal"] },
      },
    });
    expect(config.registries["registry.internal"]?.hosted).toEqual({
      allowDelete: false,
      anonymousPull: true,
      uploadTtl: 24 * 3_600_000,
    });
    expect(config.registries["registry.internal"]?.upstream).toBeUndefined();
    expect(config.registries["docker.io"]?.hosted).toBeUndefined();
  });
  it("names the key when neither or both are given", () => {
    expect(message(() => buildConfig({ registries: { "a.internal": {} } }))).toMatch(
      /registries\.a\.internal\.upstream: give either upstream .* or hosted/,
    );
    expect(
      message(() =>
        buildConfig({ registries: { "a.internal": { upstream: "https://a.example", hosted: {} } } }),
      ),
    ).toMatch(/registries\.a\.internal\.hosted: give either upstream or hosted, not both/);
    expect(
      message(() =>
        buildConfig({
          registries: { "a.internal": { hosted: {}, auth: { username: "u", password: "p" } } },
        }),
      ),
    ).toMatch(/registries\.a\.internal\.auth: .*hosted registry has none/);
    expect(
      message(() => buildConfig({ registries: { "a.internal": { hosted: { uploadTtl: "soon" } } } })),
    ).toMatch(/registries\.a\.internal\.hosted\.uploadTtl: expected a duration/);
  });
});
