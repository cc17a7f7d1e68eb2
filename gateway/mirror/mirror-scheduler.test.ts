import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type Postgres, startPostgres } from "../../test/support/postgres.ts";
import { MetadataDb } from "../cache/metadata-db.ts";
import { Secret } from "../config/secret.ts";
import { silentLogger } from "../log.ts";
import { openPostgres } from "../store/pg/open-postgres.ts";
import { PgMirrorStore } from "../store/pg/pg-mirror-store.ts";
import type { MirrorEntry } from "./mirror-entries.ts";
import { MirrorScheduler } from "./mirror-scheduler.ts";
import { SqliteMirrorStore } from "./sqlite-mirror-store.ts";

const NOW = Date.UTC(2026, 10, 30, 6, 0);

function entry(repository: string, schedule: MirrorEntry["schedule"]): MirrorEntry {
  return {
    key: "mirror.0",
    source: { registry: "docker.io", repository },
    target: { registry: "registry.internal", repository },
    tags: ["1"],
    platforms: "all",
    schedule,
    keep: 10,
    serveUpstreamName: false,
    historyTag: "{tag}-{time}",
  };
}

let server: Postgres;
beforeAll(async () => {
  server = await startPostgres();
}, 120_000);
afterAll(async () => {
  await server?.stop();
});

let dir: string;
let db: MetadataDb;
let state: SqliteMirrorStore;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "wharf-sched-"));
  db = new MetadataDb(join(dir, "metadata.sqlite"));
  state = new SqliteMirrorStore(db);
});

afterEach(async () => {
  db.close();
  await rm(dir, { recursive: true, force: true });
});

describe("mirror scheduler", () => {
  it("catches up at start on entries never synced or overdue since their last success; waits for the others", async () => {
    const every = { kind: "every" as const, ms: 3_600_000, text: "1h" };
    const entries = [
      entry("never", every),
      entry("overdue", every),
      entry("fresh", every),
      entry("cron-missed", { kind: "cron", text: "0 5 * * *" }),
      entry("manual", undefined),
    ];
    for (const [repo, ago] of [
      ["overdue", 2 * 3_600_000],
      ["fresh", 60_000],
      ["cron-missed", 26 * 3_600_000],
    ] as const) {
      await state.runStarted(`registry.internal/${repo}`, NOW - ago);
      await state.runEnded(`registry.internal/${repo}`, NOW - ago, 0, null);
    }
    const ran: string[] = [];
    const s = new MirrorScheduler({
      entries,
      store: state,
      log: silentLogger,
      now: () => NOW,
      random: () => 0,
      run: async (e) => {
        ran.push(e.target.repository);
      },
    });
    await s.start();
    // one at a time: the ticks pick the due entries in turn
    for (let i = 0; i < 40 && ran.length < 3; i++) await new Promise((r) => setTimeout(r, 100));
    await s.stop();
    expect(ran.sort()).toEqual(["cron-missed", "never", "overdue"]);
    expect(s.nextRun(entries[2] as MirrorEntry)).toBe(NOW - 60_000 + 3_600_000);
    expect(s.nextRun(entries[4] as MirrorEntry)).toBeUndefined();
  });

  it("replicas on one shared store: a due entry is synced by one of them, the others skip it", async () => {
    const url = new Secret(await server.createDatabase());
    const metas = await Promise.all([1, 2, 3].map(() => openPostgres(url, silentLogger)));
    const every = { kind: "every" as const, ms: 3_600_000, text: "1h" };
    const e = entry("alpine", every);
    const ran: number[] = [];
    const schedulers = metas.map((m, i) => {
      const store = new PgMirrorStore(m.pool);
      return new MirrorScheduler({
        entries: [e],
        store,
        log: silentLogger,
        random: () => 0,
        run: async () => {
          ran.push(i);
          await store.runStarted("registry.internal/alpine", Date.now());
          await new Promise((r) => setTimeout(r, 400));
          await store.runEnded("registry.internal/alpine", Date.now(), 1, null);
        },
      });
    });
    try {
      await Promise.all(schedulers.map((s) => s.start()));
      await new Promise((r) => setTimeout(r, 1500));
      await Promise.all(schedulers.map((s) => s.stop()));
      expect(ran).toHaveLength(1);
      // the ones that skipped wait a whole interval, as the one that ran does
      for (const s of schedulers) expect((s.nextRun(e) ?? 0) - Date.now()).toBeGreaterThan(3_500_000);
    } finally {
      await Promise.all(metas.map((m) => m.close()));
    }
  });

  it("an entry another replica synced while this one waited for the lease is not synced again", async () => {
    const meta = await openPostgres(new Secret(await server.createDatabase()), silentLogger);
    const pgStore = new PgMirrorStore(meta.pool);
    const id = "registry.internal/alpine";
    await pgStore.runStarted(id, NOW - 2 * 3_600_000);
    await pgStore.runEnded(id, NOW - 2 * 3_600_000, 0, null);
    // the other replica finishes just before this one gets the lease
    const racing = new (class extends PgMirrorStore {
      override async lease(entryName: string) {
        await pgStore.runStarted(entryName, NOW - 1000);
        await pgStore.runEnded(entryName, NOW - 500, 1, null);
        return super.lease(entryName);
      }
    })(meta.pool);
    const e = entry("alpine", { kind: "every", ms: 3_600_000, text: "1h" });
    const ran: string[] = [];
    const s = new MirrorScheduler({
      entries: [e],
      store: racing,
      log: silentLogger,
      now: () => NOW,
      random: () => 0,
      run: async (x) => {
        ran.push(x.target.repository);
      },
    });
    try {
      await s.start();
      for (let i = 0; i < 20 && s.nextRun(e) === NOW; i++) await new Promise((r) => setTimeout(r, 50));
      await s.stop();
      expect(ran).toEqual([]);
      expect(s.nextRun(e)).toBe(NOW - 500 + 3_600_000);
    } finally {
      await meta.close();
    }
  });
});
