// The mirror's records in the cache's SQLite database (tables created by metadata-db.ts), for one
// node: per mirrored tag what was copied and whether it is pinned, the history of replaced digests,
// per entry its runs, and a generation number every change bumps so a server notices changes made
// by the CLI beside it (tag-overrides.ts polls it). A tag's `current` is the hosted registry's own
// tag, read from the same database; a change commits in one transaction with the hosted records.

import type { SQLInputValue } from "node:sqlite";
import type { MetadataDb } from "../cache/metadata-db.ts";
import { PreparedStatements } from "../cache/prepared-statements.ts";
import type { HostedMeta } from "../registry/hosted/hosted-meta.ts";
import { SqliteHostedIndex } from "../registry/hosted/sqlite-hosted-index.ts";
import type { RepoName } from "./mirror-entries.ts";
import { historyOf, runOf, tagOf, tagValues } from "./mirror-rows.ts";
import type {
  HistoryRecord,
  MirrorLease,
  MirrorStore,
  MirrorTagRecord,
  RunRecord,
  TagChange,
  TagSnapshot,
  TargetWrites,
} from "./mirror-store-api.ts";
import { applyLocally, localHostedTag } from "./target-writes.ts";

type Row = Record<string, SQLInputValue>;

const NO_LEASE: MirrorLease = { release: async () => {} };

export class SqliteMirrorStore implements MirrorStore {
  readonly shared = false;
  readonly targetsShared = false;
  readonly targets: SqliteHostedIndex;
  readonly #sql: PreparedStatements;
  readonly #meta: HostedMeta;

  constructor(db: MetadataDb) {
    this.#sql = new PreparedStatements(db);
    this.targets = new SqliteHostedIndex(db);
    this.#meta = this.targets.meta;
  }

  async getTag(target: RepoName, tag: string): Promise<MirrorTagRecord | undefined> {
    return this.#getTag(target, tag);
  }

  async tags(target?: RepoName): Promise<MirrorTagRecord[]> {
    const rows = this.#sql
      .get(
        `SELECT * FROM mirror_tags WHERE ?1 IS NULL OR (target_registry = ?1 AND target_repository = ?2)
       ORDER BY target_registry, target_repository, tag`,
      )
      .all(target?.registry ?? null, target?.repository ?? null) as Row[];
    return rows.map((r) => this.#toTag(r));
  }

  async history(target: RepoName, tag: string): Promise<HistoryRecord[]> {
    return this.#history(target, tag);
  }

  async changeTag<T>(
    target: RepoName,
    tag: string,
    decide: (s: TagSnapshot) => { change?: TagChange; result: T },
    local?: (change: TagChange) => TargetWrites,
  ): Promise<T> {
    return this.#meta.immediate(() => {
      const { change, result } = decide({
        record: this.#getTag(target, tag),
        history: this.#history(target, tag),
        hostedTag: localHostedTag(this.#meta, target),
      });
      if (!change) return result;
      if (local) applyLocally(this.#meta, target, local(change));
      for (const h of change.addHistory) this.#addHistory(target, tag, h);
      for (const name of change.dropHistory) this.#dropHistory(target, name);
      this.#putTag(change.record);
      this.#bump();
      return result;
    });
  }

  async noteChecked(
    target: RepoName,
    tag: string,
    upstreamDigest: string | null,
    now: number,
  ): Promise<void> {
    this.#sql
      .get(
        `UPDATE mirror_tags SET upstream_digest = ?, checked_at = ?
       WHERE target_registry = ? AND target_repository = ? AND tag = ?`,
      )
      .run(upstreamDigest, now, target.registry, target.repository, tag);
  }

  async run(entry: string): Promise<RunRecord | undefined> {
    const r = this.#sql.get("SELECT * FROM mirror_runs WHERE entry = ?").get(entry) as Row | undefined;
    return r && runOf(r);
  }

  async runs(): Promise<RunRecord[]> {
    return (this.#sql.get("SELECT * FROM mirror_runs ORDER BY entry").all() as Row[]).map(runOf);
  }

  async runStarted(entry: string, now: number): Promise<void> {
    this.#sql
      .get(
        `INSERT INTO mirror_runs (entry, last_start) VALUES (?, ?)
       ON CONFLICT (entry) DO UPDATE SET last_start = excluded.last_start`,
      )
      .run(entry, now);
  }

  async runEnded(entry: string, now: number, changes: number, error: string | null): Promise<void> {
    this.#sql
      .get(
        `UPDATE mirror_runs SET last_end = ?1, last_error = ?2,
       last_success = CASE WHEN ?2 IS NULL THEN ?1 ELSE last_success END,
       changes_total = changes_total + ?3, failures_total = failures_total + (CASE WHEN ?2 IS NULL THEN 0 ELSE 1 END)
       WHERE entry = ?4`,
      )
      .run(now, error, changes, entry);
    this.#bump();
  }

  async bump(): Promise<void> {
    this.#bump();
  }

  async generation(): Promise<number> {
    const r = this.#sql.get("SELECT value FROM mirror_generation WHERE id = 0").get() as
      | { value: number }
      | undefined;
    return r ? Number(r.value) : 0;
  }

  async lease(): Promise<MirrorLease> {
    return NO_LEASE;
  }

  #getTag(target: RepoName, tag: string): MirrorTagRecord | undefined {
    const r = this.#sql
      .get("SELECT * FROM mirror_tags WHERE target_registry = ? AND target_repository = ? AND tag = ?")
      .get(target.registry, target.repository, tag) as Row | undefined;
    return r && this.#toTag(r);
  }

  #history(target: RepoName, tag: string): HistoryRecord[] {
    const rows = this.#sql
      .get(
        `SELECT history_tag, digest, replaced_at, reason FROM mirror_history
       WHERE target_registry = ? AND target_repository = ? AND tag = ? ORDER BY replaced_at DESC, history_tag DESC`,
      )
      .all(target.registry, target.repository, tag) as Row[];
    return rows.map(historyOf);
  }

  #putTag(r: MirrorTagRecord): void {
    this.#sql
      .get(
        `INSERT OR REPLACE INTO mirror_tags (target_registry, target_repository, tag, source_registry,
       source_repository, source_digest, upstream_digest, pinned_digest, pinned_at, synced_at, checked_at,
       size, platforms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(...tagValues(r));
    // `current` is the hosted tag itself (usually written by the caller's `local` already)
    if (r.current)
      this.#meta.putTag(r.target.registry, r.target.repository, r.tag, r.current.digest, r.current.mediaType);
  }

  #addHistory(target: RepoName, tag: string, h: HistoryRecord): void {
    this.#sql
      .get(
        `INSERT OR REPLACE INTO mirror_history (target_registry, target_repository, tag, history_tag, digest,
       replaced_at, reason) VALUES (?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(target.registry, target.repository, tag, h.historyTag, h.digest, h.replacedAt, h.reason);
  }

  #dropHistory(target: RepoName, historyTag: string): void {
    this.#sql
      .get(
        "DELETE FROM mirror_history WHERE target_registry = ? AND target_repository = ? AND history_tag = ?",
      )
      .run(target.registry, target.repository, historyTag);
  }

  #bump(): void {
    this.#sql
      .get(
        `INSERT INTO mirror_generation (id, value) VALUES (0, 1)
       ON CONFLICT (id) DO UPDATE SET value = value + 1`,
      )
      .run();
  }

  #toTag(r: Row): MirrorTagRecord {
    const registry = String(r.target_registry);
    const repository = String(r.target_repository);
    return tagOf(r, {
      platforms: r.platforms ? (JSON.parse(String(r.platforms)) as string[]) : [],
      current: this.#meta.getTag(registry, repository, String(r.tag)) ?? null,
    });
  }
}
