// The replica directory and the collection lease on a real PostgreSQL (test/support/postgres.ts).
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Postgres, startPostgres } from "../../../test/support/postgres.ts";
import { Secret } from "../../config/secret.ts";
import { createLogger } from "../../log.ts";
import { collectLeaseFor, tryCollectLease } from "./collect-lease.ts";
import { openPostgres, type SharedMetadata } from "./open-postgres.ts";
import { ReplicaDirectory, type ReplicaHealth } from "./replica-directory.ts";

const log = createLogger({ level: "silent" });
let server: Postgres;
let url: string;
let meta: SharedMetadata;

beforeAll(async () => {
  server = await startPostgres();
  url = await server.createDatabase();
  meta = await openPostgres(new Secret(url), log);
}, 120_000);
afterAll(async () => {
  await meta?.close();
  await server?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function replica(id: string, address: string, health: ReplicaHealth, intervalMs = 100) {
  return new ReplicaDirectory({
    pool: meta.pool,
    id,
    name: `name-${id}`,
    addresses: [address],
    health: () => health,
    log,
    intervalMs,
  });
}

describe("replica directory", () => {
  it("lists every replica with its health; DNS answers name the healthy ones", async () => {
    const ha = { store: true, bucket: true, database: true };
    const hb = { store: true, bucket: true, database: true };
    const a = replica("a", "127.0.0.11", ha, 60_000);
    const b = replica("b", "127.0.0.12", hb, 60_000);
    await a.start();
    await b.start();
    await a.beat();
    const list = a.list();
    expect(list.map((r) => [r.id, r.name, r.addresses, r.healthy, r.gone, r.self])).toEqual([
      ["a", "name-a", ["127.0.0.11"], true, false, true],
      ["b", "name-b", ["127.0.0.12"], true, false, false],
    ]);
    expect(list[1]?.health).toEqual(hb);
    expect(a.answerAddresses().sort()).toEqual(["127.0.0.11", "127.0.0.12"]);

    hb.bucket = false; // b cannot reach the bucket: steer clients to a
    await b.beat();
    await a.beat();
    expect(a.list()[1]).toMatchObject({ healthy: false, health: { bucket: false } });
    expect(a.answerAddresses()).toEqual(["127.0.0.11"]);

    ha.bucket = false; // the bucket is down for all: everyone still beating is answered
    await a.beat();
    expect(a.answerAddresses().sort()).toEqual(["127.0.0.11", "127.0.0.12"]);

    await b.stop();
    await a.beat();
    expect(a.list().map((r) => r.id)).toEqual(["a"]);
    const { rows } = await meta.pool.query("SELECT id FROM replicas");
    expect(rows.map((r) => r.id)).toEqual(["a"]);
    await a.stop();
    expect((await meta.pool.query("SELECT id FROM replicas")).rowCount).toBe(0);
  });

  it("a replica that stops beating is gone after three heartbeats, and leaves the DNS answers", async () => {
    const ok = { store: true, bucket: null, database: true };
    const a = replica("c", "127.0.0.21", ok);
    const crashed = replica("d", "127.0.0.22", ok);
    await a.start();
    await crashed.beat(); // one heartbeat, then silence: a killed process
    await a.beat();
    expect(a.answerAddresses().sort()).toEqual(["127.0.0.21", "127.0.0.22"]);
    const t0 = Date.now();
    while (a.answerAddresses().includes("127.0.0.22")) {
      expect(Date.now() - t0, "gone within the expiry plus a heartbeat").toBeLessThan(3_000);
      await sleep(20);
    }
    expect(Date.now() - t0).toBeGreaterThanOrEqual(a.expiryMs - 2 * a.intervalMs);
    const d = a.list().find((r) => r.id === "d");
    expect(d).toMatchObject({ gone: true });
    expect(d?.seenAgoMs).toBeGreaterThan(a.expiryMs);
    await a.stop();
    await meta.pool.query("DELETE FROM replicas");
  });

  it("without the database the others are unknown: DNS answers with this replica alone", async () => {
    const ok = { store: true, bucket: true, database: true };
    const other = replica("e", "127.0.0.32", ok, 60_000);
    await other.beat();
    const deadPool = new pg.Pool({ connectionString: url, max: 1 });
    const a = new ReplicaDirectory({
      pool: deadPool,
      id: "f",
      name: "f",
      addresses: ["127.0.0.31"],
      health: () => ok,
      log,
      intervalMs: 50,
    });
    await a.beat();
    expect(a.answerAddresses().sort()).toEqual(["127.0.0.31", "127.0.0.32"]);
    await deadPool.end(); // every later query fails
    await sleep(200);
    await a.beat();
    expect(a.answerAddresses()).toEqual(["127.0.0.31"]);
    expect(a.list().find((r) => r.id === "e")?.gone).toBe(true);
    await meta.pool.query("DELETE FROM replicas");
  });
});

describe("replica directory on a database that stops answering", () => {
  it("a heartbeat blocked in the database gives up after one interval; the next one succeeds", async () => {
    const ok = { store: true, bucket: true, database: true };
    const a = replica("g", "127.0.0.41", ok, 1_000);
    await a.beat();
    // another session holds the table: every statement on it waits (a hung server looks the same)
    const blocker = await meta.pool.connect();
    await blocker.query("BEGIN");
    await blocker.query("LOCK TABLE replicas IN ACCESS EXCLUSIVE MODE");
    const t0 = Date.now();
    await a.beat();
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(900);
    expect(took).toBeLessThan(5_000);
    await blocker.query("ROLLBACK");
    blocker.release();
    await a.beat();
    expect(a.list().map((r) => r.id)).toEqual(["g"]);
    expect(a.list()[0]?.seenAgoMs).toBeLessThan(1_000);
    await a.stop();
  });
});

describe("collection lease", () => {
  it("one holder at a time; released or disconnected, the next one gets it", async () => {
    const first = await tryCollectLease(meta.pool);
    expect(first).toBeDefined();
    const cli = await collectLeaseFor(new Secret(url));
    expect(cli.lease, "held by the first").toBeUndefined();
    await cli.close();
    await first?.release();

    const again = await collectLeaseFor(new Secret(url));
    expect(again.lease).toBeDefined();
    expect(await tryCollectLease(meta.pool)).toBeUndefined();
    // the holder's connection dies (a crashed replica): the server frees the lock with the session
    await meta.pool.query(
      "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND pid <> pg_backend_pid()",
    );
    // pg_terminate_backend signals the backend; it ends (and unlocks) a moment later
    let after = await tryCollectLease(meta.pool);
    for (let i = 0; !after && i < 100; i++) {
      await sleep(20);
      after = await tryCollectLease(meta.pool);
    }
    expect(after).toBeDefined();
    await after?.release();
    await again.close().catch(() => {});
  });
});
