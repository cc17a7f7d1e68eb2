// The hosted index conformance suite against SQLite (the cache's schema, in memory) and a
// real PostgreSQL (test/support/postgres.ts), migrated as a replica migrates it.
import { afterAll } from "vitest";
import { type Postgres, startPostgres } from "../../test/support/postgres.ts";
import { MetadataDb } from "../cache/metadata-db.ts";
import { Secret } from "../config/secret.ts";
import { createLogger } from "../log.ts";
import { SqliteHostedIndex } from "../registry/hosted/sqlite-hosted-index.ts";
import { hostedIndexConformance } from "./hosted-index.conformance.ts";
import { openPostgres, type SharedMetadata } from "./pg/open-postgres.ts";
import { PgHostedIndex } from "./pg/pg-hosted-index.ts";

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

hostedIndexConformance("sqlite", async () => {
  const db = new MetadataDb(":memory:");
  cleanups.push(async () => db.close());
  return new SqliteHostedIndex(db);
});

hostedIndexConformance("postgres", async () => {
  const server: Postgres = await startPostgres();
  const meta: SharedMetadata = await openPostgres(
    new Secret(await server.createDatabase()),
    createLogger({ level: "silent" }),
  );
  cleanups.push(async () => {
    await meta.close();
    await server.stop();
  });
  return new PgHostedIndex(meta.pool);
});
