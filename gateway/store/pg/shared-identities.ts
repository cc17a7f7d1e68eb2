// Where a process finds wharf's identities: robot tokens and the token signing key. One node keeps
// them in dataDir (the cache's SQLite, dataDir/token-signing.key); a replica set (storage.postgres)
// in PostgreSQL, so a token issued or created beside any replica is good on every replica.
import type pg from "pg";
import { type RobotTokenStore, RobotTokens } from "../../access/robot-tokens.ts";
import type { MetadataDb } from "../../cache/metadata-db.ts";
import { PgRobotTokens } from "./pg-robot-tokens.ts";
import { sharedTokenKey } from "./pg-token-key.ts";

export async function openIdentities(
  db: Pick<MetadataDb, "connection">,
  shared: { pool: pg.Pool } | undefined,
): Promise<{ robots: RobotTokenStore; tokenKey?: Buffer }> {
  if (!shared) return { robots: new RobotTokens(db) };
  const [robots, tokenKey] = await Promise.all([
    PgRobotTokens.open(shared.pool),
    sharedTokenKey(shared.pool),
  ]);
  return { robots, tokenKey };
}
