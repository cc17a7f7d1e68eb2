// Upload pieces in the bucket: <prefix>uploads/<session id>/<name>, each one PutObject with its
// length and Content-MD5 (RGW refuses streamed bodies without a length, see s3-client.ts).
import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import { DeleteObjectsCommand, ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import type { UploadChunks } from "../upload-chunks-api.ts";
import { getObjectStream, type S3Location } from "./s3-client.ts";

export class S3UploadChunks implements UploadChunks {
  readonly #s3: S3Location;

  constructor(s3: S3Location) {
    this.#s3 = s3;
  }

  get #root(): string {
    return `${this.#s3.prefix}uploads/`;
  }

  async put(key: string, data: Buffer): Promise<void> {
    await this.#s3.client.send(
      new PutObjectCommand({
        Bucket: this.#s3.bucket,
        Key: this.#root + key,
        Body: data,
        ContentLength: data.length,
        ContentMD5: createHash("md5").update(data).digest("base64"),
      }),
    );
  }

  open(key: string): Readable {
    return getObjectStream(this.#s3, this.#root + key);
  }

  async remove(keys: string[]): Promise<void> {
    await this.#delete(keys.map((k) => this.#root + k));
  }

  async removeSession(id: string): Promise<void> {
    const keys: string[] = [];
    for await (const o of this.#list(`${this.#root}${id}/`)) keys.push(o.key);
    await this.#delete(keys);
  }

  async #delete(keys: string[]): Promise<void> {
    // DeleteObjects takes up to 1000 keys a request (it requires Content-MD5, which the SDK adds)
    for (let i = 0; i < keys.length; i += 1000)
      await this.#s3.client.send(
        new DeleteObjectsCommand({
          Bucket: this.#s3.bucket,
          Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true },
        }),
      );
  }

  async *sessions(): AsyncGenerator<{ id: string; lastModified: number }> {
    const newest = new Map<string, number>();
    for await (const o of this.#list(this.#root)) {
      const id = o.key.slice(this.#root.length).split("/")[0] ?? "";
      newest.set(id, Math.max(newest.get(id) ?? 0, o.lastModified));
    }
    for (const [id, lastModified] of newest) yield { id, lastModified };
  }

  async *#list(prefix: string): AsyncGenerator<{ key: string; lastModified: number }> {
    let ContinuationToken: string | undefined;
    do {
      const page = await this.#s3.client.send(
        new ListObjectsV2Command({ Bucket: this.#s3.bucket, Prefix: prefix, ContinuationToken }),
      );
      for (const o of page.Contents ?? [])
        if (o.Key) yield { key: o.Key, lastModified: o.LastModified?.getTime() ?? 0 };
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
  }
}
