// The S3 blob store against the BlobStore conformance suite, on a real Ceph RADOS Gateway started
// by the harness (one cluster for this file, a fresh bucket per test), plus what only it promises:
// large blobs go up as verified multipart uploads, and a refused one leaves no upload behind.
import { createHash, randomBytes } from "node:crypto";
import { ListMultipartUploadsCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type Ceph, startCeph } from "../../../test/support/ceph.ts";
import { parseDigest } from "../../oci/digest.ts";
import { blobStoreConformance } from "../blob-store.conformance.ts";
import { S3BlobStore } from "./s3-blob-store.ts";
import { PART_BYTES } from "./s3-blob-writer.ts";

let ceph: Ceph;
beforeAll(async () => {
  ceph = await startCeph();
}, 120_000);
afterAll(async () => {
  await ceph?.stop();
});

async function freshStore(prefix = "wharf/"): Promise<S3BlobStore> {
  const bucket = await ceph.createBucket();
  return new S3BlobStore({ client: ceph.client, bucket, prefix });
}

blobStoreConformance("s3 (Ceph RGW)", async () => ({ store: await freshStore(), cleanup: async () => {} }));

const sha = (b: Buffer) => parseDigest(`sha256:${createHash("sha256").update(b).digest("hex")}`);

it("a blob of several parts is uploaded as a multipart upload, whole, with ranges across parts", async () => {
  const store = await freshStore("");
  const data = randomBytes(2 * PART_BYTES + 12345);
  const d = sha(data);
  const w = await store.begin(d);
  for (let i = 0; i < data.length; i += 1_000_000) await w.write(data.subarray(i, i + 1_000_000));
  expect(await store.size(d)).toBeUndefined();
  expect(await w.commit()).toBe(data.length);
  expect(store.keyOf(d)).toBe(`blobs/sha256/${d.hex}`);
  expect(await store.size(d)).toBe(data.length);
  const parts: Buffer[] = [];
  const start = PART_BYTES - 10;
  for await (const c of store.createReadStream(d, { start, end: PART_BYTES + 9 })) parts.push(c as Buffer);
  expect(Buffer.concat(parts).equals(data.subarray(start, PART_BYTES + 10))).toBe(true);
  expect((await store.read(d))?.equals(data)).toBe(true);
}, 60_000);

it("a multipart write whose bytes do not match is refused, its upload aborted, nothing under the key", async () => {
  const store = await freshStore();
  const data = randomBytes(PART_BYTES + 100);
  const d = sha(Buffer.from("something else entirely"));
  const w = await store.begin(d);
  await w.write(data);
  await expect(w.commit()).rejects.toMatchObject({ code: "DIGEST_INVALID" });
  expect(await store.size(d)).toBeUndefined();
  const uploads = await ceph.client.send(new ListMultipartUploadsCommand({ Bucket: store.s3.bucket }));
  expect(uploads.Uploads ?? []).toEqual([]);
}, 60_000);
