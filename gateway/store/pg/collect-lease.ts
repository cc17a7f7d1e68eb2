// The collection lease (issue 18): `wharf gc`, `wharf cache gc` and the evictor of a replica set
// run on one replica at a time. The lease is a PostgreSQL session advisory lock taken with
// pg_try_advisory_lock on a connection held for the whole run: the server frees it when the
// connection ends, so a replica that dies mid-collection (or loses the database) loses the lease
// without any expiry to tune, and no row is left behind to clean up.
// https://www.postgresql.org/docs/current/explicit-locking.html#ADVISORY-LOCKS
import type pg from "pg";
import { WharfError } from "../../../common/errors.ts";
import type { Secret } from "../../config/secret.ts";
import { loadPg } from "./load-pg.ts";
import { describePgError } from "./open-postgres.ts";

/** Two-key advisory locks live apart from the one-key migration lock; 'whar' names wharf's. */
const LOCK_CLASS = 0x77686172;
const COLLECT = 1;

/** A database that stopped answering fails the call instead of hanging a collector (pg's read timeout). */
const timed = (text: string, values: unknown[]) =>
  ({ text, values, query_timeout: 10_000 }) as pg.QueryConfig;

export interface CollectLease {
  release(): Promise<void>;
}

/**
 * Takes the collection lease on a connection of its own from `pool`, or returns undefined when
 * another replica (or command) holds it. The connection stays out of the pool until release().
 */
export async function tryCollectLease(pool: pg.Pool): Promise<CollectLease | undefined> {
  const client = await pool.connect();
  // while checked out, a broken connection (server restart) is reported to the client only: without
  // a listener it would be an uncaught error; the lock is gone with the session anyway
  let broken: Error | undefined;
  const onError = (e: Error) => {
    broken = e;
  };
  client.on("error", onError);
  let keep = false;
  try {
    const { rows } = await client.query<{ ok: boolean }>(
      timed("SELECT pg_try_advisory_lock($1, $2) AS ok", [LOCK_CLASS, COLLECT]),
    );
    if (!rows[0]?.ok) return undefined;
    keep = true;
  } finally {
    if (!keep) {
      client.off("error", onError);
      client.release();
    }
  }
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      try {
        if (broken) throw broken;
        await client.query(timed("SELECT pg_advisory_unlock($1, $2)", [LOCK_CLASS, COLLECT]));
        client.off("error", onError);
        client.release();
      } catch (e) {
        // the connection is broken: destroying it ends the session, and the lock with it
        client.off("error", onError);
        client.release(e as Error);
      }
    },
  };
}

/** The message the CLI and the evictor report when the lease is taken. */
export const LEASE_BUSY =
  "another replica is collecting (wharf gc, wharf cache gc or eviction holds the lease); try again later";
/** The commands' exit code then: EX_TEMPFAIL (sysexits.h), "try again later". */
export const LEASE_BUSY_EXIT = 75;

/**
 * For one-shot commands: a one-connection pool on storage.postgres, the lease taken on it, and a
 * release that also closes the pool. Undefined lease: held elsewhere. Errors hide the URL.
 */
export async function collectLeaseFor(
  url: Secret,
): Promise<{ lease: CollectLease | undefined; close(): Promise<void> }> {
  const { Pool } = await loadPg();
  const pool = new Pool({ connectionString: url.reveal(), max: 1, connectionTimeoutMillis: 10_000 });
  pool.on("error", () => {});
  try {
    const lease = await tryCollectLease(pool);
    return {
      lease,
      async close() {
        await lease?.release();
        await pool.end();
      },
    };
  } catch (e) {
    await pool.end().catch(() => {});
    throw new WharfError("STORE_UNAVAILABLE", `storage.postgres: ${describePgError(e, url)}`);
  }
}

/**
 * Runs `fn` holding the collection lease when the configuration has storage.postgres (a replica
 * set), or simply runs it without. False: another replica holds the lease and `fn` did not run.
 */
export async function withCollectLease(url: Secret | null, fn: () => Promise<void>): Promise<boolean> {
  if (!url) {
    await fn();
    return true;
  }
  const held = await collectLeaseFor(url);
  try {
    if (!held.lease) return false;
    await fn();
    return true;
  } finally {
    await held.close();
  }
}
