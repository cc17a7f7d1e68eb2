// A blob written to the S3 store: bytes are hashed as they come and sent as the parts of a
// multipart upload (started only once a part's worth has arrived; smaller blobs are one PutObject).
// Complete is called only after the digest matched, and the upload is not visible under any key
// before Complete, so the final key never holds unverified bytes (docs/storage.md, "Commit").
// Completing straight under the final, content-addressed key is safe without a condition (RGW
// ignores If-None-Match on CompleteMultipartUpload anyway): whoever completes a key writes the very
// same bytes, and S3 replaces an object atomically, so a reader sees one whole copy or the other.
import { createHash } from "node:crypto";
import {
  AbortMultipartUploadCommand,
  type CompletedPart,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { WharfError } from "../../../common/errors.ts";
import { type Digest, digestHasher } from "../../oci/digest.ts";
import type { BlobWriter } from "../blob-store-api.ts";
import type { S3Location } from "./s3-client.ts";

/** Part size: above S3's 5 MiB minimum, small enough that a few parts in memory cost little. */
export const PART_BYTES = 8 * 1024 * 1024;

/** Parts uploaded side by side: one at a time leaves the store idle between round trips. */
const PARTS_IN_FLIGHT = 4;

const md5 = (data: Uint8Array): string => createHash("md5").update(data).digest("base64");

export class S3BlobWriter implements BlobWriter {
  written = 0;
  readonly #s3: S3Location;
  readonly #key: string;
  readonly #digest: Digest;
  readonly #hash: ReturnType<typeof digestHasher>;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #uploadId: string | undefined;
  readonly #parts: CompletedPart[] = [];
  /** Part uploads in flight (at most PARTS_IN_FLIGHT: that is the backpressure on the writer). */
  readonly #inFlight = new Set<Promise<void>>();
  /** The first part upload that failed; commit reports it. */
  #failed: unknown;
  #state: "open" | "committed" | "aborted" = "open";

  constructor(s3: S3Location, key: string, d: Digest) {
    this.#s3 = s3;
    this.#key = key;
    this.#digest = d;
    this.#hash = digestHasher(d);
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.#state !== "open") throw new Error("blob writer is closed");
    this.#hash.update(chunk);
    // copied: the caller may reuse its buffer once write() resolved
    this.#pending.push(Buffer.from(chunk));
    this.#pendingBytes += chunk.length;
    this.written += chunk.length;
    if (this.#pendingBytes >= PART_BYTES) await this.#flushPart();
  }

  async #flushPart(): Promise<void> {
    const body = Buffer.concat(this.#pending, this.#pendingBytes);
    this.#pending = [];
    this.#pendingBytes = 0;
    if (this.#failed !== undefined) throw this.#failed;
    while (this.#inFlight.size >= PARTS_IN_FLIGHT) await Promise.race(this.#inFlight);
    const { client, bucket } = this.#s3;
    if (this.#uploadId === undefined) {
      const created = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: this.#key }));
      this.#uploadId = created.UploadId;
    }
    const PartNumber = this.#parts.length + 1;
    const part: CompletedPart = { PartNumber };
    this.#parts.push(part);
    const upload: Promise<void> = client
      .send(
        new UploadPartCommand({
          Bucket: bucket,
          Key: this.#key,
          UploadId: this.#uploadId,
          PartNumber,
          Body: body,
          ContentLength: body.length,
          ContentMD5: md5(body), // the store checks each part's bytes as it received them
        }),
      )
      .then(
        (r) => {
          part.ETag = r.ETag;
        },
        (e: unknown) => {
          this.#failed ??= e;
        },
      )
      .finally(() => this.#inFlight.delete(upload));
    this.#inFlight.add(upload);
  }

  /** Waits for every part upload; throws the first failure. */
  async #settleParts(): Promise<void> {
    await Promise.all(this.#inFlight);
    if (this.#failed !== undefined) throw this.#failed;
  }

  async commit(): Promise<number> {
    if (this.#state !== "open") throw new Error("blob writer is closed");
    const actual = `${this.#digest.algorithm}:${this.#hash.digest("hex")}`;
    if (actual !== this.#digest.value) {
      await this.abort();
      throw new WharfError("DIGEST_INVALID", `content does not match its digest ${this.#digest.value}`);
    }
    try {
      const { client, bucket } = this.#s3;
      if (this.#uploadId === undefined) {
        const body = Buffer.concat(this.#pending, this.#pendingBytes);
        await client.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: this.#key,
            Body: body,
            ContentLength: body.length,
            ContentMD5: md5(body),
          }),
        );
      } else {
        if (this.#pendingBytes > 0) await this.#flushPart();
        await this.#settleParts();
        await client.send(
          new CompleteMultipartUploadCommand({
            Bucket: bucket,
            Key: this.#key,
            UploadId: this.#uploadId,
            MultipartUpload: { Parts: this.#parts },
          }),
        );
      }
    } catch (e) {
      await this.abort();
      throw e;
    }
    this.#pending = [];
    this.#state = "committed";
    return this.written;
  }

  async abort(): Promise<void> {
    if (this.#state !== "open") return;
    this.#state = "aborted";
    this.#pending = [];
    await Promise.all(this.#inFlight);
    if (this.#uploadId === undefined) return;
    const { client, bucket } = this.#s3;
    await client
      .send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: this.#key, UploadId: this.#uploadId }))
      .catch(() => {}); // left behind, it is invisible and init() (or a lifecycle rule) removes it
  }
}
