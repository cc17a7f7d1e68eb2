// Blobs in an S3-compatible bucket, content-addressed: <prefix>blobs/<algorithm>/<hex>. Shared by
// every replica on the bucket. Writes are multipart uploads verified before they complete
// (s3-blob-writer.ts); reads are GetObject (with Range), stat is HeadObject, list is ListObjectsV2.

import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import {
  AbortMultipartUploadCommand,
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from "@aws-sdk/client-s3";
import { type Digest, parseDigest } from "../../oci/digest.ts";
import type { BlobStore, BlobWriter, StoredBlob } from "../blob-store-api.ts";
import { S3BlobWriter } from "./s3-blob-writer.ts";
import { getObjectStream, isNotFound, type S3Location } from "./s3-client.ts";
import { type FillLeases, S3FillLeases } from "./s3-fill-lease.ts";
import { S3UploadChunks } from "./s3-upload-chunks.ts";

/** Multipart uploads older than this are taken as abandoned (a replica died mid-write). */
const STALE_UPLOAD_MS = 24 * 60 * 60 * 1000;

export class S3BlobStore implements BlobStore {
  readonly s3: S3Location;
  /** Present when the store coordinates fills across replicas (opts.holder given). */
  readonly leases: FillLeases | undefined;
  readonly #staleUploadMs: number;
  readonly #now: () => number;

  constructor(
    s3: S3Location,
    opts: { staleUploadMs?: number; now?: () => number; holder?: string; leaseTtlMs?: number } = {},
  ) {
    this.s3 = s3;
    this.leases =
      opts.holder === undefined
        ? undefined
        : new S3FillLeases(s3, { holder: opts.holder, ttlMs: opts.leaseTtlMs, now: opts.now });
    this.#staleUploadMs = opts.staleUploadMs ?? STALE_UPLOAD_MS;
    this.#now = opts.now ?? Date.now;
  }

  /** Hosted uploads' pieces in this bucket (shared-hosting.ts, which does not load the SDK itself). */
  uploadChunks(): S3UploadChunks {
    return new S3UploadChunks(this.s3);
  }

  keyOf(d: Digest): string {
    return `${this.s3.prefix}blobs/${d.algorithm}/${d.hex}`;
  }

  get #blobsPrefix(): string {
    return `${this.s3.prefix}blobs/`;
  }

  /**
   * Aborts multipart uploads abandoned long ago. Other replicas may be writing right now, so only
   * old ones go; an unfinished upload is never visible under its key meanwhile.
   */
  async init(): Promise<number> {
    const { client, bucket } = this.s3;
    let aborted = 0;
    let KeyMarker: string | undefined;
    let UploadIdMarker: string | undefined;
    do {
      const page = await client.send(
        new ListMultipartUploadsCommand({
          Bucket: bucket,
          Prefix: this.#blobsPrefix,
          KeyMarker,
          UploadIdMarker,
        }),
      );
      for (const u of page.Uploads ?? []) {
        if (!u.Key || !u.UploadId) continue;
        if (this.#now() - (u.Initiated?.getTime() ?? 0) < this.#staleUploadMs) continue;
        await client
          .send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId }))
          .then(
            () => aborted++,
            () => {},
          );
      }
      ({ NextKeyMarker: KeyMarker, NextUploadIdMarker: UploadIdMarker } = page);
      if (!page.IsTruncated) break;
    } while (KeyMarker);
    return aborted;
  }

  async size(d: Digest): Promise<number | undefined> {
    try {
      const h = await this.s3.client.send(
        new HeadObjectCommand({ Bucket: this.s3.bucket, Key: this.keyOf(d) }),
      );
      return h.ContentLength;
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  async read(d: Digest): Promise<Buffer | undefined> {
    try {
      const r = await this.s3.client.send(
        new GetObjectCommand({ Bucket: this.s3.bucket, Key: this.keyOf(d) }),
      );
      return Buffer.from((await r.Body?.transformToByteArray()) ?? []);
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  /** A stream at once; the GetObject behind it starts now and its errors end the stream. */
  createReadStream(d: Digest, range?: { start: number; end: number }): Readable {
    return getObjectStream(this.s3, this.keyOf(d), range);
  }

  async begin(d: Digest): Promise<BlobWriter> {
    return new S3BlobWriter(this.s3, this.keyOf(d), d);
  }

  async writeVerified(d: Digest, data: Uint8Array): Promise<void> {
    await this.s3.client.send(
      new PutObjectCommand({
        Bucket: this.s3.bucket,
        Key: this.keyOf(d),
        Body: data,
        ContentLength: data.length,
        ContentMD5: createHash("md5").update(data).digest("base64"),
      }),
    );
  }

  async remove(d: Digest): Promise<void> {
    // S3 answers 204 for a missing key as well
    await this.s3.client.send(new DeleteObjectCommand({ Bucket: this.s3.bucket, Key: this.keyOf(d) }));
  }

  /** Keeps a mismatching object aside under <prefix>quarantine/ (never served again), then deletes it. */
  async quarantine(d: Digest): Promise<void> {
    const { client, bucket, prefix } = this.s3;
    await client
      .send(
        new CopyObjectCommand({
          Bucket: bucket,
          Key: `${prefix}quarantine/${d.algorithm}-${d.hex}`,
          CopySource: `${bucket}/${encodeURI(this.keyOf(d))}`,
        }),
      )
      .catch(() => {}); // the copy is evidence, not a condition for removing what is wrong
    await this.remove(d);
  }

  async *list(): AsyncGenerator<StoredBlob & { key: string }> {
    const { client, bucket } = this.s3;
    let ContinuationToken: string | undefined;
    do {
      const page = await client.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: this.#blobsPrefix, ContinuationToken }),
      );
      for (const o of page.Contents ?? []) {
        const m = o.Key ? /^([a-z0-9]+)\/([a-f0-9]+)$/.exec(o.Key.slice(this.#blobsPrefix.length)) : null;
        if (!m || !o.Key) continue;
        let digest: string;
        try {
          digest = parseDigest(`${m[1]}:${m[2]}`).value;
        } catch {
          continue; // not one of ours
        }
        yield { digest, key: o.Key, size: o.Size ?? 0, mtimeMs: o.LastModified?.getTime() ?? 0 };
      }
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
  }
}
