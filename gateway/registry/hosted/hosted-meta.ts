// Hosted registries' records in the cache's SQLite database: which digests each repository holds
// (links), tags, referrers, and digests whose last link went (gc candidates). The tables are
// created by metadata-db.ts, which must know hosted_links to keep eviction off hosted content.
//
// Why the cache's own connection rather than a second one: writes that must be atomic with
// filesystem steps (rename an upload into the store, unlink a collected blob) run as one
// synchronous BEGIN IMMEDIATE transaction. On one connection nothing else in this process can
// interleave; a second connection in the same thread would wait on its own lock. Other processes
// (`wharf gc` beside the server) are serialised by SQLite's write lock and busy_timeout.
import type { MetadataDb } from "../../cache/metadata-db.ts";
import { PreparedStatements } from "../../cache/prepared-statements.ts";

import {
  type LinkKind,
  type Page,
  type ReferrerRecord,
  referrerValues,
} from "../../store/hosted-index-api.ts";

export type { LinkKind, Page, ReferrerRecord };

export interface HostedLink {
  registry: string;
  repository: string;
  digest: string;
  kind: LinkKind;
  /** When the link was made or last re-made by a push that needed it (gc's grace counts from here). */
  createdAt: number;
}

export class HostedMeta {
  readonly #sql: PreparedStatements;

  constructor(meta: MetadataDb) {
    this.#sql = new PreparedStatements(meta);
  }

  /** Runs `fn` (synchronous: no await inside) holding SQLite's write lock from the start. */
  immediate<T>(fn: () => T): T {
    return this.#sql.immediate(fn);
  }

  /** Creates or refreshes a link; the digest is no gc candidate any more. */
  link(registry: string, repository: string, digest: string, kind: LinkKind, now: number): void {
    this.#sql
      .get(
        `INSERT INTO hosted_links (registry, repository, digest, kind, created_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (registry, repository, digest) DO UPDATE SET created_at = excluded.created_at,
       kind = CASE WHEN hosted_links.kind = 'manifest' THEN 'manifest' ELSE excluded.kind END`,
      )
      .run(registry, repository, digest, kind, now);
    this.#sql.get("DELETE FROM hosted_orphans WHERE digest = ?").run(digest);
  }

  linkKind(registry: string, repository: string, digest: string): LinkKind | undefined {
    const r = this.#sql
      .get("SELECT kind FROM hosted_links WHERE registry = ? AND repository = ? AND digest = ?")
      .get(registry, repository, digest) as { kind: LinkKind } | undefined;
    return r?.kind;
  }

  /** Removes a link; a digest no hosted repository links any more becomes a gc candidate. */
  unlink(registry: string, repository: string, digest: string, now: number): boolean {
    const r = this.#sql
      .get("DELETE FROM hosted_links WHERE registry = ? AND repository = ? AND digest = ?")
      .run(registry, repository, digest);
    if (!this.isLinkedAnywhere(digest))
      this.#sql.get("INSERT OR IGNORE INTO hosted_orphans (digest, since) VALUES (?, ?)").run(digest, now);
    return Number(r.changes) > 0;
  }

  isLinkedAnywhere(digest: string): boolean {
    return this.#sql.get("SELECT 1 FROM hosted_links WHERE digest = ? LIMIT 1").get(digest) !== undefined;
  }

  hasRepository(registry: string, repository: string): boolean {
    return (
      this.#sql
        .get("SELECT 1 FROM hosted_links WHERE registry = ? AND repository = ? LIMIT 1")
        .get(registry, repository) !== undefined
    );
  }

  links(kind?: LinkKind): HostedLink[] {
    const rows = this.#sql
      .get(
        "SELECT registry, repository, digest, kind, created_at FROM hosted_links WHERE ?1 IS NULL OR kind = ?1",
      )
      .all(kind ?? null) as {
      registry: string;
      repository: string;
      digest: string;
      kind: LinkKind;
      created_at: number;
    }[];
    return rows.map(toLink);
  }

  linkCreatedAt(registry: string, repository: string, digest: string): number | undefined {
    const r = this.#sql
      .get("SELECT created_at FROM hosted_links WHERE registry = ? AND repository = ? AND digest = ?")
      .get(registry, repository, digest) as { created_at: number } | undefined;
    return r && Number(r.created_at);
  }

  linksOf(digest: string): HostedLink[] {
    const rows = this.#sql
      .get("SELECT registry, repository, digest, kind, created_at FROM hosted_links WHERE digest = ?")
      .all(digest) as {
      registry: string;
      repository: string;
      digest: string;
      kind: LinkKind;
      created_at: number;
    }[];
    return rows.map(toLink);
  }

  getTag(
    registry: string,
    repository: string,
    tag: string,
  ): { digest: string; mediaType: string } | undefined {
    const r = this.#sql
      .get("SELECT digest, media_type FROM hosted_tags WHERE registry = ? AND repository = ? AND tag = ?")
      .get(registry, repository, tag) as { digest: string; media_type: string } | undefined;
    return r && { digest: r.digest, mediaType: r.media_type };
  }

  putTag(registry: string, repository: string, tag: string, digest: string, mediaType: string): void {
    this.#sql
      .get(
        `INSERT INTO hosted_tags (registry, repository, tag, digest, media_type) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (registry, repository, tag) DO UPDATE SET digest = excluded.digest, media_type = excluded.media_type`,
      )
      .run(registry, repository, tag, digest, mediaType);
  }

  deleteTag(registry: string, repository: string, tag: string): boolean {
    const r = this.#sql
      .get("DELETE FROM hosted_tags WHERE registry = ? AND repository = ? AND tag = ?")
      .run(registry, repository, tag);
    return Number(r.changes) > 0;
  }

  deleteTagsOf(registry: string, repository: string, digest: string): void {
    this.#sql
      .get("DELETE FROM hosted_tags WHERE registry = ? AND repository = ? AND digest = ?")
      .run(registry, repository, digest);
  }

  /** Tags in byte order after `last`, one more than asked so the caller knows if more follow. */
  listTags(registry: string, repository: string, page: Page): string[] {
    const rows = this.#sql
      .get(
        `SELECT tag FROM hosted_tags WHERE registry = ? AND repository = ? AND (?3 IS NULL OR tag > ?3)
       ORDER BY tag LIMIT ?4`,
      )
      .all(registry, repository, page.last ?? null, page.n === undefined ? -1 : page.n + 1) as {
      tag: string;
    }[];
    return rows.map((r) => r.tag);
  }

  listRepositories(registry: string, page: Page): string[] {
    const rows = this.#sql
      .get(
        `SELECT DISTINCT repository FROM hosted_links WHERE registry = ?1 AND (?2 IS NULL OR repository > ?2)
       ORDER BY repository LIMIT ?3`,
      )
      .all(registry, page.last ?? null, page.n === undefined ? -1 : page.n + 1) as { repository: string }[];
    return rows.map((r) => r.repository);
  }

  putReferrer(registry: string, repository: string, subject: string, r: ReferrerRecord): void {
    this.#sql
      .get(
        `INSERT OR REPLACE INTO referrers (registry, repository, subject, digest, artifact_type, media_type, size, annotations)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(...referrerValues(registry, repository, subject, r));
  }

  deleteReferrer(registry: string, repository: string, digest: string): void {
    this.#sql
      .get("DELETE FROM referrers WHERE registry = ? AND repository = ? AND digest = ?")
      .run(registry, repository, digest);
  }

  referrers(registry: string, repository: string, subject: string, artifactType?: string): ReferrerRecord[] {
    const rows = this.#sql
      .get(
        `SELECT digest, artifact_type, media_type, size, annotations FROM referrers
       WHERE registry = ? AND repository = ? AND subject = ? AND (?4 IS NULL OR artifact_type = ?4) ORDER BY digest`,
      )
      .all(registry, repository, subject, artifactType ?? null) as {
      digest: string;
      artifact_type: string | null;
      media_type: string;
      size: number;
      annotations: string | null;
    }[];
    return rows.map((r) => ({
      digest: r.digest,
      mediaType: r.media_type,
      size: Number(r.size),
      artifactType: r.artifact_type,
      annotations: r.annotations ? (JSON.parse(r.annotations) as Record<string, string>) : null,
    }));
  }

  usage(registry: string): { blobs: number; bytes: number; repositories: number; tags: number } {
    const b = this.#sql
      .get(
        `SELECT COUNT(*) AS blobs, COALESCE(SUM(size), 0) AS bytes FROM blobs
       WHERE digest IN (SELECT digest FROM hosted_links WHERE registry = ?)`,
      )
      .get(registry) as { blobs: number; bytes: number };
    const r = this.#sql
      .get("SELECT COUNT(DISTINCT repository) AS n FROM hosted_links WHERE registry = ?")
      .get(registry) as { n: number };
    const t = this.#sql.get("SELECT COUNT(*) AS n FROM hosted_tags WHERE registry = ?").get(registry) as {
      n: number;
    };
    return { blobs: Number(b.blobs), bytes: Number(b.bytes), repositories: Number(r.n), tags: Number(t.n) };
  }

  orphans(): { digest: string; since: number }[] {
    return (
      this.#sql.get("SELECT digest, since FROM hosted_orphans ORDER BY since").all() as {
        digest: string;
        since: number;
      }[]
    ).map((r) => ({ digest: r.digest, since: Number(r.since) }));
  }

  dropOrphan(digest: string): void {
    this.#sql.get("DELETE FROM hosted_orphans WHERE digest = ?").run(digest);
  }

  /** The proxy cache serves `digest` (a cached tag names it, or a proxied repository used it). */
  usedByProxy(digest: string): boolean {
    return (
      this.#sql.get("SELECT 1 FROM repo_blobs WHERE digest = ? LIMIT 1").get(digest) !== undefined ||
      this.#sql.get("SELECT 1 FROM tags WHERE digest = ? LIMIT 1").get(digest) !== undefined
    );
  }

  /** Forgets a blob whose file is being removed (same row MetadataDb.deleteBlob drops). */
  forgetBlob(digest: string): void {
    this.#sql.get("DELETE FROM blobs WHERE digest = ?").run(digest);
  }
}

function toLink(r: {
  registry: string;
  repository: string;
  digest: string;
  kind: LinkKind;
  created_at: number;
}): HostedLink {
  return {
    registry: r.registry,
    repository: r.repository,
    digest: r.digest,
    kind: r.kind,
    createdAt: Number(r.created_at),
  };
}
