// The fill against a real file system with in-process sources: single flight, followers, digest
// verification holding back the last byte, and clients leaving without stopping the fill.
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { silentLogger } from "../log.ts";
import { parseDigest } from "../oci/digest.ts";
import { ContentCache } from "./content-cache.ts";
import { fillFileBody } from "./fill-body.ts";
import { MetadataDb } from "./metadata-db.ts";

async function newCache() {
  const dir = await mkdtemp(join(tmpdir(), "wharf-fill-"));
  const cache = new ContentCache({
    dataDir: dir,
    db: new MetadataDb(join(dir, "m.sqlite")),
    log: silentLogger,
    fillTimeoutMs: 10_000,
  });
  await cache.store.init();
  return { dir, cache };
}

async function collect(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

const tick = () => new Promise((r) => setTimeout(r, 10));

describe("BlobFill", () => {
  const data = randomBytes(3 * 1024 * 1024 + 17);
  const digest = parseDigest(`sha256:${createHash("sha256").update(data).digest("hex")}`);

  it("streams to several readers from one source and stores the verified blob", async () => {
    const { cache } = await newCache();
    const src = new PassThrough();
    let opened = 0;
    const a = cache.fill(digest, async () => {
      opened++;
      return { body: src, size: data.length };
    });
    const b = cache.fill(digest, async () => {
      opened++;
      return { body: src, size: data.length };
    });
    expect(b.joined).toBe(true);
    await a.fill.started;
    const readers = [a.fill.reader(), b.fill.reader(), a.fill.reader(100, 199)];
    const results = readers.map(collect);
    for (let i = 0; i < data.length; i += 65536) {
      src.write(data.subarray(i, i + 65536));
      await tick();
    }
    src.end();
    const [r1, r2, r3] = await Promise.all(results);
    expect(opened).toBe(1);
    expect(r1?.equals(data)).toBe(true);
    expect(r2?.equals(data)).toBe(true);
    expect(r3?.equals(data.subarray(100, 200))).toBe(true);
    // readers may finish before the fsync + rename into the store: wait for the fill itself
    expect(await a.fill.done).toBe(data.length);
    expect(await cache.blobSize(digest)).toBe(data.length);
    expect(cache.fills.size).toBe(0);
  });

  it("a reader made in the same turn as its fill (before the temporary file exists) gets every byte", async () => {
    const { cache } = await newCache();
    for (let i = 0; i < 20; i++) {
      const bytes = randomBytes(2 * 1024 * 1024 + i);
      const d = parseDigest(`sha256:${createHash("sha256").update(bytes).digest("hex")}`);
      const { fill } = cache.fill(d, async () => ({ body: Readable.from([bytes]), size: bytes.length }));
      const got = await collect(fill.reader());
      expect(got.equals(bytes), `fill ${i}`).toBe(true);
      await fill.done;
    }
  });

  it("withholds the last byte until verified and fails readers on a digest mismatch", async () => {
    const { cache, dir } = await newCache();
    const src = new PassThrough();
    const { fill } = cache.fill(digest, async () => ({ body: src, size: data.length }));
    await fill.started;
    const reader = fill.reader();
    let received = 0;
    reader.on("data", (c: Buffer) => {
      received += c.length;
    });
    const ended = new Promise<Error | undefined>((resolve) => {
      reader.on("error", resolve);
      reader.on("end", () => resolve(undefined));
    });
    const corrupt = Buffer.from(data);
    corrupt[1000] = (corrupt[1000] as number) ^ 0xff;
    src.end(corrupt);
    const err = await ended;
    expect(err?.message).toMatch(/does not match its digest/);
    expect(received).toBeLessThan(data.length);
    await expect(fill.done).rejects.toThrow();
    expect(await cache.blobSize(digest)).toBeUndefined();
    expect(await readdir(join(dir, "tmp"))).toEqual([]);
  });

  it("does not hand a failed fill that is still cleaning up to the next client", async () => {
    const { cache } = await newCache();
    const corrupt = Buffer.from(data);
    corrupt[7] = (corrupt[7] as number) ^ 0xff;
    const first = cache.fill(digest, async () => ({ body: Readable.from([corrupt]), size: data.length }));
    // failed (digest checked) but not settled yet: the temporary file is still being removed
    await new Promise<void>((resolve) => {
      const check = () => (first.fill.broken ? resolve() : first.fill.once("progress", check));
      check();
    });
    expect(cache.fills.get(digest.value)).toBe(first.fill);
    const retry = cache.fill(digest, async () => ({ body: Readable.from([data]), size: data.length }));
    expect(retry.joined).toBe(false);
    expect(await retry.fill.done).toBe(data.length);
    await expect(first.fill.done).rejects.toThrow(/does not match its digest/);
    expect(await cache.blobSize(digest)).toBe(data.length);
    expect(cache.fills.size).toBe(0);
  });

  it("releases the last byte once verified, without waiting for the store's fsync and rename", async () => {
    const { cache } = await newCache();
    let commitStarted = false;
    let finishCommit: () => void = () => {};
    const commit = cache.store.commit.bind(cache.store);
    cache.store.commit = async (tempPath, d) => {
      commitStarted = true;
      await new Promise<void>((resolve) => {
        finishCommit = resolve;
      });
      return commit(tempPath, d);
    };
    const { fill } = cache.fill(digest, async () => ({ body: Readable.from([data]), size: data.length }));
    await fill.started;
    const body = fillFileBody(fill, 0, data.length - 1, () => {});
    expect(await body.readable(data.length - 1)).toBe(data.length);
    expect(fill.verified).toBe(true);
    expect(fill.state).toBe("running");
    expect(await cache.blobSize(digest)).toBeUndefined();
    const fh = await body.open();
    const copy = Buffer.alloc(data.length);
    await fh.read(copy, 0, data.length, 0);
    await fh.close();
    expect(copy.equals(data)).toBe(true);
    while (!commitStarted) await tick();
    finishCommit();
    expect(await fill.done).toBe(data.length);
    expect(await cache.blobSize(digest)).toBe(data.length);
  });

  it("keeps a small blob in memory once verified, and only a small one", async () => {
    const { cache } = await newCache();
    const small = data.subarray(0, 300_000);
    const d = parseDigest(`sha256:${createHash("sha256").update(small).digest("hex")}`);
    const a = cache.fill(d, async () => ({ body: Readable.from([small]), size: small.length })).fill;
    await a.whenVerified();
    expect(a.bytes?.equals(small)).toBe(true);
    const b = cache.fill(digest, async () => ({ body: Readable.from([data]), size: data.length })).fill;
    await b.whenVerified();
    expect(b.bytes).toBeUndefined();
    await Promise.all([a.done, b.done]);
  });

  it("rejects a truncated body and keeps filling when a reader leaves", async () => {
    const { cache } = await newCache();
    const src = new PassThrough();
    const { fill } = cache.fill(digest, async () => ({ body: src, size: data.length }));
    await fill.started;
    const leaving = fill.reader();
    leaving.once("data", () => leaving.destroy());
    src.write(data.subarray(0, 1024 * 1024));
    await tick();
    src.end(data.subarray(1024 * 1024));
    expect(await fill.done).toBe(data.length);

    const d2 = parseDigest(`sha256:${"1".repeat(64)}`);
    const short = new PassThrough();
    const f2 = cache.fill(d2, async () => ({ body: short, size: 100 })).fill;
    short.end(Buffer.alloc(50));
    await expect(f2.done).rejects.toThrow(/50 of 100 bytes/);

    // the upstream connection breaks mid-body: a 502 for clients, not an internal error
    const d3 = parseDigest(`sha256:${"2".repeat(64)}`);
    const broken = new PassThrough();
    const f3 = cache.fill(d3, async () => ({ body: broken, size: 100 })).fill;
    await f3.started;
    broken.destroy(new Error("other side closed"));
    const err = await f3.done.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: "UPSTREAM_UNAVAILABLE", status: 502 });
    expect((err as Error).message).toMatch(/upstream body broke off: other side closed/);
  });
});
