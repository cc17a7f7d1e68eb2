// The mirror tables' rows as records, and records as column values: one mapping for the SQLite
// and the PostgreSQL store, which differ only in how they keep `platforms` and `current`.
import type { HistoryRecord, MirrorTagRecord, RunRecord } from "./mirror-store-api.ts";

export type MirrorRow = Record<string, unknown>;

const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));
const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/** A mirror_tags row; the store supplies what it keeps its own way. */
export function tagOf(r: MirrorRow, own: Pick<MirrorTagRecord, "platforms" | "current">): MirrorTagRecord {
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
    ...own,
  };
}

/** mirror_tags' columns from target_registry to platforms, in table order. */
export function tagValues(r: MirrorTagRecord): (string | number | null)[] {
  return [
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
  ];
}

export function historyOf(r: MirrorRow): HistoryRecord {
  return {
    historyTag: String(r.history_tag),
    digest: String(r.digest),
    replacedAt: Number(r.replaced_at),
    reason: String(r.reason),
  };
}

export function runOf(r: MirrorRow): RunRecord {
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
