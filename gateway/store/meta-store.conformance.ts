// What every MetaStore must do (meta-store-api.ts), as vitest tests any implementation runs by
// calling this with a factory for fresh, empty stores: SQLite today (sqlite-meta-store.test.ts).
import { describe, expect, it } from "vitest";
import type { MetaStore, TagRecord } from "./meta-store-api.ts";

export interface MetaStoreHarness {
  store: MetaStore;
  cleanup(): Promise<void> | void;
}

const A = `sha256:${"a".repeat(64)}`;
const B = `sha256:${"b".repeat(64)}`;
const C = `sha256:${"c".repeat(64)}`;

function tag(over: Partial<TagRecord> = {}): TagRecord {
  return {
    registry: "docker.io",
    repository: "library/alpine",
    tag: "3",
    digest: A,
    mediaType: "application/vnd.oci.image.index.v1+json",
    size: 1234,
    fetchedAt: 1000,
    checkedAt: 1000,
    ...over,
  };
}

export function metaStoreConformance(name: string, create: () => Promise<MetaStoreHarness>): void {
  const withStore = (fn: (store: MetaStore) => void | Promise<void>) => async () => {
    const h = await create();
    try {
      await fn(h.store);
    } finally {
      await h.cleanup();
    }
  };

  describe(`MetaStore conformance: ${name}`, () => {
    it(
      "blob records: put, get, refresh keeps a known media type, touch, delete",
      withStore((store) => {
        expect(store.getBlob(A)).toBeUndefined();
        store.putBlob(A, 10, "application/vnd.oci.image.manifest.v1+json", 100);
        expect(store.getBlob(A)).toEqual({
          digest: A,
          size: 10,
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          lastAccess: 100,
          createdAt: 100,
        });
        store.putBlob(A, 10, null, 200);
        expect(store.getBlob(A)).toMatchObject({
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          lastAccess: 200,
          createdAt: 100,
        });
        store.touchBlob(A, 300);
        expect(store.getBlob(A)?.lastAccess).toBe(300);
        store.touchBlob(B, 300); // unknown: nothing is created
        expect(store.getBlob(B)).toBeUndefined();
        store.deleteBlob(A);
        expect(store.getBlob(A)).toBeUndefined();
        store.deleteBlob(A);
      }),
    );

    it(
      "totals and least-recently-used order follow sizes and access times",
      withStore((store) => {
        expect(store.totalSize()).toEqual({ bytes: 0, count: 0 });
        store.putBlob(A, 10, null, 300);
        store.putBlob(B, 20, null, 100);
        store.putBlob(C, 30, null, 200);
        expect(store.totalSize()).toEqual({ bytes: 60, count: 3 });
        expect(store.lruBlobs(10).map((b) => b.digest)).toEqual([B, C, A]);
        expect(store.lruBlobs(1).map((b) => b.digest)).toEqual([B]);
        store.touchBlob(B, 400);
        expect(store.lruBlobs(10).map((b) => b.digest)).toEqual([C, A, B]);
        expect(store.allBlobDigests().sort()).toEqual([A, B, C]);
      }),
    );

    it(
      "tag records: put replaces, checked time moves alone, delete",
      withStore((store) => {
        expect(store.getTag("docker.io", "library/alpine", "3")).toBeUndefined();
        store.putTag(tag());
        expect(store.getTag("docker.io", "library/alpine", "3")).toEqual(tag());
        store.putTag(tag({ digest: B, size: 99, fetchedAt: 2000, checkedAt: 2000 }));
        expect(store.getTag("docker.io", "library/alpine", "3")).toEqual(
          tag({ digest: B, size: 99, fetchedAt: 2000, checkedAt: 2000 }),
        );
        store.markTagChecked("docker.io", "library/alpine", "3", 5000);
        expect(store.getTag("docker.io", "library/alpine", "3")).toMatchObject({
          fetchedAt: 2000,
          checkedAt: 5000,
        });
        // the same repository and tag in another registry is another record
        expect(store.getTag("ghcr.io", "library/alpine", "3")).toBeUndefined();
        store.deleteTag("docker.io", "library/alpine", "3");
        expect(store.getTag("docker.io", "library/alpine", "3")).toBeUndefined();
      }),
    );

    it(
      "listTags is sorted and filters by registry and repository prefix",
      withStore((store) => {
        store.putTag(tag({ registry: "ghcr.io", repository: "org/tool", tag: "v1" }));
        store.putTag(tag({ repository: "library/alpine", tag: "latest" }));
        store.putTag(tag({ repository: "library/alpine", tag: "3" }));
        store.putTag(tag({ repository: "library/alpine-extra", tag: "1" }));
        store.putTag(tag({ repository: "library/alpine/sub", tag: "1" }));
        const key = (t: TagRecord) => `${t.registry}/${t.repository}:${t.tag}`;
        expect(store.listTags().map(key)).toEqual([
          "docker.io/library/alpine:3",
          "docker.io/library/alpine:latest",
          "docker.io/library/alpine-extra:1",
          "docker.io/library/alpine/sub:1",
          "ghcr.io/org/tool:v1",
        ]);
        expect(store.listTags("docker.io", "library/alpine").map(key)).toEqual([
          "docker.io/library/alpine:3",
          "docker.io/library/alpine:latest",
          "docker.io/library/alpine/sub:1",
        ]);
        expect(store.listTags("ghcr.io").map(key)).toEqual(["ghcr.io/org/tool:v1"]);
      }),
    );

    it(
      "repository links: noted once however often, per registry, dropped with the blob",
      withStore((store) => {
        store.putBlob(A, 1, null, 1);
        store.putBlob(B, 1, null, 1);
        store.noteRepoBlob("docker.io", "library/alpine", B, 10);
        store.noteRepoBlob("docker.io", "library/alpine", A, 10);
        store.noteRepoBlob("docker.io", "library/alpine", A, 20);
        store.noteRepoBlob("ghcr.io", "library/alpine", C, 20);
        expect(store.repoBlobs("docker.io", "library/alpine")).toEqual([A, B]);
        expect(store.repoBlobs("ghcr.io", "library/alpine")).toEqual([C]);
        expect(store.repoBlobs("docker.io", "library/other")).toEqual([]);
        store.deleteBlob(A);
        expect(store.repoBlobs("docker.io", "library/alpine")).toEqual([B]);
      }),
    );
  });
}
