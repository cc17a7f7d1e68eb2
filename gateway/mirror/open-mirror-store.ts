// Which mirror store a process uses: the shared PostgreSQL one when storage.postgres is set (every
// replica, and the CLI beside any of them, sees the same history, pins and overrides), else the
// cache's SQLite. Used by `wharf serve` and the `wharf mirror` commands alike. In a replica set on
// a bucket the targets are shared hosted registries (shared-hosting.ts): a change writes their
// records into PostgreSQL with the mirror's own; without a bucket they stay in this node's SQLite.
import type pg from "pg";
import type { ContentCache } from "../cache/content-cache.ts";
import { bucketCheck, hostsShared } from "../registry/hosted/shared-hosting.ts";
import { PgMirrorStore } from "../store/pg/pg-mirror-store.ts";
import type { MirrorStore } from "./mirror-store-api.ts";
import { SqliteMirrorStore } from "./sqlite-mirror-store.ts";

export function openMirrorStore(cache: ContentCache, shared?: { pool: pg.Pool }): MirrorStore {
  if (!shared) return new SqliteMirrorStore(cache.db);
  const bucket = hostsShared(cache);
  if (bucket) return new PgMirrorStore(shared.pool, { bucket: bucketCheck(bucket) });
  return new PgMirrorStore(shared.pool, { local: cache.db });
}
