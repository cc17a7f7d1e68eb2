// The mirror's records in the cache's SQLite database (tables created by metadata-db.ts): per
// mirrored tag what was copied and whether it is pinned, the history of replaced digests, per
// entry its runs, and a generation number every change bumps so a server notices changes made
// by the CLI beside it (tag-overrides.ts polls it). Same connection as HostedMeta, for the same
// reason: the tag move, history and state commit in one transaction with the hosted records.
import type { SQLInputValue } from "node:sqlite";
import type { MetadataDb } from "../cache/metadata-db.ts";
import { PreparedStatements } from "../cache/prepared-statements.ts";
import type { RepoName } from "./mirror-entries.ts";

export interface MirrorTagRecord {
  target: RepoName;
  tag: string;
  source: RepoName;
  /** The upstream digest last copied. */
  sourceDigest: string | null;
  /** What upstream pointed at when last checked (differs from sourceDigest while pinned). */
  upstreamDigest: string | null;
  pinnedDigest: string | null;
  pinnedAt: number | null;
  syncedAt: number | null;
  checkedAt: number | null;
  size: number | null;
  platforms: string[];
}

export interface HistoryRecord {
  historyTag: string;
  digest: string;
  replacedAt: number;
  /** "sync" (upstream moved), "rollback", "pin". */
  reason: string;
}

export interface RunRecord {
  entry: string;
  lastStart: number | null;
  lastEnd: number | null;
  lastSuccess: number | null;
  lastError: string | null;
  changesTotal: number;
  failuresTotal: number;
}

type Row = Record<string, SQLInputValue>;

export class MirrorState {
  readonly #sql: PreparedStatements;

  constructor(meta: MetadataDb) {
    this.#sql = new PreparedStatements(meta);
  }

  getTag(target: RepoName, tag: string): MirrorTagRecord | undefined {
    const r = this.#sql
      .get("SELECT * FROM mirror_tags WHERE target_registry = ? AND target_repository = ? AND tag = ?")
      .get(target.registry, target.repository, tag) as Row | undefined;
    return r && toTag(r);
  }

  /** Every mirrored tag, or those of one target repository. */
  tags(target?: RepoName): MirrorTagRecord[] {
    const rows = this.#sql
      .get(
        `SELECT * FROM mirror_tags WHERE ?1 IS NULL OR (target_registry = ?1 AND target_repository = ?2)
       ORDER BY target_registry, target_repository, tag`,
      )
      .all(target?.registry ?? null, target?.repository ?? null) as Row[];
    return rows.map(toTag);
  }

  putTag(r: MirrorTagRecord): void {
    this.#sql
      .get(
        `INSERT OR REPLACE INTO mirror_tags (target_registry, target_repository, tag, source_registry,
       source_repository, source_digest, upstream_digest, pinned_digest, pinned_at, synced_at, checked_at,
       size, platforms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        r.target.registry,
        r.target.repository,
        r.tag,
        r.source.registry,
        r.source.repository,
        r.sourceDigest,
        r.upstreamDigest,
        r.pinnedDigest,
        r.pinnedAt,
        r.syncedAt,
        r.checkedAt,
        r.size,
        JSON.stringify(r.platforms),
      );
  }

  /** A check that changed nothing but what upstream points at (pinned tags: drift). */
  noteChecked(target: RepoName, tag: string, upstreamDigest: string | null, now: number): void {
    this.#sql
      .get(
        `UPDATE mirror_tags SET upstream_digest = ?, checked_at = ?
       WHERE target_registry = ? AND target_repository = ? AND tag = ?`,
      )
      .run(upstreamDigest, now, target.registry, target.repository, tag);
  }

  /** Newest first. */
  history(target: RepoName, tag: string): HistoryRecord[] {
    const rows = this.#sql
      .get(
        `SELECT history_tag, digest, replaced_at, reason FROM mirror_history
       WHERE target_registry = ? AND target_repository = ? AND tag = ? ORDER BY replaced_at DESC, history_tag DESC`,
      )
      .all(target.registry, target.repository, tag) as Row[];
    return rows.map((r) => ({
      historyTag: String(r.history_tag),
      digest: String(r.digest),
      replacedAt: Number(r.replaced_at),
      reason: String(r.reason),
    }));
  }

  addHistory(target: RepoName, tag: string, h: HistoryRecord): void {
    this.#sql
      .get(
        `INSERT OR REPLACE INTO mirror_history (target_registry, target_repository, tag, history_tag, digest,
       replaced_at, reason) VALUES (?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(target.registry, target.repository, tag, h.historyTag, h.digest, h.replacedAt, h.reason);
  }

  dropHistory(target: RepoName, historyTag: string): void {
    this.#sql
      .get(
        "DELETE FROM mirror_history WHERE target_registry = ? AND target_repository = ? AND history_tag = ?",
      )
      .run(target.registry, target.repository, historyTag);
  }

  run(entry: string): RunRecord | undefined {
    const r = this.#sql.get("SELECT * FROM mirror_runs WHERE entry = ?").get(entry) as Row | undefined;
    return r && toRun(r);
  }

  runs(): RunRecord[] {
    return (this.#sql.get("SELECT * FROM mirror_runs ORDER BY entry").all() as Row[]).map(toRun);
  }

  runStarted(entry: string, now: number): void {
    this.#sql
      .get(
        `INSERT INTO mirror_runs (entry, last_start) VALUES (?, ?)
       ON CONFLICT (entry) DO UPDATE SET last_start = excluded.last_start`,
      )
      .run(entry, now);
  }

  runEnded(entry: string, now: number, changes: number, error: string | null): void {
    this.#sql
      .get(
        `UPDATE mirror_runs SET last_end = ?1, last_error = ?2,
       last_success = CASE WHEN ?2 IS NULL THEN ?1 ELSE last_success END,
       changes_total = changes_total + ?3, failures_total = failures_total + (CASE WHEN ?2 IS NULL THEN 0 ELSE 1 END)
       WHERE entry = ?4`,
      )
      .run(now, error, changes, entry);
    this.bump();
  }

  /** Tells servers (tag-overrides.ts) that mirror tags, pins or runs changed. */
  bump(): void {
    this.#sql
      .get(
        `INSERT INTO mirror_generation (id, value) VALUES (0, 1)
       ON CONFLICT (id) DO UPDATE SET value = value + 1`,
      )
      .run();
  }

  generation(): number {
    const r = this.#sql.get("SELECT value FROM mirror_generation WHERE id = 0").get() as
      | { value: number }
      | undefined;
    return r ? Number(r.value) : 0;
  }
}

function str(v: SQLInputValue | undefined): string | null {
  return v === null || v === undefined ? null : String(v);
}

function num(v: SQLInputValue | undefined): number | null {
  return v === null || v === undefined ? null : Number(v);
}

function toTag(r: Row): MirrorTagRecord {
  return {
    target: { registry: String(r.target_registry), repository: String(r.target_repository) },
    tag: String(r.tag),
    source: { registry: String(r.source_registry), repository: String(r.source_repository) },
    sourceDigest: str(r.source_digest),
    upstreamDigest: str(r.upstream_digest),
    pinnedDigest: str(r.pinned_digest),
    pinnedAt: num(r.pinned_at),
    syncedAt: num(r.synced_at),
    checkedAt: num(r.checked_at),
    size: num(r.size),
    platforms: r.platforms ? (JSON.parse(String(r.platforms)) as string[]) : [],
  };
}

function toRun(r: Row): RunRecord {
  return {
    entry: String(r.entry),
    lastStart: num(r.last_start),
    lastEnd: num(r.last_end),
    lastSuccess: num(r.last_success),
    lastError: str(r.last_error),
    changesTotal: Number(r.changes_total ?? 0),
    failuresTotal: Number(r.failures_total ?? 0),
  };
}
