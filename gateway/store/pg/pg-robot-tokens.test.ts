// Identities of a replica set in PostgreSQL: two replicas (two pools) agree on one token signing
// key however they race to make it; a robot token made through one is accepted through the other,
// and a revocation through either is refused by both on the very next check.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Postgres, startPostgres } from "../../../test/support/postgres.ts";
import { parseRobotScope } from "../../access/robot-tokens.ts";
import { TokenService } from "../../access/token-service.ts";
import { Secret } from "../../config/secret.ts";
import { createLogger } from "../../log.ts";
import { openPostgres, type SharedMetadata } from "./open-postgres.ts";
import { PgRobotTokens } from "./pg-robot-tokens.ts";
import { sharedTokenKey } from "./pg-token-key.ts";

const log = createLogger({ level: "silent" });
let server: Postgres;
let a: SharedMetadata;
let b: pg.Pool;

beforeAll(async () => {
  server = await startPostgres();
  const url = await server.createDatabase();
  a = await openPostgres(new Secret(url), log);
  b = new pg.Pool({ connectionString: url, max: 2 });
}, 120_000);
afterAll(async () => {
  await a?.close();
  await b?.end();
  await server?.stop();
});

describe("identities in PostgreSQL", () => {
  it("replicas starting together share one token signing key", async () => {
    const keys = await Promise.all([sharedTokenKey(a.pool), sharedTokenKey(b), sharedTokenKey(a.pool)]);
    expect(keys[0]?.length).toBe(32);
    expect(keys[1]).toEqual(keys[0]);
    expect(keys[2]).toEqual(keys[0]);
    const [one, two] = await Promise.all(
      keys.slice(0, 2).map((key) => TokenService.open({ dataDir: "/nonexistent", log, key })),
    );
    const t = await one?.issue({ kind: "user", name: "alice" }, "registry.internal", []);
    const v = await two?.verify(t?.token ?? "", "registry.internal");
    expect(v?.identity).toEqual({ kind: "user", name: "alice" });
  });

  it("a robot token made through one replica works through another until revoked anywhere", async () => {
    const now = 1_000;
    const [r1, r2] = await Promise.all([PgRobotTokens.open(a.pool, now), PgRobotTokens.open(b, now)]);
    expect(r2.any(now)).toBe(false);
    const scopes = [parseRobotScope("registry.internal/team/*:pull,push")];
    const text = await r1.create({ name: "ci-bot", scopes, expiresAt: null, now });
    await expect(r2.create({ name: "ci-bot", scopes, expiresAt: null, now })).rejects.toThrow(/exists/);
    const found = await r2.verify(text, "ci-bot", now);
    expect(found?.scopes).toEqual(scopes);
    expect(await r2.verify(text, "other-name", now)).toBeUndefined();
    expect(await r2.verify(`${text.slice(0, -1)}x`, undefined, now)).toBeUndefined();
    expect(r2.liveKnown(found?.id ?? "", now)?.name).toBe("ci-bot");
    expect((await r1.list()).map((t) => t.name)).toEqual(["ci-bot"]);
    expect(JSON.stringify(await r1.list())).not.toContain("sha256");
    // `any` is refreshed in the background once its answer is older than a few seconds
    r2.any(now + 10_000);
    await new Promise((r) => setTimeout(r, 200));
    expect(r2.any(now + 10_000)).toBe(true);

    expect(await r2.revoke("ci-bot")).toBe(true);
    expect(await r1.verify(text, "ci-bot", now)).toBeUndefined();
    expect(await r1.live(found?.id ?? "", now)).toBeUndefined();
    expect(r1.liveKnown(found?.id ?? "", now)).toBeUndefined();
    const rows = await a.pool.query("SELECT * FROM robot_tokens");
    expect(rows.rows).toEqual([]);
  });

  it("stores only the secret's hash", async () => {
    const r = await PgRobotTokens.open(a.pool);
    const text = await r.create({
      name: "hashed",
      scopes: [parseRobotScope("x.io/a:pull")],
      expiresAt: null,
      now: 1,
    });
    const secret = text.split("_").slice(2).join("_");
    const dump = JSON.stringify((await a.pool.query("SELECT * FROM robot_tokens")).rows);
    expect(dump).not.toContain(secret);
    await r.revoke("hashed");
  });
});
