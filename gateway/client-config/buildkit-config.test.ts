import { describe, expect, it } from "vitest";
import { buildConfig } from "../config/load-config.ts";
import { buildkitConfig } from "./buildkit-config.ts";
import { parseTomlSubset } from "./toml-subset.test-support.ts";

const CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const { config } = buildConfig({
  listen: { http: "0.0.0.0:5000", https: "0.0.0.0:443" },
  registries: {
    "docker.io": { upstream: "https://registry-1.docker.io", aliases: ["registry-1.docker.io"] },
    "quay.io": { upstream: "https://quay.io", intercept: false },
  },
});

describe("buildkitConfig", () => {
  it("mirrors every registry through the plain-HTTP endpoint and trusts the CA for intercepted names", () => {
    const { files, notes } = buildkitConfig({
      config,
      caPem: CA,
      address: "10.1.2.3",
      installDir: "/etc/buildkit",
    });
    expect(files.find((f) => f.path === "ca.crt")?.content).toBe(CA);
    const toml = parseTomlSubset(files.find((f) => f.path === "buildkitd.toml")?.content ?? "");
    expect(toml).toEqual({
      registry: {
        "docker.io": { mirrors: ["10.1.2.3:5000"], ca: ["/etc/buildkit/ca.crt"] },
        "registry-1.docker.io": { ca: ["/etc/buildkit/ca.crt"] },
        "quay.io": { mirrors: ["10.1.2.3:5000"] },
        "10.1.2.3:5000": { http: true },
      },
    });
    expect(notes.join("\n")).toContain("/etc/buildkit/ca.crt");
  });

  it("uses the TLS endpoint (port 443 implied) with the CA when asked", () => {
    const { files } = buildkitConfig({
      config,
      caPem: CA,
      address: "wharf.internal",
      https: true,
      installDir: "/etc/buildkit",
    });
    const toml = parseTomlSubset(files.find((f) => f.path === "buildkitd.toml")?.content ?? "");
    const registry = toml.registry as Record<string, Record<string, unknown>>;
    expect(registry["docker.io"]?.mirrors).toEqual(["wharf.internal"]);
    expect(registry["wharf.internal"]).toEqual({ ca: ["/etc/buildkit/ca.crt"] });
  });
});
