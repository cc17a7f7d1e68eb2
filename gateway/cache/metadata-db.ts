// Cache metadata in node:sqlite: blob sizes and access times (for eviction), manifest media types,
// tag records. The blob files are the truth; this database can be rebuilt from them (rebuild.ts).
import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { MetaStore } from "../store/meta-store-api.ts";

export interface TagRecord {
  registry: string;
  repository: string;
  tag: string;
  digest: string;
  mediaType: string;
  size: number;
  /** When the manifest body was last fetched. */
  fetchedAt: number;
  /** When upstream last confirmed the tag still points at `digest`. */
  checkedAt: number;
}

export interface BlobRecord {
  digest: string;
  size: number;
  mediaType: string | null;
  lastAccess: number;
  createdAt: number;
}

const SCHEMA = `
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS blobs (
  digest TEXT PRIMARY KEY,
  size INTEGER NOT NULL,
  media_type TEXT,
  last_access INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS blobs_lru ON blobs (last_access);
CREATE TABLE IF NOT EXISTS tags (
  registry TEXT NOT NULL,
  repository TEXT NOT NULL,
  tag TEXT NOT NULL,
  digest TEXT NOT NULL,
  media_type TEXT NOT NULL,
  size INTEGER NOT NULL,
  fetched_at INTEGER NOT NULL,
  checked_at INTEGER NOT NULL,
  PRIMARY KEY (registry, repository, tag)
);
CREATE TABLE IF NOT EXISTS repo_blobs (
  registry TEXT NOT NULL,
  repository TEXT NOT NULL,
  digest TEXT NOT NULL,
  last_access INTEGER NOT NULL,
  PRIMARY KEY (registry, repository, digest)
);
`;

export class MetadataDb implements MetaStore {
  readonly #db: DatabaseSync;
  readonly #stmts: Record<string, StatementSync> = {};

  constructor(file: string) {
    this.#db = new DatabaseSync(file);
    this.#db.exec("PRAGMA busy_timeout = 5000;");
    this.#db.exec(SCHEMA);
  }

  #stmt(sql: string): StatementSync {
    let s = this.#stmts[sql];
    if (!s) {
      s = this.#db.prepare(sql);
      this.#stmts[sql] = s;
    }
    return s;
  }

  close(): void {
    this.#db.close();
  }

  /** Quick integrity probe used at start; a broken file is moved aside and rebuilt. */
  check(): boolean {
    const row = this.#db.prepare("PRAGMA quick_check").get() as { quick_check?: string } | undefined;
    return row?.quick_check === "ok";
  }

  putBlob(digest: string, size: number, mediaType: string | null, now: number): void {
    this.#stmt(
      `INSERT INTO blobs (digest, size, media_type, last_access, created_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (digest) DO UPDATE SET size = excluded.size, last_access = excluded.last_access,
       media_type = COALESCE(excluded.media_type, blobs.media_type)`,
    ).run(digest, size, mediaType, now, now);
  }

  getBlob(digest: string): BlobRecord | undefined {
    const r = this.#stmt(
      "SELECT digest, size, media_type, last_access, created_at FROM blobs WHERE digest = ?",
    ).get(digest) as
      | { digest: string; size: number; media_type: string | null; last_access: number; created_at: number }
      | undefined;
    return (
      r && {
        digest: r.digest,
        size: r.size,
        mediaType: r.media_type,
        lastAccess: r.last_access,
        createdAt: r.created_at,
      }
    );
  }

  touchBlob(digest: string, now: number): void {
    this.#stmt("UPDATE blobs SET last_access = ? WHERE digest = ?").run(now, digest);
  }

  deleteBlob(digest: string): void {
    this.#stmt("DELETE FROM blobs WHERE digest = ?").run(digest);
    this.#stmt("DELETE FROM repo_blobs WHERE digest = ?").run(digest);
  }

  totalSize(): { bytes: number; count: number } {
    const r = this.#stmt("SELECT COALESCE(SUM(size), 0) AS bytes, COUNT(*) AS count FROM blobs").get() as {
      bytes: number;
      count: number;
    };
    return { bytes: Number(r.bytes), count: Number(r.count) };
  }

  /** Least recently used blobs first. */
  lruBlobs(limit: number): BlobRecord[] {
    return (
      this.#stmt(
        "SELECT digest, size, media_type, last_access, created_at FROM blobs ORDER BY last_access ASC LIMIT ?",
      ).all(limit) as {
        digest: string;
        size: number;
        media_type: string | null;
        last_access: number;
        created_at: number;
      }[]
    ).map((r) => ({
      digest: r.digest,
      size: r.size,
      mediaType: r.media_type,
      lastAccess: r.last_access,
      createdAt: r.created_at,
    }));
  }

  allBlobDigests(): string[] {
    return (this.#stmt("SELECT digest FROM blobs").all() as { digest: string }[]).map((r) => r.digest);
  }

  putTag(t: TagRecord): void {
    this.#stmt(
      `INSERT INTO tags (registry, repository, tag, digest, media_type, size, fetched_at, checked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (registry, repository, tag) DO UPDATE SET digest = excluded.digest, media_type = excluded.media_type,
       size = excluded.size, fetched_at = excluded.fetched_at, checked_at = excluded.checked_at`,
    ).run(t.registry, t.repository, t.tag, t.digest, t.mediaType, t.size, t.fetchedAt, t.checkedAt);
  }

  getTag(registry: string, repository: string, tag: string): TagRecord | undefined {
    const r = this.#stmt("SELECT * FROM tags WHERE registry = ? AND repository = ? AND tag = ?").get(
      registry,
      repository,
      tag,
    ) as Record<string, string | number> | undefined;
    return r && rowToTag(r);
  }

  markTagChecked(registry: string, repository: string, tag: string, now: number): void {
    this.#stmt("UPDATE tags SET checked_at = ? WHERE registry = ? AND repository = ? AND tag = ?").run(
      now,
      registry,
      repository,
      tag,
    );
  }

  deleteTag(registry: string, repository: string, tag: string): void {
    this.#stmt("DELETE FROM tags WHERE registry = ? AND repository = ? AND tag = ?").run(
      registry,
      repository,
      tag,
    );
  }

  listTags(registry?: string, repositoryPrefix?: string): TagRecord[] {
    const rows = this.#stmt(
      "SELECT * FROM tags WHERE (?1 IS NULL OR registry = ?1) AND (?2 IS NULL OR repository = ?2 OR repository LIKE ?2 || '/%') ORDER BY registry, repository, tag",
    ).all(registry ?? null, repositoryPrefix ?? null) as Record<string, string | number>[];
    return rows.map(rowToTag);
  }

  noteRepoBlob(registry: string, repository: string, digest: string, now: number): void {
    this.#stmt(
      `INSERT INTO repo_blobs (registry, repository, digest, last_access) VALUES (?, ?, ?, ?)
       ON CONFLICT (registry, repository, digest) DO UPDATE SET last_access = excluded.last_access`,
    ).run(registry, repository, digest, now);
  }

  repoBlobs(registry: string, repository: string): string[] {
    const rows = this.#stmt(
      "SELECT digest FROM repo_blobs WHERE registry = ? AND repository = ? ORDER BY digest",
    ).all(registry, repository) as { digest: string }[];
    return rows.map((r) => r.digest);
  }

  transaction<T>(fn: () => T): T {
    this.#db.exec("BEGIN");
    try {
      const r = fn();
      this.#db.exec("COMMIT");
      return r;
    } catch (e) {
      this.#db.exec("ROLLBACK");
      throw e;
    }
  }
}

function rowToTag(r: Record<string, string | number>): TagRecord {
  return {
    registry: String(r.registry),
    repository: String(r.repository),
    tag: String(r.tag),
    digest: String(r.digest),
    mediaType: String(r.media_type),
    size: Number(r.size),
    fetchedAt: Number(r.fetched_at),
    checkedAt: Number(r.checked_at),
  };
}
