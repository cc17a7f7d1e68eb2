// One PostgreSQL transaction on a pooled connection: COMMIT when `fn` resolves, ROLLBACK when it
// throws, the connection returned to the pool either way. A failure of the database itself
// becomes STORE_UNAVAILABLE (503: clients retry) instead of an internal error.
import type pg from "pg";
import { isWharfError, WharfError } from "../../../common/errors.ts";

/** Rethrows a database failure as STORE_UNAVAILABLE (its text stays in `cause`, not in the reply). */
export function storeUnavailable(e: unknown): never {
  if (isWharfError(e)) throw e;
  throw new WharfError("STORE_UNAVAILABLE", "the shared metadata database is unavailable", { cause: e });
}

export async function inTransaction<T>(pool: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect().catch(storeUnavailable);
  try {
    await client.query("BEGIN");
    const out = await fn(client);
    await client.query("COMMIT");
    return out;
  } catch (e) {
    await client.query("ROLLBACK").catch(() => {});
    storeUnavailable(e);
  } finally {
    client.release();
  }
}
