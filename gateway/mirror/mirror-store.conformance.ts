// One behaviour for every MirrorStore (SQLite for one node, PostgreSQL for a replica set): run by
// mirror-store.test.ts against both, on a real SQLite file and a real PostgreSQL server.
import { describe, expect, it } from "vitest";
import type { MirrorStore, MirrorTagRecord, TagChange } from "./mirror-store-api.ts";

export interface StoreUnderTest {
  store: MirrorStore;
  close(): Promise<void>;
}

const TARGET = { registry: "registry.internal", repository: "library/alpine" };
const OTHER = { registry: "registry.internal", repository: "library/busybox" };
const INDEX = "application/vnd.oci.image.index.v1+json";

function record(tag: string, over: Partial<MirrorTagRecord> = {}): MirrorTagRecord {
  return {
    target: TARGET,
    tag,
    source: { registry: "docker.io", repository: "library/alpine" },
    sourceDigest: "sha256:aa",
    upstreamDigest: "sha256:aa",
    pinnedDigest: null,
    pinnedAt: null,
    syncedAt: 1000,
    checkedAt: 1000,
    size: 3_500_000,
    platforms: ["linux/amd64", "linux/arm64/v8"],
    current: { digest: "sha256:aa", mediaType: INDEX },
    ...over,
  };
}

const put = (store: MirrorStore, r: MirrorTagRecord, extra: Partial<TagChange> = {}) =>
  store.changeTag(r.target, r.tag, () => ({
    change: { record: r, addHistory: [], dropHistory: [], ...extra },
    result: undefined,
  }));

export function mirrorStoreConformance(name: string, open: () => Promise<StoreUnderTest>): void {
  const withStore = (fn: (s: MirrorStore) => Promise<void>) => async () => {
    const t = await open();
    try {
      await fn(t.store);
    } finally {
      await t.close();
    }
  };

  describe(`mirror store conformance: ${name}`, () => {
    it(
      "stores a tag's record whole, lists by target, and reads back what the tag points at",
      withStore(async (s) => {
        expect(await s.getTag(TARGET, "3.20")).toBeUndefined();
        await put(s, record("3.20"));
        await put(s, record("3.19", { pinnedDigest: "sha256:aa", pinnedAt: 2000, platforms: [] }));
        await put(s, record("1", { target: OTHER }));
        expect(await s.getTag(TARGET, "3.20")).toEqual(record("3.20"));
        expect((await s.tags(TARGET)).map((t) => t.tag)).toEqual(["3.19", "3.20"]);
        expect((await s.tags()).map((t) => `${t.target.repository}:${t.tag}`)).toEqual([
          "library/alpine:3.19",
          "library/alpine:3.20",
          "library/busybox:1",
        ]);
        expect((await s.getTag(TARGET, "3.19"))?.pinnedDigest).toBe("sha256:aa");
        await s.noteChecked(TARGET, "3.20", "sha256:bb", 5000);
        expect(await s.getTag(TARGET, "3.20")).toEqual(
          record("3.20", { upstreamDigest: "sha256:bb", checkedAt: 5000 }),
        );
      }),
    );

    it(
      "keeps history newest first, drops by history tag, and a change that decides nothing writes nothing",
      withStore(async (s) => {
        const h = (n: number) => ({
          historyTag: `3.20-${n}`,
          digest: `sha256:${n}`,
          replacedAt: n,
          reason: "sync",
        });
        await put(s, record("3.20"), { addHistory: [h(1)] });
        await put(s, record("3.20"), { addHistory: [h(3), h(2)] });
        expect((await s.history(TARGET, "3.20")).map((x) => x.historyTag)).toEqual([
          "3.20-3",
          "3.20-2",
          "3.20-1",
        ]);
        expect((await s.history(TARGET, "3.20"))[0]).toEqual(h(3));
        const gen = await s.generation();
        const seen = await s.changeTag(TARGET, "3.20", (snap) => ({ result: snap.history.length }));
        expect(seen).toBe(3);
        expect(await s.generation()).toBe(gen);
        await put(s, record("3.20"), { addHistory: [h(4)], dropHistory: ["3.20-1", "3.20-4"] });
        expect((await s.history(TARGET, "3.20")).map((x) => x.historyTag)).toEqual(["3.20-3", "3.20-2"]);
        expect(await s.history(TARGET, "3.19")).toEqual([]);
        expect(await s.generation()).toBeGreaterThan(gen);
      }),
    );

    it(
      "a change whose local part fails leaves the record, history and generation as they were",
      withStore(async (s) => {
        await put(s, record("3.20"));
        const gen = await s.generation();
        const failing = s.changeTag(
          TARGET,
          "3.20",
          () => ({
            change: {
              record: record("3.20", { current: { digest: "sha256:bb", mediaType: INDEX } }),
              addHistory: [{ historyTag: "3.20-x", digest: "sha256:aa", replacedAt: 2, reason: "sync" }],
              dropHistory: [],
            },
            result: undefined,
          }),
          () => {
            throw new Error("blob left the store");
          },
        );
        await expect(failing).rejects.toThrow("blob left the store");
        expect((await s.getTag(TARGET, "3.20"))?.current?.digest).toBe("sha256:aa");
        expect(await s.history(TARGET, "3.20")).toEqual([]);
        expect(await s.generation()).toBe(gen);
      }),
    );

    it(
      "changes of one tag are serialized: each decision sees the one before",
      withStore(async (s) => {
        await put(s, record("3.20", { size: 0 }));
        await Promise.all(
          Array.from({ length: 12 }, () =>
            s.changeTag(TARGET, "3.20", (snap) => {
              const r = snap.record as MirrorTagRecord;
              return {
                change: { record: { ...r, size: (r.size ?? 0) + 1 }, addHistory: [], dropHistory: [] },
                result: undefined,
              };
            }),
          ),
        );
        expect((await s.getTag(TARGET, "3.20"))?.size).toBe(12);
      }),
    );

    it(
      "records runs: start, success, failure keeps the last success, totals add up, generation moves",
      withStore(async (s) => {
        expect(await s.run("registry.internal/library/alpine")).toBeUndefined();
        const gen = await s.generation();
        await s.runStarted("registry.internal/library/alpine", 100);
        await s.runEnded("registry.internal/library/alpine", 200, 2, null);
        await s.runStarted("registry.internal/library/alpine", 300);
        await s.runEnded("registry.internal/library/alpine", 400, 0, "upstream went away");
        expect(await s.run("registry.internal/library/alpine")).toEqual({
          entry: "registry.internal/library/alpine",
          lastStart: 300,
          lastEnd: 400,
          lastSuccess: 200,
          lastError: "upstream went away",
          changesTotal: 2,
          failuresTotal: 1,
        });
        expect((await s.runs()).map((r) => r.entry)).toEqual(["registry.internal/library/alpine"]);
        expect(await s.generation()).toBeGreaterThan(gen);
        const g2 = await s.generation();
        await s.bump();
        expect(await s.generation()).toBe(g2 + 1);
      }),
    );

    it(
      "grants a sync lease; a shared store grants it to one holder at a time",
      withStore(async (s) => {
        const a = await s.lease("registry.internal/library/alpine");
        expect(a).toBeDefined();
        const b = await s.lease("registry.internal/library/alpine");
        if (s.shared) {
          expect(b).toBeUndefined();
          expect(
            await s.lease("registry.internal/library/busybox").then((l) => l?.release()),
          ).toBeUndefined();
          const waiting = s.lease("registry.internal/library/alpine", { waitMs: 10_000 });
          setTimeout(() => void a?.release(), 300);
          const c = await waiting;
          expect(c).toBeDefined();
          await c?.release();
        } else expect(b).toBeDefined();
        await a?.release();
        await b?.release();
      }),
    );
  });
}
