// The token signing key of a replica set: a Bearer token one replica issues must verify on every
// other (clients behind one name reach any of them). The first replica to start makes a random key
// and offers it with INSERT … ON CONFLICT DO NOTHING; every replica then reads the one that won.
// It never leaves the database but for this process's memory, and is never logged.
import { randomBytes } from "node:crypto";
import type pg from "pg";
import { storeUnavailable } from "./pg-transaction.ts";

export async function sharedTokenKey(pool: pg.Pool): Promise<Buffer> {
  try {
    await pool.query("INSERT INTO token_signing_key (id, key) VALUES (0, $1) ON CONFLICT (id) DO NOTHING", [
      randomBytes(32).toString("base64"),
    ]);
    const r = await pool.query<{ key: string }>("SELECT key FROM token_signing_key WHERE id = 0");
    const key = Buffer.from(r.rows[0]?.key ?? "", "base64");
    if (key.length < 32) throw new Error("the shared token signing key is too short");
    return key;
  } catch (e) {
    storeUnavailable(e);
  }
}
