// Which mirror store a process uses: the shared PostgreSQL one when storage.postgres is set (every
// replica, and the CLI beside any of them, sees the same history, pins and overrides), else the
// cache's SQLite. Used by `wharf serve` and the `wharf mirror` commands alike.
import type pg from "pg";
import type { ContentCache } from "../cache/content-cache.ts";
import { HostedMeta } from "../registry/hosted/hosted-meta.ts";
import { PgMirrorStore } from "../store/pg/pg-mirror-store.ts";
import type { MirrorStore } from "./mirror-store-api.ts";
import { SqliteMirrorStore } from "./sqlite-mirror-store.ts";

export function openMirrorStore(cache: ContentCache, shared?: { pool: pg.Pool }): MirrorStore {
  if (!shared) return new SqliteMirrorStore(cache.db);
  // the hosted registry's records of a change commit in their own SQLite transaction, inside the
  // PostgreSQL one (pg-mirror-store.ts)
  const meta = new HostedMeta(cache.db);
  return new PgMirrorStore(shared.pool, (fn) => meta.immediate(fn));
}
