// The hosted index of a replica set, in PostgreSQL (tables in pg-hosted-schema.ts). The writes that
// must change several rows together (a manifest's links, tag and referrer; a deleted manifest's
// tags, referrer and link) run in one transaction, so another replica never sees half a push.
import type pg from "pg";
import { WharfError } from "../../../common/errors.ts";
import {
  type HostedIndex,
  type HostedUsage,
  type LinkKind,
  type ManifestRecord,
  type Page,
  type ReferrerRecord,
  referrerOf,
  referrerValues,
} from "../hosted-index-api.ts";
import { inTransaction, storeUnavailable } from "./pg-transaction.ts";

type Queryable = pg.Pool | pg.PoolClient;

/** Of `digests`, those the bucket does not hold (a HEAD each). */
export type BucketCheck = (digests: string[]) => Promise<string[]>;

/**
 * Advisory lock namespace of a digest's gc (first key of the two-key form): "gcdg". A link takes
 * it shared, gc exclusive while it removes the digest's object (pg-hosted-gc.ts).
 */
export const GC_DIGEST_LOCK = 0x67636467;

/**
 * Links or re-links digests to a repository in one statement; a manifest link never turns into a
 * blob link (same rule as on one node). Rows are written in digest order, so two pushes linking
 * overlapping digests lock them in the same order and never deadlock.
 *
 * Against gc: the digests' gc locks are held shared until COMMIT, so gc (which removes an object
 * holding the lock exclusive, after seeing no link) either ran before, and left a tombstone that
 * sends us to the bucket to see whether the object is there again, or waits and then sees the link.
 * `gone` makes the error for a digest that is not (the client uploads it again).
 */
export async function link(
  q: Queryable,
  registry: string,
  repository: string,
  links: Map<string, { kind: LinkKind; size: number | null }>,
  now: number,
  check?: { bucket: BucketCheck; gone: (digest: string) => WharfError },
): Promise<void> {
  const digests = [...links.keys()].sort();
  await q.query(
    `SELECT pg_advisory_xact_lock_shared($1, hashtext(s.d))
     FROM (SELECT d FROM unnest($2::text[]) AS d ORDER BY d) s`,
    [GC_DIGEST_LOCK, digests],
  );
  if (check) {
    const t = await q.query<{ digest: string }>(
      "SELECT digest FROM hosted_orphans WHERE digest = ANY($1::text[]) AND collected_at IS NOT NULL",
      [digests],
    );
    const collected = t.rows.map((r) => r.digest);
    const missing = collected.length > 0 ? await check.bucket(collected) : [];
    if (missing[0] !== undefined) throw check.gone(missing[0]);
  }
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

export async function putTag(
  q: Queryable,
  registry: string,
  repository: string,
  tag: string,
  to: { digest: string; mediaType: string },
): Promise<void> {
  await q.query(
    `INSERT INTO hosted_tags (registry, repository, tag, digest, media_type) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (registry, repository, tag) DO UPDATE SET digest = EXCLUDED.digest,
       media_type = EXCLUDED.media_type`,
    [registry, repository, tag, to.digest, to.mediaType],
  );
}

export async function putReferrer(
  q: Queryable,
  registry: string,
  repository: string,
  subject: string,
  r: ReferrerRecord,
): Promise<void> {
  await q.query(
    `INSERT INTO hosted_referrers
       (registry, repository, subject, digest, artifact_type, media_type, size, annotations)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (registry, repository, subject, digest) DO UPDATE SET artifact_type = EXCLUDED.artifact_type,
       media_type = EXCLUDED.media_type, size = EXCLUDED.size, annotations = EXCLUDED.annotations`,
    referrerValues(registry, repository, subject, r),
  );
}

/** `LIMIT n+1` of a page (NULL: all). */
const limitOf = (page: Page) => (page.n === undefined ? null : page.n + 1);

const blobGone = (digest: string) =>
  new WharfError("BLOB_UNKNOWN", "blob unknown to registry: collected; upload it again", {
    detail: { digest },
  });
const manifestBlobGone = (digest: string) =>
  new WharfError("MANIFEST_BLOB_UNKNOWN", "a blob the manifest names was collected; upload it again", {
    detail: { digest },
  });

export class PgHostedIndex implements HostedIndex {
  readonly #pool: pg.Pool;
  readonly #bucket: BucketCheck | undefined;

  /** `bucket`: where a digest gc collected is looked for again before a link names it. */
  constructor(pool: pg.Pool, bucket?: BucketCheck) {
    this.#pool = pool;
    this.#bucket = bucket;
  }

  #check(gone: (digest: string) => WharfError) {
    return this.#bucket && { bucket: this.#bucket, gone };
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
    await inTransaction(this.#pool, (c) => link(c, registry, repository, links, now, this.#check(blobGone)));
    return true;
  }

  async recordManifest(m: ManifestRecord, guard?: () => void): Promise<void> {
    guard?.();
    await inTransaction(this.#pool, async (c) => {
      await link(c, m.registry, m.repository, linksOf(m), m.now, this.#check(manifestBlobGone));
      if (m.tag !== undefined)
        await putTag(c, m.registry, m.repository, m.tag, { digest: m.digest, mediaType: m.mediaType });
      if (m.subject) await putReferrer(c, m.registry, m.repository, m.subject, referrerOf(m));
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
