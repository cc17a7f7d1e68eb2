// The shared metadata schema, as numbered migrations. Each replica runs the missing ones at start
// inside one transaction holding an advisory lock, so replicas starting together migrate once.
import type pg from "pg";
import { HOSTED_MIGRATION } from "./pg-hosted-schema.ts";
import { INTEG_MIGRATION } from "./pg-integ-schema.ts";
import { MIRROR_MIGRATION } from "./pg-mirror-schema.ts";
import { REPLICA_HEALTH_MIGRATION } from "./replica-directory.ts";

const MIGRATIONS: readonly string[] = [
  // 1: proxied tags and the replica directory
  `CREATE TABLE proxy_tags (
     registry text NOT NULL, repository text NOT NULL, tag text NOT NULL,
     digest text NOT NULL, media_type text NOT NULL, size bigint NOT NULL,
     fetched_at bigint NOT NULL, checked_at bigint NOT NULL,
     PRIMARY KEY (registry, repository, tag));
   CREATE TABLE replicas (
     id text PRIMARY KEY, name text NOT NULL, addresses jsonb NOT NULL,
     started_at bigint NOT NULL, seen_at bigint NOT NULL, healthy boolean NOT NULL);`,
  // 2: managed mirror: tags, history, runs, generation (pg-mirror-schema.ts)
  MIRROR_MIGRATION,
  // 3: the parts of a replica's health (store, bucket, database) beside `healthy`
  REPLICA_HEALTH_MIGRATION,
  // 4: hosted registries' index and upload sessions (pg-hosted-schema.ts)
  HOSTED_MIGRATION,
  // 5: token signing key, robot tokens, gc tombstones (pg-integ-schema.ts)
  INTEG_MIGRATION,
];

/** An arbitrary constant naming wharf's migration lock among the database's advisory locks. */
const MIGRATION_LOCK = 0x77686172;

export async function migrate(pool: pg.Pool, migrations: readonly string[] = MIGRATIONS): Promise<number> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    await client.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK]);
    await client.query("CREATE TABLE IF NOT EXISTS wharf_schema (version integer NOT NULL)");
    const row = (await client.query<{ v: number | null }>("SELECT max(version) AS v FROM wharf_schema"))
      .rows[0];
    const current = row?.v ?? 0;
    if (current > migrations.length)
      throw new Error(
        `the database's schema is version ${current}, newer than this wharf knows (${migrations.length}): upgrade this replica`,
      );
    for (let v = current + 1; v <= migrations.length; v++) {
      await client.query(migrations[v - 1] as string);
      await client.query("INSERT INTO wharf_schema (version) VALUES ($1)", [v]);
    }
    await client.query("COMMIT");
    return migrations.length;
  } catch (e) {
    await client.query("ROLLBACK").catch(() => {});
    throw e;
  } finally {
    client.release();
  }
}
