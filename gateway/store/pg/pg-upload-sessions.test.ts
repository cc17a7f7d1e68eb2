// Upload session rows in a real PostgreSQL: the offset moves only from where a chunk started, once;
// a claimed (finishing) session accepts no chunk; a stale claim can be taken over.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Postgres, startPostgres } from "../../../test/support/postgres.ts";
import { Secret } from "../../config/secret.ts";
import { createLogger } from "../../log.ts";
import { openPostgres, type SharedMetadata } from "./open-postgres.ts";
import { PgUploadSessions } from "./pg-upload-sessions.ts";

let server: Postgres;
let meta: SharedMetadata;
let rows: PgUploadSessions;

beforeAll(async () => {
  server = await startPostgres();
  meta = await openPostgres(new Secret(await server.createDatabase()), createLogger({ level: "silent" }));
  rows = new PgUploadSessions(meta.pool);
}, 120_000);
afterAll(async () => {
  await meta?.close();
  await server?.stop();
});

const piece = (start: number, size: number) => ({ start, size, key: `s/${start}-${size}` });

describe("upload sessions in PostgreSQL", () => {
  it("of chunks racing for one offset exactly one is accepted, with its pieces", async () => {
    await rows.create("a".repeat(32), "registry.internal", "team/app", 1);
    const racers = await Promise.all(
      Array.from({ length: 8 }, (_, i) => rows.advance("a".repeat(32), 0, [piece(0, 10 + i)], 2)),
    );
    const won = racers.filter((r) => r !== undefined);
    expect(won).toHaveLength(1);
    const row = await rows.get("a".repeat(32));
    expect(row?.offset).toBe(won[0]);
    expect(await rows.advance("a".repeat(32), 0, [piece(0, 5)], 3)).toBeUndefined();
    const next = await rows.advance("a".repeat(32), row?.offset ?? 0, [piece(row?.offset ?? 0, 4)], 3);
    expect(next).toBe((row?.offset ?? 0) + 4);
    const claimed = await rows.claim("a".repeat(32), 10, 0);
    expect(claimed?.pieces.map((p) => p.start)).toEqual([0, row?.offset]);
  });

  it("a claimed session takes no chunk and no second claim until the claim is stale or given back", async () => {
    const id = "b".repeat(32);
    await rows.create(id, "registry.internal", "team/app", 1);
    expect(await rows.claim(id, 100, 0)).toBeDefined();
    expect(await rows.advance(id, 0, [piece(0, 1)], 101)).toBeUndefined();
    expect(await rows.claim(id, 102, 50)).toBeUndefined(); // claimed at 100, not stale before 50
    expect(await rows.claim(id, 300, 200)).toBeDefined(); // stale: its finisher is taken as dead
    await rows.unclaim(id);
    expect(await rows.advance(id, 0, [piece(0, 1)], 301)).toBe(1);
    await rows.remove(id);
    expect(await rows.get(id)).toBeUndefined();
    const left = await meta.pool.query("SELECT count(*)::int AS n FROM hosted_upload_chunks WHERE id = $1", [
      id,
    ]);
    expect(left.rows[0].n).toBe(0);
  });
});
