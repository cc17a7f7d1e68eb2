// SharedTags in PostgreSQL: one row per registry/repository/tag. A write never moves checked_at
// backwards, so a slow replica's older news cannot undo a newer check by another.
import type pg from "pg";
import type { TagRecord } from "../meta-store-api.ts";
import type { SharedTags } from "../shared-tags-api.ts";

interface Row {
  registry: string;
  repository: string;
  tag: string;
  digest: string;
  media_type: string;
  size: string;
  fetched_at: string;
  checked_at: string;
}

export class PgSharedTags implements SharedTags {
  readonly #pool: pg.Pool;
  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async get(registry: string, repository: string, tag: string): Promise<TagRecord | undefined> {
    const r = await this.#pool.query<Row>(
      "SELECT * FROM proxy_tags WHERE registry = $1 AND repository = $2 AND tag = $3",
      [registry, repository, tag],
    );
    const row = r.rows[0];
    if (!row) return undefined;
    return {
      registry: row.registry,
      repository: row.repository,
      tag: row.tag,
      digest: row.digest,
      mediaType: row.media_type,
      size: Number(row.size),
      fetchedAt: Number(row.fetched_at),
      checkedAt: Number(row.checked_at),
    };
  }

  async put(t: TagRecord): Promise<void> {
    await this.#pool.query(
      `INSERT INTO proxy_tags AS p VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (registry, repository, tag) DO UPDATE
         SET digest = EXCLUDED.digest, media_type = EXCLUDED.media_type, size = EXCLUDED.size,
             fetched_at = EXCLUDED.fetched_at, checked_at = EXCLUDED.checked_at
         WHERE p.checked_at <= EXCLUDED.checked_at`,
      [t.registry, t.repository, t.tag, t.digest, t.mediaType, t.size, t.fetchedAt, t.checkedAt],
    );
  }

  async markChecked(
    registry: string,
    repository: string,
    tag: string,
    digest: string,
    now: number,
  ): Promise<void> {
    await this.#pool.query(
      `UPDATE proxy_tags SET checked_at = $5
       WHERE registry = $1 AND repository = $2 AND tag = $3 AND digest = $4 AND checked_at < $5`,
      [registry, repository, tag, digest, now],
    );
  }

  async delete(registry: string, repository: string, tag: string): Promise<void> {
    await this.#pool.query("DELETE FROM proxy_tags WHERE registry = $1 AND repository = $2 AND tag = $3", [
      registry,
      repository,
      tag,
    ]);
  }
}
