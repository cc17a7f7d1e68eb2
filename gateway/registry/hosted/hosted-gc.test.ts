// Hosted gc on a real store: a push in progress inside the grace is kept, unreferenced blobs past
// it go, proxy-cache content is never deleted, abandoned uploads go after uploadTtl.
import { randomBytes } from "node:crypto";
import { readdir, utimes } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { makeTempDir, type TempDir } from "../../../test/support/temp-dir.ts";
import { ContentCache } from "../../cache/content-cache.ts";
import { MetadataDb } from "../../cache/metadata-db.ts";
import { silentLogger } from "../../log.ts";
import { OCI_MANIFEST } from "../../oci/media-types.ts";
import { parseReference } from "../../oci/reference.ts";
import { digestOfBytes, imageManifest, openHosted, pushBlob, pushChunked } from "./hosted.test-support.ts";
import { collectHostedGarbage } from "./hosted-gc.ts";

const HOUR = 3_600_000;
const dirs: TempDir[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await d.remove();
});

async function setup() {
  const dir = await makeTempDir("wharf-hosted-gc-");
  dirs.push(dir);
  let clock = Date.now();
  const now = () => clock;
  const opened = await openHosted(dir.path, { config: { allowDelete: true }, now });
  const gc = (opts: { dryRun?: boolean; uploadTtl?: number } = {}) =>
    collectHostedGarbage({
      cache: opened.cache,
      uploadTtl: () => opts.uploadTtl ?? 24 * HOUR,
      graceMs: HOUR,
      now,
      dryRun: opts.dryRun,
      log: silentLogger,
    });
  return { dir: dir.path, ...opened, gc, now, advance: (ms: number) => (clock += ms) };
}

describe("hosted gc", () => {
  it("keeps the blobs of a push in progress (inside the grace), removes unreferenced ones past it", async () => {
    const { reg, cache, gc, advance } = await setup();
    const layer = await pushChunked(reg, "app", randomBytes(200_000), 64 * 1024);
    const config = await pushBlob(reg, "app", Buffer.from("{}"));
    advance(10 * 60_000);
    expect(await gc()).toMatchObject({ linksRemoved: 0, blobsDeleted: 0 });
    expect(await cache.store.size(layer)).toBe(200_000);
    advance(2 * HOUR);
    const dry = await gc({ dryRun: true });
    expect(dry).toMatchObject({ linksRemoved: 2, blobsDeleted: 2 });
    expect(await cache.store.size(layer)).toBe(200_000);
    expect(await gc()).toMatchObject({ linksRemoved: 2, blobsDeleted: 2, bytesFreed: 200_002 });
    expect(await cache.store.size(layer)).toBeUndefined();
    expect(await cache.store.size(config)).toBeUndefined();
    expect(cache.db.getBlob(layer.value)).toBeUndefined();
    await expect(reg.blob("app", layer, { head: true })).rejects.toMatchObject({ code: "BLOB_UNKNOWN" });
  });

  it("keeps what manifests reference; a deleted manifest's content goes; a late manifest PUT refreshes its blobs", async () => {
    const { reg, cache, gc, advance } = await setup();
    const config = await pushBlob(reg, "app", Buffer.from('{"a":1}'));
    const layer = await pushBlob(reg, "app", randomBytes(1000));
    const body = imageManifest(config, [layer]);
    const m = await reg.putManifest("app", parseReference("v1"), body, OCI_MANIFEST);
    // Uploaded long ago, manifest only now: the PUT re-links the blobs, so gc keeps them.
    const old = await pushBlob(reg, "slow", randomBytes(500));
    const oldConfig = await pushBlob(reg, "slow", Buffer.from('{"b":2}'));
    advance(3 * HOUR);
    await reg.putManifest("slow", parseReference("v1"), imageManifest(oldConfig, [old]), OCI_MANIFEST);
    expect(await gc()).toMatchObject({ linksRemoved: 0, blobsDeleted: 0 });
    expect(await cache.store.size(old)).toBe(500);
    await reg.deleteManifest("app", parseReference(m.digest));
    advance(2 * HOUR);
    const r = await gc();
    expect(r).toMatchObject({ linksRemoved: 2, blobsDeleted: 3 });
    for (const d of [config, layer, digestOfBytes(body)]) expect(await cache.store.size(d)).toBeUndefined();
    expect(
      (await reg.manifest("slow", parseReference("v1"), { head: true, accept: [] })).size,
    ).toBeGreaterThan(0);
  });

  it("racing a manifest PUT: either the PUT wins and its blobs stay, or it fails and records nothing", async () => {
    const { reg, cache, gc, advance } = await setup();
    const outcomes = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const layer = await pushBlob(reg, "race", randomBytes(100 + i));
      const config = await pushBlob(reg, "race", Buffer.from(`{"i":${i}}`));
      advance(2 * HOUR);
      const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
      const [put] = await Promise.allSettled([
        pause(i % 4).then(() =>
          reg.putManifest("race", parseReference(`t${i}`), imageManifest(config, [layer]), OCI_MANIFEST),
        ),
        pause((i >> 2) % 4).then(() => gc()),
      ]);
      const ref = parseReference(`t${i}`);
      if (put.status === "fulfilled") {
        outcomes.add("put");
        expect(await cache.store.size(layer)).toBe(100 + i);
        expect((await reg.blob("race", layer, { head: true })).size).toBe(100 + i);
        expect((await reg.manifest("race", ref, { head: true, accept: [] })).digest).toBe(put.value.digest);
      } else {
        outcomes.add("gc");
        expect(put.reason).toMatchObject({ code: "MANIFEST_BLOB_UNKNOWN" });
        await expect(reg.manifest("race", ref, { head: true, accept: [] })).rejects.toMatchObject({
          code: "MANIFEST_UNKNOWN",
        });
      }
    }
    expect(outcomes.size).toBeGreaterThan(0);
  });

  it("`wharf gc` (another process) between a PUT's existence check and its records: the PUT's transaction notices", async () => {
    const { reg, cache, dir, advance, now } = await setup();
    // What `wharf gc` beside the server sees: its own connection and cache, none of the server's holds.
    const other = new ContentCache({
      dataDir: dir,
      db: new MetadataDb(join(dir, "metadata.sqlite")),
      log: silentLogger,
      fillTimeoutMs: 10_000,
    });
    const gc = () =>
      collectHostedGarbage({ cache: other, uploadTtl: () => HOUR, graceMs: HOUR, now, log: silentLogger });
    let caught = 0;
    for (let i = 0; i < 10; i++) {
      const layer = await pushBlob(reg, "race", randomBytes(200 + i));
      const config = await pushBlob(reg, "race", Buffer.from(`{"j":${i}}`));
      advance(2 * HOUR);
      const body = imageManifest(config, [layer]);
      const put = reg.putManifest("race", parseReference("latest"), body, OCI_MANIFEST).then(
        (v) => v,
        (e: unknown) => e as Error,
      );
      // The manifest's temporary file appearing means the blobs were found: collect them now.
      while (
        (await readdir(join(dir, "tmp"))).length === 0 &&
        (await cache.store.size(digestOfBytes(body))) === undefined
      )
        await new Promise((r) => setImmediate(r));
      await gc();
      const r = await put;
      if (r instanceof Error) {
        caught++;
        expect(r).toMatchObject({ code: "MANIFEST_BLOB_UNKNOWN" });
      } else expect(await cache.store.size(layer)).toBe(200 + i);
    }
    expect(caught).toBeGreaterThan(0);
  });

  it("never deletes a blob the proxy cache uses: unlinked, it stays as cache content for the LRU", async () => {
    const { reg, cache, gc, advance } = await setup();
    const layer = await pushBlob(reg, "app", randomBytes(3000));
    cache.noteRepoBlob("docker.io", "library/alpine", layer.value);
    await reg.deleteBlob("app", layer);
    advance(2 * HOUR);
    expect(await gc()).toMatchObject({ blobsDeleted: 0, keptForCache: 1 });
    expect(await cache.store.size(layer)).toBe(3000);
    expect(cache.db.lruBlobs(10).map((b) => b.digest)).toContain(layer.value);
  });

  it("never deletes a blob being streamed (tried again next run)", async () => {
    const { reg, gc, advance } = await setup();
    const layer = await pushBlob(reg, "app", randomBytes(3000));
    const body = (await reg.blob("app", layer, { head: false })).body as { release(): void };
    await reg.deleteBlob("app", layer);
    advance(2 * HOUR);
    expect(await gc()).toMatchObject({ blobsDeleted: 0, keptInUse: 1 });
    body.release();
    expect(await gc()).toMatchObject({ blobsDeleted: 1 });
  });

  it("removes upload sessions idle longer than uploadTtl, keeps active ones", async () => {
    const { reg, dir, gc } = await setup();
    const idle = await reg.startUpload("app");
    await reg.appendUpload("app", idle.id, Readable.from([randomBytes(100)]), {});
    const active = await reg.startUpload("app");
    // Idleness is read from the session files' mtimes: age the idle one by two hours.
    const past = new Date(Date.now() - 2 * HOUR);
    for (const f of ["", "state.json", "data"]) await utimes(join(dir, "uploads", idle.id, f), past, past);
    expect(await gc({ uploadTtl: HOUR, dryRun: true })).toMatchObject({ uploadsRemoved: 1 });
    expect((await readdir(join(dir, "uploads"))).sort()).toEqual([idle.id, active.id].sort());
    expect(await gc({ uploadTtl: HOUR })).toMatchObject({ uploadsRemoved: 1 });
    await expect(reg.uploadStatus("app", idle.id)).rejects.toMatchObject({ code: "BLOB_UPLOAD_UNKNOWN" });
    expect((await reg.uploadStatus("app", active.id)).offset).toBe(0);
  });
});
