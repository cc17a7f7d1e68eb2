import { describe, expect, it } from "vitest";
import { buildConfig } from "../config/load-config.ts";
import { isWharfError } from "../errors.ts";
import { RegistryRouter } from "./registry-router.ts";
import { parseV2Path } from "./v2-path.ts";

const router = new RegistryRouter(buildConfig({}).config);

describe("v2 paths", () => {
  it("parses the pull endpoints", () => {
    expect(parseV2Path("/v2/")).toEqual({ kind: "base" });
    expect(parseV2Path("/v2/library/alpine/manifests/3.20")).toEqual({
      kind: "manifest",
      name: "library/alpine",
      reference: "3.20",
    });
    expect(parseV2Path("/v2/a/b/c/blobs/sha256:x")).toEqual({
      kind: "blob",
      name: "a/b/c",
      digest: "sha256:x",
    });
    expect(parseV2Path("/v2/a/tags/list")).toEqual({ kind: "tags", name: "a" });
    expect(parseV2Path("/v2/a/blobs/uploads/")).toEqual({ kind: "upload", name: "a" });
    expect(parseV2Path("/metrics")).toBeUndefined();
  });
  it.each([
    "/v2/a/../b/manifests/1",
    "/v2/a/%2e%2e/b/manifests/1",
    "/v2/a//b/manifests/1",
    "/v2/a\\b/manifests/1",
    `/v2/${"a/".repeat(2000)}manifests/1`,
  ])("refuses hostile path %s", (p) => {
    try {
      parseV2Path(p);
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
