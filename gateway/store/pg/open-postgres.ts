// The shared metadata database of a replica set (storage.postgres): a connection pool, the schema
// migrated at start, and the stores built on it. A replica that cannot reach the database at start
// refuses to start (STORE_UNAVAILABLE): serving with private metadata would split the replica set.
// Later outages cost sharing, not serving: callers fall back to their local copy (docs/storage.md).
import type pg from "pg";
import { WharfError } from "../../../common/errors.ts";
import type { Secret } from "../../config/secret.ts";
import type { Logger } from "../../log.ts";
import type { SharedTags } from "../shared-tags-api.ts";
import { loadPg } from "./load-pg.ts";
import { migrate } from "./pg-schema.ts";
import { PgSharedTags } from "./pg-shared-tags.ts";

export interface SharedMetadata {
  readonly pool: pg.Pool;
  readonly tags: SharedTags;
  /** Answers a trivial query within `timeoutMs`: the store's health for /readyz and /metrics. */
  ping(timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

/** A pg error's message without the connection URL (which may hold the password). */
export function describePgError(e: unknown, url: Secret): string {
  const text = e instanceof Error ? e.message : String(e);
  return text.split(url.reveal()).join("[storage.postgres.url]");
}

export async function openPostgres(
  url: Secret,
  log: Logger,
  opts: { max?: number } = {},
): Promise<SharedMetadata> {
  const { Pool } = await loadPg();
  const pool = new Pool({
    connectionString: url.reveal(),
    max: opts.max ?? 10,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
    application_name: "wharf",
    // a partitioned database must not hang requests or heartbeats: TCP keep-alive notices a dead
    // peer, and no query of wharf's takes anywhere near this long
    keepAlive: true,
    query_timeout: 30_000,
  });
  // an idle connection that breaks (server restart) is reported here; without a listener it would
  // be an uncaught error; the next query opens a new connection
  pool.on("error", (e) => log.warn({ err: describePgError(e, url) }, "shared metadata: connection lost"));
  try {
    const version = await migrate(pool);
    log.info({ schema: version }, "shared metadata in PostgreSQL");
  } catch (e) {
    await pool.end().catch(() => {});
    throw new WharfError("STORE_UNAVAILABLE", `storage.postgres: ${describePgError(e, url)}`);
  }
  return {
    pool,
    tags: new PgSharedTags(pool),
    async ping(timeoutMs = 2_000) {
      let timer: NodeJS.Timeout | undefined;
      try {
        return await Promise.race([
          pool.query("SELECT 1").then(() => true),
          new Promise<boolean>((resolve) => {
            timer = setTimeout(() => resolve(false), timeoutMs);
          }),
        ]);
      } catch {
        return false;
      } finally {
        clearTimeout(timer);
      }
    },
    close: () => pool.end(),
  };
}
