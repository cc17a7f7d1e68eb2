import { describe, expect, it } from "vitest";
import { buildConfig } from "../config/load-config.ts";
import { dockerCertsConfig, SYSTEM_CA_FILE } from "./docker-certs.ts";

const CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

describe("dockerCertsConfig", () => {
  it("writes certs.d/<host>/ca.crt for every intercepted name and alias, and explains Docker Hub", () => {
    const { config } = buildConfig({
      registries: {
        "docker.io": {
          upstream: "https://registry-1.docker.io",
          aliases: ["registry-1.docker.io", "index.docker.io"],
        },
        "ghcr.io": { upstream: "https://ghcr.io", aliases: ["ghcr.example.test"] },
        "localhost:5001": { upstream: "http://127.0.0.1:5001" },
        "quay.io": { upstream: "https://quay.io", intercept: false },
      },
    });
    const { files, notes } = dockerCertsConfig({ config, caPem: CA });
    expect(files.map((f) => f.path)).toEqual([
      "ca.crt",
      "certs.d/docker.io/ca.crt",
      "certs.d/registry-1.docker.io/ca.crt",
      "certs.d/index.docker.io/ca.crt",
      "certs.d/ghcr.io/ca.crt",
      "certs.d/ghcr.example.test/ca.crt",
      "certs.d/localhost:5001/ca.crt",
    ]);
    for (const f of files) expect(f.content).toBe(CA);
    const text = notes.join("\n");
    expect(text).toContain("/etc/docker/certs.d");
    expect(text).toContain(`cp ca.crt ${SYSTEM_CA_FILE} && update-ca-certificates`);
  });

  it("leaves out the Docker Hub note when Hub is not intercepted", () => {
    const { config } = buildConfig({
      defaultRegistry: "ghcr.io",
      registries: { "ghcr.io": { upstream: "https://ghcr.io" } },
    });
    const { notes } = dockerCertsConfig({ config, caPem: CA });
    expect(notes.join("\n")).not.toContain("update-ca-certificates");
  });
});
