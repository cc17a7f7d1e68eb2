import { describe, expect, it } from "vitest";
import { buildConfig } from "../config/load-config.ts";
import { containerdHostsConfig } from "./containerd-hosts.ts";
import { parseTomlSubset } from "./toml-subset.test-support.ts";

const CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const { config } = buildConfig({
  listen: { http: "0.0.0.0:5000", https: "0.0.0.0:8443" },
  registries: {
    "docker.io": { upstream: "https://registry-1.docker.io", aliases: ["registry-1.docker.io"] },
    "ghcr.io": { upstream: "https://ghcr.io/" },
    "quay.io": { upstream: "https://quay.io", intercept: false },
  },
});

function file(files: { path: string; content: string }[], path: string): string {
  const f = files.find((x) => x.path === path);
  if (!f) throw new Error(`missing ${path}; have ${files.map((x) => x.path).join(", ")}`);
  return f.content;
}

describe("containerdHostsConfig", () => {
  const installDir = "/etc/containerd/certs.d";

  it("gives a hosted registry no server (wharf is its only one) and lets it push through wharf", () => {
    const hosted = buildConfig({
      listen: { http: "0.0.0.0:5000" },
      defaultRegistry: "registry.internal",
      registries: { "registry.internal": { hosted: {} } },
    }).config;
    const { files } = containerdHostsConfig({ config: hosted, caPem: CA, address: "10.1.2.3", installDir });
    expect(parseTomlSubset(file(files, "certs.d/registry.internal/hosts.toml"))).toEqual({
      // the default server, https://registry.internal, is wharf's TLS gateway (its DNS answers it)
      ca: "/etc/containerd/certs.d/registry.internal/ca.crt",
      host: { "http://10.1.2.3:5000": { capabilities: ["pull", "resolve", "push"] } },
    });
  });

  it("points every registry and _default at the plain-HTTP mirror", () => {
    const { files, notes } = containerdHostsConfig({ config, caPem: CA, address: "10.1.2.3", installDir });
    const docker = parseTomlSubset(file(files, "certs.d/docker.io/hosts.toml"));
    expect(docker).toEqual({
      server: "https://registry-1.docker.io",
      ca: "/etc/containerd/certs.d/docker.io/ca.crt",
      host: { "http://10.1.2.3:5000": { capabilities: ["pull", "resolve"] } },
    });
    expect(parseTomlSubset(file(files, "certs.d/ghcr.io/hosts.toml")).server).toBe("https://ghcr.io");
    // Not intercepted: wharf's DNS never answers quay.io, so its server needs no CA.
    expect(parseTomlSubset(file(files, "certs.d/quay.io/hosts.toml"))).toEqual({
      server: "https://quay.io",
      host: { "http://10.1.2.3:5000": { capabilities: ["pull", "resolve"] } },
    });
    expect(parseTomlSubset(file(files, "certs.d/_default/hosts.toml"))).toEqual({
      host: { "http://10.1.2.3:5000": { capabilities: ["pull", "resolve"] } },
    });
    expect(file(files, "certs.d/docker.io/ca.crt")).toBe(CA);
    expect(files.some((f) => f.path === "certs.d/quay.io/ca.crt")).toBe(false);
    expect(notes.join("\n")).toContain("config_path");
  });

  it("uses the TLS listener with a ca per host when asked", () => {
    const { files, notes } = containerdHostsConfig({
      config,
      caPem: CA,
      address: "wharf.internal",
      https: true,
      installDir,
    });
    for (const dir of ["docker.io", "ghcr.io", "quay.io", "_default"]) {
      const toml = parseTomlSubset(file(files, `certs.d/${dir}/hosts.toml`));
      expect(toml.host).toEqual({
        "https://wharf.internal:8443": {
          capabilities: ["pull", "resolve"],
          ca: `/etc/containerd/certs.d/${dir}/ca.crt`,
        },
      });
      expect(file(files, `certs.d/${dir}/ca.crt`)).toBe(CA);
    }
    expect(notes.join("\n")).not.toContain("SNI");
    const byIp = containerdHostsConfig({ config, caPem: CA, address: "fd00::5", https: true, installDir });
    expect(
      Object.keys(parseTomlSubset(file(byIp.files, "certs.d/ghcr.io/hosts.toml")).host as object),
    ).toEqual(["https://[fd00::5]:8443"]);
    expect(byIp.notes.join("\n")).toContain("SNI");
  });

  it("refuses a mirror endpoint whose listener is off", () => {
    const off = buildConfig({ listen: { http: null } }).config;
    expect(() => containerdHostsConfig({ config: off, caPem: CA, address: "10.1.2.3", installDir })).toThrow(
      /listen\.http is off/,
    );
  });
});
