// The hosted index of a replica set, in PostgreSQL (tables in pg-hosted-schema.ts). The writes that
// must change several rows together (a manifest's links, tag and referrer; a deleted manifest's
// tags, referrer and link) run in one transaction, so another replica never sees half a push.
import type pg from "pg";
import type {
  HostedIndex,
  HostedUsage,
  LinkKind,
  ManifestRecord,
  Page,
  ReferrerRecord,
} from "../hosted-index-api.ts";
import { inTransaction, storeUnavailable } from "./pg-transaction.ts";

type Queryable = pg.Pool | pg.PoolClient;

/**
 * Links or re-links digests to a repository in one statement; a manifest link never turns into a
 * blob link (same rule as on one node). Rows are written in digest order, so two pushes linking
 * overlapping digests lock them in the same order and never deadlock.
 */
async function link(
  q: Queryable,
  registry: string,
  repository: string,
  links: Map<string, { kind: LinkKind; size: number | null }>,
  now: number,
): Promise<void> {
  const digests = [...links.keys()].sort();
  const kinds = digests.map((d) => links.get(d)?.kind);
  const sizes = digests.map((d) => links.get(d)?.size ?? null);
  await q.query(
    `INSERT INTO hosted_links AS l (registry, repository, digest, kind, size, created_at)
     SELECT $1, $2, t.d, t.k, t.s, $6 FROM unnest($3::text[], $4::text[], $5::bigint[]) AS t(d, k, s) ORDER BY t.d
     ON CONFLICT (registry, repository, digest) DO UPDATE SET created_at = EXCLUDED.created_at,
       kind = CASE WHEN l.kind = 'manifest' THEN 'manifest' ELSE EXCLUDED.kind END,
       size = COALESCE(EXCLUDED.size, l.size)`,
    [registry, repository, digests, kinds, sizes, now],
  );
  await q.query("DELETE FROM hosted_orphans WHERE digest = ANY($1::text[])", [digests]);
}

/** What a manifest PUT links: the manifest, its blobs and children (a manifest kind wins a tie). */
function linksOf(m: ManifestRecord): Map<string, { kind: LinkKind; size: number | null }> {
  const out = new Map<string, { kind: LinkKind; size: number | null }>();
  for (const d of m.blobs) out.set(d, { kind: "blob", size: null });
  for (const d of m.children) out.set(d, { kind: "manifest", size: null });
  out.set(m.digest, { kind: "manifest", size: m.size });
  return out;
}

/** Removes a link; a digest no hosted repository links any more becomes a gc candidate. */
async function unlink(
  q: Queryable,
  registry: string,
  repository: string,
  digest: string,
  now: number,
): Promise<boolean> {
  const r = await q.query(
    "DELETE FROM hosted_links WHERE registry = $1 AND repository = $2 AND digest = $3",
    [registry, repository, digest],
  );
  await q.query(
    `INSERT INTO hosted_orphans (digest, since) SELECT $1::text, $2::bigint
     WHERE NOT EXISTS (SELECT 1 FROM hosted_links WHERE digest = $1) ON CONFLICT DO NOTHING`,
    [digest, now],
  );
  return (r.rowCount ?? 0) > 0;
}

/** `LIMIT n+1` of a page (NULL: all). */
const limitOf = (page: Page) => (page.n === undefined ? null : page.n + 1);

export class PgHostedIndex implements HostedIndex {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  #query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    values: unknown[],
  ): Promise<pg.QueryResult<R>> {
    return this.#pool.query<R>(text, values).catch(storeUnavailable);
  }

  async linkKind(registry: string, repository: string, digest: string): Promise<LinkKind | undefined> {
    const r = await this.#query<{ kind: LinkKind }>(
      "SELECT kind FROM hosted_links WHERE registry = $1 AND repository = $2 AND digest = $3",
      [registry, repository, digest],
    );
    return r.rows[0]?.kind;
  }

  async hasRepository(registry: string, repository: string): Promise<boolean> {
    const r = await this.#query(
      "SELECT 1 FROM hosted_links WHERE registry = $1 AND repository = $2 LIMIT 1",
      [registry, repository],
    );
    return r.rows.length > 0;
  }

  async getTag(registry: string, repository: string, tag: string) {
    const r = await this.#query<{ digest: string; media_type: string }>(
      "SELECT digest, media_type FROM hosted_tags WHERE registry = $1 AND repository = $2 AND tag = $3",
      [registry, repository, tag],
    );
    const row = r.rows[0];
    return row && { digest: row.digest, mediaType: row.media_type };
  }

  async listTags(registry: string, repository: string, page: Page): Promise<string[]> {
    const r = await this.#query<{ tag: string }>(
      `SELECT tag FROM hosted_tags WHERE registry = $1 AND repository = $2 AND ($3::text IS NULL OR tag > $3)
       ORDER BY tag LIMIT $4`,
      [registry, repository, page.last ?? null, limitOf(page)],
    );
    return r.rows.map((row) => row.tag);
  }

  async listRepositories(registry: string, page: Page): Promise<string[]> {
    const r = await this.#query<{ repository: string }>(
      `SELECT DISTINCT repository FROM hosted_links WHERE registry = $1 AND ($2::text IS NULL OR repository > $2)
       ORDER BY repository LIMIT $3`,
      [registry, page.last ?? null, limitOf(page)],
    );
    return r.rows.map((row) => row.repository);
  }

  async referrers(
    registry: string,
    repository: string,
    subject: string,
    artifactType?: string,
  ): Promise<ReferrerRecord[]> {
    const r = await this.#query<{
      digest: string;
      artifact_type: string | null;
      media_type: string;
      size: string;
      annotations: Record<string, string> | null;
    }>(
      `SELECT digest, artifact_type, media_type, size, annotations FROM hosted_referrers
       WHERE registry = $1 AND repository = $2 AND subject = $3 AND ($4::text IS NULL OR artifact_type = $4)
       ORDER BY digest`,
      [registry, repository, subject, artifactType ?? null],
    );
    return r.rows.map((row) => ({
      digest: row.digest,
      mediaType: row.media_type,
      size: Number(row.size),
      artifactType: row.artifact_type,
      annotations: row.annotations,
    }));
  }

  async usage(registry: string): Promise<HostedUsage> {
    const r = await this.#query<{ blobs: number; bytes: string; repositories: number; tags: number }>(
      `SELECT
         (SELECT count(*)::int FROM (SELECT DISTINCT digest FROM hosted_links WHERE registry = $1) d) AS blobs,
         (SELECT COALESCE(sum(size), 0) FROM (SELECT digest, max(size) AS size FROM hosted_links
            WHERE registry = $1 GROUP BY digest) s) AS bytes,
         (SELECT count(DISTINCT repository)::int FROM hosted_links WHERE registry = $1) AS repositories,
         (SELECT count(*)::int FROM hosted_tags WHERE registry = $1) AS tags`,
      [registry],
    );
    const row = r.rows[0];
    return {
      blobs: row?.blobs ?? 0,
      bytes: Number(row?.bytes ?? 0),
      repositories: row?.repositories ?? 0,
      tags: row?.tags ?? 0,
    };
  }

  async linkBlob(
    registry: string,
    repository: string,
    digest: string,
    size: number,
    now: number,
    guard?: () => boolean,
  ): Promise<boolean> {
    if (guard && !guard()) return false;
    const links = new Map([[digest, { kind: "blob" as const, size }]]);
    await inTransaction(this.#pool, (c) => link(c, registry, repository, links, now));
    return true;
  }

  async recordManifest(m: ManifestRecord, guard?: () => void): Promise<void> {
    guard?.();
    await inTransaction(this.#pool, async (c) => {
      await link(c, m.registry, m.repository, linksOf(m), m.now);
      if (m.tag !== undefined)
        await c.query(
          `INSERT INTO hosted_tags (registry, repository, tag, digest, media_type) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (registry, repository, tag) DO UPDATE SET digest = EXCLUDED.digest,
             media_type = EXCLUDED.media_type`,
          [m.registry, m.repository, m.tag, m.digest, m.mediaType],
        );
      if (m.subject)
        await c.query(
          `INSERT INTO hosted_referrers
             (registry, repository, subject, digest, artifact_type, media_type, size, annotations)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (registry, repository, subject, digest) DO UPDATE SET artifact_type = EXCLUDED.artifact_type,
             media_type = EXCLUDED.media_type, size = EXCLUDED.size, annotations = EXCLUDED.annotations`,
          [
            m.registry,
            m.repository,
            m.subject,
            m.digest,
            m.artifactType,
            m.mediaType,
            m.size,
            m.annotations ? JSON.stringify(m.annotations) : null,
          ],
        );
    });
  }

  async deleteTag(registry: string, repository: string, tag: string): Promise<boolean> {
    const r = await this.#query(
      "DELETE FROM hosted_tags WHERE registry = $1 AND repository = $2 AND tag = $3",
      [registry, repository, tag],
    );
    return (r.rowCount ?? 0) > 0;
  }

  async deleteManifest(registry: string, repository: string, digest: string, now: number): Promise<boolean> {
    return inTransaction(this.#pool, async (c) => {
      // FOR UPDATE: a concurrent re-push of the same manifest waits for this delete, then re-links
      const k = await c.query(
        `SELECT kind FROM hosted_links WHERE registry = $1 AND repository = $2 AND digest = $3 FOR UPDATE`,
        [registry, repository, digest],
      );
      if (k.rows[0]?.kind !== "manifest") return false;
      const args = [registry, repository, digest];
      await c.query("DELETE FROM hosted_tags WHERE registry = $1 AND repository = $2 AND digest = $3", args);
      await c.query(
        "DELETE FROM hosted_referrers WHERE registry = $1 AND repository = $2 AND digest = $3",
        args,
      );
      await unlink(c, registry, repository, digest, now);
      return true;
    });
  }

  async unlinkBlob(registry: string, repository: string, digest: string, now: number): Promise<boolean> {
    return inTransaction(this.#pool, (c) => unlink(c, registry, repository, digest, now));
  }
}
