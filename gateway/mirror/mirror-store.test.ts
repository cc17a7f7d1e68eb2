// The mirror store conformance suite on both implementations: the cache's SQLite in a temp dir,
// and a real PostgreSQL (test/support/postgres.ts), a fresh database per test.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Postgres, startPostgres } from "../../test/support/postgres.ts";
import { MetadataDb } from "../cache/metadata-db.ts";
import { Secret } from "../config/secret.ts";
import { silentLogger } from "../log.ts";
import { openPostgres } from "../store/pg/open-postgres.ts";
import { SYNC_LOCK } from "../store/pg/pg-mirror-lease.ts";
import { PgMirrorStore } from "../store/pg/pg-mirror-store.ts";
import { mirrorStoreConformance } from "./mirror-store.conformance.ts";
import { SqliteMirrorStore } from "./sqlite-mirror-store.ts";

let server: Postgres;
beforeAll(async () => {
  server = await startPostgres();
}, 120_000);
afterAll(async () => {
  await server?.stop();
});

mirrorStoreConformance("sqlite", async () => {
  const dir = await mkdtemp(join(tmpdir(), "wharf-mirror-store-"));
  const db = new MetadataDb(join(dir, "metadata.sqlite"));
  return {
    store: new SqliteMirrorStore(db),
    close: async () => {
      db.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

mirrorStoreConformance("postgres", async () => {
  const meta = await openPostgres(new Secret(await server.createDatabase()), silentLogger);
  return { store: new PgMirrorStore(meta.pool), close: () => meta.close() };
});

describe("mirror store in PostgreSQL", () => {
  it("a sync lease ends with its holder's connection: a replica that dies frees the entry", async () => {
    const url = new Secret(await server.createDatabase());
    const [one, two] = await Promise.all([openPostgres(url, silentLogger), openPostgres(url, silentLogger)]);
    try {
      const a = new PgMirrorStore(one.pool);
      const b = new PgMirrorStore(two.pool);
      const held = await a.lease("registry.internal/library/alpine");
      expect(held).toBeDefined();
      expect(await b.lease("registry.internal/library/alpine")).toBeUndefined();
      // the holder's session goes away as a killed replica's would
      await two.pool.query(
        `SELECT pg_terminate_backend(pid) FROM pg_locks
         WHERE locktype = 'advisory' AND granted AND classid = $1`,
        [SYNC_LOCK],
      );
      const next = await b.lease("registry.internal/library/alpine", { waitMs: 5_000 });
      expect(next).toBeDefined();
      await next?.release();
      await held?.release(); // its connection is gone: release discards it without throwing
    } finally {
      await Promise.all([one.close(), two.close()]);
    }
  });
});
