// The lease of a mirror entry's sync in a replica set: a session advisory lock taken on a
// connection held for the whole sync. It ends with the holder's connection, so a replica that dies
// (or loses the database) mid-sync frees the entry at once, without an expiry to tune; the other
// replicas poll with pg_try_advisory_lock rather than block, so a wait has a deadline.
// Entries are keyed by hashtext(entry): two entries colliding would only take turns.
import type pg from "pg";
import type { MirrorLease } from "../../mirror/mirror-store-api.ts";

/** Advisory lock namespace of syncs (first key of the two-key form): "mirs". */
export const SYNC_LOCK = 0x6d697273;
const LEASE_POLL_MS = 500;

export async function takeSyncLease(
  pool: pg.Pool,
  entry: string,
  waitMs: number,
): Promise<MirrorLease | undefined> {
  const c = await pool.connect();
  // a connection that breaks while held ends the lock server-side; release() then discards it
  let broken: Error | undefined;
  const onError = (e: Error) => {
    broken = e;
  };
  c.on("error", onError);
  const giveBack = (err?: Error) => {
    c.off("error", onError);
    c.release(err);
  };
  const deadline = Date.now() + waitMs;
  try {
    for (;;) {
      const r = await c.query<{ ok: boolean }>("SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok", [
        SYNC_LOCK,
        entry,
      ]);
      if (r.rows[0]?.ok) break;
      if (Date.now() + LEASE_POLL_MS > deadline) {
        giveBack();
        return undefined;
      }
      await new Promise((resolve) => setTimeout(resolve, LEASE_POLL_MS));
    }
  } catch (e) {
    giveBack(e as Error);
    throw e;
  }
  let released = false;
  return {
    release: async () => {
      if (released) return;
      released = true;
      try {
        if (!broken) await c.query("SELECT pg_advisory_unlock($1, hashtext($2))", [SYNC_LOCK, entry]);
        giveBack(broken);
      } catch (e) {
        giveBack(e as Error);
      }
    },
  };
}
