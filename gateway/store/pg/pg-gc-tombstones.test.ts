// What keeps a link from naming an object gc removed from the bucket (pg-hosted-index.ts,
// shared-hosted-gc.ts): a link waits while gc holds the digest's lock exclusive, and after gc left
// a tombstone it looks in the bucket again: a digest still gone is refused (the client uploads it
// again), one uploaded again is linked and its tombstone dropped. The bucket here is the set of
// digests a BucketCheck reports present.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Postgres, startPostgres } from "../../../test/support/postgres.ts";
import { Secret } from "../../config/secret.ts";
import { createLogger } from "../../log.ts";
import { openPostgres, type SharedMetadata } from "./open-postgres.ts";
import { GC_DIGEST_LOCK, PgHostedIndex } from "./pg-hosted-index.ts";

const log = createLogger({ level: "silent" });
let server: Postgres;
let meta: SharedMetadata;
const bucket = new Set<string>();
let index: PgHostedIndex;

beforeAll(async () => {
  server = await startPostgres();
  meta = await openPostgres(new Secret(await server.createDatabase()), log);
  index = new PgHostedIndex(meta.pool, async (ds) => ds.filter((d) => !bucket.has(d)));
}, 120_000);
afterAll(async () => {
  await meta?.close();
  await server?.stop();
});

const D = `sha256:${"d".repeat(64)}`;
const M = `sha256:${"e".repeat(64)}`;

/** What gc does to a digest nothing links: the object goes, a tombstone stays. */
async function collect(digest: string): Promise<void> {
  bucket.delete(digest);
  await meta.pool.query("UPDATE hosted_orphans SET collected_at = 1 WHERE digest = $1", [digest]);
}

describe("links against gc in PostgreSQL", () => {
  it("a digest gc collected is linked again only once the bucket holds it again", async () => {
    bucket.add(D);
    expect(await index.linkBlob("r.io", "a", D, 10, 100)).toBe(true);
    expect(await index.unlinkBlob("r.io", "a", D, 200)).toBe(true);
    await collect(D);
    await expect(index.linkBlob("r.io", "b", D, 10, 300)).rejects.toMatchObject({ code: "BLOB_UNKNOWN" });
    bucket.add(M);
    const manifest = {
      registry: "r.io",
      repository: "b",
      digest: M,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      size: 5,
      blobs: [D],
      children: [],
      tag: "1",
      artifactType: null,
      annotations: null,
      now: 300,
    };
    await expect(index.recordManifest(manifest)).rejects.toMatchObject({ code: "MANIFEST_BLOB_UNKNOWN" });
    expect(await index.getTag("r.io", "b", "1")).toBeUndefined(); // nothing of the PUT recorded
    bucket.add(D); // the client uploaded it again
    await index.recordManifest(manifest);
    expect((await index.getTag("r.io", "b", "1"))?.digest).toBe(M);
    const rows = await meta.pool.query("SELECT * FROM hosted_orphans WHERE digest = $1", [D]);
    expect(rows.rows).toEqual([]);
  });

  it("a link waits while gc holds the digest's lock", async () => {
    const other = `sha256:${"f".repeat(64)}`;
    bucket.add(other);
    const gc = await meta.pool.connect();
    try {
      await gc.query("BEGIN");
      await gc.query("SELECT pg_advisory_xact_lock($1, hashtext($2))", [GC_DIGEST_LOCK, other]);
      let done = false;
      const linking = index.linkBlob("r.io", "c", other, 1, 400).then(() => {
        done = true;
      });
      await new Promise((r) => setTimeout(r, 300));
      expect(done, "the link waits for gc's transaction").toBe(false);
      await gc.query("COMMIT");
      await linking;
      expect(done).toBe(true);
    } finally {
      gc.release();
    }
  });
});
