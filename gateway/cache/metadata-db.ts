// Cache metadata in node:sqlite: blob sizes and access times (for eviction), manifest media types,
// tag records. The blob files are the truth; this database can be rebuilt from them (rebuild.ts).
// A write the disk cannot take (full, read-only) becomes a 503 (STORE_UNAVAILABLE); the writes that
// are only hints (access times, repository links, tag check times) are skipped instead.
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";
import type { MetaStore } from "../store/meta-store-api.ts";
import { storeProblem, storeUnavailable } from "./store-errors.ts";
import { TagMemo } from "./tag-memo.ts";

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
CREATE INDEX IF NOT EXISTS repo_blobs_digest ON repo_blobs (digest);
-- Hosted registries (queried by registry/hosted/hosted-meta.ts). Created in every database, hosted
-- or not, because eviction (lruBlobs) must see hosted_links to never pick hosted content.
CREATE TABLE IF NOT EXISTS hosted_links (
  registry TEXT NOT NULL,
  repository TEXT NOT NULL,
  digest TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('blob', 'manifest')),
  created_at INTEGER NOT NULL,
  PRIMARY KEY (registry, repository, digest)
);
CREATE INDEX IF NOT EXISTS hosted_links_digest ON hosted_links (digest);
CREATE TABLE IF NOT EXISTS hosted_tags (
  registry TEXT NOT NULL,
  repository TEXT NOT NULL,
  tag TEXT NOT NULL,
  digest TEXT NOT NULL,
  media_type TEXT NOT NULL,
  PRIMARY KEY (registry, repository, tag)
);
CREATE TABLE IF NOT EXISTS referrers (
  registry TEXT NOT NULL,
  repository TEXT NOT NULL,
  subject TEXT NOT NULL,
  digest TEXT NOT NULL,
  artifact_type TEXT,
  media_type TEXT NOT NULL,
  size INTEGER NOT NULL,
  annotations TEXT,
  PRIMARY KEY (registry, repository, subject, digest)
);
-- Digests whose last hosted link went away: candidates for hosted gc (re-checked before deletion).
CREATE TABLE IF NOT EXISTS hosted_orphans (
  digest TEXT PRIMARY KEY,
  since INTEGER NOT NULL
);
-- Managed mirror (queried by mirror/mirror-state.ts): per mirrored tag what was copied and pins,
-- the history of replaced digests, per entry the last runs; a generation the server polls.
CREATE TABLE IF NOT EXISTS mirror_tags (
  target_registry TEXT NOT NULL,
  target_repository TEXT NOT NULL,
  tag TEXT NOT NULL,
  source_registry TEXT NOT NULL,
  source_repository TEXT NOT NULL,
  source_digest TEXT,
  upstream_digest TEXT,
  pinned_digest TEXT,
  pinned_at INTEGER,
  synced_at INTEGER,
  checked_at INTEGER,
  size INTEGER,
  platforms TEXT,
  PRIMARY KEY (target_registry, target_repository, tag)
);
CREATE TABLE IF NOT EXISTS mirror_history (
  target_registry TEXT NOT NULL,
  target_repository TEXT NOT NULL,
  tag TEXT NOT NULL,
  history_tag TEXT NOT NULL,
  digest TEXT NOT NULL,
  replaced_at INTEGER NOT NULL,
  reason TEXT NOT NULL,
  PRIMARY KEY (target_registry, target_repository, history_tag)
);
CREATE TABLE IF NOT EXISTS mirror_runs (
  entry TEXT PRIMARY KEY,
  last_start INTEGER,
  last_end INTEGER,
  last_success INTEGER,
  last_error TEXT,
  changes_total INTEGER NOT NULL DEFAULT 0,
  failures_total INTEGER NOT NULL DEFAULT 0
);
-- Robot tokens (queried by access/robot-tokens.ts): the SHA-256 of each secret, never the secret.
CREATE TABLE IF NOT EXISTS robot_tokens (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  secret_sha256 TEXT NOT NULL,
  scopes TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER
);
CREATE TABLE IF NOT EXISTS mirror_generation (
  id INTEGER PRIMARY KEY CHECK (id = 0),
  value INTEGER NOT NULL
);
`;

/** Tables copied between a file and its in-memory stand-in (a full disk at start). */
const COPIED_TABLES = [
  "blobs",
  "tags",
  "repo_blobs",
  "hosted_links",
  "hosted_tags",
  "referrers",
  "hosted_orphans",
  "mirror_tags",
  "mirror_history",
  "mirror_runs",
  "mirror_generation",
  "robot_tokens",
];

export class MetadataDb implements MetaStore {
  #db: DatabaseSync;
  #stmts: Record<string, StatementSync> = {};
  /** Set while the index lives in memory for want of disk space: the file it belongs to. */
  #pendingFile: string | undefined;
  readonly #tags = new TagMemo<TagRecord>(() => this.#stmt("PRAGMA data_version"));
  /** Told about every write the store could not take (StoreHealth logs it once and turns read-only). */
  onWriteFailure: ((what: string, e: unknown) => void) | undefined;

  constructor(file: string) {
    this.#db = new DatabaseSync(file);
    this.#db.exec("PRAGMA busy_timeout = 5000;");
    this.#db.exec(SCHEMA);
  }

  /**
   * An in-memory copy of `file` (read without locks or journal, which a full disk cannot give),
   * used until persist() can write it back: wharf starts and serves hits on a full disk.
   */
  static inMemoryCopyOf(file: string, exists: boolean): MetadataDb {
    const db = new MetadataDb(":memory:");
    db.#pendingFile = file;
    if (exists) {
      db.#db.exec(
        `ATTACH DATABASE 'file:${encodeURI(file).replaceAll("?", "%3f").replaceAll("'", "''")}?immutable=1' AS disk`,
      );
      try {
        for (const t of COPIED_TABLES) db.#db.exec(`INSERT OR IGNORE INTO main.${t} SELECT * FROM disk.${t}`);
      } finally {
        db.#db.exec("DETACH DATABASE disk");
      }
    }
    return db;
  }

  get inMemory(): boolean {
    return this.#pendingFile !== undefined;
  }

  /** Writes an in-memory index back to its file and continues there; false while that still fails. */
  persist(): boolean {
    const file = this.#pendingFile;
    if (file === undefined) return true;
    let next: MetadataDb | undefined;
    try {
      next = new MetadataDb(file);
      const target = next.#db;
      next.transaction(() => {
        for (const t of COPIED_TABLES) {
          for (const r of this.#db.prepare(`SELECT * FROM ${t}`).all() as Record<string, SQLInputValue>[]) {
            const cols = Object.keys(r);
            const marks = cols.map(() => "?").join(", ");
            target
              .prepare(`INSERT OR REPLACE INTO ${t} (${cols.join(", ")}) VALUES (${marks})`)
              .run(...Object.values(r));
          }
        }
      });
    } catch (e) {
      next?.close();
      if (storeProblem(e)) return false;
      throw e;
    }
    this.#db.close();
    this.#db = next.#db;
    this.#stmts = {};
    this.#tags.clear();
    this.#pendingFile = undefined;
    return true;
  }

  #stmt(sql: string): StatementSync {
    let s = this.#stmts[sql];
    if (!s) {
      s = this.#db.prepare(sql);
      this.#stmts[sql] = s;
    }
    return s;
  }

  /** Runs a write; store trouble becomes a 503 for the request that needed it. */
  #write(what: string, sql: string, ...params: SQLInputValue[]): void {
    try {
      this.#stmt(sql).run(...params);
    } catch (e) {
      if (!storeProblem(e)) throw e;
      this.onWriteFailure?.(what, e);
      throw storeUnavailable(`cache metadata cannot be written: ${(e as Error).message}`, e);
    }
  }

  /** Runs a write that only refines eviction order or bookkeeping: skipped when the store can't take it. */
  #hint(what: string, sql: string, ...params: SQLInputValue[]): void {
    try {
      this.#write(what, sql, ...params);
    } catch (e) {
      if (!storeProblem(e)) throw e;
    }
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
    this.#write(
      "recording a blob",
      `INSERT INTO blobs (digest, size, media_type, last_access, created_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (digest) DO UPDATE SET size = excluded.size, last_access = excluded.last_access,
       media_type = COALESCE(excluded.media_type, blobs.media_type)`,
      digest,
      size,
      mediaType,
      now,
      now,
    );
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
    this.#hint("an access-time update", "UPDATE blobs SET last_access = ? WHERE digest = ?", now, digest);
  }

  /** Throws STORE_UNAVAILABLE when the disk cannot take it (delete the file first, retry later). */
  deleteBlob(digest: string): void {
    this.#write("removing a blob record", "DELETE FROM blobs WHERE digest = ?", digest);
    this.#write("removing a blob record", "DELETE FROM repo_blobs WHERE digest = ?", digest);
  }

  totalSize(): { bytes: number; count: number } {
    const r = this.#stmt("SELECT COALESCE(SUM(size), 0) AS bytes, COUNT(*) AS count FROM blobs").get() as {
      bytes: number;
      count: number;
    };
    return { bytes: Number(r.bytes), count: Number(r.count) };
  }

  /**
   * What eviction may take: blobs no hosted registry links. `cache.maxSize` bounds this; hosted
   * content is never evicted, so it is not counted against the budget of the pull-through cache.
   */
  evictableSize(): { bytes: number; count: number } {
    const r = this.#stmt(
      "SELECT COALESCE(SUM(size), 0) AS bytes, COUNT(*) AS count FROM blobs WHERE digest NOT IN (SELECT digest FROM hosted_links)",
    ).get() as { bytes: number; count: number };
    return { bytes: Number(r.bytes), count: Number(r.count) };
  }

  /** Least recently used blobs first. */
  lruBlobs(limit: number): BlobRecord[] {
    return (
      this.#stmt(
        "SELECT digest, size, media_type, last_access, created_at FROM blobs WHERE digest NOT IN (SELECT digest FROM hosted_links) ORDER BY last_access ASC LIMIT ?",
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
    this.#tags.delete(TagMemo.key(t.registry, t.repository, t.tag));
    this.#write(
      "recording a tag",
      `INSERT INTO tags (registry, repository, tag, digest, media_type, size, fetched_at, checked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (registry, repository, tag) DO UPDATE SET digest = excluded.digest, media_type = excluded.media_type,
       size = excluded.size, fetched_at = excluded.fetched_at, checked_at = excluded.checked_at`,
      t.registry,
      t.repository,
      t.tag,
      t.digest,
      t.mediaType,
      t.size,
      t.fetchedAt,
      t.checkedAt,
    );
  }

  getTag(registry: string, repository: string, tag: string): TagRecord | undefined {
    const key = TagMemo.key(registry, repository, tag);
    const known = this.#tags.get(key);
    if (known !== undefined) return known ?? undefined;
    const r = this.#stmt("SELECT * FROM tags WHERE registry = ? AND repository = ? AND tag = ?").get(
      registry,
      repository,
      tag,
    ) as Record<string, string | number> | undefined;
    const record = r && rowToTag(r);
    // not remembered inside a transaction: a rollback would leave the memo ahead of the database
    if (!this.#db.isTransaction) this.#tags.set(key, record ? Object.freeze(record) : null);
    return record;
  }

  markTagChecked(registry: string, repository: string, tag: string, now: number): void {
    this.#tags.delete(TagMemo.key(registry, repository, tag));
    this.#hint(
      "a tag check-time update",
      "UPDATE tags SET checked_at = ? WHERE registry = ? AND repository = ? AND tag = ?",
      now,
      registry,
      repository,
      tag,
    );
  }

  deleteTag(registry: string, repository: string, tag: string): void {
    this.#tags.delete(TagMemo.key(registry, repository, tag));
    this.#write(
      "removing a tag",
      "DELETE FROM tags WHERE registry = ? AND repository = ? AND tag = ?",
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
    this.#hint(
      "a repository note",
      `INSERT INTO repo_blobs (registry, repository, digest, last_access) VALUES (?, ?, ?, ?)
       ON CONFLICT (registry, repository, digest) DO UPDATE SET last_access = excluded.last_access`,
      registry,
      repository,
      digest,
      now,
    );
  }

  /** Links every digest of `digests` to the repository at once (a manifest's references). */
  linkRepoBlobs(registry: string, repository: string, digests: readonly string[], now: number): void {
    if (digests.length === 0) return;
    try {
      this.transaction(() => {
        for (const d of digests) this.noteRepoBlob(registry, repository, d, now);
      });
    } catch (e) {
      this.onWriteFailure?.("linking a manifest's blobs", e);
    }
  }

  /** True when `repository` of `registry` is known to use `digest` (distribution's linked blob store). */
  hasRepoBlob(registry: string, repository: string, digest: string): boolean {
    return (
      this.#stmt("SELECT 1 FROM repo_blobs WHERE registry = ? AND repository = ? AND digest = ?").get(
        registry,
        repository,
        digest,
      ) !== undefined
    );
  }

  /** Up to `limit` repositories, proxied or hosted, that `digest` is linked in. */
  linkedRepositories(digest: string, limit: number): { registry: string; repository: string }[] {
    return this.#stmt(
      `SELECT registry, repository FROM repo_blobs WHERE digest = ?1
       UNION SELECT registry, repository FROM hosted_links WHERE digest = ?1 LIMIT ?2`,
    ).all(digest, limit) as { registry: string; repository: string }[];
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

  /** The connection, for stores keeping their own tables here (registry/hosted/hosted-meta.ts). */
  get connection(): DatabaseSync {
    return this.#db;
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
