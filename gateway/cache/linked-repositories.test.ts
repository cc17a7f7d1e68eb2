// MetadataDb.linkedRepositories: the repositories, proxied (repo_blobs) and hosted (hosted_links),
// a blob is linked in; a pusher's HEAD may link a blob only from one of those (routes-pull.ts).
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { makeTempDir, type TempDir } from "../../test/support/temp-dir.ts";
import { MetadataDb } from "./metadata-db.ts";

const A = `sha256:${"a".repeat(64)}`;
const B = `sha256:${"b".repeat(64)}`;
let tmp: TempDir | undefined;

afterEach(async () => {
  await tmp?.remove();
});

describe("linkedRepositories", () => {
  it("lists proxied and hosted repositories of a digest, each once, up to the limit", async () => {
    tmp = await makeTempDir("wharf-linked-");
    const db = new MetadataDb(join(tmp.path, "m.sqlite"));
    try {
      expect(db.linkedRepositories(A, 10)).toEqual([]);
      db.linkRepoBlobs("docker.io", "library/busybox", [A, B], 1);
      db.linkRepoBlobs("ghcr.io", "acme/app", [A], 2);
      db.noteRepoBlob("ghcr.io", "acme/app", A, 3);
      db.connection
        .prepare(
          "INSERT INTO hosted_links (registry, repository, digest, kind, created_at) VALUES (?, ?, ?, 'blob', 4)",
        )
        .run("registry.internal", "team/app", A);
      const sorted = (rows: { registry: string; repository: string }[]) =>
        rows.map((r) => `${r.registry}/${r.repository}`).sort();
      expect(sorted(db.linkedRepositories(A, 10))).toEqual([
        "docker.io/library/busybox",
        "ghcr.io/acme/app",
        "registry.internal/team/app",
      ]);
      expect(sorted(db.linkedRepositories(B, 10))).toEqual(["docker.io/library/busybox"]);
      expect(db.linkedRepositories(A, 2)).toHaveLength(2);
    } finally {
      db.close();
    }
  });
});
