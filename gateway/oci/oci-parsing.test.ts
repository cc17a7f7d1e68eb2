import { describe, expect, it } from "vitest";
import { isWharfError } from "../../common/errors.ts";
import { parseDigest, sha256Digest } from "./digest.ts";
import {
  acceptsManifest,
  DOCKER_MANIFEST,
  declaredMediaType,
  OCI_INDEX,
  parseAccept,
} from "./media-types.ts";
import { isValidRepository, parseReference, withDockerHubLibrary } from "./reference.ts";
import { parseWwwAuthenticate } from "./www-authenticate.ts";

const HEX = "a".repeat(64);

describe("digests", () => {
  it("accepts sha256 and sha512 with the right length", () => {
    expect(parseDigest(`sha256:${HEX}`).hex).toBe(HEX);
    expect(parseDigest(`sha512:${"b".repeat(128)}`).algorithm).toBe("sha512");
  });
  it.each([
    `sha256:${HEX.slice(1)}`,
    `sha256:${HEX.toUpperCase()}`,
    `md5:${"a".repeat(32)}`,
    "sha256:",
    `sha256:../../${HEX}`,
    "x",
  ])("rejects %s as DIGEST_INVALID", (d) => {
    try {
      parseDigest(d);
      expect.unreachable();
    } catch (e) {
      expect(isWharfError(e, "DIGEST_INVALID")).toBe(true);
    }
  });
  it("computes sha256", () => {
    expect(sha256Digest(Buffer.from(""))).toBe(
      "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    );
  });
});

describe("references and names", () => {
  it("validates repository names per the spec grammar", () => {
    for (const ok of ["library/alpine", "a", "acme/app-1/sub_x", "group/project/image", "a.b/c__d"])
      expect(isValidRepository(ok)).toBe(true);
    for (const bad of ["Upper", "a//b", "-a", "a/", "../etc", "a/..", "a b", `${"a".repeat(256)}`])
      expect(isValidRepository(bad)).toBe(false);
  });
  it("parses tags and digests", () => {
    expect(parseReference("3.20")).toEqual({ kind: "tag", tag: "3.20" });
    expect(parseReference(`sha256:${HEX}`).kind).toBe("digest");
    expect(() => parseReference(".hidden")).toThrow();
    expect(() => parseReference("a".repeat(129))).toThrow();
  });
  it("adds library/ for single-component Docker Hub names only", () => {
    expect(withDockerHubLibrary("docker.io", "alpine")).toBe("library/alpine");
    expect(withDockerHubLibrary("docker.io", "bitnami/redis")).toBe("bitnami/redis");
    expect(withDockerHubLibrary("ghcr.io", "alpine")).toBe("alpine");
  });
});

describe("Accept negotiation", () => {
  it("parses lists, repeated headers and parameters", () => {
    expect(parseAccept([`${OCI_INDEX}; q=0.5, ${DOCKER_MANIFEST}`, "*/*"])).toEqual([
      OCI_INDEX,
      DOCKER_MANIFEST,
      "*/*",
    ]);
  });
  it("honours what the client lists", () => {
    expect(acceptsManifest([], OCI_INDEX)).toBe(true);
    expect(acceptsManifest([DOCKER_MANIFEST], OCI_INDEX)).toBe(false);
    expect(acceptsManifest([DOCKER_MANIFEST, "*/*"], OCI_INDEX)).toBe(true);
  });
  it("reads the media type declared in a manifest", () => {
    expect(
      declaredMediaType(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: DOCKER_MANIFEST }))),
    ).toBe(DOCKER_MANIFEST);
    expect(declaredMediaType(Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [] })))).toBe(
      OCI_INDEX,
    );
    expect(declaredMediaType(Buffer.from("not json"))).toBeUndefined();
  });
});

describe("WWW-Authenticate", () => {
  it("parses Docker Hub's Bearer challenge", () => {
    const [c] = parseWwwAuthenticate(
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
    );
    expect(c).toEqual({
      scheme: "bearer",
      params: {
        realm: "https://auth.docker.io/token",
        service: "registry.docker.io",
        scope: "repository:library/busybox:pull",
      },
    });
  });
  it("parses Basic, several challenges, escapes and unquoted values", () => {
    expect(parseWwwAuthenticate('Basic realm="test"')).toEqual([
      { scheme: "basic", params: { realm: "test" } },
    ]);
    const two = parseWwwAuthenticate('Bearer realm="https://a/t", service=x, Basic realm="q\\"uote"');
    expect(two.map((c) => c.scheme)).toEqual(["bearer", "basic"]);
    expect(two[0]?.params.service).toBe("x");
    expect(two[1]?.params.realm).toBe('q"uote');
  });
  it("returns nothing for absent or empty headers", () => {
    expect(parseWwwAuthenticate(undefined)).toEqual([]);
    expect(parseWwwAuthenticate("")).toEqual([]);
  });
});
