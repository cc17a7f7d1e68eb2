import { describe, expect, it } from "vitest";
import { manifestBlobs } from "./manifest-blobs.ts";
import { DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST } from "./media-types.ts";

const d = (c: string) => `sha256:${c.repeat(64)}`;
const body = (doc: unknown) => Buffer.from(JSON.stringify(doc));

describe("manifestBlobs", () => {
  it("lists the config, then the layers in order, once each", () => {
    const doc = {
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: d("c") },
      layers: [
        { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: d("1") },
        { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: d("2") },
        { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: d("1") },
      ],
    };
    for (const type of [OCI_MANIFEST, DOCKER_MANIFEST])
      expect(manifestBlobs(type, body(doc)).map((x) => x.digest.value)).toEqual([d("c"), d("1"), d("2")]);
  });

  it("passes on declared sizes that are whole numbers, and only those", () => {
    const doc = {
      config: { digest: d("c"), size: 1234 },
      layers: [
        { digest: d("1"), size: -1 },
        { digest: d("2"), size: "5" },
        { digest: d("3"), size: 2.5 },
      ],
    };
    expect(manifestBlobs(OCI_MANIFEST, body(doc)).map((x) => x.size)).toEqual([
      1234,
      undefined,
      undefined,
      undefined,
    ]);
  });

  it("leaves out layers that live outside the registry and malformed digests", () => {
    const doc = {
      config: { digest: d("c") },
      layers: [
        { mediaType: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", digest: d("1") },
        { mediaType: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", digest: d("2") },
        { mediaType: "application/vnd.oci.image.layer.v1.tar", digest: d("3"), urls: ["https://x.test/l"] },
        { digest: "sha256:short" },
        { digest: 42 },
        null,
        { digest: d("4") },
      ],
    };
    expect(manifestBlobs(OCI_MANIFEST, body(doc)).map((x) => x.digest.value)).toEqual([d("c"), d("4")]);
  });

  it("yields nothing for indexes, other types and bodies that do not parse", () => {
    const index = { manifests: [{ digest: d("a") }], layers: [{ digest: d("b") }] };
    expect(manifestBlobs(OCI_INDEX, body(index))).toEqual([]);
    expect(manifestBlobs(DOCKER_MANIFEST_LIST, body(index))).toEqual([]);
    expect(manifestBlobs("application/octet-stream", body({ config: { digest: d("c") } }))).toEqual([]);
    expect(manifestBlobs(OCI_MANIFEST, Buffer.from("{not json"))).toEqual([]);
    expect(manifestBlobs(OCI_MANIFEST, body({ layers: "x" }))).toEqual([]);
  });
});
