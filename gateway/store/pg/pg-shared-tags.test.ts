import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Postgres, startPostgres } from "../../../test/support/postgres.ts";
import { Secret } from "../../config/secret.ts";
import { createLogger } from "../../log.ts";
import { openPostgres, type SharedMetadata } from "./open-postgres.ts";
import { migrate } from "./pg-schema.ts";

const log = createLogger({ level: "silent" });
let server: Postgres;
let meta: SharedMetadata;

beforeAll(async () => {
  server = await startPostgres();
  meta = await openPostgres(new Secret(await server.createDatabase()), log);
}, 120_000);
afterAll(async () => {
  await meta?.close();
  await server?.stop();
});

const rec = (digest: string, checkedAt: number) => ({
  registry: "docker.io",
  repository: "library/alpine",
  tag: "3.20",
  digest,
  mediaType: "application/vnd.oci.image.index.v1+json",
  size: 9218,
  fetchedAt: checkedAt,
  checkedAt,
});

describe("shared tags in PostgreSQL", () => {
  it("stores, reads back, never moves a check backwards, and deletes", async () => {
    const t = meta.tags;
    expect(await t.get("docker.io", "library/alpine", "3.20")).toBeUndefined();
    await t.put(rec("sha256:aa", 1000));
    expect(await t.get("docker.io", "library/alpine", "3.20")).toEqual(rec("sha256:aa", 1000));
    await t.put(rec("sha256:bb", 900)); // older news from a slow replica: ignored
    expect((await t.get("docker.io", "library/alpine", "3.20"))?.digest).toBe("sha256:aa");
    await t.markChecked("docker.io", "library/alpine", "3.20", "sha256:bb", 5000); // not its digest
    expect((await t.get("docker.io", "library/alpine", "3.20"))?.checkedAt).toBe(1000);
    await t.markChecked("docker.io", "library/alpine", "3.20", "sha256:aa", 5000);
    expect((await t.get("docker.io", "library/alpine", "3.20"))?.checkedAt).toBe(5000);
    await t.put(rec("sha256:cc", 6000));
    expect((await t.get("docker.io", "library/alpine", "3.20"))?.digest).toBe("sha256:cc");
    await t.delete("docker.io", "library/alpine", "3.20");
    expect(await t.get("docker.io", "library/alpine", "3.20")).toBeUndefined();
  });

  it("migrates once when replicas start together, and refuses a schema newer than it knows", async () => {
    const url = new Secret(await server.createDatabase());
    const all = await Promise.all([1, 2, 3].map(() => openPostgres(url, log)));
    // one row per migration: none ran twice
    const n = await all[0]?.pool.query("SELECT count(*)::int AS n, max(version) AS v FROM wharf_schema");
    expect(n?.rows[0].n).toBe(n?.rows[0].v);
    await expect(migrate(all[0]?.pool as never, [])).rejects.toThrow(/newer than this wharf knows/);
    await Promise.all(all.map((m) => m.close()));
  });

  it("a database that cannot be reached is a clear start error without the password", async () => {
    const url = new Secret(`postgres://wharf:hunter2-secret@${server.ip}:1/none`);
    const err = await openPostgres(url, log).catch((e: Error) => e);
    expect(String(err)).toMatch(/storage\.postgres: .*ECONNREFUSED|storage\.postgres: connect/);
    expect(String(err)).not.toContain("hunter2");
  });
});
