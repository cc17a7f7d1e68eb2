import { describe, expect, it } from "vitest";
import { buildConfig } from "../config/load-config.ts";
import { daemonJsonConfig } from "./daemon-json.ts";

describe("daemonJsonConfig", () => {
  const { config } = buildConfig({ listen: { http: "0.0.0.0:5000", https: "0.0.0.0:8443" } });

  it("gives dockerd the plain-HTTP mirror endpoint", () => {
    const { files, notes } = daemonJsonConfig({ config, address: "10.1.2.3" });
    expect(files).toHaveLength(1);
    expect(JSON.parse(files[0]?.content ?? "")).toEqual({ "registry-mirrors": ["http://10.1.2.3:5000"] });
    expect(notes.join("\n")).toContain("restart dockerd");
  });

  it("gives the TLS endpoint and the certs.d directory dockerd reads for it", () => {
    const { files, notes } = daemonJsonConfig({ config, address: "wharf.internal", https: true });
    expect(JSON.parse(files[0]?.content ?? "")).toEqual({
      "registry-mirrors": ["https://wharf.internal:8443"],
    });
    expect(notes.join("\n")).toContain("/etc/docker/certs.d/wharf.internal:8443/ca.crt");
  });

  it("warns when Docker Hub is not one of wharf's registries", () => {
    const ghcrOnly = buildConfig({
      defaultRegistry: "ghcr.io",
      registries: { "ghcr.io": { upstream: "https://ghcr.io" } },
    });
    expect(daemonJsonConfig({ config: ghcrOnly.config, address: "10.1.2.3" }).notes.join("\n")).toContain(
      "only applies to Docker Hub",
    );
  });
});
