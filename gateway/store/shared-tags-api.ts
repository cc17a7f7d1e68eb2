// Proxied tags that every replica of one bucket sees: which digest a tag pointed at, and when
// upstream last said so. Each replica keeps its own copy in SQLite for the hot path; this store is
// consulted when the local copy is missing or stale, and written when a replica learns something
// from upstream, so one replica's upstream request spares the others theirs (docs/storage.md).
import type { TagRecord } from "./meta-store-api.ts";

export interface SharedTags {
  get(registry: string, repository: string, tag: string): Promise<TagRecord | undefined>;
  /** Creates or replaces the record; a record already checked later than `t` is kept. */
  put(t: TagRecord): Promise<void>;
  /** Upstream confirmed the tag still points at `digest` at `now`. */
  markChecked(registry: string, repository: string, tag: string, digest: string, now: number): Promise<void>;
  delete(registry: string, repository: string, tag: string): Promise<void>;
}
