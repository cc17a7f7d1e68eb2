// The managed mirror's records in PostgreSQL, shared by a replica set (issue 18). A tag change
// runs in one transaction under a transaction-scoped advisory lock on the tag, so a sync on one
// replica and a pin from the CLI on another are serialized. The target's hosted records go where
// the target's index is: with a bucket, the shared hosted index in this same database and this same
// transaction (pg-mirror-targets.ts); without one, this replica's SQLite, committed just before the
// PostgreSQL COMMIT (if they fail, nothing is shared). Sync leases: pg-mirror-lease.ts.
import type pg from "pg";
import type { MetadataDb } from "../../cache/metadata-db.ts";
import type { RepoName } from "../../mirror/mirror-entries.ts";
import { historyOf, runOf, tagOf, tagValues } from "../../mirror/mirror-rows.ts";
import type {
  HistoryRecord,
  MirrorLease,
  MirrorStore,
  MirrorTagRecord,
  RunRecord,
  TagChange,
  TagSnapshot,
  TargetWrites,
} from "../../mirror/mirror-store-api.ts";
import { applyLocally, localHostedTag } from "../../mirror/target-writes.ts";
import type { HostedMeta } from "../../registry/hosted/hosted-meta.ts";
import { SqliteHostedIndex } from "../../registry/hosted/sqlite-hosted-index.ts";
import type { HostedIndex } from "../hosted-index-api.ts";
import { type BucketCheck, PgHostedIndex } from "./pg-hosted-index.ts";
import { takeSyncLease } from "./pg-mirror-lease.ts";
import { applyShared, sharedHostedTags } from "./pg-mirror-targets.ts";

/** Advisory lock namespace of tag changes (first key of the two-key form): "mirt". */
const TAG_LOCK = 0x6d697274;

type Row = Record<string, string | number | null | string[]>;

/** Where the targets' hosted records are: this replica's SQLite, or the shared index (the default). */
export type PgMirrorTargets = { local: MetadataDb } | { bucket?: BucketCheck };

export class PgMirrorStore implements MirrorStore {
  readonly shared = true;
  readonly targets: HostedIndex;
  readonly targetsShared: boolean;
  readonly #pool: pg.Pool;
  readonly #local: HostedMeta | undefined;
  readonly #bucket: BucketCheck | undefined;

  /** `targets.bucket`: where a digest gc collected is looked for before a change links it again. */
  constructor(pool: pg.Pool, targets: PgMirrorTargets = {}) {
    this.#pool = pool;
    if ("local" in targets) {
      const index = new SqliteHostedIndex(targets.local);
      this.#local = index.meta;
      this.targets = index;
      this.targetsShared = false;
    } else {
      this.#bucket = targets.bucket;
      this.targets = new PgHostedIndex(pool, targets.bucket);
      this.targetsShared = true;
    }
  }

  async getTag(target: RepoName, tag: string): Promise<MirrorTagRecord | undefined> {
    return getTag(this.#pool, target, tag);
  }

  async tags(target?: RepoName): Promise<MirrorTagRecord[]> {
    const r = await this.#pool.query(
      `SELECT * FROM mirror_tags WHERE $1::text IS NULL OR (target_registry = $1 AND target_repository = $2)
       ORDER BY target_registry, target_repository, tag`,
      [target?.registry ?? null, target?.repository ?? null],
    );
    return r.rows.map(toTag);
  }

  async history(target: RepoName, tag: string): Promise<HistoryRecord[]> {
    return history(this.#pool, target, tag);
  }

  async changeTag<T>(
    target: RepoName,
    tag: string,
    decide: (s: TagSnapshot) => { change?: TagChange; result: T },
    local?: (change: TagChange) => TargetWrites,
  ): Promise<T> {
    const c = await this.#pool.connect();
    try {
      await c.query("BEGIN");
      await c.query("SELECT pg_advisory_xact_lock($1, hashtext($2))", [TAG_LOCK, tagKey(target, tag)]);
      const meta = this.#local;
      const shared = meta ? undefined : await sharedHostedTags(c, target);
      const { change, result } = decide({
        record: await getTag(c, target, tag),
        history: await history(c, target, tag),
        hostedTag: meta ? localHostedTag(meta, target) : (name) => shared?.get(name),
      });
      if (!change) {
        await c.query("COMMIT");
        return result;
      }
      for (const h of change.addHistory)
        await c.query(
          `INSERT INTO mirror_history VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (target_registry, target_repository, history_tag) DO UPDATE SET tag = EXCLUDED.tag,
             digest = EXCLUDED.digest, replaced_at = EXCLUDED.replaced_at, reason = EXCLUDED.reason`,
          [target.registry, target.repository, tag, h.historyTag, h.digest, h.replacedAt, h.reason],
        );
      for (const name of change.dropHistory)
        await c.query(
          "DELETE FROM mirror_history WHERE target_registry = $1 AND target_repository = $2 AND history_tag = $3",
          [target.registry, target.repository, name],
        );
      await putTag(c, change.record);
      await c.query("UPDATE mirror_generation SET value = value + 1 WHERE id = 0");
      if (local && meta) meta.immediate(() => applyLocally(meta, target, local(change)));
      else if (local) await applyShared(c, target, local(change), this.#bucket);
      await c.query("COMMIT");
      return result;
    } catch (e) {
      await c.query("ROLLBACK").catch(() => {});
      throw e;
    } finally {
      c.release();
    }
  }

  async noteChecked(
    target: RepoName,
    tag: string,
    upstreamDigest: string | null,
    now: number,
  ): Promise<void> {
    await this.#pool.query(
      `UPDATE mirror_tags SET upstream_digest = $1, checked_at = $2
       WHERE target_registry = $3 AND target_repository = $4 AND tag = $5`,
      [upstreamDigest, now, target.registry, target.repository, tag],
    );
  }

  async run(entry: string): Promise<RunRecord | undefined> {
    const r = await this.#pool.query("SELECT * FROM mirror_runs WHERE entry = $1", [entry]);
    return r.rows[0] && runOf(r.rows[0]);
  }

  async runs(): Promise<RunRecord[]> {
    return (await this.#pool.query("SELECT * FROM mirror_runs ORDER BY entry")).rows.map(runOf);
  }

  async runStarted(entry: string, now: number): Promise<void> {
    await this.#pool.query(
      `INSERT INTO mirror_runs (entry, last_start) VALUES ($1, $2)
       ON CONFLICT (entry) DO UPDATE SET last_start = EXCLUDED.last_start`,
      [entry, now],
    );
  }

  async runEnded(entry: string, now: number, changes: number, error: string | null): Promise<void> {
    await this.#pool.query(
      `WITH r AS (UPDATE mirror_runs SET last_end = $1, last_error = $2::text,
         last_success = CASE WHEN $2::text IS NULL THEN $1 ELSE last_success END,
         changes_total = changes_total + $3,
         failures_total = failures_total + (CASE WHEN $2::text IS NULL THEN 0 ELSE 1 END)
       WHERE entry = $4 RETURNING 1)
       UPDATE mirror_generation SET value = value + 1 WHERE id = 0`,
      [now, error, changes, entry],
    );
  }

  async bump(): Promise<void> {
    await this.#pool.query("UPDATE mirror_generation SET value = value + 1 WHERE id = 0");
  }

  async generation(): Promise<number> {
    const r = await this.#pool.query<{ value: string }>("SELECT value FROM mirror_generation WHERE id = 0");
    return Number(r.rows[0]?.value ?? 0);
  }

  lease(entry: string, opts: { waitMs?: number } = {}): Promise<MirrorLease | undefined> {
    return takeSyncLease(this.#pool, entry, opts.waitMs ?? 0);
  }
}

type Queryable = Pick<pg.Pool, "query">;

const tagKey = (target: RepoName, tag: string) => `${target.registry}/${target.repository}:${tag}`;

async function getTag(q: Queryable, target: RepoName, tag: string): Promise<MirrorTagRecord | undefined> {
  const r = await q.query(
    "SELECT * FROM mirror_tags WHERE target_registry = $1 AND target_repository = $2 AND tag = $3",
    [target.registry, target.repository, tag],
  );
  return r.rows[0] && toTag(r.rows[0]);
}

async function history(q: Queryable, target: RepoName, tag: string): Promise<HistoryRecord[]> {
  const r = await q.query(
    `SELECT history_tag, digest, replaced_at, reason FROM mirror_history
     WHERE target_registry = $1 AND target_repository = $2 AND tag = $3
     ORDER BY replaced_at DESC, history_tag DESC`,
    [target.registry, target.repository, tag],
  );
  return r.rows.map(historyOf);
}

async function putTag(q: Queryable, r: MirrorTagRecord): Promise<void> {
  await q.query(
    `INSERT INTO mirror_tags VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
     ON CONFLICT (target_registry, target_repository, tag) DO UPDATE SET
       source_registry = EXCLUDED.source_registry, source_repository = EXCLUDED.source_repository,
       source_digest = EXCLUDED.source_digest, upstream_digest = EXCLUDED.upstream_digest,
       pinned_digest = EXCLUDED.pinned_digest, pinned_at = EXCLUDED.pinned_at,
       synced_at = EXCLUDED.synced_at, checked_at = EXCLUDED.checked_at, size = EXCLUDED.size,
       platforms = EXCLUDED.platforms, current_digest = EXCLUDED.current_digest,
       current_media_type = EXCLUDED.current_media_type`,
    [...tagValues(r), r.current?.digest ?? null, r.current?.mediaType ?? null],
  );
}

function toTag(r: Row): MirrorTagRecord {
  return tagOf(r, {
    platforms: Array.isArray(r.platforms) ? r.platforms.map(String) : [],
    current:
      r.current_digest === null || r.current_digest === undefined
        ? null
        : { digest: String(r.current_digest), mediaType: String(r.current_media_type ?? "") },
  });
}
