// tls.extraNames: wharf's own names (the Docker Hub mirror in daemon.json, an address) get a
// certificate of their own, so any number of registries can be configured next to them, and
// requests under them go to defaultRegistry.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadOrCreateCa } from "../../certs/certificate-authority.ts";
import { LeafCertificates } from "../../certs/leaf-certificates.ts";
import { buildConfig } from "../config/load-config.ts";
import { RegistryRouter } from "../http/registry-router.ts";
import { certificateGroups, OWN_NAMES_GROUP } from "./start-https.ts";

const { config } = buildConfig({
  tls: { extraNames: ["wharf.test", "10.9.8.7", "ghcr.io"] },
  registries: {
    "docker.io": { upstream: "https://registry-1.docker.io", aliases: ["registry-1.docker.io"] },
    "ghcr.io": { upstream: "https://ghcr.io" },
    "registry.gitlab.com": { upstream: "https://registry.gitlab.com" },
  },
});
const router = new RegistryRouter(config);

describe("wharf's own names (tls.extraNames)", () => {
  it("form a certificate group of their own; registry names listed there stay with their registry", () => {
    const groups = certificateGroups(config, router);
    expect(groups[OWN_NAMES_GROUP]).toEqual(["wharf.test", "10.9.8.7"]);
    expect(groups["ghcr.io"]).toEqual(["ghcr.io"]);
    expect(groups["docker.io"]).toEqual(["docker.io", "registry-1.docker.io"]);
  });

  it("give certificates that load with several registries configured", async () => {
    const dir = await mkdtemp(join(tmpdir(), "wharf-own-names-"));
    try {
      const ca = await loadOrCreateCa({ dir, hostname: "test" });
      const leaves = new LeafCertificates({
        ca,
        dir,
        groups: certificateGroups(config, router),
        validityMs: 86_400_000,
        renewBeforeMs: 3_600_000,
      });
      // as serve does: issue and save every group's certificate before the first handshake (a
      // certificate issued on demand is saved in the background, racing the rm below)
      await leaves.prepare();
      expect(leaves.groupFor("wharf.test")).toBe(OWN_NAMES_GROUP);
      expect(leaves.groupFor("10.9.8.7")).toBe(OWN_NAMES_GROUP);
      expect(leaves.secureContextFor("wharf.test")).toBeDefined();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("route to defaultRegistry, as dockerd's registry-mirrors requests need", () => {
    expect(router.route({ name: "library/alpine", servername: "wharf.test" })).toMatchObject({
      registry: "docker.io",
      repository: "library/alpine",
    });
    expect(router.registryWithoutName({ servername: "wharf.test", host: "wharf.test" })).toBe("docker.io");
  });
});
