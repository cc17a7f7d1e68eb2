import { describe, expect, it } from "vitest";
import { interceptedHosts, interceptedNames } from "./intercepted-names.ts";
import { buildConfig } from "./load-config.ts";

describe("intercepted names", () => {
  const { config } = buildConfig({
    defaultRegistry: "docker.io",
    dns: { extraNames: ["wharf.internal", "docker.io"] },
    registries: {
      "docker.io": { upstream: "https://registry-1.docker.io", aliases: ["registry-1.docker.io"] },
      "harbor.local:8443": { upstream: "https://harbor.local:8443" },
      "quay.io": { upstream: "https://quay.io", intercept: false },
      "registry.internal": { hosted: {}, aliases: ["wharf.example.internal"] },
    },
  });
  it("keeps ports for certs.d and leaves non-intercepted registries out", () => {
    expect(interceptedHosts(config)).toEqual([
      "docker.io",
      "registry-1.docker.io",
      "harbor.local:8443",
      "registry.internal",
      "wharf.example.internal",
    ]);
  });
  it("gives DNS names without ports, extraNames added, each once", () => {
    expect(interceptedNames(config)).toEqual([
      "docker.io",
      "registry-1.docker.io",
      "harbor.local",
      "registry.internal",
      "wharf.example.internal",
      "wharf.internal",
    ]);
  });
});
