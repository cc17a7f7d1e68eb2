import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MetadataDb } from "../cache/metadata-db.ts";
import { silentLogger } from "../log.ts";
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
});
