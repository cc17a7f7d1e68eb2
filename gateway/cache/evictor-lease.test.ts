// The evictor in a replica set runs under the collection lease (store/pg/collect-lease.ts), on a
// real PostgreSQL: while another replica holds it, a pass over maxSize is deferred, not run.
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Postgres, startPostgres } from "../../test/support/postgres.ts";
import { silentLogger } from "../log.ts";
import { parseDigest } from "../oci/digest.ts";
import { tryCollectLease } from "../store/pg/collect-lease.ts";
import { Evictor } from "./evictor.ts";
import { openCache } from "./open-cache.ts";

let server: Postgres;
let pool: pg.Pool;
let dataDir: string;

beforeAll(async () => {
  server = await startPostgres();
  pool = new pg.Pool({ connectionString: await server.createDatabase(), max: 4 });
  dataDir = await mkdtemp(join(tmpdir(), "wharf-evict-lease-"));
}, 120_000);
afterAll(async () => {
  await pool?.end();
  await server?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe("evictor under the collection lease", () => {
  it("defers a pass while another replica collects, and evicts once the lease is free", async () => {
    const opened = await openCache({ dataDir, log: silentLogger, fillTimeoutMs: 10_000 });
    try {
      const c = opened.cache;
      for (let i = 0; i < 3; i++) {
        const data = randomBytes(32 * 1024);
        const d = parseDigest(`sha256:${createHash("sha256").update(data).digest("hex")}`);
        await c.store.writeVerified(d, data);
        c.db.putBlob(d.value, data.length, null, 1_000 + i);
      }
      const evictor = new Evictor({
        cache: c,
        maxSize: 40 * 1024,
        minFree: 0,
        dataDir,
        log: silentLogger,
        intervalMs: 60_000,
        lease: () => tryCollectLease(pool),
      });
      const other = await tryCollectLease(pool); // another replica's gc
      expect(other).toBeDefined();
      const deferred = await evictor.run();
      expect(deferred).toMatchObject({ evicted: 0, leaseBusy: true });
      expect(c.db.totalSize().count).toBe(3);

      await other?.release();
      const ran = await evictor.run();
      expect(ran.evicted).toBe(2);
      expect(ran.leaseBusy).toBeUndefined();
      // the pass released the lease: the next collector gets it
      const next = await tryCollectLease(pool);
      expect(next).toBeDefined();
      await next?.release();
    } finally {
      opened.close();
    }
  });
});
