// The cache over a shared S3 store (storage.kind s3) on a real Ceph RADOS Gateway, each
// ContentCache standing for one replica with its own dataDir: a verified fill from upstream is
// uploaded; another replica fills from the bucket without asking upstream and keeps a local copy;
// an object whose bytes were changed in the bucket is never completed for a client, is quarantined,
// and the next fill goes upstream; a store that is down leaves the replica filling from upstream.
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { HeadObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type Ceph, startCeph } from "../../test/support/ceph.ts";
import { Secret } from "../config/secret.ts";
import { silentLogger } from "../log.ts";
import { parseDigest } from "../oci/digest.ts";
import { S3BlobStore } from "../store/s3/s3-blob-store.ts";
import { createS3Client } from "../store/s3/s3-client.ts";
import { ContentCache } from "./content-cache.ts";
import { MetadataDb } from "./metadata-db.ts";
import { openCache } from "./open-cache.ts";
import type { SharedBlobStore } from "./shared-blobs.ts";

let ceph: Ceph;
beforeAll(async () => {
  ceph = await startCeph();
}, 120_000);
afterAll(async () => {
  await ceph?.stop();
});

async function replica(shared: SharedBlobStore): Promise<ContentCache> {
  const dir = await mkdtemp(join(tmpdir(), "wharf-shared-fill-"));
  const cache = new ContentCache({
    dataDir: dir,
    db: new MetadataDb(join(dir, "m.sqlite")),
    log: silentLogger,
    fillTimeoutMs: 20_000,
    shared,
  });
  await cache.store.init();
  return cache;
}

const data = randomBytes(9 * 1024 * 1024 + 5); // two parts of a multipart upload
const d = parseDigest(`sha256:${createHash("sha256").update(data).digest("hex")}`);

/** Fills `d` in `cache`, counting upstream opens; resolves with what a client read, once settled. */
async function fill(cache: ContentCache, upstream: { opens: number }) {
  const { fill } = cache.fill(d, async () => {
    upstream.opens++;
    return { body: Readable.from([data.subarray(0, 1 << 20), data.subarray(1 << 20)]), size: data.length };
  });
  const parts: Buffer[] = [];
  let error: unknown;
  try {
    for await (const c of fill.reader()) parts.push(c as Buffer);
  } catch (e) {
    error = e;
  }
  await fill.done.catch(() => {});
  for (let i = 0; i < 200 && cache.fills.has(d.value); i++) await new Promise((r) => setTimeout(r, 50));
  return { bytes: Buffer.concat(parts), error, fromShared: fill.fromShared };
}

it("replica 1 uploads its verified fill; replica 2 fills from the bucket, not upstream", async () => {
  const store = new S3BlobStore(
    { client: ceph.client, bucket: await ceph.createBucket(), prefix: "" },
    { holder: "t" },
  );
  const upstream = { opens: 0 };
  const one = await replica(store);
  const a = await fill(one, upstream);
  expect(a.bytes.equals(data)).toBe(true);
  expect(upstream.opens).toBe(1);
  expect(await store.size(d)).toBe(data.length);
  const two = await replica(store);
  const b = await fill(two, upstream);
  expect(b.bytes.equals(data)).toBe(true);
  expect(b.fromShared).toBe(true);
  expect(upstream.opens).toBe(1);
  expect(existsSync(two.store.pathOf(d)), "replica 2 keeps a local copy").toBe(true);
}, 60_000);

it("an object changed in the bucket is not completed for a client, is quarantined, and refetched", async () => {
  const bucket = await ceph.createBucket();
  const store = new S3BlobStore({ client: ceph.client, bucket, prefix: "p/" }, { holder: "t" });
  const bad = Buffer.from(data);
  bad.writeUInt8((bad.at(-1) ?? 0) ^ 1, bad.length - 1);
  await ceph.client.send(new PutObjectCommand({ Bucket: bucket, Key: store.keyOf(d), Body: bad }));
  const upstream = { opens: 0 };
  const cache = await replica(store);
  const first = await fill(cache, upstream);
  expect(first.error).toBeDefined();
  expect(first.bytes.length).toBeLessThan(data.length); // the last byte is held back
  expect(upstream.opens).toBe(0);
  const aside = await ceph.client.send(
    new HeadObjectCommand({ Bucket: bucket, Key: `p/quarantine/sha256-${d.hex}` }),
  );
  expect(aside.ContentLength).toBe(data.length);
  const second = await fill(cache, upstream);
  expect(second.bytes.equals(data)).toBe(true);
  expect(upstream.opens).toBe(1);
  expect((await store.read(d))?.equals(data), "the upload replaced the bad object").toBe(true);
}, 60_000);

it("with the store down, a replica still starts and fills from upstream", async () => {
  const s3 = createS3Client(
    {
      endpoint: "http://127.0.0.1:9",
      bucket: "down",
      region: "us-east-1",
      prefix: "",
      forcePathStyle: true,
      caFile: null,
    },
    { accessKeyId: new Secret("x"), secretAccessKey: new Secret("y") },
  );
  const down = new S3BlobStore(s3, { holder: "t" });
  const opened = await openCache({
    dataDir: await mkdtemp(join(tmpdir(), "wharf-shared-down-")),
    log: silentLogger,
    fillTimeoutMs: 20_000,
    sharedStore: down,
  });
  opened.close();
  const upstream = { opens: 0 };
  const cache = await replica(down);
  const r = await fill(cache, upstream);
  expect(r.bytes.equals(data)).toBe(true);
  expect(upstream.opens).toBe(1);
  expect(existsSync(cache.store.pathOf(d))).toBe(true);
}, 60_000);
