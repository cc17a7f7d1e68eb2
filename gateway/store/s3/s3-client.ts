// The S3 client wharf talks to its bucket with, set up so that Ceph RGW and MinIO both accept it.
// Newer SDKs send streamed bodies aws-chunked with a CRC32 trailer by default; RGW 16 answers those
// with 411 MissingContentLength, so checksums are computed only where an operation requires one
// (integrity of uploads comes from Content-MD5 per part and wharf's own digest check instead).
import { readFileSync } from "node:fs";
import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import { PassThrough, type Readable } from "node:stream";
import { rootCertificates } from "node:tls";
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { WharfError } from "../../../common/errors.ts";
import type { StorageCredentials } from "../../config/load-config.ts";
import type { S3StorageConfig } from "../../config/storage-schema.ts";

/** Where the blobs live: a client, its bucket and the key prefix. */
export interface S3Location {
  client: S3Client;
  bucket: string;
  prefix: string;
}

export function createS3Client(
  cfg: Pick<S3StorageConfig, "endpoint" | "region" | "forcePathStyle" | "caFile" | "bucket" | "prefix">,
  credentials: StorageCredentials,
): S3Location {
  let ca: string[] | undefined;
  if (cfg.caFile) {
    try {
      // on top of the system roots, like upstreamCaFile (a bare `ca` would replace them)
      ca = [...rootCertificates, readFileSync(cfg.caFile, "utf8")];
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? "error";
      throw new WharfError("CONFIG_INVALID", `storage.s3.caFile: cannot read ${cfg.caFile} (${code})`);
    }
  }
  const client = new S3Client({
    endpoint: cfg.endpoint,
    region: cfg.region,
    forcePathStyle: cfg.forcePathStyle,
    // the Secret wrappers are unwrapped only here, into the SDK's signer
    credentials: {
      accessKeyId: credentials.accessKeyId.reveal(),
      secretAccessKey: credentials.secretAccessKey.reveal(),
    },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    requestHandler: {
      httpAgent: new HttpAgent({ keepAlive: true, maxSockets: 64 }),
      httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: 64, ...(ca && { ca }) }),
      connectionTimeout: 10_000,
      requestTimeout: 120_000,
    },
  });
  return { client, bucket: cfg.bucket, prefix: cfg.prefix };
}

/** The SDK's "not there" answers (HeadObject has no body, so only its status says so). */
export function isNotFound(e: unknown): boolean {
  const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
  return err?.name === "NotFound" || err?.name === "NoSuchKey" || err?.$metadata?.httpStatusCode === 404;
}

/** A conditional request lost (If-None-Match: * on an existing key, If-Match on a changed one). */
export function isPreconditionFailed(e: unknown): boolean {
  const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
  return err?.name === "PreconditionFailed" || err?.$metadata?.httpStatusCode === 412;
}

/**
 * A stream of an object (or of bytes [start, end] of it) at once: the GetObject behind it starts
 * now, its errors end the stream, and closing the stream aborts the request.
 */
export function getObjectStream(
  s3: S3Location,
  key: string,
  range?: { start: number; end: number },
): Readable {
  const out = new PassThrough({ highWaterMark: 256 * 1024 });
  const abort = new AbortController();
  out.once("close", () => abort.abort());
  s3.client
    .send(
      new GetObjectCommand({
        Bucket: s3.bucket,
        Key: key,
        ...(range && { Range: `bytes=${range.start}-${range.end}` }),
      }),
      { abortSignal: abort.signal },
    )
    .then(
      (r) => {
        const body = r.Body as Readable | undefined;
        if (!body) return out.end();
        body.on("error", (e) => out.destroy(e));
        body.pipe(out);
      },
      (e: Error) => out.destroy(e),
    );
  return out;
}
