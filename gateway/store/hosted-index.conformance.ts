// One suite for every HostedIndex: SQLite on one node, PostgreSQL for a replica set
// (hosted-index.test.ts runs both). Registry and repository names are fresh per test, so a shared
// database needs no cleaning between tests.
import { randomBytes } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import type { HostedIndex, ManifestRecord } from "./hosted-index-api.ts";

const d = (c: string) => `sha256:${c.repeat(64).slice(0, 64)}`;

export function hostedIndexConformance(name: string, create: () => Promise<HostedIndex>): void {
  describe(`HostedIndex conformance: ${name}`, () => {
    let index: HostedIndex;
    let reg: string;
    beforeAll(async () => {
      index = await create();
    });
    const fresh = () => {
      reg = `r-${randomBytes(4).toString("hex")}.internal`;
      return reg;
    };
    const manifest = (over: Partial<ManifestRecord> = {}): ManifestRecord => ({
      registry: reg,
      repository: "team/app",
      digest: d("m"),
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      size: 500,
      blobs: [d("c"), d("l")],
      children: [],
      artifactType: null,
      annotations: null,
      now: 1000,
      ...over,
    });

    it("links blobs, tells their kind, and a manifest link never turns into a blob link", async () => {
      fresh();
      expect(await index.linkKind(reg, "team/app", d("a"))).toBeUndefined();
      expect(await index.hasRepository(reg, "team/app")).toBe(false);
      expect(await index.linkBlob(reg, "team/app", d("a"), 10, 1)).toBe(true);
      expect(await index.linkKind(reg, "team/app", d("a"))).toBe("blob");
      expect(await index.linkKind(reg, "other", d("a"))).toBeUndefined();
      expect(await index.hasRepository(reg, "team/app")).toBe(true);
      await index.recordManifest(manifest({ digest: d("a"), blobs: [] }));
      expect(await index.linkKind(reg, "team/app", d("a"))).toBe("manifest");
      await index.linkBlob(reg, "team/app", d("a"), 10, 2);
      expect(await index.linkKind(reg, "team/app", d("a"))).toBe("manifest");
    });

    it("a guard that refuses records nothing; one that throws aborts the manifest's records", async () => {
      fresh();
      expect(await index.linkBlob(reg, "team/app", d("a"), 10, 1, () => false)).toBe(false);
      expect(await index.linkKind(reg, "team/app", d("a"))).toBeUndefined();
      const gone = new Error("content gone");
      await expect(
        index.recordManifest(manifest({ tag: "v1" }), () => {
          throw gone;
        }),
      ).rejects.toBe(gone);
      expect(await index.getTag(reg, "team/app", "v1")).toBeUndefined();
      expect(await index.hasRepository(reg, "team/app")).toBe(false);
    });

    it("records a manifest with its blobs, tag and referrer at once", async () => {
      fresh();
      await index.recordManifest(manifest({ tag: "v1" }));
      expect(await index.linkKind(reg, "team/app", d("m"))).toBe("manifest");
      expect(await index.linkKind(reg, "team/app", d("c"))).toBe("blob");
      expect(await index.linkKind(reg, "team/app", d("l"))).toBe("blob");
      expect(await index.getTag(reg, "team/app", "v1")).toEqual({
        digest: d("m"),
        mediaType: "application/vnd.oci.image.manifest.v1+json",
      });
      const index2 = manifest({
        digest: d("i"),
        blobs: [],
        children: [d("m")],
        tag: "v1",
        mediaType: "x/index",
      });
      await index.recordManifest(index2);
      expect(await index.getTag(reg, "team/app", "v1")).toEqual({ digest: d("i"), mediaType: "x/index" });
      const sig = manifest({
        digest: d("s"),
        subject: d("m"),
        artifactType: "application/vnd.example.sig",
        annotations: { "org.example": "yes" },
        size: 321,
      });
      await index.recordManifest(sig);
      await index.recordManifest(manifest({ digest: d("t"), subject: d("m"), artifactType: "other/type" }));
      expect(await index.referrers(reg, "team/app", d("m"))).toEqual([
        {
          digest: d("s"),
          mediaType: sig.mediaType,
          size: 321,
          artifactType: "application/vnd.example.sig",
          annotations: { "org.example": "yes" },
        },
        {
          digest: d("t"),
          mediaType: sig.mediaType,
          size: 500,
          artifactType: "other/type",
          annotations: null,
        },
      ]);
      expect((await index.referrers(reg, "team/app", d("m"), "other/type")).map((r) => r.digest)).toEqual([
        d("t"),
      ]);
      expect(await index.referrers(reg, "elsewhere", d("m"))).toEqual([]);
    });

    it("takes a manifest naming a digest twice, and concurrent pushes of overlapping blobs", async () => {
      fresh();
      await index.recordManifest(manifest({ blobs: [d("c"), d("l"), d("l"), d("c")], tag: "dup" }));
      expect(await index.linkKind(reg, "team/app", d("l"))).toBe("blob");
      const blobs = [d("1"), d("2"), d("3"), d("4"), d("5"), d("6")];
      await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          index.recordManifest(
            manifest({
              digest: d(String.fromCharCode(97 + i)),
              blobs: i % 2 ? [...blobs].reverse() : blobs,
              tag: `t${i}`,
            }),
          ),
        ),
      );
      expect(await index.listTags(reg, "team/app", {})).toHaveLength(13);
      for (const b of blobs) expect(await index.linkKind(reg, "team/app", b)).toBe("blob");
    });

    it("lists tags and repositories in byte order, a page at a time (n+1 rows)", async () => {
      fresh();
      for (const tag of ["b", "a", "B", "a-1", "Z9", "c"]) await index.recordManifest(manifest({ tag }));
      expect(await index.listTags(reg, "team/app", {})).toEqual(["B", "Z9", "a", "a-1", "b", "c"]);
      expect(await index.listTags(reg, "team/app", { n: 2 })).toEqual(["B", "Z9", "a"]);
      expect(await index.listTags(reg, "team/app", { n: 2, last: "a" })).toEqual(["a-1", "b", "c"]);
      expect(await index.listTags(reg, "team/app", { n: 0 })).toEqual(["B"]);
      for (const repo of ["z/last", "A/first", "m/mid"]) await index.linkBlob(reg, repo, d("x"), 1, 1);
      expect(await index.listRepositories(reg, {})).toEqual(["A/first", "m/mid", "team/app", "z/last"]);
      expect(await index.listRepositories(reg, { n: 1, last: "m/mid" })).toEqual(["team/app", "z/last"]);
    });

    it("deletes a tag, and a manifest with its tags and its referrer entry", async () => {
      fresh();
      await index.recordManifest(manifest({ tag: "v1" }));
      await index.recordManifest(manifest({ tag: "v2" }));
      await index.recordManifest(manifest({ digest: d("s"), subject: d("m"), tag: "sig" }));
      expect(await index.deleteTag(reg, "team/app", "v2")).toBe(true);
      expect(await index.deleteTag(reg, "team/app", "v2")).toBe(false);
      expect(await index.deleteManifest(reg, "team/app", d("c"), 5)).toBe(false); // a blob
      expect(await index.deleteManifest(reg, "team/app", d("s"), 5)).toBe(true);
      expect(await index.getTag(reg, "team/app", "sig")).toBeUndefined();
      expect(await index.referrers(reg, "team/app", d("m"))).toEqual([]);
      expect(await index.linkKind(reg, "team/app", d("s"))).toBeUndefined();
      expect(await index.deleteManifest(reg, "team/app", d("s"), 5)).toBe(false);
      expect(await index.getTag(reg, "team/app", "v1")).toBeDefined();
    });

    it("unlinks a blob (of any kind, like distribution's blob DELETE); usage counts what is linked", async () => {
      fresh();
      await index.linkBlob(reg, "team/app", d("a"), 100, 1);
      await index.linkBlob(reg, "team/other", d("a"), 100, 1);
      await index.recordManifest(manifest({ tag: "v1" }));
      const u = await index.usage(reg);
      expect(u).toMatchObject({ repositories: 2, tags: 1 });
      expect(u.blobs).toBeGreaterThanOrEqual(0);
      expect(await index.unlinkBlob(reg, "team/app", d("a"), 2)).toBe(true);
      expect(await index.unlinkBlob(reg, "team/app", d("a"), 2)).toBe(false);
      expect(await index.linkKind(reg, "team/other", d("a"))).toBe("blob");
      expect(await index.unlinkBlob(reg, "team/other", d("a"), 2)).toBe(true);
      expect(await index.hasRepository(reg, "team/other")).toBe(false);
    });
  });
}
