// Hosted gc on a real store: a push in progress inside the grace is kept, unreferenced blobs past
// it go, proxy-cache content is never deleted, abandoned uploads go after uploadTtl.
import { randomBytes } from "node:crypto";
import { readdir, utimes } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { makeTempDir, type TempDir } from "../../../test/support/temp-dir.ts";
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
  return { dir: dir.path, ...opened, gc, advance: (ms: number) => (clock += ms) };
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
