// One PostgreSQL transaction on a pooled connection: COMMIT when `fn` resolves, ROLLBACK when it
// throws (the error is rethrown), the connection returned to the pool either way.
import type pg from "pg";

export async function inTransaction<T>(pool: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    const out = await fn(client);
    await client.query("COMMIT");
    return out;
  } catch (e) {
    await client.query("ROLLBACK").catch(() => {});
    throw e;
  } finally {
    client.release();
  }
}
