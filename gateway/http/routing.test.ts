import { describe, expect, it } from "vitest";
import { isWharfError } from "../../common/errors.ts";
import { buildConfig } from "../config/load-config.ts";
import { certificateGroups } from "../server/start-https.ts";
import { RegistryRouter } from "./registry-router.ts";
import { assertSafeV2Path, endpointOf } from "./v2-path.ts";

const router = new RegistryRouter(buildConfig({}).config);

describe("v2 paths", () => {
  it("names the endpoint of a path, whatever the method", () => {
    expect(endpointOf("/v2/")).toBe("base");
    expect(endpointOf("/v2/library/alpine/manifests/3.20")).toBe("manifest");
    expect(endpointOf("/v2/a/b/c/blobs/sha256:x")).toBe("blob");
    expect(endpointOf("/v2/a/tags/list")).toBe("tags");
    expect(endpointOf("/v2/a/blobs/uploads/")).toBe("upload");
    expect(endpointOf("/v2/a/blobs/uploads/abc")).toBe("upload");
    expect(endpointOf("/v2/a/referrers/sha256:x")).toBe("referrers");
    expect(endpointOf("/v2/_catalog")).toBe("catalog");
    expect(endpointOf("/metrics")).toBeUndefined();
  });
  it.each([
    "/v2/a/../b/manifests/1",
    "/v2/a/%2e%2e/b/manifests/1",
    "/v2/a//b/manifests/1",
    "/v2/a\\b/manifests/1",
    `/v2/${"a/".repeat(2000)}manifests/1`,
  ])("refuses hostile path %s", (p) => {
    try {
      assertSafeV2Path(p);
      expect.unreachable();
    } catch (e) {
      expect(isWharfError(e, "NAME_INVALID")).toBe(true);
    }
  });
});

describe("registry routing", () => {
  it("routes by TLS server name or Host (names and aliases, any port)", () => {
    expect(router.route({ name: "library/alpine", servername: "registry-1.docker.io" })).toMatchObject({
      registry: "docker.io",
      via: "host",
    });
    expect(router.route({ name: "acme/app", host: "ghcr.io:443" })).toMatchObject({
      registry: "ghcr.io",
      repository: "acme/app",
    });
  });
  it("routes containerd mirror requests by ?ns=", () => {
    expect(router.route({ name: "acme/app", host: "wharf:5000", ns: "ghcr.io" })).toMatchObject({
      registry: "ghcr.io",
      via: "ns",
    });
    expect(() => router.route({ name: "x/y", host: "wharf:5000", ns: "quay.io" })).toThrow(/not configured/);
  });
  it("routes path prefixes and adds Docker Hub's library/", () => {
    expect(router.route({ name: "ghcr.io/owner/app", host: "wharf:5000" })).toMatchObject({
      registry: "ghcr.io",
      repository: "owner/app",
      via: "prefix",
    });
    expect(router.route({ name: "docker.io/alpine", host: "wharf:5000" })).toMatchObject({
      registry: "docker.io",
      repository: "library/alpine",
    });
    expect(router.route({ name: "registry-1.docker.io/library/alpine" })).toMatchObject({
      registry: "docker.io",
      repository: "library/alpine",
    });
  });
  it("falls back to defaultRegistry", () => {
    expect(router.route({ name: "alpine", host: "10.0.0.5:5000" })).toMatchObject({
      registry: "docker.io",
      repository: "library/alpine",
      via: "default",
    });
  });
  it("names unknown registry prefixes instead of guessing", () => {
    expect(() => router.route({ name: "quay.io/x/y", host: "wharf:5000" })).toThrow(/quay.io/);
  });
  it("lists host groups per registry", () => {
    expect(router.hostGroups().get("docker.io")).toEqual([
      "docker.io",
      "registry-1.docker.io",
      "index.docker.io",
    ]);
  });
});

describe("hosted registries", () => {
  const { config } = buildConfig({
    registries: {
      "docker.io": { upstream: "https://registry-1.docker.io", aliases: ["registry-1.docker.io"] },
      "registry.internal": { hosted: {}, aliases: ["wharf.example.internal"] },
    },
  });
  const r = new RegistryRouter(config);
  it("are routed by their names and aliases, and by path prefix", () => {
    expect(r.route({ name: "team/app", servername: "wharf.example.internal" })).toMatchObject({
      registry: "registry.internal",
      repository: "team/app",
      via: "host",
    });
    expect(r.route({ name: "registry.internal/team/app", host: "10.0.0.5:5000" })).toMatchObject({
      registry: "registry.internal",
      repository: "team/app",
      via: "prefix",
    });
    expect(r.registryWithoutName({ host: "registry.internal" })).toBe("registry.internal");
    expect(r.registryWithoutName({ host: "10.0.0.5:5000" })).toBe("docker.io");
  });
  it("get a leaf certificate for their names like every registry", () => {
    expect(certificateGroups(config, r)["registry.internal"]).toEqual([
      "registry.internal",
      "wharf.example.internal",
    ]);
  });
});
