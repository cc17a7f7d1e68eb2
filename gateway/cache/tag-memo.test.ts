// The in-memory tag records of MetadataDb stay true to the database: writes through the same
// connection, commits by another process (a second connection: `wharf cache`, `wharf mirror`), and
// rolled-back transactions.
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makeTempDir, type TempDir } from "../../test/support/temp-dir.ts";
import { MetadataDb, type TagRecord } from "./metadata-db.ts";

const A = `sha256:${"a".repeat(64)}`;
const B = `sha256:${"b".repeat(64)}`;

function tag(digest: string, checkedAt = 1000): TagRecord {
  return {
    registry: "docker.io",
    repository: "library/alpine",
    tag: "3",
    digest,
    mediaType: "application/vnd.oci.image.index.v1+json",
    size: 100,
    fetchedAt: 1000,
    checkedAt,
  };
}

describe("MetadataDb tag records in memory", () => {
  let temp: TempDir;
  let server: MetadataDb;
  let cli: MetadataDb;
  const get = (db: MetadataDb) => db.getTag("docker.io", "library/alpine", "3");

  beforeEach(async () => {
    temp = await makeTempDir("wharf-tag-memo-");
    server = new MetadataDb(`${temp.path}/metadata.sqlite`);
    cli = new MetadataDb(`${temp.path}/metadata.sqlite`);
  });
  afterEach(async () => {
    server.close();
    cli.close();
    await temp.remove();
  });

  it("sees its own writes at once", () => {
    expect(get(server)).toBeUndefined();
    server.putTag(tag(A));
    expect(get(server)?.digest).toBe(A);
    server.markTagChecked("docker.io", "library/alpine", "3", 5000);
    expect(get(server)?.checkedAt).toBe(5000);
    server.putTag(tag(B));
    expect(get(server)?.digest).toBe(B);
    server.deleteTag("docker.io", "library/alpine", "3");
    expect(get(server)).toBeUndefined();
  });

  it("sees another connection's commits (a CLI command beside the server)", async () => {
    server.putTag(tag(A));
    expect(get(server)?.digest).toBe(A);
    cli.putTag(tag(B));
    await sleep(25); // past RECHECK_MS
    expect(get(server)?.digest).toBe(B);
    cli.deleteTag("docker.io", "library/alpine", "3");
    await sleep(25); // past RECHECK_MS
    expect(get(server)).toBeUndefined();
    // an absent record is remembered too, and forgotten when another connection adds it
    cli.putTag(tag(A));
    await sleep(25); // past RECHECK_MS
    expect(get(server)?.digest).toBe(A);
  });

  it("does not remember what a rolled-back transaction read", () => {
    server.putTag(tag(A));
    expect(() =>
      server.transaction(() => {
        server.putTag(tag(B));
        expect(get(server)?.digest).toBe(B);
        throw new Error("roll back");
      }),
    ).toThrow("roll back");
    expect(get(server)?.digest).toBe(A);
  });

  it("hands out records that cannot be changed behind its back", () => {
    server.putTag(tag(A));
    const r = get(server) as TagRecord;
    expect(() => {
      (r as { digest: string }).digest = B;
    }).toThrow();
    expect(get(server)?.digest).toBe(A);
  });
});
