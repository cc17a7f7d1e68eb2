// What every BlobStore must do (blob-store-api.ts), as vitest tests any implementation runs by
// calling this with a factory for fresh, empty stores: the filesystem store (fs-blob-store.test.ts)
// and, later, the object store. Shaped after undici's one cache-store suite for every store.
import { createHash, randomBytes } from "node:crypto";
import type { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { isWharfError } from "../../common/errors.ts";
import { type Digest, parseDigest } from "../oci/digest.ts";
import type { BlobStore } from "./blob-store-api.ts";

export interface BlobStoreHarness {
  store: BlobStore;
  cleanup(): Promise<void>;
}

function digestOf(data: Uint8Array): Digest {
  return parseDigest(`sha256:${createHash("sha256").update(data).digest("hex")}`);
}

async function collect(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

async function listed(store: BlobStore): Promise<string[]> {
  const out: string[] = [];
  for await (const b of store.list()) out.push(b.digest);
  return out.sort();
}

async function storeStreamed(store: BlobStore, data: Buffer, parts = 3): Promise<Digest> {
  const d = digestOf(data);
  const w = await store.begin(d);
  const step = Math.ceil(data.length / parts);
  for (let i = 0; i < data.length; i += step) await w.write(data.subarray(i, i + step));
  expect(await w.commit()).toBe(data.length);
  return d;
}

export function blobStoreConformance(name: string, create: () => Promise<BlobStoreHarness>): void {
  const withStore = (fn: (store: BlobStore) => Promise<void>) => async () => {
    const h = await create();
    try {
      await h.store.init();
      await fn(h.store);
    } finally {
      await h.cleanup();
    }
  };

  describe(`BlobStore conformance: ${name}`, () => {
    it(
      "knows nothing of a blob it was never given; removing it is no error",
      withStore(async (store) => {
        const d = digestOf(Buffer.from("absent"));
        expect(await store.size(d)).toBeUndefined();
        expect(await store.read(d)).toBeUndefined();
        await store.remove(d);
        expect(await listed(store)).toEqual([]);
      }),
    );

    it(
      "a streamed write is invisible until committed, then whole: size, read, ranges, list",
      withStore(async (store) => {
        const data = randomBytes(300_000);
        const d = digestOf(data);
        const w = await store.begin(d);
        await w.write(data.subarray(0, 1000));
        expect(await store.size(d)).toBeUndefined();
        expect(await listed(store)).toEqual([]);
        await w.write(data.subarray(1000));
        expect(w.written).toBe(data.length);
        expect(await w.commit()).toBe(data.length);
        expect(await store.size(d)).toBe(data.length);
        expect((await store.read(d))?.equals(data)).toBe(true);
        expect((await collect(store.createReadStream(d))).equals(data)).toBe(true);
        const slice = await collect(store.createReadStream(d, { start: 10, end: 99_999 }));
        expect(slice.equals(data.subarray(10, 100_000))).toBe(true);
        const last = await collect(
          store.createReadStream(d, { start: data.length - 1, end: data.length - 1 }),
        );
        expect(last.equals(data.subarray(data.length - 1))).toBe(true);
        expect(await listed(store)).toEqual([d.value]);
        const entries = [];
        for await (const e of store.list()) entries.push(e);
        const [entry] = entries;
        expect(entry?.size).toBe(data.length);
        expect(entry?.mtimeMs).toBeGreaterThan(0);
      }),
    );

    it(
      "bytes that do not match the digest are refused with DIGEST_INVALID and leave nothing",
      withStore(async (store) => {
        const d = digestOf(Buffer.from("what was promised"));
        const w = await store.begin(d);
        await w.write(Buffer.from("something else"));
        const err = await w.commit().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(isWharfError(err) && err.code).toBe("DIGEST_INVALID");
        expect(await store.size(d)).toBeUndefined();
        expect(await listed(store)).toEqual([]);
        await w.abort(); // idempotent after a refused commit
      }),
    );

    it(
      "an aborted write leaves nothing, and a later write of the same digest succeeds",
      withStore(async (store) => {
        const data = randomBytes(5000);
        const d = digestOf(data);
        const w = await store.begin(d);
        await w.write(data.subarray(0, 100));
        await w.abort();
        await w.abort();
        expect(await store.size(d)).toBeUndefined();
        await storeStreamed(store, data);
        expect((await store.read(d))?.equals(data)).toBe(true);
      }),
    );

    it(
      "an empty blob is a blob",
      withStore(async (store) => {
        const d = await storeStreamed(store, Buffer.alloc(0), 1);
        expect(await store.size(d)).toBe(0);
        expect((await store.read(d))?.length).toBe(0);
      }),
    );

    it(
      "two concurrent writers of one digest both commit; the blob is whole",
      withStore(async (store) => {
        const data = randomBytes(200_000);
        await Promise.all([storeStreamed(store, data, 4), storeStreamed(store, data, 7)]);
        const d = digestOf(data);
        expect((await store.read(d))?.equals(data)).toBe(true);
        expect(await listed(store)).toEqual([d.value]);
      }),
    );

    it(
      "writeVerified stores small content; remove takes it away",
      withStore(async (store) => {
        const a = Buffer.from('{"schemaVersion":2}');
        const b = Buffer.from("another");
        await store.writeVerified(digestOf(a), a);
        await store.writeVerified(digestOf(b), b);
        expect((await store.read(digestOf(a)))?.equals(a)).toBe(true);
        expect(await listed(store)).toEqual([digestOf(a).value, digestOf(b).value].sort());
        await store.remove(digestOf(a));
        expect(await store.size(digestOf(a))).toBeUndefined();
        expect(await listed(store)).toEqual([digestOf(b).value]);
      }),
    );

    it(
      "init after an interrupted write keeps committed blobs and exposes nothing partial",
      withStore(async (store) => {
        const kept = await storeStreamed(store, randomBytes(1000));
        const partial = randomBytes(1000);
        const w = await store.begin(digestOf(partial));
        await w.write(partial.subarray(0, 500));
        await store.init(); // as after a crash: the writer is never finished
        expect(await store.size(kept)).toBe(1000);
        expect(await store.size(digestOf(partial))).toBeUndefined();
        expect(await listed(store)).toEqual([kept.value]);
      }),
    );
  });
}
